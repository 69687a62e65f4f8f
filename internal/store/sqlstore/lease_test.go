package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"testing"
	"time"
)

// One process at a time holds a lease on PostgreSQL: a second waits (and is
// told so), gets it once the first releases it, and learns when its
// session is cut; a lease in another schema is another lease.
func TestLeasePostgres(t *testing.T) {
	dsn := newPostgresSchema(t)
	a, b := openPostgresDSN(t, dsn), openPostgresDSN(t, dsn)
	other := openPostgresDSN(t, newPostgresSchema(t))
	ctx := context.Background()

	la, err := a.AcquireLease(ctx, "reconciler", nil)
	if err != nil {
		t.Fatal(err)
	}
	if lo, err := other.AcquireLease(ctx, "reconciler", func() { t.Error("another schema's lease waited") }); err != nil {
		t.Fatal(err)
	} else {
		lo.Release()
	}
	waited := make(chan struct{}, 1)
	got := make(chan *Lease, 1)
	go func() {
		lb, err := b.AcquireLease(ctx, "reconciler", func() { waited <- struct{}{} })
		if err != nil {
			t.Error(err)
		}
		got <- lb
	}()
	select {
	case <-waited:
	case <-time.After(10 * time.Second):
		t.Fatal("the second process was not told it waits")
	}
	select {
	case <-got:
		t.Fatal("two processes hold the lease")
	case <-time.After(3 * leaseRetryEvery): // the waiter has tried again meanwhile
	}
	la.Release()
	var lb *Lease
	select {
	case lb = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("the lease was not handed on after its release")
	}
	if lb == nil {
		t.FailNow()
	}
	defer lb.Release()

	// The database ends b's session (as when it restarts): b learns it lost
	// the lease, and a can take it.
	admin, err := sql.Open("pgx", os.Getenv(postgresEnv))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_locks
		WHERE locktype = 'advisory' AND objsubid = 1 AND ((classid::bigint << 32) | objid::bigint) = $1`, leaseKey(schemaOf(t, b), "reconciler")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-lb.Lost():
	case <-time.After(leaseCheckEvery + leaseCheckTimeout + 5*time.Second):
		t.Fatal("the holder did not learn its session was cut")
	}
	ctx2, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	la, err = a.AcquireLease(ctx2, "reconciler", nil)
	if err != nil {
		t.Fatalf("after the holder's session ended: %v", err)
	}
	la.Release()

	// A waiter gives up when its context ends.
	la, err = a.AcquireLease(ctx, "reconciler", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer la.Release()
	ctx3, cancel3 := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel3()
	if _, err := b.AcquireLease(ctx3, "reconciler", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a waiter whose context ended: %v", err)
	}
}

func schemaOf(t *testing.T, s *Store) string {
	t.Helper()
	var schema string
	if err := s.write.QueryRowContext(context.Background(), "SELECT current_schema()").Scan(&schema); err != nil {
		t.Fatal(err)
	}
	return schema
}

// On SQLite the data directory's lock is the lease: granted at once.
func TestLeaseSQLite(t *testing.T) {
	s := openSQLiteForTest(t)
	l, err := s.AcquireLease(context.Background(), "reconciler", func() { t.Error("waited") })
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.Lost():
		t.Fatal("lost")
	default:
	}
	l.Release()
}

// A Lock held by one process makes another wait for the same key, not for
// another key, and a waiter gives up when its context ends.
func TestLockPostgres(t *testing.T) {
	dsn := newPostgresSchema(t)
	a, b := openPostgresDSN(t, dsn), openPostgresDSN(t, dsn)
	ctx := context.Background()
	unlockA, err := a.Lock(ctx, "ws", "acc/ws-1")
	if err != nil {
		t.Fatal(err)
	}
	unlockOther, err := b.Lock(ctx, "ws", "acc/ws-2")
	if err != nil {
		t.Fatal(err)
	}
	unlockOther()
	got := make(chan func(), 1)
	go func() {
		unlock, err := b.Lock(ctx, "ws", "acc/ws-1")
		if err != nil {
			t.Error(err)
		}
		got <- unlock
	}()
	select {
	case <-got:
		t.Fatal("two processes hold one lock")
	case <-time.After(500 * time.Millisecond): // the waiter has asked meanwhile
	}
	unlockA()
	select {
	case unlock := <-got:
		if unlock != nil {
			unlock()
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the lock was not handed on")
	}
	unlockA, err = a.Lock(ctx, "ws", "acc/ws-1")
	if err != nil {
		t.Fatal(err)
	}
	defer unlockA()
	ctx2, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := b.Lock(ctx2, "ws", "acc/ws-1"); err == nil {
		t.Fatal("a waiter whose context ended got the lock")
	}
}

// A nonce is fresh once until it expires, whichever store (process) sees
// it again; an expired one is fresh again, and the janitor forgets it.
func TestUseNonce(t *testing.T) {
	// open takes the subtest's t: a skip (no PostgreSQL) skips that
	// subtest alone.
	for name, open := range map[string]func(*testing.T) (*Store, *Store){
		"sqlite": func(t *testing.T) (*Store, *Store) { s := openSQLiteForTest(t); return s, s },
		"postgres": func(t *testing.T) (*Store, *Store) {
			dsn := newPostgresSchema(t)
			return openPostgresDSN(t, dsn), openPostgresDSN(t, dsn)
		},
	} {
		t.Run(name, func(t *testing.T) {
			a, b := open(t)
			ctx := context.Background()
			now := time.Now().Truncate(time.Millisecond)
			exp := now.Add(15 * time.Minute)
			for i, tc := range []struct {
				s    *Store
				at   time.Time
				want bool
			}{{a, now, true}, {b, now, false}, {a, now.Add(time.Minute), false}, {b, exp.Add(time.Second), true}} {
				fresh, err := tc.s.UseNonce(ctx, "ak\x00n1", tc.at.Add(15*time.Minute), tc.at)
				if err != nil || fresh != tc.want {
					t.Fatalf("use %d: fresh %v, %v; want %v", i, fresh, err, tc.want)
				}
			}
			if err := a.DeleteNoncesBefore(ctx, exp.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			if fresh, err := b.UseNonce(ctx, "ak\x00n1", now.Add(15*time.Minute), now); err != nil || !fresh {
				t.Fatalf("after the janitor: fresh %v, %v", fresh, err)
			}
		})
	}
}
