package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/store"
)

const (
	dataPlaneCols = "token_hash, token_sealed, account_id, user_uid, access_key_id, parent_key_id, session_policy, workspace_id, cluster_id, instance_id, create_time, expire_time"
	// dataPlaneByHashSQL is the gateway's lookup; dataPlaneExpiredSQL the
	// janitor's batch.
	dataPlaneByHashSQL  = "SELECT " + dataPlaneCols + " FROM data_plane_tokens WHERE token_hash = ?"
	dataPlaneExpiredSQL = `DELETE FROM data_plane_tokens WHERE token_hash IN
		(SELECT token_hash FROM data_plane_tokens WHERE expire_time < ? LIMIT ?)`
)

// dataPlaneListSQL is ListDataPlaneTokens' query for n cluster ids.
func dataPlaneListSQL(n int) string {
	return "SELECT " + dataPlaneCols + ` FROM data_plane_tokens
		WHERE account_id = ? AND user_uid = ? AND access_key_id = ? AND workspace_id = ? AND expire_time > ?
		AND cluster_id IN (` + strings.Repeat(", ?", n)[2:] + ")"
}

func scanDataPlaneToken(sc interface{ Scan(...any) error }) (rayfleet.DataPlaneToken, error) {
	var t rayfleet.DataPlaneToken
	var sealed []byte
	var ct, et int64
	err := sc.Scan(&t.TokenHash, &sealed, &t.AccountID, &t.UserUID, &t.AccessKeyID, &t.ParentKeyID, &t.SessionPolicy,
		&t.WorkspaceID, &t.ClusterID, &t.InstanceID, &ct, &et)
	t.TokenSealed = copyBlob(sealed)
	t.CreateTime, t.ExpireTime = fromMS(ct), fromMS(et)
	return t, err
}

// CreateDataPlaneTokens stores tokens in one transaction: a list's worth of
// them costs one commit.
func (s *Store) CreateDataPlaneTokens(ctx context.Context, ts []rayfleet.DataPlaneToken) (err error) {
	if len(ts) == 0 {
		return nil
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("create data-plane tokens: begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	for _, t := range ts {
		_, err := s.txExec(ctx, tx, "INSERT INTO data_plane_tokens ("+dataPlaneCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			t.TokenHash, t.TokenSealed, t.AccountID, t.UserUID, t.AccessKeyID, t.ParentKeyID, t.SessionPolicy,
			t.WorkspaceID, t.ClusterID, t.InstanceID, toMS(t.CreateTime), toMS(t.ExpireTime))
		switch {
		case s.d.isUnique(err):
			return alreadyExists("data-plane token", "with that hash")
		case err != nil:
			return fmt.Errorf("create data-plane tokens: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create data-plane tokens: commit: %w", err)
	}
	return nil
}

// ListDataPlaneTokens returns one user's tokens for some clusters of a
// workspace: a walk of the owner index per cluster.
func (s *Store) ListDataPlaneTokens(ctx context.Context, f store.DataPlaneTokenFilter) ([]rayfleet.DataPlaneToken, error) {
	if len(f.ClusterIDs) == 0 {
		return nil, nil
	}
	args := []any{f.AccountID, f.UserUID, f.AccessKeyID, f.WorkspaceID, toMS(f.ExpiresAfter)}
	for _, id := range f.ClusterIDs {
		args = append(args, id)
	}
	// Not a cached statement: the number of ids varies with every page.
	rows, err := s.read.QueryContext(ctx, s.d.rebind(dataPlaneListSQL(len(f.ClusterIDs))), args...)
	if err != nil {
		return nil, fmt.Errorf("list data-plane tokens: %w", err)
	}
	defer rows.Close()
	var out []rayfleet.DataPlaneToken
	for rows.Next() {
		t, err := scanDataPlaneToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list data-plane tokens: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list data-plane tokens: %w", err)
	}
	return out, nil
}

// GetDataPlaneToken finds a token by its hash.
func (s *Store) GetDataPlaneToken(ctx context.Context, tokenHash string) (rayfleet.DataPlaneToken, error) {
	if tokenHash == "" {
		return rayfleet.DataPlaneToken{}, notFound("data-plane token", "with that hash")
	}
	st, err := s.stmt(ctx, s.read, dataPlaneByHashSQL)
	if err != nil {
		return rayfleet.DataPlaneToken{}, fmt.Errorf("get data-plane token: %w", err)
	}
	t, err := scanDataPlaneToken(st.QueryRowContext(ctx, tokenHash))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return rayfleet.DataPlaneToken{}, notFound("data-plane token", "with that hash")
	case err != nil:
		return rayfleet.DataPlaneToken{}, fmt.Errorf("get data-plane token: %w", err)
	}
	return t, nil
}

// DeleteDataPlaneTokensBefore removes expired tokens, in batches as
// DeleteAuditBefore does.
func (s *Store) DeleteDataPlaneTokensBefore(ctx context.Context, t time.Time) (int64, error) {
	var total int64
	for {
		res, err := s.exec(ctx, dataPlaneExpiredSQL, toMS(t), auditDeleteBatch)
		if err != nil {
			return total, fmt.Errorf("delete expired data-plane tokens: %w", err)
		}
		n, err := affected(res)
		if err != nil {
			return total, fmt.Errorf("delete expired data-plane tokens: %w", err)
		}
		total += n
		if n < auditDeleteBatch {
			return total, nil
		}
	}
}
