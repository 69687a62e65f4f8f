package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/rayfleet/rayfleet/internal/keyring"
	"github.com/rayfleet/rayfleet/internal/store"
	"github.com/rayfleet/rayfleet/internal/store/sqlstore"
)

// BenchmarkBreakdown splits the server-side work of one ListRayCluster call
// into the store calls it makes, on a data dir seeded by this benchmark
// (`go run ./bench/list -keep` prints it; the server must not be running):
//
//	RAYFLEET_BENCH_DATA_DIR=/tmp/rayfleet-bench-list-*/data go test ./bench/list -run '^$' -bench Breakdown
//
// "SQL" runs the list query alone and reads every column without decoding
// it; "SQL-ids" reads only the id (no table row is visited); "ListClusters"
// is the store call the service makes, decoding included. Pages are the
// first, the middle and the last of the workspace, as OFFSET grows with them.
func BenchmarkBreakdown(b *testing.B) {
	dir := os.Getenv("RAYFLEET_BENCH_DATA_DIR")
	if dir == "" {
		b.Skip("set RAYFLEET_BENCH_DATA_DIR to a data dir seeded by `go run ./bench/list -keep`")
	}
	ctx := context.Background()
	cred, err := readCredentials(dir)
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, "rayfleet.db")
	st, err := sqlstore.OpenSQLite(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	// The same read-only connection settings as the store's reader pool.
	db, err := sql.Open("sqlite", path+"?_busy_timeout=10000&_query_only=1")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	keys, err := keyring.LoadOrCreate(filepath.Join(dir, "master.key"))
	if err != nil {
		b.Fatal(err)
	}
	ak, err := st.GetAccessKey(ctx, cred.AccessKeyID)
	if err != nil {
		b.Fatal(err)
	}
	acct, ws := ak.AccountID, cred.WorkspaceID
	var listed int
	if err := db.QueryRow("SELECT count(*) FROM clusters WHERE account_id = ? AND workspace_id = ? AND deleted = 0", acct, ws).Scan(&listed); err != nil {
		b.Fatal(err)
	}

	b.Run("GetAccessKey", func(b *testing.B) {
		for b.Loop() {
			if _, err := st.GetAccessKey(ctx, cred.AccessKeyID); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("GetUser", func(b *testing.B) {
		for b.Loop() {
			if _, err := st.GetUser(ctx, acct, ak.UserUID); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("OpenSecret", func(b *testing.B) {
		for b.Loop() {
			if _, err := keys.Open(ak.SecretSealed); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("GetWorkspace", func(b *testing.B) {
		for b.Loop() {
			if _, err := st.GetWorkspace(ctx, acct, ws); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Count", func(b *testing.B) {
		for b.Loop() {
			var n int
			if err := db.QueryRowContext(ctx, "SELECT count(*) FROM clusters WHERE account_id = ? AND workspace_id = ? AND deleted = 0", acct, ws).Scan(&n); err != nil {
				b.Fatal(err)
			}
		}
	})
	const cols = "id, account_id, workspace_id, spec, running_spec, desired, deleted, state, message, instances, instance_id, token_hash, " +
		"token_sealed, modified, create_time, start_time, modified_time, state_time, creator, creator_name, modifier, modifier_name, version"
	const where = " FROM clusters WHERE account_id = ? AND workspace_id = ? AND deleted = 0 ORDER BY create_time DESC, id DESC LIMIT ? OFFSET ?"
	for _, ps := range []int{20, 100} {
		for _, page := range []struct {
			name   string
			offset int
		}{{"first", 0}, {"middle", (listed / ps / 2) * ps}, {"last", max(0, listed-ps)}} {
			name := fmt.Sprintf("pageSize=%d/%s", ps, page.name)
			b.Run("SQL/"+name, func(b *testing.B) { benchRows(b, db, "SELECT "+cols+where, acct, ws, ps, page.offset) })
			b.Run("SQL-ids/"+name, func(b *testing.B) { benchRows(b, db, "SELECT id"+where, acct, ws, ps, page.offset) })
			b.Run("ListClusters/"+name, func(b *testing.B) {
				for b.Loop() {
					cs, _, err := st.ListClusters(ctx, store.ClusterFilter{AccountID: acct, WorkspaceID: ws, Offset: page.offset, Limit: ps})
					if err != nil || len(cs) != ps {
						b.Fatalf("got %d clusters, err %v", len(cs), err)
					}
				}
			})
		}
	}
}

// benchRows runs query and reads every row's columns as raw bytes.
func benchRows(b *testing.B, db *sql.DB, query, acct, ws string, limit, offset int) {
	stmt, err := db.Prepare(query)
	if err != nil {
		b.Fatal(err)
	}
	defer stmt.Close()
	for b.Loop() {
		if n, err := readRows(stmt, acct, ws, limit, offset); err != nil || n != limit {
			b.Fatalf("read %d rows, err %v", n, err)
		}
	}
}

// readRows runs stmt and reads every column of every row as raw bytes,
// returning how many rows there were.
func readRows(stmt *sql.Stmt, args ...any) (int, error) {
	rows, err := stmt.Query(args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return 0, err
	}
	vals := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	n := 0
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}
