package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"github.com/rayfleet/rayfleet"
)

// Each dialect has its own directory of migrations, NNNN_name.sql, numbered
// from 1 without gaps; both directories hold the same versions. A migration
// that shipped is never edited: a change is a new file in both.
//
//go:embed migrations
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations(dialect string) ([]migration, error) {
	dir := path.Join("migrations", dialect)
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var out []migration
	for _, e := range entries {
		num, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("migration %s/%s: name is not NNNN_name.sql", dir, e.Name())
		}
		b, err := fs.ReadFile(migrationFiles, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration: %w", err)
		}
		out = append(out, migration{version: v, name: name, sql: string(b)})
	}
	// ReadDir sorts by name, and the zero-padded numbers sort as numbers.
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("migrations in %s: expected version %d, found %d", dir, i+1, m.version)
		}
	}
	return out, nil
}

// migrate brings the schema up to date in one transaction, so a failed
// migration leaves the previous schema whole. Two processes opening the same
// database take turns: SQLite's BEGIN IMMEDIATE holds the write lock for the
// whole transaction, PostgreSQL takes an advisory lock first. The one that
// comes second finds the work done.
func (s *Store) migrate(ctx context.Context) (err error) {
	ms, err := loadMigrations(s.d.name)
	if err != nil {
		return err
	}
	if s.noMigrate {
		return s.checkSchema(ctx, len(ms))
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if s.d.lockMigrations != "" {
		if _, err := tx.ExecContext(ctx, s.d.lockMigrations); err != nil {
			return fmt.Errorf("migrate: lock: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER NOT NULL PRIMARY KEY,
		name    TEXT    NOT NULL
	)`); err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	applied, err := appliedVersions(ctx, tx)
	if err != nil {
		return err
	}
	for v := range applied {
		if v > len(ms) {
			// An older binary on a newer schema would write rows the new
			// code cannot read; refuse rather than guess.
			return fmt.Errorf("migrate: the database has schema version %d but this rayfleet knows only up to %d; run a newer rayfleet", v, len(ms))
		}
	}
	for _, m := range ms {
		if applied[m.version] {
			continue
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("migrate: apply %04d_%s: %w", m.version, m.name, err)
		}
		if fill := migrationFills[m.version]; fill != nil {
			if err := fill(ctx, s, tx); err != nil {
				return fmt.Errorf("migrate: fill %04d_%s: %w", m.version, m.name, err)
			}
		}
		if _, err := s.txExec(ctx, tx, "INSERT INTO schema_migrations (version, name) VALUES (?, ?)", m.version, m.name); err != nil {
			return fmt.Errorf("migrate: record %04d_%s: %w", m.version, m.name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: commit: %w", err)
	}
	return nil
}

func appliedVersions(ctx context.Context, tx *sql.Tx) (map[int]bool, error) {
	rows, err := tx.QueryContext(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return nil, fmt.Errorf("migrate: read versions: %w", err)
	}
	defer rows.Close()
	applied := map[int]bool{}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("migrate: read versions: %w", err)
		}
		applied[v] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("migrate: read versions: %w", err)
	}
	return applied, nil
}

// checkSchema fails unless the database holds every migration up to want
// and none past it.
func (s *Store) checkSchema(ctx context.Context, want int) error {
	var have int
	err := s.write.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&have)
	switch {
	case err != nil:
		return fmt.Errorf("the database has no rayfleet schema (%w): start `rayfleet server` on it first", err)
	case have < want:
		return fmt.Errorf("the database has schema version %d and this rayfleet needs %d: start `rayfleet server` of this version on it first (it migrates the schema)", have, want)
	case have > want:
		return fmt.Errorf("the database has schema version %d but this rayfleet knows only up to %d; run a newer rayfleet", have, want)
	}
	return nil
}

// migrationFills compute, for the migrations that need it, what SQL alone
// cannot: values derived from the JSON a row holds, by the domain's rules.
// They run in the migration's transaction, right after its SQL.
var migrationFills = map[int]func(ctx context.Context, s *Store, tx *sql.Tx) error{
	9: fillQueueUsage,
}

// fillQueueUsage sets what every queue's clusters hold (migration 0009),
// and the needs column of rows written before it existed.
func fillQueueUsage(ctx context.Context, s *Store, tx *sql.Tx) error {
	type queueKey struct{ account, workspace, queue string }
	used := map[queueKey]rayfleet.Resources{}
	var noNeeds []rayfleet.Cluster
	rows, err := tx.QueryContext(ctx, "SELECT id, account_id, workspace_id, state, needs, spec FROM clusters")
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var c rayfleet.Cluster
		var state string
		var needs, spec []byte
		if err := rows.Scan(&c.ID, &c.AccountID, &c.WorkspaceID, &state, &needs, &spec); err != nil {
			return err
		}
		c.State = rayfleet.State(state)
		var m map[string]rayfleet.Resources
		if len(needs) == 0 {
			if err := json.Unmarshal(spec, &c.Spec); err != nil {
				return fmt.Errorf("decode spec of cluster %s: %w", c.ID, err)
			}
			m = c.Spec.Needs()
			noNeeds = append(noNeeds, c)
		} else if m, err = decodeNeeds(needs); err != nil {
			return fmt.Errorf("needs of cluster %s: %w", c.ID, err)
		}
		for q, r := range held(&c, m) {
			k := queueKey{c.AccountID, c.WorkspaceID, q}
			used[k] = used[k].Add(r)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, c := range noNeeds {
		needs, err := encodeNeeds(c.Spec.Needs())
		if err != nil {
			return err
		}
		if _, err := s.txExec(ctx, tx, "UPDATE clusters SET needs = ? WHERE id = ?", needs, c.ID); err != nil {
			return err
		}
	}
	for k, r := range used {
		if _, err := s.txExec(ctx, tx, "UPDATE queues SET used_milli_cpu = ?, used_memory = ? WHERE account_id = ? AND workspace_id = ? AND name = ?",
			r.MilliCPU, r.MemoryBytes, k.account, k.workspace, k.queue); err != nil {
			return err
		}
	}
	return nil
}
