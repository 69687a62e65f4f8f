package storetest

import (
	"fmt"
	"testing"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/store"
)

// NewAuditEvent returns fixture audit event n of an account, at At(n).
func NewAuditEvent(accountID string, n int) rayfleet.AuditEvent {
	result, msg := "OK", ""
	if n%2 == 1 {
		result, msg = rayfleet.EFORBIDDEN, fmt.Sprintf("refused %d", n)
	}
	return rayfleet.AuditEvent{
		AccountID: accountID, Time: At(n), RequestID: fmt.Sprintf("REQ-%04d", n),
		UserUID: UserUID(n % 3), UserName: fmt.Sprintf("user%d", n%3), AccessKeyID: AccessKeyID(n % 3),
		Action: fmt.Sprintf("emr-serverless-spark:Op%d", n%2), Resource: "acs:emr-serverless-spark:local:" + accountID + ":workspace/" + WorkspaceID(n),
		SourceIP: "192.0.2.1", Result: result, Message: msg,
	}
}

func testAudit(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	acc, other := AccountID(1), AccountID(2)
	checkAllSet(t, NewAuditEvent(acc, 1))
	var all []rayfleet.AuditEvent
	for i := 1; i <= 6; i++ {
		e := NewAuditEvent(acc, i)
		must(t, s.AppendAudit(ctx, e))
		all = append([]rayfleet.AuditEvent{e}, all...) // newest first
	}
	must(t, s.AppendAudit(ctx, NewAuditEvent(other, 7)))
	wantCode(t, s.AppendAudit(ctx, NewAuditEvent(acc, 1)), rayfleet.EDENIED, "AppendAudit of a request id already logged")

	pick := func(ns ...int) []rayfleet.AuditEvent {
		var out []rayfleet.AuditEvent
		for _, n := range ns {
			out = append(out, NewAuditEvent(acc, n))
		}
		return out
	}
	for _, tc := range []struct {
		name string
		f    store.AuditFilter
		want []rayfleet.AuditEvent
	}{
		{"all, newest first", store.AuditFilter{AccountID: acc}, all},
		{"a page", store.AuditFilter{AccountID: acc, Offset: 1, Limit: 2}, pick(5, 4)},
		{"by user", store.AuditFilter{AccountID: acc, UserName: "user1"}, pick(4, 1)},
		{"by action", store.AuditFilter{AccountID: acc, Action: "emr-serverless-spark:Op0"}, pick(6, 4, 2)},
		{"by result", store.AuditFilter{AccountID: acc, Result: rayfleet.EFORBIDDEN}, pick(5, 3, 1)},
		{"by time", store.AuditFilter{AccountID: acc, Since: At(2), Until: At(4)}, pick(3, 2)},
		{"another account's", store.AuditFilter{AccountID: other}, []rayfleet.AuditEvent{NewAuditEvent(other, 7)}},
		{"no account's", store.AuditFilter{AccountID: AccountID(3)}, nil},
	} {
		got, err := s.ListAudit(ctx, tc.f)
		must(t, err)
		wantEqual(t, got, tc.want, "ListAudit "+tc.name)
	}
}

// DeleteAuditBefore removes the events of every account older than its
// time, and only those.
func testAuditRetention(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	acc, other := AccountID(1), AccountID(2)
	for i := 1; i <= 4; i++ {
		must(t, s.AppendAudit(ctx, NewAuditEvent(acc, i)))
		must(t, s.AppendAudit(ctx, NewAuditEvent(other, i)))
	}
	n, err := s.DeleteAuditBefore(ctx, At(3))
	must(t, err)
	if n != 4 {
		t.Errorf("DeleteAuditBefore(At(3)) removed %d events, want 4 (two of each account)", n)
	}
	for _, a := range []string{acc, other} {
		got, err := s.ListAudit(ctx, store.AuditFilter{AccountID: a})
		must(t, err)
		wantEqual(t, got, []rayfleet.AuditEvent{NewAuditEvent(a, 4), NewAuditEvent(a, 3)}, "events left of "+a)
	}
	n, err = s.DeleteAuditBefore(ctx, At(3))
	must(t, err)
	if n != 0 {
		t.Errorf("a second DeleteAuditBefore(At(3)) removed %d events", n)
	}
}
