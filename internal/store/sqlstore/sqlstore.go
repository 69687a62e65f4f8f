package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/store"
)

// Store is a store.Store over an SQL database. It is safe for concurrent use.
type Store struct {
	d dialect
	// write runs every statement that changes data. On SQLite it holds one
	// connection: the database has one writer anyway, and queueing writers
	// in the pool is kinder than letting them collide into SQLITE_BUSY.
	write *sql.DB
	// read runs queries. On SQLite it is a pool of query-only connections
	// that WAL lets read alongside the writer; on PostgreSQL it is write.
	read *sql.DB

	// stmts caches prepared statements by database and query text, so hot
	// queries are parsed once per connection rather than once per call.
	stmts  sync.Map // stmtKey → *sql.Stmt
	prepMu sync.Mutex

	// clusterList and clusterCount hold the list and count queries of
	// ListClusters for each combination of filters, built once.
	clusterList  [clusterFilterCombos]string
	clusterCount [clusterFilterCombos]string

	// lists holds the clusters of recently listed workspaces (listcache.go),
	// the store's one cache.
	lists *listCache

	// noMigrate: the schema must already be this binary's (Migrated).
	noMigrate bool
	// pg is the parsed DSN, for the lock pools (PostgreSQL only).
	pg *pgx.ConnConfig
	// locks holds, by kind, PostgreSQL's pools for the sessions of Lock,
	// AcquireLease and Wakes.Listen (lease.go).
	locksMu sync.Mutex
	locks   map[string]*sql.DB
}

// Option changes how OpenSQLite and OpenPostgres open a store.
type Option func(*Store)

// Migrated makes opening fail, changing nothing, unless the database's
// schema is exactly the one this binary knows: for a process that reads
// the database of a server it does not own (the standalone gateway), which
// must neither migrate that server's schema under it nor read one it does
// not know.
func Migrated() Option { return func(s *Store) { s.noMigrate = true } }

func (s *Store) apply(opts []Option) {
	for _, o := range opts {
		o(s)
	}
}

var _ store.Store = (*Store)(nil)

type stmtKey struct {
	db    *sql.DB
	query string
}

// OpenSQLite opens (creating if needed) the SQLite database at path and
// migrates it. path must be a plain file name: the store opens it from
// several connections, which an in-memory database or a URI with its own
// parameters would defeat.
func OpenSQLite(ctx context.Context, path string, opts ...Option) (*Store, error) {
	// Two processes opening one new file at once (a server and a gateway,
	// or two tests) can meet while one turns it into WAL mode, which SQLite
	// answers with SQLITE_BUSY at once rather than after its busy timeout:
	// try again for as long as that timeout.
	deadline := time.Now().Add(10 * time.Second)
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, 500*time.Millisecond) {
		s, err := openSQLite(ctx, path, opts)
		if err == nil || !isBusy(err) || time.Now().After(deadline) {
			return s, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(wait):
		}
	}
}

// isBusy reports whether err is SQLite's SQLITE_BUSY or SQLITE_LOCKED.
func isBusy(err error) bool {
	c := sqliteCode(err) & 0xff
	return c == sqlite3.SQLITE_BUSY || c == sqlite3.SQLITE_LOCKED
}

func openSQLite(ctx context.Context, path string, opts []Option) (*Store, error) {
	if path == "" || strings.HasPrefix(path, ":memory:") || strings.HasPrefix(path, "file:") || strings.Contains(path, "?") {
		return nil, fmt.Errorf("open sqlite %q: need a plain file path (no \"file:\", \"?\" or \":memory:\")", path)
	}
	// busy_timeout makes another process's writer a wait rather than an
	// error; _txlock=immediate takes the write lock at BEGIN, so a
	// read-then-write transaction never fails midway on lock upgrade.
	write, err := sql.Open("sqlite", path+"?_busy_timeout=10000&_foreign_keys=1&_journal_mode=WAL&_synchronous=NORMAL&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)
	s := newStore(sqliteDialect, write, nil)
	s.apply(opts)
	// Migrate before the readers exist: the first connection turns the file
	// into WAL mode, which query-only connections could not do.
	if err := s.migrate(ctx); err != nil {
		_ = write.Close()
		return nil, err
	}
	// Readers keep SQLite's default page cache (2 MB each): lists, the
	// reads that walked large indexes, come from memory (listcache.go).
	read, err := sql.Open("sqlite", path+"?_busy_timeout=10000&_query_only=1")
	if err != nil {
		_ = write.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	read.SetMaxOpenConns(n)
	read.SetMaxIdleConns(n)
	read.SetConnMaxLifetime(0)
	read.SetConnMaxIdleTime(0)
	if err := read.PingContext(ctx); err != nil {
		_ = write.Close()
		_ = read.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	s.read = read
	return s, nil
}

// OpenPostgres connects to the PostgreSQL database named by dsn (a URL or
// key=value string as pgx reads it) and migrates it. Several processes may
// open the same database at once: migrations run under an advisory lock.
func OpenPostgres(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	// database/sql keeps only two idle connections by default, which under
	// load means a new TCP connection and TLS handshake per query.
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(32)
	db.SetConnMaxIdleTime(5 * time.Minute)
	s := newStore(postgresDialect, db, db)
	s.apply(opts)
	if err := s.migrate(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	s.pg = cfg
	return s, nil
}

func newStore(d dialect, write, read *sql.DB) *Store {
	s := &Store{
		d: d, write: write, read: read,
		lists: newListCache(defaultListCacheRows),
	}
	s.buildClusterQueries()
	return s
}

// Close closes the store's connections.
func (s *Store) Close() error {
	s.stmts.Range(func(k, v any) bool {
		_ = v.(*sql.Stmt).Close()
		return true
	})
	var errs []error
	if s.d.name == "sqlite" {
		// Lets SQLite refresh the statistics its planner uses, cheaply, as
		// its documentation recommends doing before closing.
		if _, err := s.write.Exec("PRAGMA optimize"); err != nil {
			errs = append(errs, fmt.Errorf("optimize: %w", err))
		}
	}
	if s.read != s.write {
		errs = append(errs, s.read.Close())
	}
	s.locksMu.Lock()
	for _, db := range s.locks {
		errs = append(errs, db.Close())
	}
	s.locks = nil
	s.locksMu.Unlock()
	errs = append(errs, s.write.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// preparedStmt is a cached prepared statement: the cache owns it and Close
// closes it, so callers never do.
type preparedStmt interface {
	ExecContext(ctx context.Context, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, args ...any) *sql.Row
}

// stmt returns the prepared statement for query (written with '?'
// placeholders) on db, preparing it on first use.
func (s *Store) stmt(ctx context.Context, db *sql.DB, query string) (preparedStmt, error) {
	k := stmtKey{db, query}
	if st, ok := s.stmts.Load(k); ok {
		return st.(*sql.Stmt), nil
	}
	// First use: prepare once, whoever else asks meanwhile.
	s.prepMu.Lock()
	defer s.prepMu.Unlock()
	if st, ok := s.stmts.Load(k); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := db.PrepareContext(ctx, s.d.rebind(query))
	if err != nil {
		return nil, err
	}
	s.stmts.Store(k, st)
	return st, nil
}

func (s *Store) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := s.stmt(ctx, s.write, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

func (s *Store) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := s.stmt(ctx, s.read, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// row runs a query expecting at most one row and scans it into dest; found
// is false when there was none.
func (s *Store) row(ctx context.Context, query string, args []any, dest ...any) (found bool, err error) {
	st, err := s.stmt(ctx, s.read, query)
	if err != nil {
		return false, err
	}
	err = st.QueryRowContext(ctx, args...).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// count runs a query returning one integer.
func (s *Store) count(ctx context.Context, query string, args ...any) (int, error) {
	st, err := s.stmt(ctx, s.read, query)
	if err != nil {
		return 0, err
	}
	var n int64
	if err := st.QueryRowContext(ctx, args...).Scan(&n); err != nil {
		return 0, err
	}
	return int(n), nil
}

// txExec runs a statement inside a transaction (not cached: transactions are
// the rare paths).
func (s *Store) txExec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	return tx.ExecContext(ctx, s.d.rebind(query), args...)
}

// affected reports the rows a statement changed.
func affected(res sql.Result) (int64, error) {
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("rows affected: %w", err)
	}
	return n, nil
}

// dialect is what differs between SQLite and PostgreSQL.
type dialect struct {
	name string
	// numbered placeholders ($1, $2...) instead of '?'.
	numbered bool
	// contains is the SQL of "column contains the string of the next
	// argument" without LIKE, whose wildcards the argument would carry.
	contains func(col string) string
	// hasTag is the SQL of "the JSON array of {"key","value"} in column
	// tags holds the tag of the next arguments": key, any value (a bool),
	// value. The text is one for every tag, so that the statement cache
	// holds one statement per number of tags.
	hasTag string
	// noLimit is the LIMIT argument meaning "all rows".
	noLimit any
	// lockMigrations serialises migrations between processes; empty when
	// the transaction itself does (SQLite's BEGIN IMMEDIATE).
	lockMigrations string
	isUnique       func(error) bool
	isForeignKey   func(error) bool
}

// migrationLockKey is the PostgreSQL advisory lock taken while migrating:
// "raymigra" in ASCII, unlikely to collide with other users' keys.
const migrationLockKey = 0x7261796d69677261

var sqliteDialect = dialect{
	name:     "sqlite",
	contains: func(col string) string { return "instr(" + col + ", ?) > 0" },
	hasTag: `EXISTS (SELECT 1 FROM json_each(tags) t WHERE json_extract(t.value, '$.key') = ?
		AND (? OR json_extract(t.value, '$.value') = ?))`,
	noLimit: int64(-1),
	isUnique: func(err error) bool {
		c := sqliteCode(err)
		return c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || c == sqlite3.SQLITE_CONSTRAINT_UNIQUE
	},
	isForeignKey: func(err error) bool { return sqliteCode(err) == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY },
}

var postgresDialect = dialect{
	name:     "postgres",
	numbered: true,
	contains: func(col string) string { return "strpos(" + col + ", ?) > 0" },
	hasTag: `EXISTS (SELECT 1 FROM jsonb_array_elements(tags::jsonb) t WHERE t->>'key' = ?
		AND (? OR t->>'value' = ?))`,
	noLimit:        nil, // LIMIT NULL is LIMIT ALL
	lockMigrations: "SELECT pg_advisory_xact_lock(" + strconv.FormatInt(migrationLockKey, 10) + ")",
	isUnique:       func(err error) bool { return pgCode(err) == "23505" },
	isForeignKey:   func(err error) bool { return pgCode(err) == "23503" },
}

func sqliteCode(err error) int {
	var e *sqlite.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return 0
}

func pgCode(err error) string {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// rebind turns '?' placeholders into the dialect's. The queries of this
// package never hold '?' inside a literal.
func (d dialect) rebind(q string) string {
	if !d.numbered {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// page turns Offset/Limit of a filter into LIMIT and OFFSET arguments.
func (d dialect) page(offset, limit int) (lim any, off int64) {
	if offset < 0 {
		offset = 0
	}
	if limit <= 0 {
		return d.noLimit, int64(offset)
	}
	return int64(limit), int64(offset)
}

// knownTotal works out the total of a paged list from the page alone when it
// can (a short page, not past the end), sparing the count query.
func knownTotal(offset, limit, n int) (int, bool) {
	if offset < 0 {
		offset = 0
	}
	if (n > 0 || offset == 0) && (limit <= 0 || n < limit) {
		return offset + n, true
	}
	return 0, false
}

// Times are Unix milliseconds; the zero time is 0 so "never" survives.
func toMS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// blob keeps "no bytes" as NULL and reads it back as nil, whatever the
// driver does with empty blobs, so values round-trip exactly.
func blob(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

func copyBlob(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}

func notFound(kind, id string) error {
	return rayfleet.Errorf(rayfleet.ENOTFOUND, "%s %s not found", kind, id)
}

func alreadyExists(kind, id string) error {
	return rayfleet.Errorf(rayfleet.EDENIED, "%s %s already exists", kind, id)
}
