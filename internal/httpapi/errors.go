package httpapi

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/api"
	"github.com/rayfleet/rayfleet/internal/authz"
	"github.com/rayfleet/rayfleet/internal/service"
)

// statusOf is the one table from error code to HTTP status.
var statusOf = map[string]int{
	rayfleet.EINVALID:       http.StatusBadRequest,
	rayfleet.EMISSING:       http.StatusBadRequest,
	rayfleet.EQUOTA:         http.StatusBadRequest,
	rayfleet.EIDEMPOTENT:    http.StatusBadRequest,
	rayfleet.ESIGNATURE:     http.StatusBadRequest,
	"IncompleteSignature":   http.StatusBadRequest,
	rayfleet.EAKNOTFOUND:    http.StatusNotFound,
	rayfleet.EAKINACTIVE:    http.StatusBadRequest,
	rayfleet.ETIMESTAMP:     http.StatusBadRequest,
	rayfleet.ENONCE:         http.StatusBadRequest,
	rayfleet.ESECURITYTOKEN: http.StatusBadRequest,
	rayfleet.EFORBIDDEN:     http.StatusForbidden,
	rayfleet.ENOTFOUND:      http.StatusNotFound,
	rayfleet.EDENIED:        http.StatusConflict,
	rayfleet.ETHROTTLING:    http.StatusTooManyRequests,
	rayfleet.ETOOLARGE:      http.StatusRequestEntityTooLarge,
	rayfleet.EMETHOD:        http.StatusNotFound,
	rayfleet.EINTERNAL:      http.StatusInternalServerError,
	rayfleet.EURLEXPIRED:    http.StatusForbidden,
	rayfleet.EURLSIGNATURE:  http.StatusForbidden,

	// RAM's admin API.
	service.ERAMNoUser:          http.StatusNotFound,
	service.ERAMUserExists:      http.StatusConflict,
	service.ERAMUserHasKeys:     http.StatusConflict,
	service.ERAMUserHasPolicies: http.StatusConflict,
	service.ERAMNoKey:           http.StatusNotFound,
	service.ERAMKeyLimit:        http.StatusConflict,
	service.ERAMNoPolicy:        http.StatusNotFound,
	service.ERAMPolicyExists:    http.StatusConflict,
	service.ERAMPolicyAttached:  http.StatusConflict,
	service.ERAMVersionLimit:    http.StatusConflict,
	service.ERAMAttached:        http.StatusConflict,
	service.ERAMNotAttached:     http.StatusNotFound,
	service.ERAMMalformedPolicy: http.StatusBadRequest,
}

// StatusOf returns the HTTP status of an error code; unknown codes are 400
// when they are the caller's fault (*rayfleet.Error) and 500 otherwise.
func StatusOf(code string) int {
	if s, ok := statusOf[code]; ok {
		return s
	}
	return http.StatusBadRequest
}

// errorBody builds the ROA error body for err.
func (h *Handler) errorBody(err error, requestID, action string) (int, api.ErrorResponse) {
	code := rayfleet.ErrorCode(err)
	body := api.ErrorResponse{
		RequestID: requestID,
		HostID:    h.HostID,
		Code:      code,
		Message:   rayfleet.ErrorMessage(err),
		Recommend: "https://api.alibabacloud.com/troubleshoot?q=" + url.QueryEscape(code) +
			"&product=emr-serverless-spark&requestId=" + url.QueryEscape(requestID),
	}
	body.AccessDeniedDetail = accessDeniedDetail(err)
	return StatusOf(code), body
}

// accessDeniedDetail says, for a Forbidden.RAM refusal, which action on
// which resource was refused and why, as RAM's error bodies do.
func accessDeniedDetail(err error) *api.AccessDeniedDetail {
	var d *service.DeniedError
	if !errors.As(err, &d) {
		return nil
	}
	out := &api.AccessDeniedDetail{
		AuthAction:               d.Action,
		AuthResource:             d.Resource,
		NoPermissionType:         d.NoPermissionType,
		AuthPrincipalType:        "SubUser",
		AuthPrincipalOwnerID:     d.AccountID,
		AuthPrincipalDisplayName: d.UserUID,
	}
	if d.NoPermissionType == authz.ExplicitDeny {
		out.PolicyType = "AccountLevelIdentityBasedPolicy"
	}
	return out
}
