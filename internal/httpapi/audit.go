package httpapi

import (
	"strconv"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/service"
)

// ListAuditEvents is rayfleet's own operation (the hosted product keeps its
// audit trail in ActionTrail): GET /api/v1/auditEvents with optional
// userName, action, result, startTime and endTime (RFC 3339), maxResults
// (1–1000) and nextToken.

type auditEvent struct {
	EventTime   string `json:"eventTime"`
	RequestID   string `json:"requestId"`
	UserID      string `json:"userId"`
	UserName    string `json:"userName"`
	AccessKeyID string `json:"accessKeyId"`
	Action      string `json:"action"`
	Resource    string `json:"resource"`
	SourceIP    string `json:"sourceIp"`
	Result      string `json:"result"`
	Message     string `json:"message,omitempty"`
}

type listAuditEventsResponse struct {
	RequestID string       `json:"requestId"`
	Events    []auditEvent `json:"events"`
	NextToken string       `json:"nextToken,omitempty"`
}

func timeParam(r *request, name string) (time.Time, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, rayfleet.Errorf(rayfleet.EINVALID, "%s must be an RFC 3339 time such as 2026-01-02T15:04:05Z, got %q", name, v)
	}
	return t, nil
}

func (h *Handler) listAuditEvents(r *request) (any, error) {
	q := r.URL.Query()
	maxResults, err := queryInt(r, "maxResults")
	if err != nil {
		return nil, err
	}
	offset := 0
	if t := q.Get("nextToken"); t != "" {
		if offset, err = strconv.Atoi(t); err != nil || offset < 0 {
			return nil, rayfleet.Errorf(rayfleet.EINVALID, "nextToken %q is not valid; pass the nextToken of the previous page", t)
		}
	}
	since, err := timeParam(r, "startTime")
	if err != nil {
		return nil, err
	}
	until, err := timeParam(r, "endTime")
	if err != nil {
		return nil, err
	}
	evs, more, err := h.Service.ListAuditEvents(r.Context(), r.p, service.AuditQuery{
		UserName: q.Get("userName"), Action: q.Get("action"), Result: q.Get("result"),
		Since: since, Until: until, Offset: offset, MaxResults: maxResults,
	})
	if err != nil {
		return nil, err
	}
	resp := &listAuditEventsResponse{RequestID: service.RequestID(r.Context()), Events: make([]auditEvent, len(evs))}
	for i, e := range evs {
		resp.Events[i] = auditEvent{
			EventTime: e.Time.UTC().Format(time.RFC3339Nano), RequestID: e.RequestID, UserID: e.UserUID, UserName: e.UserName,
			AccessKeyID: e.AccessKeyID, Action: e.Action, Resource: e.Resource, SourceIP: e.SourceIP, Result: e.Result, Message: e.Message,
		}
	}
	if more {
		resp.NextToken = strconv.Itoa(offset + len(evs))
	}
	return resp, nil
}
