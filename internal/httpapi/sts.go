package httpapi

import (
	"context"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/service"
)

type stsCredentials struct {
	AccessKeyID     string `json:"AccessKeyId"`
	AccessKeySecret string `json:"AccessKeySecret"`
	SecurityToken   string `json:"SecurityToken"`
	Expiration      string `json:"Expiration"`
}

type stsSessionResponse struct {
	RequestID   string         `json:"RequestId"`
	Credentials stsCredentials `json:"Credentials"`
}

// stsGetSessionToken answers with STS's Credentials shape (as AssumeRole
// does): AccessKeyId "STS.…", AccessKeySecret, SecurityToken, Expiration.
func (h *Handler) stsGetSessionToken(ctx context.Context, p rayfleet.Principal, q ramParams) (any, error) {
	secs, err := q.int("DurationSeconds")
	if err != nil {
		return nil, err
	}
	s, err := h.Service.GetSessionToken(ctx, p, q.Get("Policy"), time.Duration(secs)*time.Second)
	if err != nil {
		return nil, err
	}
	return &stsSessionResponse{
		RequestID: service.RequestID(ctx),
		Credentials: stsCredentials{
			AccessKeyID: s.AccessKeyID, AccessKeySecret: s.AccessKeySecret, SecurityToken: s.SecurityToken, Expiration: ramDate(s.Expiration),
		},
	}, nil
}
