package service

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/authz"
	"github.com/rayfleet/rayfleet/internal/store"
)

// Mutating reports whether an operation changes something, so that every
// call of it is audited; reads (Get, List, Query, Is, Check, as RAM's
// read-only policies class them) are audited only when refused.
func Mutating(operation string) bool {
	for _, p := range []string{"Get", "List", "Query", "Is", "Check"} {
		if strings.HasPrefix(operation, p) {
			return false
		}
	}
	return true
}

const auditKey ctxKey = iota + 100

// auditTrail is where authorize notes what a call acts on, for its audit
// event.
type auditTrail struct{ action, resource string }

// WithAuditTrail returns ctx ready to note what a mutating call acts on.
// Reads need none: they are audited only when refused, and a refusal says
// what it refused.
func WithAuditTrail(ctx context.Context) context.Context {
	return context.WithValue(ctx, auditKey, &auditTrail{})
}

func noteAudit(ctx context.Context, action, resource string) {
	if t, ok := ctx.Value(auditKey).(*auditTrail); ok {
		t.action, t.resource = action, resource
	}
}

// Audit records a call of operation by p that ended with err, when it is to
// be audited: every call of a mutating operation, and every call refused by
// a policy. A failure to record is logged, not returned: the call already
// happened.
func (s *Service) Audit(ctx context.Context, p rayfleet.Principal, operation string, err error) {
	if p.AccountID == "" {
		return
	}
	var d *DeniedError
	refused := errors.As(err, &d)
	if !refused && !Mutating(operation) {
		return
	}
	e := rayfleet.AuditEvent{
		AccountID: p.AccountID, Time: s.now(), RequestID: RequestID(ctx),
		UserUID: p.UserUID, UserName: p.UserName, AccessKeyID: p.AccessKeyID, SourceIP: p.SourceIP,
		Action: authz.ActionName(operation), Resource: "*", Result: "OK",
	}
	if t, ok := ctx.Value(auditKey).(*auditTrail); ok && t.action != "" {
		e.Action, e.Resource = t.action, t.resource
	}
	if refused {
		e.Action, e.Resource = d.Action, d.Resource
	}
	if err != nil {
		e.Result, e.Message = rayfleet.ErrorCode(err), rayfleet.ErrorMessage(err)
	}
	if err := s.Store.AppendAudit(context.WithoutCancel(ctx), e); err != nil && s.Logger != nil {
		s.Logger.ErrorContext(ctx, "audit event not recorded", "requestId", e.RequestID, "action", e.Action, "err", err.Error())
	}
}

// AuditQuery is ListAuditEvents' filter and page.
type AuditQuery struct {
	UserName   string
	Action     string
	Result     string
	Since      time.Time
	Until      time.Time
	Offset     int
	MaxResults int
}

// ListAuditEvents returns a page of the caller's account's audit log,
// newest first, and whether more follow. It is the root user's, or a user's
// whose policies allow actiontrail:LookupEvents, Alibaba Cloud's action for
// reading the audit trail.
func (s *Service) ListAuditEvents(ctx context.Context, p rayfleet.Principal, q AuditQuery) ([]rayfleet.AuditEvent, bool, error) {
	if err := s.authorizeAction(ctx, p, "actiontrail:LookupEvents", "*"); err != nil {
		return nil, false, err
	}
	if q.MaxResults == 0 {
		q.MaxResults = 50
	}
	if q.MaxResults < 1 || q.MaxResults > 1000 {
		return nil, false, rayfleet.Errorf(rayfleet.EINVALID, "maxResults must be between 1 and 1000, got %d", q.MaxResults)
	}
	if q.Offset < 0 {
		return nil, false, rayfleet.Errorf(rayfleet.EINVALID, "nextToken is not valid")
	}
	evs, err := s.Store.ListAudit(ctx, store.AuditFilter{
		AccountID: p.AccountID, UserName: q.UserName, Action: q.Action, Result: q.Result,
		Since: q.Since, Until: q.Until, Offset: q.Offset, Limit: q.MaxResults + 1,
	})
	if err != nil {
		return nil, false, err
	}
	more := len(evs) > q.MaxResults
	if more {
		evs = evs[:q.MaxResults]
	}
	return evs, more, nil
}
