package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
)

// Lease is the right to be, among the processes sharing a database, the one
// that does something (run the reconciler). Lost is closed if it is lost.
type Lease struct {
	lost    chan struct{}
	release func()
	once    sync.Once
}

// Lost is closed when the lease is lost: the database session holding it
// broke (the database restarted, the network failed), so another process
// may hold it now.
func (l *Lease) Lost() <-chan struct{} { return l.lost }

// Release gives the lease up.
func (l *Lease) Release() { l.once.Do(l.release) }

// How often a held PostgreSQL lease checks its session, and how long a
// check may take before the lease counts as lost.
var (
	leaseCheckEvery   = 2 * time.Second
	leaseCheckTimeout = 5 * time.Second
	leaseRetryEvery   = 2 * time.Second
)

// AcquireLease waits until this process holds the lease called name on
// this database (on PostgreSQL, per schema), or ctx ends. onWait, if not
// nil, is called once if another process holds it, before waiting.
//
// On PostgreSQL the lease is a session-level advisory lock on a connection
// of its own, checked every 2 s: the database gives it up when the session
// ends, so a process that dies or loses the database hands it on, and the
// holder learns of a broken session within about 7 s (Lost). Until it
// does, two holders can overlap for those seconds; what the lease guards
// must tolerate that (the reconciler's writes check what they read). On
// SQLite, the server's lock on the data directory already makes it the
// only process: the lease is granted at once and never lost.
func (s *Store) AcquireLease(ctx context.Context, name string, onWait func()) (*Lease, error) {
	if s.d.name == "sqlite" {
		return &Lease{lost: make(chan struct{}), release: func() {}}, nil
	}
	conn, err := s.lockPool("lease").Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("lease %s: %w", name, err)
	}
	var schema string
	if err := conn.QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		discard(conn)
		return nil, fmt.Errorf("lease %s: %w", name, err)
	}
	key := leaseKey(schema, name)
	waited := false
	for {
		var got bool
		if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&got); err != nil {
			discard(conn)
			return nil, fmt.Errorf("lease %s: %w", name, err)
		}
		if got {
			break
		}
		if !waited && onWait != nil {
			onWait()
		}
		waited = true
		select {
		case <-ctx.Done():
			discard(conn)
			return nil, ctx.Err()
		case <-time.After(leaseRetryEvery):
		}
	}
	l := &Lease{lost: make(chan struct{})}
	stop := make(chan struct{})
	checked := make(chan struct{})
	go func() {
		defer close(checked)
		t := time.NewTicker(leaseCheckEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			cctx, cancel := context.WithTimeout(context.Background(), leaseCheckTimeout)
			_, err := conn.ExecContext(cctx, "SELECT 1")
			cancel()
			if err != nil {
				close(l.lost)
				discard(conn)
				return
			}
		}
	}()
	l.release = func() {
		close(stop)
		<-checked
		select {
		case <-l.lost:
			return // the session is gone, and its lock with it
		default:
		}
		cctx, cancel := context.WithTimeout(context.Background(), leaseCheckTimeout)
		defer cancel()
		_, _ = conn.ExecContext(cctx, "SELECT pg_advisory_unlock($1)", key)
		discard(conn)
	}
	return l, nil
}

// discard closes conn's session rather than returning it to the pool: a
// session-level lock must not stay with a pooled connection.
func discard(conn *sql.Conn) {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	_ = conn.Close()
}

// leaseKey is the advisory lock key of a lease: a hash of the schema and
// the name, so that deployments sharing a database in different schemas
// (and tests) do not hold each other's leases.
func leaseKey(schema, name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("rayfleet-lease\x00" + schema + "\x00" + name))
	return int64(h.Sum64()) //nolint:gosec // a hash, any 64 bits will do
}

// Lock holds the lock named kind and key among the processes sharing the
// database until unlock is called (service.Locker). On PostgreSQL it is an
// advisory lock (per schema) on a connection of its own, waited for as long
// as ctx allows; on SQLite the data directory's lock already makes the
// server the only process, and Lock does nothing.
//
// Each kind takes its sessions from a pool of its own. A caller may hold a
// lock of one kind while it takes one of another (always in the same order
// of kinds): were they one pool, holders of the first kind could take every
// connection and wait for ever for one to take the second.
func (s *Store) Lock(ctx context.Context, kind, key string) (unlock func(), err error) {
	if s.d.name == "sqlite" {
		return func() {}, nil
	}
	key = kind + ":" + key
	conn, err := s.lockPool("lock-" + kind).Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", key, err)
	}
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock("+lockKeySQL+")", key); err != nil {
		discard(conn)
		return nil, fmt.Errorf("lock %s: %w", key, err)
	}
	return func() {
		cctx, cancel := context.WithTimeout(context.Background(), leaseCheckTimeout)
		defer cancel()
		var released bool
		if err := conn.QueryRowContext(cctx, "SELECT pg_advisory_unlock("+lockKeySQL+")", key).Scan(&released); err != nil || !released {
			discard(conn) // ending the session releases the lock
			return
		}
		_ = conn.Close()
	}, nil
}

// lockKeySQL is a Lock's advisory key: a hash of the schema and the key,
// so that deployments sharing a database in different schemas (and tests)
// do not wait for each other.
const lockKeySQL = "hashtextextended('rayfleet-lock:' || current_schema() || ':' || $1, 0)"

// lockPoolSize bounds each kind's sessions.
const lockPoolSize = 8

// lockPool returns the pool of sessions for one kind of lock, made on
// first use. Locks, leases and the wake listener hold a session each while
// their holder goes on querying through the store's own pool, which they
// can therefore never exhaust.
func (s *Store) lockPool(kind string) *sql.DB {
	s.locksMu.Lock()
	defer s.locksMu.Unlock()
	if db := s.locks[kind]; db != nil {
		return db
	}
	if s.locks == nil {
		s.locks = map[string]*sql.DB{}
	}
	db := stdlib.OpenDB(*s.pg)
	// A waiter holds a session too; more waiters queue for one here
	// rather than take connections the database may not have (PostgreSQL
	// allows 100 by default, and the store's own pool takes up to 32).
	db.SetMaxOpenConns(lockPoolSize)
	db.SetMaxIdleConns(2)
	db.SetConnMaxIdleTime(5 * time.Minute)
	s.locks[kind] = db
	return db
}
