package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/store"
)

// execFunc runs a statement written with '?' placeholders, on the store or
// inside a transaction, so inserts are written once for both.
type execFunc func(ctx context.Context, query string, args ...any) (sql.Result, error)

func (s *Store) inTx(tx *sql.Tx) execFunc {
	return func(ctx context.Context, query string, args ...any) (sql.Result, error) {
		return s.txExec(ctx, tx, query, args...)
	}
}

// writeOne runs a write of one statement, in a transaction with the client
// token ctx carries when it carries one (store.WithClientToken).
func (s *Store) writeOne(ctx context.Context, fn func(ex execFunc) error) error {
	if store.ClientTokenOf(ctx) == nil {
		return fn(s.exec)
	}
	return s.writeTx(ctx, func(tx *sql.Tx) error { return fn(s.inTx(tx)) })
}

// CreateWorkspace stores a workspace with its root queue and first network
// service, all or nothing.
func (s *Store) CreateWorkspace(ctx context.Context, w rayfleet.Workspace, root rayfleet.Queue, ns rayfleet.NetworkService) error {
	if err := belongs(w, root.AccountID, root.WorkspaceID); err != nil {
		return fmt.Errorf("create workspace: queue %s: %w", root.Name, err)
	}
	if err := belongs(w, ns.AccountID, ns.WorkspaceID); err != nil {
		return fmt.Errorf("create workspace: network service %s: %w", ns.Name, err)
	}
	tags, err := encodeList(w.Tags)
	if err != nil {
		return fmt.Errorf("create workspace %s: %w", w.ID, err)
	}
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		ex := s.inTx(tx)
		_, err := ex(ctx, `INSERT INTO workspaces (id, account_id, name, name_lower, cu, status, oss_bucket, payment_type, release_type, create_time, creator, tags)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			w.ID, w.AccountID, w.Name, strings.ToLower(w.Name), w.CU, w.Status, w.OSSBucket, w.PaymentType, w.ReleaseType, toMS(w.CreateTime), w.Creator, tags)
		switch {
		case s.d.isUnique(err):
			return alreadyExists("workspace", w.ID)
		case err != nil:
			return err
		}
		if err := s.insertQueue(ctx, ex, root); err != nil {
			return err
		}
		return s.insertNetworkService(ctx, ex, ns)
	})
	if err != nil && rayfleet.ErrorCode(err) == "" {
		return fmt.Errorf("create workspace %s: %w", w.ID, err)
	}
	return err
}

// belongs checks that a child created with a workspace names that workspace.
// The contract passes the keys twice; a mismatch is a bug in the caller.
func belongs(w rayfleet.Workspace, accountID, workspaceID string) error {
	if accountID != w.AccountID || workspaceID != w.ID {
		return fmt.Errorf("belongs to %s/%s, not to the new workspace %s/%s", accountID, workspaceID, w.AccountID, w.ID)
	}
	return nil
}

const workspaceCols = "id, account_id, name, cu, status, oss_bucket, payment_type, release_type, create_time, creator, tags"

func scanWorkspace(sc interface{ Scan(...any) error }) (rayfleet.Workspace, error) {
	var w rayfleet.Workspace
	var ct int64
	var tags []byte
	if err := sc.Scan(&w.ID, &w.AccountID, &w.Name, &w.CU, &w.Status, &w.OSSBucket, &w.PaymentType, &w.ReleaseType, &ct, &w.Creator, &tags); err != nil {
		return w, err
	}
	w.CreateTime = fromMS(ct)
	if err := decodeList(tags, &w.Tags); err != nil {
		return w, fmt.Errorf("decode tags of %s: %w", w.ID, err)
	}
	return w, nil
}

// encodeList is a column holding a list as a JSON array: [] for none.
func encodeList[T any](items []T) (string, error) {
	if items == nil {
		items = []T{}
	}
	b, err := json.Marshal(items)
	if err != nil {
		return "", fmt.Errorf("encode list: %w", err)
	}
	return string(b), nil
}

// decodeList reads what encodeList wrote; none is nil.
func decodeList[T any](b []byte, into *[]T) error {
	if err := json.Unmarshal(b, into); err != nil {
		return err
	}
	if len(*into) == 0 {
		*into = nil
	}
	return nil
}

// GetWorkspace loads a workspace of an account.
func (s *Store) GetWorkspace(ctx context.Context, accountID, id string) (rayfleet.Workspace, error) {
	rows, err := s.query(ctx, "SELECT "+workspaceCols+" FROM workspaces WHERE account_id = ? AND id = ?", accountID, id)
	if err != nil {
		return rayfleet.Workspace{}, fmt.Errorf("get workspace %s: %w", id, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return rayfleet.Workspace{}, fmt.Errorf("get workspace %s: %w", id, err)
		}
		return rayfleet.Workspace{}, notFound("workspace", id)
	}
	w, err := scanWorkspace(rows)
	if err != nil {
		return rayfleet.Workspace{}, fmt.Errorf("get workspace %s: %w", id, err)
	}
	return w, nil
}

// ListWorkspaces returns a page of an account's workspaces, newest first,
// and how many match in all. The name filter is a case-insensitive
// substring, as for clusters.
func (s *Store) ListWorkspaces(ctx context.Context, f store.WorkspaceFilter) ([]rayfleet.Workspace, int, error) {
	where := "account_id = ?"
	args := []any{f.AccountID}
	if f.Name != "" {
		where += " AND " + s.d.contains("name_lower")
		args = append(args, strings.ToLower(f.Name))
	}
	if f.Status != "" {
		where += " AND status = ?"
		args = append(args, f.Status)
	}
	for _, t := range f.Tags {
		where += " AND " + s.d.hasTag
		args = append(args, t.Key, t.AnyValue, t.Value)
	}
	lim, off := s.d.page(f.Offset, f.Limit)
	rows, err := s.query(ctx, "SELECT "+workspaceCols+" FROM workspaces WHERE "+where+
		" ORDER BY create_time DESC, id DESC LIMIT ? OFFSET ?", append(args, lim, off)...)
	if err != nil {
		return nil, 0, fmt.Errorf("list workspaces: %w", err)
	}
	defer rows.Close()
	var out []rayfleet.Workspace
	for rows.Next() {
		w, err := scanWorkspace(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("list workspaces: %w", err)
		}
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("list workspaces: %w", err)
	}
	if total, ok := knownTotal(f.Offset, f.Limit, len(out)); ok {
		return out, total, nil
	}
	total, err := s.count(ctx, "SELECT count(*) FROM workspaces WHERE "+where, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("count workspaces: %w", err)
	}
	return out, total, nil
}

// UpdateWorkspace writes a workspace's name and quota.
func (s *Store) UpdateWorkspace(ctx context.Context, w rayfleet.Workspace) error {
	return s.writeOne(ctx, func(ex execFunc) error {
		res, err := ex(ctx, "UPDATE workspaces SET name = ?, name_lower = ?, cu = ? WHERE account_id = ? AND id = ?",
			w.Name, strings.ToLower(w.Name), w.CU, w.AccountID, w.ID)
		if err != nil {
			return fmt.Errorf("update workspace %s: %w", w.ID, err)
		}
		n, err := affected(res)
		if err != nil {
			return fmt.Errorf("update workspace %s: %w", w.ID, err)
		}
		if n == 0 {
			return notFound("workspace", w.ID)
		}
		return nil
	})
}

// DeleteWorkspace removes a workspace with its queues, network services and
// jobs, all or nothing, unless cluster rows of it remain.
func (s *Store) DeleteWorkspace(ctx context.Context, accountID, id string) (err error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("delete workspace %s: %w", id, err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	// Lock the workspace row first: on SQLite the cluster_gen trigger of
	// every cluster write takes it too; on PostgreSQL a cluster inserted
	// meanwhile either committed before the count below sees it, or its
	// foreign key check makes the delete of the workspace row wait for it
	// and fail.
	if _, err := s.txExec(ctx, tx, "UPDATE workspaces SET cluster_gen = cluster_gen WHERE account_id = ? AND id = ?", accountID, id); err != nil {
		return fmt.Errorf("delete workspace %s: %w", id, err)
	}
	var n int64
	if err := tx.QueryRowContext(ctx, s.d.rebind("SELECT count(*) FROM clusters WHERE account_id = ? AND workspace_id = ?"),
		accountID, id).Scan(&n); err != nil {
		return fmt.Errorf("delete workspace %s: count clusters: %w", id, err)
	}
	if n > 0 {
		return stillHolds(id, n)
	}
	ex := s.inTx(tx)
	// Its jobs go with it (their clusters are gone already), job_counts
	// after them: their delete trigger counts down there.
	for _, table := range []string{"queues", "network_services", "cluster_counts", "jobs", "job_counts"} {
		if _, err := ex(ctx, "DELETE FROM "+table+" WHERE account_id = ? AND workspace_id = ?", accountID, id); err != nil {
			return fmt.Errorf("delete workspace %s: %s: %w", id, table, err)
		}
	}
	res, err := ex(ctx, "DELETE FROM workspaces WHERE account_id = ? AND id = ?", accountID, id)
	switch {
	case s.d.isForeignKey(err):
		// A cluster was created after the count: the foreign key caught it.
		return stillHolds(id, 0)
	case err != nil:
		return fmt.Errorf("delete workspace %s: %w", id, err)
	}
	if rows, err := affected(res); err != nil {
		return fmt.Errorf("delete workspace %s: %w", id, err)
	} else if rows == 0 {
		return notFound("workspace", id)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("delete workspace %s: commit: %w", id, err)
	}
	return nil
}

// stillHolds refuses a workspace deletion; n is how many cluster rows remain,
// or 0 when not known.
func stillHolds(id string, n int64) error {
	what := "Ray clusters"
	switch {
	case n == 1:
		what = "1 Ray cluster"
	case n > 1:
		what = fmt.Sprintf("%d Ray clusters", n)
	}
	return rayfleet.Errorf(rayfleet.EDENIED,
		"workspace %s still holds %s (counting deleted ones whose resources are not yet released); delete them and wait until they are gone", id, what)
}
