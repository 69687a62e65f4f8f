package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/store"
	"github.com/rayfleet/rayfleet/internal/store/storetest"
)

// openStore opens a store with open (OpenSQLite or OpenPostgres) on where
// (a path or a DSN) and closes it when the test ends.
func openStore(t testing.TB, open func(context.Context, string, ...Option) (*Store, error), where string) *Store {
	t.Helper()
	s, err := open(context.Background(), where)
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

// openSQLiteForTest opens a store on a new file, closed when the test ends.
func openSQLiteForTest(t testing.TB) *Store {
	t.Helper()
	return openSQLitePath(t, filepath.Join(t.TempDir(), "rayfleet.db"))
}

// openSQLitePath opens a store on path, closed when the test ends.
func openSQLitePath(t testing.TB, path string) *Store {
	t.Helper()
	return openStore(t, OpenSQLite, path)
}

const postgresEnv = "RAYFLEET_TEST_POSTGRES"

// needPostgres skips t without the test database, or fails it when the
// run requires one (RAYFLEET_TEST_REQUIRE_POSTGRES, set by make test).
func needPostgres(t testing.TB) {
	t.Helper()
	if os.Getenv(postgresEnv) != "" {
		return
	}
	if os.Getenv("RAYFLEET_TEST_REQUIRE_POSTGRES") != "" {
		t.Fatalf("%s is not set, and this run requires PostgreSQL", postgresEnv)
	}
	t.Skipf("%s is not set; run scripts/postgres.sh and set %s to the DSN it prints to test PostgreSQL", postgresEnv, postgresEnv)
}

// eachBackend runs test on a fresh SQLite store and a fresh PostgreSQL one.
func eachBackend(t *testing.T, test func(t *testing.T, s *Store)) {
	t.Run("sqlite", func(t *testing.T) { test(t, openSQLiteForTest(t)) })
	t.Run("postgres", func(t *testing.T) {
		needPostgres(t)
		test(t, openPostgresForTest(t))
	})
}

var schemaSeq atomic.Int64

// openPostgresForTest opens a store in a schema of its own, dropped when the
// test ends, so tests and concurrent runs share the database without
// meeting.
func openPostgresForTest(t testing.TB) *Store {
	t.Helper()
	return openPostgresDSN(t, newPostgresSchema(t))
}

// newPostgresSchema creates a schema dropped when the test ends and returns
// the DSN of a store in it.
func newPostgresSchema(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(postgresEnv)
	needPostgres(t)
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
	return withSearchPath(dsn, schema)
}

// openPostgresDSN opens a store closed when the test ends.
func openPostgresDSN(t testing.TB, dsn string) *Store {
	t.Helper()
	return openStore(t, OpenPostgres, dsn)
}

// uncached turns a store's list cache off, so lists go through SQL.
func uncached(s *Store) *Store {
	s.lists = newListCache(0)
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
	// Two stores on one file are two processes as SQLite sees it.
	t.Run("Shared", func(t *testing.T) {
		storetest.RunShared(t, func(t *testing.T) (store.Store, store.Store) {
			path := filepath.Join(t.TempDir(), "rayfleet.db")
			return openSQLitePath(t, path), openSQLitePath(t, path)
		})
	})
	t.Run("SharedWithUncached", func(t *testing.T) {
		storetest.RunShared(t, func(t *testing.T) (store.Store, store.Store) {
			path := filepath.Join(t.TempDir(), "rayfleet.db")
			return uncached(openSQLitePath(t, path)), openSQLitePath(t, path)
		})
	})
	// Workspaces too big for the list cache are listed through SQL.
	t.Run("Uncached", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) store.Store { return uncached(openSQLiteForTest(t)) })
	})
}

func TestPostgres(t *testing.T) {
	needPostgres(t)
	storetest.Run(t, func(t *testing.T) store.Store { return openPostgresForTest(t) })
	t.Run("Extras", func(t *testing.T) { testExtras(t, func(t *testing.T) *Store { return openPostgresForTest(t) }) })
	// Two stores on one schema are two replicas.
	t.Run("Shared", func(t *testing.T) {
		storetest.RunShared(t, func(t *testing.T) (store.Store, store.Store) {
			dsn := newPostgresSchema(t)
			return openPostgresDSN(t, dsn), openPostgresDSN(t, dsn)
		})
	})
	t.Run("Uncached", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) store.Store { return uncached(openPostgresForTest(t)) })
	})
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
	// Migration 0009 sets what the queues' clusters hold from the rows
	// there, those written before the needs column included.
	t.Run("MigrationFillsQueueUsage", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		acc := storetest.AccountID(1)
		w := createTestWorkspace(t, s, acc, 1)
		for i := 1; i <= 4; i++ {
			c := storetest.NewCluster(acc, w.ID, i)
			if i == 3 {
				c.State = rayfleet.StateStopped
			}
			if err := s.CreateCluster(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		one := storetest.NewCluster(acc, w.ID, 1).Spec
		want, err := s.CapacityInUse(ctx, acc, w.ID)
		if err != nil || want[rayfleet.RootQueue] != one.Needs()[rayfleet.RootQueue].Scale(3) {
			t.Fatalf("CapacityInUse = %v, %v; want three clusters' worth", want, err)
		}
		// The database as an older rayfleet left it.
		if _, err := s.exec(ctx, "UPDATE queues SET used_milli_cpu = 0, used_memory = 0"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.exec(ctx, "UPDATE clusters SET needs = '' WHERE id <> ?", storetest.ClusterID(2)); err != nil {
			t.Fatal(err)
		}
		tx, err := s.write.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := fillQueueUsage(ctx, s, tx); err != nil {
			_ = tx.Rollback()
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if got, err := s.CapacityInUse(ctx, acc, w.ID); err != nil || !maps.Equal(got, want) {
			t.Fatalf("CapacityInUse after the fill = %v, %v; want %v", got, err, want)
		}
		var empty int
		if err := s.write.QueryRowContext(ctx, "SELECT count(*) FROM clusters WHERE needs = ''").Scan(&empty); err != nil || empty != 0 {
			t.Fatalf("the fill left %d rows without needs (%v)", empty, err)
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
		if err := s.CreateQueue(ctx, storetest.NewQueue(w, storetest.GPUQueue)); err != nil {
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
		if err := s.CreateQueue(ctx, storetest.NewQueue(w, storetest.GPUQueue)); err != nil {
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
	t.Run("CountersFollowWrites", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		acc := storetest.AccountID(1)
		var ws []rayfleet.Workspace
		for i := range 2 {
			w := storetest.NewWorkspace(acc, i)
			if err := s.CreateWorkspace(ctx, w, storetest.NewQueue(w, rayfleet.RootQueue), storetest.NewNetworkService(w, "vpc")); err != nil {
				t.Fatal(err)
			}
			if err := s.CreateQueue(ctx, storetest.NewQueue(w, storetest.GPUQueue)); err != nil {
				t.Fatal(err)
			}
			ws = append(ws, w)
		}
		states := []rayfleet.State{rayfleet.StateStarting, rayfleet.StateRunning, rayfleet.StateStopping, rayfleet.StateStopped, rayfleet.StateError}
		// check compares the totals the triggers keep with counting rows.
		check := func(when string) {
			t.Helper()
			byState := map[rayfleet.State]int{}
			for _, w := range ws {
				for _, st := range append([]rayfleet.State{""}, states...) {
					var want int64
					if err := s.read.QueryRowContext(ctx, s.d.rebind("SELECT count(*) FROM clusters WHERE account_id = ? AND workspace_id = ? AND deleted = 0 AND (state = ? OR ? = '')"),
						acc, w.ID, string(st), string(st)).Scan(&want); err != nil {
						t.Fatal(err)
					}
					_, total, err := s.ListClusters(ctx, store.ClusterFilter{AccountID: acc, WorkspaceID: w.ID, State: st, Limit: 1})
					if err != nil {
						t.Fatal(err)
					}
					if int64(total) != want {
						t.Fatalf("%s: workspace %s lists a total of %d clusters in state %q, holds %d", when, w.ID, total, st, want)
					}
					if st != "" {
						byState[st] += int(want)
					}
				}
			}
			maps.DeleteFunc(byState, func(_ rayfleet.State, n int) bool { return n == 0 })
			got, err := s.CountClustersByState(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, byState) {
				t.Fatalf("%s: CountClustersByState = %v, counting rows gives %v", when, got, byState)
			}
		}
		check("empty")
		update := func(id, wsID string, deleted bool, state rayfleet.State) {
			t.Helper()
			if _, err := s.UpdateCluster(ctx, acc, wsID, id, func(c *rayfleet.Cluster) error {
				c.Deleted, c.State = deleted, state
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 12 {
			c := storetest.NewCluster(acc, ws[i%2].ID, i)
			c.Deleted = i%5 == 0 // created deleted: not counted
			c.State = states[i%len(states)]
			if err := s.CreateCluster(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		check("after creating")
		for i := range 12 {
			update(storetest.ClusterID(i), ws[i%2].ID, i%5 == 0, states[(i+2)%len(states)])
		}
		check("after changing states")
		for i := range 12 {
			update(storetest.ClusterID(i), ws[i%2].ID, i%3 == 0, states[(i+2)%len(states)])
		}
		check("after deleting some and undeleting others")
		for i := range 12 {
			update(storetest.ClusterID(i), ws[i%2].ID, i%3 == 0, states[(i+4)%len(states)])
		}
		check("after changing the states of deleted and other clusters")
		for i := range 12 {
			if i%2 == 0 || i%3 == 0 {
				if err := s.PurgeCluster(ctx, acc, ws[i%2].ID, storetest.ClusterID(i)); err != nil {
					t.Fatal(err)
				}
			}
		}
		check("after purging")
	})
	t.Run("ConcurrentStateChanges", func(t *testing.T) {
		// Writers moving counts between the same two counter rows in
		// opposite directions must neither deadlock nor lose a count.
		s, ctx := open(t), t.Context()
		acc := storetest.AccountID(1)
		w := storetest.NewWorkspace(acc, 1)
		if err := s.CreateWorkspace(ctx, w, storetest.NewQueue(w, rayfleet.RootQueue), storetest.NewNetworkService(w, "vpc")); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateQueue(ctx, storetest.NewQueue(w, storetest.GPUQueue)); err != nil {
			t.Fatal(err)
		}
		const writers, rounds = 6, 20
		for i := range writers {
			c := storetest.NewCluster(acc, w.ID, i)
			c.State = []rayfleet.State{rayfleet.StateRunning, rayfleet.StateStopped}[i%2]
			if err := s.CreateCluster(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		errc := make(chan error, writers*rounds)
		for i := range writers {
			wg.Go(func() {
				for range rounds {
					_, err := s.UpdateCluster(ctx, acc, w.ID, storetest.ClusterID(i), func(c *rayfleet.Cluster) error {
						if c.State == rayfleet.StateRunning {
							c.State = rayfleet.StateStopped
						} else {
							c.State = rayfleet.StateRunning
						}
						return nil
					})
					if err != nil {
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
		got, err := s.CountClustersByState(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got[rayfleet.StateRunning] != writers/2 || got[rayfleet.StateStopped] != writers/2 {
			t.Fatalf("CountClustersByState after flipping states: %v", got)
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

// TestPostgresConcurrentOpen opens several stores on one new schema at
// once, as replicas starting together do: the advisory lock makes them
// migrate one after the other.
func TestPostgresConcurrentOpen(t *testing.T) {
	first := openPostgresForTest(t) // makes the schema; its store migrates it
	var schema string
	if err := first.read.QueryRowContext(t.Context(), "SELECT current_schema()").Scan(&schema); err != nil {
		t.Fatal(err)
	}
	// A second schema, empty, for the concurrent opens.
	if _, err := first.write.ExecContext(t.Context(), "CREATE SCHEMA "+schema+"_b"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { first.write.ExecContext(context.Background(), "DROP SCHEMA "+schema+"_b CASCADE") })
	dsn := withSearchPath(os.Getenv(postgresEnv), schema+"_b")
	const n = 4
	stores := make([]*Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { stores[i], errs[i] = OpenPostgres(t.Context(), dsn) })
	}
	wg.Wait()
	want, err := loadMigrations("postgres")
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range stores {
		if errs[i] != nil {
			t.Fatalf("open %d: %v", i, errs[i])
		}
		defer s.Close()
	}
	if got := migrationCount(t, stores[0]); got != len(want) {
		t.Fatalf("schema_migrations holds %d rows, want %d", got, len(want))
	}
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
	// One of every kind, written through either store.
	acc := storetest.AccountID(1)
	account, user := storetest.NewAccount(1), storetest.NewUser(acc, 0)
	key := storetest.NewAccessKey(user, 1)
	w := storetest.NewWorkspace(acc, 1)
	root, ns := storetest.NewQueue(w, rayfleet.RootQueue), storetest.NewNetworkService(w, "vpc")
	c := storetest.NewCluster(acc, w.ID, 1)
	rec := storetest.NewIdempotency(acc, "tok", storetest.At(1))
	for _, err := range []error{
		a.CreateAccount(ctx, account),
		b.CreateUser(ctx, user),
		a.CreateAccessKey(ctx, key),
		b.CreateWorkspace(ctx, w, root, ns),
		b.CreateQueue(ctx, storetest.NewQueue(w, storetest.GPUQueue)),
		a.CreateCluster(ctx, c),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := b.PutIdempotency(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if got, err := b.GetCluster(ctx, acc, w.ID, c.ID); err != nil || got.ID != c.ID {
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

	s := openSQLitePath(t, path)
	if n := migrationCount(t, s); n != len(want) {
		t.Fatalf("after reopening, schema_migrations holds %d rows, want %d", n, len(want))
	}
	check := func(what string, got, want any, err error) {
		t.Helper()
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s after reopening:\n got %+v (%v)\nwant %+v", what, got, err, want)
		}
	}
	gotAccount, err := s.GetAccount(ctx, acc)
	check("account", gotAccount, account, err)
	gotUser, err := s.GetUser(ctx, acc, user.UID)
	check("user", gotUser, user, err)
	gotKey, err := s.GetAccessKey(ctx, key.ID)
	check("access key", gotKey, key, err)
	gotW, err := s.GetWorkspace(ctx, acc, w.ID)
	check("workspace", gotW, w, err)
	gotQueues, err := s.ListQueues(ctx, acc, w.ID)
	check("queues", gotQueues, []rayfleet.Queue{storetest.NewQueue(w, storetest.GPUQueue), root}, err)
	gotNS, err := s.ListNetworkServices(ctx, acc, w.ID)
	check("network services", gotNS, []rayfleet.NetworkService{ns}, err)
	gotC, err := s.GetCluster(ctx, acc, w.ID, c.ID)
	c.Version = 1
	check("cluster", gotC, c, err)
	gotRec, created, err := s.PutIdempotency(ctx, storetest.NewIdempotency(acc, "tok", storetest.At(2)))
	check("client token", gotRec, rec, err)
	if created {
		t.Fatal("a client token was forgotten on reopening")
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
	a, b := openSQLitePath(t, path), openSQLitePath(t, path)
	acc := storetest.AccountID(1)
	w := storetest.NewWorkspace(acc, 1)
	if err := a.CreateWorkspace(ctx, w, storetest.NewQueue(w, rayfleet.RootQueue), storetest.NewNetworkService(w, "vpc")); err != nil {
		t.Fatal(err)
	}
	if err := a.CreateQueue(ctx, storetest.NewQueue(w, storetest.GPUQueue)); err != nil {
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
		{"count", s.clusterCount[0], "SEARCH cluster_counts USING PRIMARY KEY", listArgs[:2]},
		{"list by state", s.clusterList[filterState], "USING INDEX clusters_state", []any{"a", "w", "Running", int64(20), int64(0)}},
		{"count by state", s.clusterCount[filterState], "SEARCH cluster_counts USING PRIMARY KEY", []any{"a", "w", "Running"}},
		{"list by name", s.clusterList[filterName], "USING INDEX clusters_list", []any{"a", "w", "x", int64(20), int64(0)}},
		{"count by name", s.clusterCount[filterName], "USING COVERING INDEX clusters_list", []any{"a", "w", "x"}},
		{"count by creator and queue", s.clusterCount[filterCreator|filterQueue], "USING COVERING INDEX clusters_list", []any{"a", "w", "x", ",q,"}},
		{"get", getClusterSQL, "USING INDEX sqlite_autoindex_clusters_1", []any{"a", "w", "i"}},
		{"list generation", listGenSQL, "USING INDEX sqlite_autoindex_workspaces_2", []any{"a", "w"}},
		{"list load", listAllSQL, "USING INDEX clusters_list", []any{"a", "w"}},
		{"list changes", listChangesSQL, "USING INDEX clusters_changes", []any{"a", "w", int64(0)}},
		{"list live ids", listLiveIDsSQL, "USING COVERING INDEX clusters_", []any{"a", "w"}},
	} {
		p := plan(tc.query, tc.args...)
		if !strings.Contains(p, tc.want) || strings.Contains(p, "TEMP B-TREE") {
			t.Errorf("%s: plan\n%swant %q and no temporary b-tree", tc.name, p, tc.want)
		}
	}
	// ListRayJob: every filter walks an index in list order, and counts
	// need no table rows.
	for _, tc := range jobPlanCases {
		list, count, args := jobListSQL(tc.f)
		if p := plan(list, append(args, int64(20), int64(0))...); !strings.Contains(p, tc.sqlite) || strings.Contains(p, "TEMP B-TREE") {
			t.Errorf("list jobs %s: plan\n%swant %q and no temporary b-tree", tc.name, p, tc.sqlite)
		}
		if p := plan(count, args...); !strings.Contains(p, tc.sqliteCount) {
			t.Errorf("count jobs %s: plan\n%swant %q", tc.name, p, tc.sqliteCount)
		}
	}
	for _, tc := range []struct{ name, query, want string }{
		{"unfinished jobs", unfinishedJobsSQL, "USING INDEX jobs_unfinished"},
		{"clusters with unfinished jobs", unfinishedJobClustersSQL, "USING COVERING INDEX jobs_unfinished"},
		{"get job", getJobSQL, "USING INDEX sqlite_autoindex_jobs_1"},
	} {
		if p := plan(tc.query, "a", "w", "c"); !strings.Contains(p, tc.want) || strings.Contains(p, "TEMP B-TREE") {
			t.Errorf("%s: plan\n%swant %q and no temporary b-tree", tc.name, p, tc.want)
		}
	}
	// Data-plane tokens: the gateway's lookup by hash, the API's of a
	// caller's tokens for a page of clusters, the janitor's batch.
	for _, tc := range []struct {
		name, query, want string
		args              []any
	}{
		{"data-plane token", dataPlaneByHashSQL, "USING PRIMARY KEY (token_hash=?)", []any{"h"}},
		{"data-plane tokens of a caller", dataPlaneListSQL(2), "USING INDEX data_plane_tokens_owner (account_id=? AND user_uid=? AND access_key_id=? AND workspace_id=? AND cluster_id=? AND expire_time>?)",
			[]any{"a", "u", "k", "w", int64(0), "c1", "c2"}},
		{"expired data-plane tokens", strings.Trim(strings.TrimPrefix(dataPlaneExpiredSQL, "DELETE FROM data_plane_tokens WHERE token_hash IN"), " \n\t()"), "USING COVERING INDEX data_plane_tokens_expiry (expire_time<?)", []any{int64(0), int64(10)}},
	} {
		if p := plan(tc.query, tc.args...); !strings.Contains(p, tc.want) || strings.Contains(p, "TEMP B-TREE") {
			t.Errorf("%s: plan\n%swant %q and no temporary b-tree", tc.name, p, tc.want)
		}
	}
}

// jobPlanCases are ListJobs' filters with the index each must use.
var jobPlanCases = []struct {
	name                          string
	f                             store.JobFilter
	sqlite, sqliteCount, postgres string
}{
	{"without a filter", store.JobFilter{AccountID: "a", WorkspaceID: "w"},
		"USING INDEX jobs_list", "SEARCH job_counts USING PRIMARY KEY", "Index Scan using jobs_list"},
	{"by name", store.JobFilter{AccountID: "a", WorkspaceID: "w", Name: "n"},
		"USING INDEX jobs_name", "USING COVERING INDEX jobs_name", "Index Scan using jobs_name"},
	{"by task", store.JobFilter{AccountID: "a", WorkspaceID: "w", TaskBizID: "t"},
		"USING INDEX jobs_task", "USING COVERING INDEX jobs_task", "Index Scan using jobs_task"},
	{"by id", store.JobFilter{AccountID: "a", WorkspaceID: "w", ID: "rj-1"},
		"USING INDEX sqlite_autoindex_jobs_1", "USING INDEX sqlite_autoindex_jobs_1", "Index Scan using jobs_"},
	{"in a time range", store.JobFilter{AccountID: "a", WorkspaceID: "w", SubmittedFrom: time.UnixMilli(1), SubmittedUntil: time.UnixMilli(2)},
		"USING INDEX jobs_list (account_id=? AND workspace_id=? AND submit_time>? AND submit_time<?)",
		"USING COVERING INDEX jobs_list (account_id=? AND workspace_id=? AND submit_time>? AND submit_time<?)", "Index Scan using jobs_list"},
	{"by name in a time range", store.JobFilter{AccountID: "a", WorkspaceID: "w", Name: "n", SubmittedFrom: time.UnixMilli(1)},
		"USING INDEX jobs_name (account_id=? AND workspace_id=? AND name=? AND submit_time>?)",
		"USING COVERING INDEX jobs_name", "Index Scan using jobs_name"},
}

// TestPostgresQueryPlans checks the list queries can walk their indexes in
// order with no sort; seqscan is switched off because on a small table a
// scan is cheaper and the planner would rightly pick it.
func TestPostgresQueryPlans(t *testing.T) {
	s := openPostgresForTest(t)
	ctx := t.Context()
	conn, err := s.read.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SET enable_seqscan = off"); err != nil {
		t.Fatal(err)
	}
	// literal puts the arguments in the query: EXPLAIN of a statement with
	// parameters needs PostgreSQL 16.
	literal := func(q string, args ...string) string {
		for _, a := range args {
			q = strings.Replace(q, "?", a, 1)
		}
		return q
	}
	for _, tc := range []struct {
		name, query, want string
	}{
		{"list", literal(s.clusterList[0], "'a'", "'w'", "20", "0"), "Index Scan using clusters_list"},
		{"list by state", literal(s.clusterList[filterState], "'a'", "'w'", "'Running'", "20", "0"), "Index Scan using clusters_state"},
		{"count", literal(s.clusterCount[0], "'a'", "'w'"), "cluster_counts_pkey"},
		{"list generation", literal(listGenSQL, "'a'", "'w'"), "Index Scan using workspaces_"},
		{"list load", literal(listAllSQL, "'a'", "'w'"), "Index Scan using clusters_list"},
		{"list changes", literal(listChangesSQL, "'a'", "'w'", "0"), "clusters_changes"},
	} {
		p := explain(t, conn, tc.query)
		if !strings.Contains(p, tc.want) || strings.Contains(p, "Sort") {
			t.Errorf("%s: plan\n%swant %q and no sort", tc.name, p, tc.want)
		}
	}
	for _, tc := range jobPlanCases {
		list, _, args := jobListSQL(tc.f)
		lits := make([]string, 0, len(args)+2)
		for _, a := range args {
			switch a := a.(type) {
			case string:
				lits = append(lits, "'"+a+"'")
			default:
				lits = append(lits, fmt.Sprint(a))
			}
		}
		if p := explain(t, conn, literal(list, append(lits, "20", "0")...)); !strings.Contains(p, tc.postgres) || strings.Contains(p, "Sort") {
			t.Errorf("list jobs %s: plan\n%swant %q and no sort", tc.name, p, tc.postgres)
		}
	}
	if p := explain(t, conn, literal(unfinishedJobsSQL, "'a'", "'w'", "'c'")); !strings.Contains(p, "jobs_unfinished") || strings.Contains(p, "Sort") {
		t.Errorf("unfinished jobs: plan\n%swant jobs_unfinished and no sort", p)
	}
}

func explain(t *testing.T, conn *sql.Conn, query string) string {
	t.Helper()
	rows, err := conn.QueryContext(t.Context(), "EXPLAIN "+query)
	if err != nil {
		t.Fatalf("explain %s: %v", query, err)
	}
	defer rows.Close()
	var plan strings.Builder
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan.WriteString(line + "\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan.String()
}

// A store opened with Migrated reads a schema of its own version and
// refuses any other, changing nothing: no schema on a new file, an older
// one, a newer one.
func TestMigratedRefusesOtherSchemas(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "rayfleet.db")
	if _, err := OpenSQLite(ctx, path, Migrated()); err == nil || !strings.Contains(err.Error(), "start `rayfleet server`") {
		t.Fatalf("a new file: %v", err)
	}
	s, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := loadMigrations("sqlite")
	if err != nil {
		t.Fatal(err)
	}
	last := len(ms)
	// As an older binary left it: the last migration not applied.
	if _, err := s.write.ExecContext(ctx, "DELETE FROM schema_migrations WHERE version = ?", last); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := OpenSQLite(ctx, path, Migrated()); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("schema version %d and this rayfleet needs %d", last-1, last)) {
		t.Fatalf("an older schema: %v", err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations WHERE version = ?", last).Scan(&n); err != nil || n != 0 {
		t.Fatalf("opening with Migrated changed the schema: %d rows for version %d, %v", n, last, err)
	}
	// Put back as it was, then one version past this binary's.
	if _, err := db.ExecContext(ctx, "INSERT INTO schema_migrations (version, name) VALUES (?, ?), (?, 'future')", last, ms[last-1].name, last+1); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenSQLite(ctx, path, Migrated()); err == nil || !strings.Contains(err.Error(), "run a newer rayfleet") {
		t.Fatalf("a newer schema: %v", err)
	}
	if _, err := db.ExecContext(ctx, "DELETE FROM schema_migrations WHERE version = ?", last+1); err != nil {
		t.Fatal(err)
	}
	s, err = OpenSQLite(ctx, path, Migrated())
	if err != nil {
		t.Fatalf("this binary's schema: %v", err)
	}
	s.Close()
}

// TestPostgresClusterWritesDoNotLockTheWorkspace holds a write of one
// cluster open in another transaction: status writes, creates and lists of
// the workspace's other clusters go on meanwhile, and once the held write
// commits, after theirs, lists show it too.
func TestPostgresClusterWritesDoNotLockTheWorkspace(t *testing.T) {
	s := openPostgresForTest(t)
	ctx := t.Context()
	acc := storetest.AccountID(1)
	w := createTestWorkspace(t, s, acc, 1)
	for i := 1; i <= 3; i++ {
		if err := s.CreateCluster(ctx, storetest.NewCluster(acc, w.ID, i)); err != nil {
			t.Fatal(err)
		}
	}
	f := store.ClusterFilter{AccountID: acc, WorkspaceID: w.ID}
	listAll(t, s, f)

	held, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = held.Rollback() }()
	if _, err := held.ExecContext(ctx, "UPDATE clusters SET message = 'held' WHERE id = $1", storetest.ClusterID(1)); err != nil {
		t.Fatal(err)
	}

	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	read, err := s.GetClusterAny(wctx, acc, w.ID, storetest.ClusterID(2))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateClusterFrom(wctx, read, func(c *rayfleet.Cluster) error { c.Message = "status"; return nil }); err != nil {
		t.Fatalf("a status write while another cluster's write is open: %v", err)
	}
	if err := s.CreateCluster(wctx, storetest.NewCluster(acc, w.ID, 4)); err != nil {
		t.Fatalf("a create while another cluster's write is open: %v", err)
	}
	messages := func() map[string]string {
		cs, _ := listAll(t, s, f)
		m := map[string]string{}
		for _, c := range cs {
			m[c.ID] = c.Message
		}
		return m
	}
	m := messages()
	if len(m) != 4 || m[storetest.ClusterID(2)] != "status" || m[storetest.ClusterID(1)] == "held" {
		t.Fatalf("lists while a write is open: %v", m)
	}
	// The held write commits after the others, with an older transaction
	// id than theirs: lists must see it all the same.
	if err := held.Commit(); err != nil {
		t.Fatal(err)
	}
	if m := messages(); m[storetest.ClusterID(1)] != "held" || m[storetest.ClusterID(2)] != "status" || len(m) != 4 {
		t.Fatalf("lists after the held write committed: %v", m)
	}
}
