package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/store"
	"github.com/rayfleet/rayfleet/internal/store/storetest"
)

func openSQLiteForTest(t testing.TB) *Store {
	t.Helper()
	s, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "rayfleet.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

const postgresEnv = "RAYFLEET_TEST_POSTGRES"

var schemaSeq atomic.Int64

// openPostgresForTest opens a store in a schema of its own, dropped when the
// test ends, so tests and concurrent runs share the database without
// meeting.
func openPostgresForTest(t testing.TB) *Store {
	t.Helper()
	dsn := os.Getenv(postgresEnv)
	if dsn == "" {
		t.Skipf("%s is not set; run scripts/postgres.sh and set %s to the DSN it prints to test PostgreSQL", postgresEnv, postgresEnv)
	}
	ctx := context.Background()
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	schema := fmt.Sprintf("rftest_%d_%d", os.Getpid(), schemaSeq.Add(1))
	if _, err := admin.ExecContext(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE; CREATE SCHEMA "+schema); err != nil {
		_ = admin.Close()
		t.Fatalf("create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		if _, err := admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
		_ = admin.Close()
	})
	s, err := OpenPostgres(ctx, withSearchPath(dsn, schema))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

// withSearchPath adds search_path to a DSN in either of pgx's forms; pgx
// sends unknown parameters to the server as run-time settings.
func withSearchPath(dsn, schema string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err == nil {
			q := u.Query()
			q.Set("search_path", schema)
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	return dsn + " search_path=" + schema
}

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openSQLiteForTest(t) })
	t.Run("Extras", func(t *testing.T) { testExtras(t, func(t *testing.T) *Store { return openSQLiteForTest(t) }) })
}

func TestPostgres(t *testing.T) {
	if os.Getenv(postgresEnv) == "" {
		t.Skipf("%s is not set; run scripts/postgres.sh and set %s to the DSN it prints to test PostgreSQL", postgresEnv, postgresEnv)
	}
	storetest.Run(t, func(t *testing.T) store.Store { return openPostgresForTest(t) })
	t.Run("Extras", func(t *testing.T) { testExtras(t, func(t *testing.T) *Store { return openPostgresForTest(t) }) })
}

// testExtras checks what this package promises beyond the contract.
func testExtras(t *testing.T, open func(t *testing.T) *Store) {
	t.Run("ChildrenNeedTheirWorkspace", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		acc := storetest.AccountID(1)
		w := storetest.NewWorkspace(acc, 1)
		if err := s.CreateCluster(ctx, storetest.NewCluster(acc, w.ID, 1)); rayfleet.ErrorCode(err) != rayfleet.ENOTFOUND {
			t.Fatalf("CreateCluster in a missing workspace: %v, want ResourceNotFound", err)
		}
		if err := s.CreateQueue(ctx, storetest.NewQueue(w, "q")); rayfleet.ErrorCode(err) != rayfleet.ENOTFOUND {
			t.Fatalf("CreateQueue in a missing workspace: %v, want ResourceNotFound", err)
		}
		if err := s.CreateNetworkService(ctx, storetest.NewNetworkService(w, "n")); rayfleet.ErrorCode(err) != rayfleet.ENOTFOUND {
			t.Fatalf("CreateNetworkService in a missing workspace: %v, want ResourceNotFound", err)
		}
		// The workspace of another account is as missing.
		other := storetest.NewWorkspace(storetest.AccountID(2), 1)
		other.ID = storetest.WorkspaceID(2)
		if err := s.CreateWorkspace(ctx, other, storetest.NewQueue(other, rayfleet.RootQueue), storetest.NewNetworkService(other, "vpc")); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateCluster(ctx, storetest.NewCluster(acc, other.ID, 1)); rayfleet.ErrorCode(err) != rayfleet.ENOTFOUND {
			t.Fatalf("CreateCluster in another account's workspace: %v, want ResourceNotFound", err)
		}
	})
	t.Run("CreateWorkspaceChecksChildren", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		w := storetest.NewWorkspace(storetest.AccountID(1), 1)
		q := storetest.NewQueue(w, rayfleet.RootQueue)
		q.WorkspaceID = storetest.WorkspaceID(2)
		if err := s.CreateWorkspace(ctx, w, q, storetest.NewNetworkService(w, "vpc")); err == nil {
			t.Fatal("CreateWorkspace with a queue of another workspace succeeded")
		}
		if _, err := s.GetWorkspace(ctx, w.AccountID, w.ID); !rayfleet.IsNotFound(err) {
			t.Fatalf("a failed CreateWorkspace left the workspace: %v", err)
		}
	})
	t.Run("DeleteWorkspaceSaysHowMany", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		acc := storetest.AccountID(1)
		w := storetest.NewWorkspace(acc, 1)
		if err := s.CreateWorkspace(ctx, w, storetest.NewQueue(w, rayfleet.RootQueue), storetest.NewNetworkService(w, "vpc")); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if err := s.CreateCluster(ctx, storetest.NewCluster(acc, w.ID, i)); err != nil {
				t.Fatal(err)
			}
		}
		err := s.DeleteWorkspace(ctx, acc, w.ID)
		if rayfleet.ErrorCode(err) != rayfleet.EDENIED || !strings.Contains(rayfleet.ErrorMessage(err), "3 Ray clusters") {
			t.Fatalf("DeleteWorkspace holding 3 clusters: %v", err)
		}
	})
	t.Run("GetClusterAny", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		acc := storetest.AccountID(1)
		w := storetest.NewWorkspace(acc, 1)
		if err := s.CreateWorkspace(ctx, w, storetest.NewQueue(w, rayfleet.RootQueue), storetest.NewNetworkService(w, "vpc")); err != nil {
			t.Fatal(err)
		}
		c := storetest.NewCluster(acc, w.ID, 1)
		if err := s.CreateCluster(ctx, c); err != nil {
			t.Fatal(err)
		}
		want, err := s.UpdateCluster(ctx, acc, w.ID, c.ID, func(c *rayfleet.Cluster) error { c.Deleted = true; return nil })
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.GetClusterAny(ctx, acc, w.ID, c.ID)
		if err != nil || got.Version != want.Version || !got.Deleted {
			t.Fatalf("GetClusterAny of a deleted cluster: %+v, %v", got, err)
		}
		if _, err := s.GetClusterAny(ctx, storetest.AccountID(2), w.ID, c.ID); !rayfleet.IsNotFound(err) {
			t.Fatalf("GetClusterAny by another account: %v, want ResourceNotFound", err)
		}
	})
	t.Run("GetIdempotency", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		rec := storetest.NewIdempotency(storetest.AccountID(1), "tok", storetest.At(10))
		if _, _, err := s.PutIdempotency(ctx, rec); err != nil {
			t.Fatal(err)
		}
		got, found, err := s.GetIdempotency(ctx, rec.AccountID, rec.Token, storetest.At(10))
		if err != nil || !found || got.ParamsHash != rec.ParamsHash || string(got.Response) != string(rec.Response) {
			t.Fatalf("GetIdempotency: %+v %v %v", got, found, err)
		}
		if _, found, err := s.GetIdempotency(ctx, rec.AccountID, rec.Token, storetest.At(11)); err != nil || found {
			t.Fatalf("GetIdempotency of a record older than notBefore: found=%v err=%v", found, err)
		}
		if _, found, err := s.GetIdempotency(ctx, storetest.AccountID(2), rec.Token, storetest.At(0)); err != nil || found {
			t.Fatalf("GetIdempotency by another account: found=%v err=%v", found, err)
		}
	})
	t.Run("DriverErrorsAreInternal", func(t *testing.T) {
		s := open(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := s.GetCluster(ctx, storetest.AccountID(1), storetest.WorkspaceID(1), storetest.ClusterID(1))
		if err == nil || rayfleet.ErrorCode(err) != rayfleet.EINTERNAL {
			t.Fatalf("GetCluster with a cancelled context: %v, want an internal error", err)
		}
	})
}

func TestMigrationsMatch(t *testing.T) {
	lite, err := loadMigrations("sqlite")
	if err != nil {
		t.Fatal(err)
	}
	pg, err := loadMigrations("postgres")
	if err != nil {
		t.Fatal(err)
	}
	if len(lite) != len(pg) {
		t.Fatalf("%d SQLite migrations, %d PostgreSQL ones", len(lite), len(pg))
	}
	for i := range lite {
		if lite[i].version != pg[i].version || lite[i].name != pg[i].name {
			t.Errorf("migration %d: SQLite %04d_%s, PostgreSQL %04d_%s", i, lite[i].version, lite[i].name, pg[i].version, pg[i].name)
		}
	}
}

func migrationCount(t *testing.T, s *Store) int {
	t.Helper()
	n, err := s.count(t.Context(), "SELECT count(*) FROM schema_migrations")
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSQLiteReopen opens one file from two stores at once, then again
// after closing both: migrations run once and nothing is lost.
func TestSQLiteReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "rayfleet.db")
	want, err := loadMigrations("sqlite")
	if err != nil {
		t.Fatal(err)
	}
	var stores [2]*Store
	var errs [2]error
	var wg sync.WaitGroup
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = OpenSQLite(ctx, path) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
	}
	a, b := stores[0], stores[1]
	acc := storetest.AccountID(1)
	w := storetest.NewWorkspace(acc, 1)
	if err := a.CreateWorkspace(ctx, w, storetest.NewQueue(w, rayfleet.RootQueue), storetest.NewNetworkService(w, "vpc")); err != nil {
		t.Fatal(err)
	}
	c := storetest.NewCluster(acc, w.ID, 1)
	if err := b.CreateCluster(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got, err := a.GetCluster(ctx, acc, w.ID, c.ID); err != nil || got.ID != c.ID {
		t.Fatalf("a cluster created through one store is not seen through the other: %v", err)
	}
	for _, s := range stores {
		if n := migrationCount(t, s); n != len(want) {
			t.Fatalf("schema_migrations holds %d rows, want %d", n, len(want))
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}

	s, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n := migrationCount(t, s); n != len(want) {
		t.Fatalf("after reopening, schema_migrations holds %d rows, want %d", n, len(want))
	}
	gotW, err := s.GetWorkspace(ctx, acc, w.ID)
	if err != nil || gotW != w {
		t.Fatalf("workspace after reopening: %+v, %v", gotW, err)
	}
	gotC, err := s.GetCluster(ctx, acc, w.ID, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	c.Version = 1
	if !reflect.DeepEqual(gotC, c) {
		t.Fatalf("cluster after reopening:\n got %+v\nwant %+v", gotC, c)
	}
}

// TestSQLiteNewerSchema refuses a database migrated by a newer rayfleet.
func TestSQLiteNewerSchema(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "rayfleet.db")
	s, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES (?, ?)", 9999, "future"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err := OpenSQLite(ctx, path); err == nil {
		s.Close()
		t.Fatal("opened a database with a newer schema")
	}
}

func TestSQLiteRejectsNonFilePaths(t *testing.T) {
	for _, p := range []string{"", ":memory:", "file:x.db", "x.db?mode=ro"} {
		if s, err := OpenSQLite(t.Context(), p); err == nil {
			s.Close()
			t.Errorf("OpenSQLite(%q) succeeded", p)
		}
	}
}

// TestSQLiteConcurrentWriters has writers of one store and of a second store
// on the same file (another process, as SQLite sees it) write at once: they
// queue rather than fail with SQLITE_BUSY.
func TestSQLiteConcurrentWriters(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "rayfleet.db")
	a, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	acc := storetest.AccountID(1)
	w := storetest.NewWorkspace(acc, 1)
	if err := a.CreateWorkspace(ctx, w, storetest.NewQueue(w, rayfleet.RootQueue), storetest.NewNetworkService(w, "vpc")); err != nil {
		t.Fatal(err)
	}
	shared := storetest.NewCluster(acc, w.ID, 0)
	if err := a.CreateCluster(ctx, shared); err != nil {
		t.Fatal(err)
	}
	const writers, each = 8, 25
	var wg sync.WaitGroup
	errc := make(chan error, writers*each)
	var conflicts atomic.Int64
	for i := range writers {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			for j := range each {
				if err := s.CreateCluster(ctx, storetest.NewCluster(acc, w.ID, 1+i*each+j)); err != nil {
					errc <- err
				}
				_, err := s.UpdateCluster(ctx, acc, w.ID, shared.ID, func(c *rayfleet.Cluster) error {
					c.Message = fmt.Sprintf("writer %d", i)
					return nil
				})
				if errors.Is(err, rayfleet.ErrConflict) {
					conflicts.Add(1)
				} else if err != nil {
					errc <- err
				}
				if _, _, err := s.ListClusters(ctx, store.ClusterFilter{AccountID: acc, WorkspaceID: w.ID, Limit: 5}); err != nil {
					errc <- err
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	_, total, err := a.ListClusters(ctx, store.ClusterFilter{AccountID: acc, WorkspaceID: w.ID, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if total != writers*each+1 {
		t.Fatalf("%d clusters, want %d", total, writers*each+1)
	}
	got, err := a.GetCluster(ctx, acc, w.ID, shared.ID)
	if err != nil {
		t.Fatal(err)
	}
	// Every update either won (bumping the version once) or lost cleanly.
	if want := int64(1 + writers*each - int(conflicts.Load())); got.Version != want {
		t.Fatalf("shared cluster at version %d after %d conflicts, want %d", got.Version, conflicts.Load(), want)
	}
}

// TestSQLiteQueryPlans keeps the list queries on their indexes: a change
// that made SQLite sort or scan the table would pass every other test and
// fall over at 100,000 clusters.
func TestSQLiteQueryPlans(t *testing.T) {
	s := openSQLiteForTest(t)
	plan := func(q string, args ...any) string {
		rows, err := s.read.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+q, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var b strings.Builder
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			b.WriteString(detail + "\n")
		}
		return b.String()
	}
	listArgs := []any{"a", "w", int64(20), int64(0)}
	for _, tc := range []struct {
		name, query, want string
		args              []any
	}{
		{"list", s.clusterList[0], "USING INDEX clusters_list", listArgs},
		{"count", s.clusterCount[0], "USING COVERING INDEX clusters_", listArgs[:2]},
		{"list by state", s.clusterList[filterState], "USING INDEX clusters_state", []any{"a", "w", "Running", int64(20), int64(0)}},
		{"count by state", s.clusterCount[filterState], "USING COVERING INDEX clusters_state", []any{"a", "w", "Running"}},
		{"list by name", s.clusterList[filterName], "USING INDEX clusters_list", []any{"a", "w", "x", int64(20), int64(0)}},
		{"get", "SELECT " + clusterCols + " FROM clusters WHERE account_id = ? AND workspace_id = ? AND id = ? AND deleted = 0", "USING INDEX sqlite_autoindex_clusters_1", []any{"a", "w", "i"}},
	} {
		p := plan(tc.query, tc.args...)
		if !strings.Contains(p, tc.want) || strings.Contains(p, "TEMP B-TREE") {
			t.Errorf("%s: plan\n%swant %q and no temporary b-tree", tc.name, p, tc.want)
		}
	}
}
