package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/store"
)

// AppendAudit adds an event to its account's audit log.
func (s *Store) AppendAudit(ctx context.Context, e rayfleet.AuditEvent) error {
	_, err := s.exec(ctx, `INSERT INTO audit_events (account_id, time, request_id, user_uid, user_name, access_key_id, action, resource, source_ip, result, message)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.AccountID, toMS(e.Time), e.RequestID, e.UserUID, e.UserName, e.AccessKeyID, e.Action, e.Resource, e.SourceIP, e.Result, e.Message)
	switch {
	case s.d.isUnique(err):
		return alreadyExists("audit event", e.RequestID)
	case err != nil:
		return fmt.Errorf("append audit event: %w", err)
	}
	return nil
}

// ListAudit returns an account's audit events that match f, newest first.
func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter) ([]rayfleet.AuditEvent, error) {
	var where strings.Builder
	where.WriteString("account_id = ?")
	args := []any{f.AccountID}
	for _, c := range []struct{ col, v string }{{"user_name", f.UserName}, {"action", f.Action}, {"result", f.Result}} {
		if c.v != "" {
			where.WriteString(" AND " + c.col + " = ?")
			args = append(args, c.v)
		}
	}
	if !f.Since.IsZero() {
		where.WriteString(" AND time >= ?")
		args = append(args, toMS(f.Since))
	}
	if !f.Until.IsZero() {
		where.WriteString(" AND time < ?")
		args = append(args, toMS(f.Until))
	}
	lim, off := s.d.page(f.Offset, f.Limit)
	args = append(args, lim, off)
	rows, err := s.query(ctx, `SELECT time, request_id, user_uid, user_name, access_key_id, action, resource, source_ip, result, message
		FROM audit_events WHERE `+where.String()+` ORDER BY time DESC, request_id DESC LIMIT ? OFFSET ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	defer rows.Close()
	var out []rayfleet.AuditEvent
	for rows.Next() {
		e := rayfleet.AuditEvent{AccountID: f.AccountID}
		var t int64
		if err := rows.Scan(&t, &e.RequestID, &e.UserUID, &e.UserName, &e.AccessKeyID, &e.Action, &e.Resource, &e.SourceIP, &e.Result, &e.Message); err != nil {
			return nil, fmt.Errorf("list audit events: %w", err)
		}
		e.Time = fromMS(t)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	return out, nil
}

// auditDeleteBatch bounds the rows one statement of DeleteAuditBefore
// removes, so that purging a large backlog never holds the write lock (on
// SQLite, every writer's) for long.
const auditDeleteBatch = 5000

// DeleteAuditBefore removes every account's events older than t, in
// batches.
func (s *Store) DeleteAuditBefore(ctx context.Context, t time.Time) (int64, error) {
	var total int64
	for {
		res, err := s.exec(ctx, `DELETE FROM audit_events WHERE (account_id, request_id) IN
			(SELECT account_id, request_id FROM audit_events WHERE time < ? LIMIT ?)`, toMS(t), auditDeleteBatch)
		if err != nil {
			return total, fmt.Errorf("delete old audit events: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("delete old audit events: %w", err)
		}
		total += n
		if n < auditDeleteBatch {
			return total, nil
		}
	}
}
