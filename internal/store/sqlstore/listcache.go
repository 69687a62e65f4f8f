package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/store"
)

// The in-memory cluster lists.
//
// A list page in SQL means walking the workspace's index past every row of
// the OFFSET and reading each listed row from a large table: milliseconds at
// 10,000 clusters. So the store keeps, per workspace recently listed, the
// ordered clusters that are not deleted with what lists show (listRow), and
// pages and filters them in memory.
//
// Freshness never depends on this process having made the writes: another
// replica on the same PostgreSQL, or another process on the same SQLite
// file, may write too. Each ListClusters reads the workspace's stamp, one
// round trip of indexed point queries; when it shows nothing written since
// the snapshot was built, the snapshot is the table. Otherwise one read
// transaction, a consistent view, brings the snapshot up to date: the rows
// stamped since (those marked deleted leave the list), then a count of the
// workspace's live rows from cluster_counts. Purged rows leave no stamped
// row behind; when the count shows some, the live ids are read and the
// rest dropped.
//
// The stamps differ by dialect. SQLite has one writer at a time, so
// triggers (migration 0002) give the workspace's cluster_gen a new, higher
// value on every write to one of its cluster rows and stamp the row with it
// (change_seq): the stamp is cluster_gen, and the rows to read are those
// stamped above the snapshot's. On PostgreSQL that would make every write
// of a cluster lock its workspace's row until it commits, so the trigger
// (migration 0010) stamps a row with its writer's transaction id instead,
// touching nothing else, and the stamp is the workspace's highest change_seq
// with its live count and the oldest transaction still running (the xmin
// of a snapshot). Transaction ids do not follow commit order, but every
// writer not yet committed when a snapshot is taken has an id at or above
// that snapshot's xmin: the rows to read are those stamped at or above the
// xmin of the snapshot the list was built in, and a list built while a
// writer with an id below its highest stamp was running is not trusted
// without that read (settled).
//
// Snapshots are immutable once published, so lists read them without locks
// while a refresh builds the next one.

// defaultListCacheRows bounds the rows held by all snapshots together: four
// workspaces of 10,000 clusters. A row takes about 1 KB (950 bytes measured
// for clusters like the benchmark's), so some 40 MB in all. The least
// recently listed workspaces are dropped first, and a workspace bigger
// than the bound on its own is listed through SQL.
const defaultListCacheRows = 40_000

// listCols are the columns a list row is read from: a cluster's without the
// running spec and instances, which lists do not return, plus what the
// in-memory filters compare.
const listCols = "id, name_lower, queues, spec, desired, deleted, state, message, instance_id, token_hash, token_sealed, modified, " +
	"create_time, start_time, modified_time, state_time, creator, creator_name, modifier, modifier_name, version"

const (
	listGenSQL     = "SELECT cluster_gen FROM workspaces WHERE account_id = ? AND id = ?"
	listAllSQL     = "SELECT " + listCols + " FROM clusters WHERE account_id = ? AND workspace_id = ? AND deleted = 0 ORDER BY create_time DESC, id DESC"
	listChangesSQL = "SELECT " + listCols + " FROM clusters WHERE account_id = ? AND workspace_id = ? AND change_seq > ?"
	listLiveSQL    = "SELECT CAST(coalesce(sum(n), 0) AS BIGINT) FROM cluster_counts WHERE account_id = ? AND workspace_id = ?"
	listLiveIDsSQL = "SELECT id FROM clusters WHERE account_id = ? AND workspace_id = ? AND deleted = 0"

	// pgStampSQL is PostgreSQL's stamp: the workspace's highest change_seq,
	// its live count, the xmin of the statement's snapshot (in a
	// repeatable-read transaction, the transaction's) and whether the
	// workspace exists. Its arguments are the account and workspace ids,
	// three times.
	pgStampSQL = "SELECT coalesce((SELECT max(change_seq) FROM clusters WHERE account_id = ? AND workspace_id = ?), 0), " +
		"(SELECT CAST(coalesce(sum(n), 0) AS BIGINT) FROM cluster_counts WHERE account_id = ? AND workspace_id = ?), " +
		"CAST(CAST(pg_snapshot_xmin(pg_current_snapshot()) AS TEXT) AS BIGINT), " +
		"EXISTS (SELECT 1 FROM workspaces WHERE account_id = ? AND id = ?)"
	pgChangesSQL = "SELECT " + listCols + " FROM clusters WHERE account_id = ? AND workspace_id = ? AND change_seq >= ?"
)

// listStamp is what a list reads to learn whether its snapshot is current:
// on SQLite gen is cluster_gen; on PostgreSQL gen is the highest change_seq,
// live the live count and horizon the xmin (see above).
type listStamp struct {
	gen, live, horizon int64
	found              bool // the workspace exists
}

// listRow is one cluster as lists return it. It is never changed once in a
// snapshot.
type listRow struct {
	id        string
	nameLower string
	queues    string // as the queues column: ",q1,q2,"
	deleted   bool   // only in a change read, never in a snapshot
	spec      rayfleet.ClusterSpec
	desired   rayfleet.RunState
	state     rayfleet.State
	message   string
	instID    string
	tokenHash string
	sealed    []byte
	modified  bool
	// Unix milliseconds, as stored.
	createTime, startTime, modifiedTime, stateTime int64

	creator, creatorName, modifier, modifierName string
	version                                      int64
}

// compare orders rows as lists do: newest first, then by id descending.
func (r *listRow) compare(o *listRow) int {
	if c := cmp.Compare(o.createTime, r.createTime); c != 0 {
		return c
	}
	return strings.Compare(o.id, r.id)
}

// fill sets c, a zero cluster, to the row as a cluster of its own: nothing
// it holds is shared with the snapshot (strings are immutable; slices and
// pointers are copied). It writes in place rather than returning a value:
// a cluster is a large struct, and lists copy many.
func (r *listRow) fill(c *rayfleet.Cluster, accountID, workspaceID string) {
	c.ID, c.AccountID, c.WorkspaceID = r.id, accountID, workspaceID
	c.Spec = cloneSpec(r.spec)
	c.Desired, c.State, c.Message = r.desired, r.state, r.message
	c.InstanceID, c.TokenHash, c.TokenSealed, c.Modified = r.instID, r.tokenHash, copyBlob(r.sealed), r.modified
	c.CreateTime, c.StartTime, c.ModifiedTime, c.StateTime = fromMS(r.createTime), fromMS(r.startTime), fromMS(r.modifiedTime), fromMS(r.stateTime)
	c.Creator, c.CreatorName, c.Modifier, c.ModifierName = r.creator, r.creatorName, r.modifier, r.modifierName
	c.Version = r.version
}

// scanListRows reads rows selecting listCols. Strings that rows repeat go
// through in, so that the rows read together share one copy.
func scanListRows(rows *sql.Rows, in interner) ([]*listRow, error) {
	var out []*listRow
	var spec, sealed, queues, desired, state, creator, creatorName, modifier, modifierName sql.RawBytes
	for rows.Next() {
		r := new(listRow)
		var deleted, modified int64
		if err := rows.Scan(&r.id, &r.nameLower, &queues, &spec, &desired, &deleted, &state, &r.message, &r.instID, &r.tokenHash, &sealed,
			&modified, &r.createTime, &r.startTime, &r.modifiedTime, &r.stateTime,
			&creator, &creatorName, &modifier, &modifierName, &r.version); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(spec, &r.spec); err != nil {
			return nil, fmt.Errorf("decode spec of cluster %s: %w", r.id, err)
		}
		in.spec(&r.spec)
		if r.nameLower == r.spec.Name {
			r.nameLower = r.spec.Name // one string, not two, for names already lower case
		}
		r.queues, r.desired, r.state = in.bytes(queues), rayfleet.RunState(in.bytes(desired)), rayfleet.State(in.bytes(state))
		r.creator, r.creatorName, r.modifier, r.modifierName = in.bytes(creator), in.bytes(creatorName), in.bytes(modifier), in.bytes(modifierName)
		r.message = in.str(r.message)
		r.deleted, r.modified = deleted != 0, modified != 0
		r.sealed = copyBlob(sealed)
		out = append(out, r)
	}
	return out, rows.Err()
}

// interner hands out one copy of each string it is given, for the strings
// that clusters repeat: states, queue names, node sizes, release versions,
// creators. It lives as long as one read, so it holds nothing for long;
// shared, the strings of a 10,000-cluster snapshot take a third less room.
type interner map[string]string

func (in interner) str(s string) string {
	if v, ok := in[s]; ok {
		return v
	}
	in[s] = s
	return s
}

func (in interner) bytes(b []byte) string {
	if v, ok := in[string(b)]; ok { // no allocation for the lookup
		return v
	}
	s := string(b)
	in[s] = s
	return s
}

// spec interns the fields of a spec that clusters share; names and the
// like stay as they are.
func (in interner) spec(sp *rayfleet.ClusterSpec) {
	sp.Description, sp.ReleaseVersion, sp.NetworkService, sp.ExtraParam = in.str(sp.Description), in.str(sp.ReleaseVersion), in.str(sp.NetworkService), in.str(sp.ExtraParam)
	h := &sp.Head
	h.QueueName, h.CPU, h.Memory, h.GPUSpec, h.ReleaseVersion = in.str(h.QueueName), in.str(h.CPU), in.str(h.Memory), in.str(h.GPUSpec), in.str(h.ReleaseVersion)
	for i := range sp.Workers {
		w := &sp.Workers[i]
		w.GroupName, w.WorkerType, w.QueueName = in.str(w.GroupName), in.str(w.WorkerType), in.str(w.QueueName)
		w.CPU, w.Memory, w.GPUSpec, w.ReleaseVersion = in.str(w.CPU), in.str(w.Memory), in.str(w.GPUSpec), in.str(w.ReleaseVersion)
	}
}

// listSnapshot is a workspace's live clusters as of stamp, in list order,
// or, when tooBig, the note that they were too many to hold.
type listSnapshot struct {
	stamp  listStamp
	rows   []*listRow
	tooBig bool

	// byState holds the rows of each state in list order, built by the
	// first list filtered by state.
	stateOnce sync.Once
	byState   map[rayfleet.State][]*listRow
}

func (sn *listSnapshot) ofState(st rayfleet.State) []*listRow {
	sn.stateOnce.Do(func() {
		sn.byState = map[rayfleet.State][]*listRow{}
		for _, r := range sn.rows {
			sn.byState[r.state] = append(sn.byState[r.state], r)
		}
	})
	return sn.byState[st]
}

// list applies a filter to the snapshot.
func (sn *listSnapshot) list(f store.ClusterFilter) ([]rayfleet.Cluster, int) {
	rows := sn.rows
	if f.State != "" {
		rows = sn.ofState(f.State)
	}
	offset := max(f.Offset, 0)
	var page []*listRow
	total := 0
	if f.Name == "" && f.Creator == "" && f.QueueName == "" {
		total = len(rows)
		if offset < len(rows) {
			page = rows[offset:]
			if f.Limit > 0 && len(page) > f.Limit {
				page = page[:f.Limit]
			}
		}
	} else {
		name := strings.ToLower(f.Name)
		queue := queueSep + f.QueueName + queueSep
		for _, r := range rows {
			if (name != "" && !strings.Contains(r.nameLower, name)) ||
				(f.Creator != "" && r.creator != f.Creator) ||
				(f.QueueName != "" && !strings.Contains(r.queues, queue)) {
				continue
			}
			if total >= offset && (f.Limit <= 0 || total-offset < f.Limit) {
				page = append(page, r)
			}
			total++
		}
	}
	out := make([]rayfleet.Cluster, len(page))
	for i, r := range page {
		r.fill(&out[i], f.AccountID, f.WorkspaceID)
	}
	return out, total
}

// apply returns the snapshot with changed rows (read at stamp) replacing
// their old versions; deleted ones leave it. A row read again unchanged
// replaces itself.
func (sn *listSnapshot) apply(stamp listStamp, changed []*listRow) *listSnapshot {
	// Where each changed row's old version is: found by its sort key when
	// the key did not change (the usual case), else by one pass over ids.
	drop := make([]bool, len(sn.rows))
	var lost map[string]bool
	for _, c := range changed {
		i, found := slices.BinarySearchFunc(sn.rows, c, (*listRow).compare)
		if found && sn.rows[i].id == c.id {
			drop[i] = true
			continue
		}
		if lost == nil {
			lost = map[string]bool{}
		}
		lost[c.id] = true
	}
	if lost != nil {
		for i, r := range sn.rows {
			if lost[r.id] {
				drop[i] = true
			}
		}
	}
	add := make([]*listRow, 0, len(changed))
	for _, c := range changed {
		if !c.deleted {
			add = append(add, c)
		}
	}
	slices.SortFunc(add, (*listRow).compare)
	out := make([]*listRow, 0, len(sn.rows)+len(add))
	j := 0
	for i, r := range sn.rows {
		if drop[i] {
			continue
		}
		for j < len(add) && add[j].compare(r) < 0 {
			out = append(out, add[j])
			j++
		}
		out = append(out, r)
	}
	out = append(out, add[j:]...)
	return &listSnapshot{stamp: stamp, rows: out}
}

// keep returns the snapshot without the rows whose ids are not in live.
func (sn *listSnapshot) keep(live map[string]bool) *listSnapshot {
	out := make([]*listRow, 0, len(live))
	for _, r := range sn.rows {
		if live[r.id] {
			out = append(out, r)
		}
	}
	return &listSnapshot{stamp: sn.stamp, rows: out}
}

type wsKey struct{ accountID, workspaceID string }

// listCache holds the snapshots of recently listed workspaces.
type listCache struct {
	maxRows int // 0 turns the cache off

	mu      sync.Mutex
	entries map[wsKey]*listEntry
	rows    int    // rows held by the snapshots of entries
	clock   uint64 // ticks on every use, for least-recently-used eviction
}

type listEntry struct {
	// refresh lets one caller at a time bring the snapshot up to date;
	// the others wait and mostly find it done.
	refresh sync.Mutex
	snap    atomic.Pointer[listSnapshot]
	check   genCheck // reads of the workspace's stamp
	used    atomic.Uint64
	rows    int // len(snap.rows) as counted in listCache.rows; under listCache.mu
}

func newListCache(maxRows int) *listCache {
	return &listCache{maxRows: maxRows, entries: map[wsKey]*listEntry{}}
}

// entry returns the entry of a workspace, creating it.
func (c *listCache) entry(k wsKey) *listEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clock++
	e := c.entries[k]
	if e == nil {
		e = &listEntry{}
		c.entries[k] = e
	}
	e.used.Store(c.clock)
	return e
}

// drop forgets a workspace.
func (c *listCache) drop(k wsKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[k]; e != nil {
		c.rows -= e.rows
		delete(c.entries, k)
	}
}

// publish makes sn the snapshot of k's entry e and evicts the least
// recently used other entries while the cache holds too many rows.
func (c *listCache) publish(k wsKey, e *listEntry, sn *listSnapshot) {
	e.snap.Store(sn)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries[k] != e {
		return // dropped meanwhile: the snapshot dies with the entry
	}
	c.rows += len(sn.rows) - e.rows
	e.rows = len(sn.rows)
	for c.rows > c.maxRows {
		var oldest wsKey
		var victim *listEntry
		for ok, oe := range c.entries {
			if oe != e && (victim == nil || oe.used.Load() < victim.used.Load()) {
				oldest, victim = ok, oe
			}
		}
		if victim == nil {
			break
		}
		c.rows -= victim.rows
		delete(c.entries, oldest)
	}
}

// errListTooBig says a workspace has more clusters than the cache may hold.
var errListTooBig = errors.New("workspace too big for the list cache")

// listSnapshot returns the up-to-date snapshot of a workspace; nil with no
// error means the workspace does not exist (or is another account's). It
// fails with errListTooBig when the workspace must be listed through SQL.
func (s *Store) listSnapshot(ctx context.Context, k wsKey) (*listSnapshot, error) {
	e := s.lists.entry(k)
	stamp, err := e.check.get(func() (listStamp, error) {
		// Without a cancellable context: the SQLite driver starts a
		// goroutine to watch one for every statement, which cost more
		// than this point query itself. The read is shared by the lists
		// waiting for it, so no one list's context should end it.
		return s.readStamp(context.WithoutCancel(ctx), nil, k)
	})
	if err != nil {
		return nil, err
	}
	if !stamp.found {
		s.lists.drop(k)
		return nil, nil
	}
	sn := e.snap.Load()
	if !s.current(sn, stamp) {
		e.refresh.Lock()
		defer e.refresh.Unlock()
		if sn = e.snap.Load(); !s.current(sn, stamp) { // else brought up to date while we waited
			if sn, err = s.loadList(ctx, k, sn); err != nil {
				return nil, err
			}
			if sn == nil {
				s.lists.drop(k)
				return nil, nil
			}
			s.lists.publish(k, e, sn)
		}
	}
	if sn.tooBig {
		return nil, errListTooBig
	}
	return sn, nil
}

// readStamp reads a workspace's stamp, in tx or, when tx is nil, through
// the store's prepared statements.
func (s *Store) readStamp(ctx context.Context, tx *sql.Tx, k wsKey) (listStamp, error) {
	query, args := listGenSQL, []any{k.accountID, k.workspaceID}
	if s.d.name == "postgres" {
		query, args = pgStampSQL, []any{k.accountID, k.workspaceID, k.accountID, k.workspaceID, k.accountID, k.workspaceID}
	}
	var row *sql.Row
	if tx != nil {
		row = tx.QueryRowContext(ctx, s.d.rebind(query), args...)
	} else {
		st, err := s.stmt(ctx, s.read, query)
		if err != nil {
			return listStamp{}, err
		}
		row = st.QueryRowContext(ctx, args...)
	}
	var st listStamp
	if s.d.name == "postgres" {
		err := row.Scan(&st.gen, &st.live, &st.horizon, &st.found)
		return st, err
	}
	err := row.Scan(&st.gen)
	if errors.Is(err, sql.ErrNoRows) {
		return st, nil
	}
	st.found = err == nil
	return st, err
}

// current reports whether sn, when a list read stamp, holds every write
// that completed before that read.
func (s *Store) current(sn *listSnapshot, stamp listStamp) bool {
	switch {
	case sn == nil:
		return false
	case s.d.name != "postgres":
		return sn.stamp.gen == stamp.gen
	}
	// No writer running when sn was built can commit a row stamped at
	// or below its highest stamp (settled), and any that commits later
	// raises the highest stamp, or lowers the live count by a purge.
	settled := sn.stamp.horizon > sn.stamp.gen
	return settled && sn.stamp.gen == stamp.gen && sn.stamp.live == stamp.live
}

// loadList reads a workspace's snapshot in one read transaction: old
// brought up to date, or from scratch when there is no old to start from
// (none, too big, or, on SQLite, ahead of the database: the workspace was
// deleted and created again since). It returns nil when the workspace is
// gone.
func (s *Store) loadList(ctx context.Context, k wsKey, old *listSnapshot) (*listSnapshot, error) {
	// SQLite's read transactions see one snapshot whatever the level;
	// PostgreSQL's default level would give each statement its own.
	tx, err := s.read.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback() }()
	// On PostgreSQL the first statement takes the transaction's snapshot,
	// whose xmin the stamp holds.
	stamp, err := s.readStamp(ctx, tx, k)
	if err != nil || !stamp.found {
		return nil, err
	}
	live := stamp.live
	if s.d.name != "postgres" {
		if err := tx.QueryRowContext(ctx, s.d.rebind(listLiveSQL), k.accountID, k.workspaceID).Scan(&live); err != nil {
			return nil, err
		}
		stamp.live = live
	}
	if live > int64(s.lists.maxRows) {
		return &listSnapshot{stamp: stamp, tooBig: true}, nil
	}
	var sn *listSnapshot
	changes, since := listChangesSQL, int64(0)
	incremental := old != nil && !old.tooBig
	if s.d.name == "postgres" {
		changes = pgChangesSQL
		if incremental {
			since = old.stamp.horizon
		}
	} else if incremental {
		since = old.stamp.gen
		incremental = old.stamp.gen <= stamp.gen
	}
	if incremental {
		changed, err := listRows(ctx, tx, s.d.rebind(changes), k.accountID, k.workspaceID, since)
		if err != nil {
			return nil, err
		}
		sn = old.apply(stamp, changed)
		if int64(len(sn.rows)) != live {
			// Rows were purged since old: drop those no longer there.
			ids, err := liveIDs(ctx, tx, s.d.rebind(listLiveIDsSQL), k)
			if err != nil {
				return nil, err
			}
			sn = sn.keep(ids)
		}
		if int64(len(sn.rows)) != live {
			// Rows are missing, which the stamps rule out as long as
			// cluster_counts is right. Start over rather than trust
			// either.
			sn = nil
		}
	}
	if sn == nil {
		all, err := listRows(ctx, tx, s.d.rebind(listAllSQL), k.accountID, k.workspaceID)
		if err != nil {
			return nil, err
		}
		sn = &listSnapshot{stamp: stamp, rows: all}
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return sn, nil
}

// listRows runs a query selecting listCols in tx and decodes the rows for a
// snapshot.
func listRows(ctx context.Context, tx *sql.Tx, query string, args ...any) ([]*listRow, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return scanListRows(rows, interner{})
}

func liveIDs(ctx context.Context, tx *sql.Tx, query string, k wsKey) (map[string]bool, error) {
	rows, err := tx.QueryContext(ctx, query, k.accountID, k.workspaceID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	ids := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids[id] = true
	}
	return ids, rows.Err()
}

// cloneSpec deep-copies a spec, so that a cluster listed from a snapshot
// shares nothing with it. TestCloneCoversEveryField fails when a field this
// does not copy deeply is added to the spec types.
func cloneSpec(s rayfleet.ClusterSpec) rayfleet.ClusterSpec {
	s.Workers = slices.Clone(s.Workers)
	s.VolumeIDs = slices.Clone(s.VolumeIDs)
	if s.Head.GFTEnabled != nil {
		v := *s.Head.GFTEnabled
		s.Head.GFTEnabled = &v
	}
	if s.Head.GFTConfig != nil {
		v := *s.Head.GFTConfig
		s.Head.GFTConfig = &v
	}
	return s
}
