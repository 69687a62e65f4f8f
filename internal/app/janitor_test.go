package app

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/store"
	"github.com/rayfleet/rayfleet/internal/store/sqlstore"
)

// The janitor removes audit events past --audit-retention (90 days by
// default) and keeps everything with 0.
func TestJanitorAuditRetention(t *testing.T) {
	ctx := t.Context()
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "rayfleet.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC().Truncate(time.Millisecond)
	for i, age := range []time.Duration{100 * 24 * time.Hour, 91 * 24 * time.Hour, 89 * 24 * time.Hour, time.Hour} {
		if err := st.AppendAudit(ctx, rayfleet.AuditEvent{AccountID: "1", Time: now.Add(-age), RequestID: fmt.Sprint("REQ-", i), Action: "a", Result: "OK"}); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := LoadConfig(nil, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	left := func() []string {
		evs, err := st.ListAudit(ctx, store.AuditFilter{AccountID: "1"})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, e := range evs {
			ids = append(ids, e.RequestID)
		}
		return ids
	}
	s := &Server{Config: cfg, Store: st, Logger: slog.New(slog.DiscardHandler)}
	s.Config.AuditRetention = 0
	s.sweep(ctx, now)
	if got := strings.Join(left(), ","); got != "REQ-3,REQ-2,REQ-1,REQ-0" {
		t.Fatalf("with retention 0, events left: %s", got)
	}
	s.Config.AuditRetention = cfg.AuditRetention // the default
	s.sweep(ctx, now)
	if got := strings.Join(left(), ","); got != "REQ-3,REQ-2" {
		t.Fatalf("with the default retention, events left: %s", got)
	}
	if _, err := LoadConfig([]string{"--audit-retention", "-1h"}, func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "audit-retention") {
		t.Fatalf("a negative retention: %v", err)
	}
}
