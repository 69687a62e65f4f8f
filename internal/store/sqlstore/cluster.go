package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/store"
)

// clusterCols are the columns a cluster is read from.
const clusterCols = "id, account_id, workspace_id, spec, running_spec, desired, deleted, state, message, instances, instance_id, token_hash, " +
	"token_sealed, modified, create_time, start_time, modified_time, state_time, creator, creator_name, modifier, modifier_name, version"

// clusterValueCols are the columns written after the keys, in the order
// encodeCluster gives their values.
var clusterValueCols = []string{
	"name", "name_lower", "queues", "spec", "running_spec", "desired", "deleted", "state", "message", "instances", "instance_id", "token_hash",
	"token_sealed", "modified", "create_time", "start_time", "modified_time", "state_time", "creator", "creator_name", "modifier", "modifier_name", "version",
	"needs",
}

var (
	insertClusterSQL = "INSERT INTO clusters (id, account_id, workspace_id, " + strings.Join(clusterValueCols, ", ") +
		") VALUES (" + strings.Repeat("?, ", len(clusterValueCols)+2) + "?)"
	updateClusterSQL = "UPDATE clusters SET " + strings.Join(clusterValueCols, " = ?, ") +
		" = ? WHERE account_id = ? AND workspace_id = ? AND id = ? AND version = ?"
	// updateStatusSQL writes only what the reconciler changes: no spec to
	// encode, and none of the indexes on names, queues, creators or tokens
	// to touch.
	updateStatusSQL = "UPDATE clusters SET state = ?, message = ?, instances = ?, state_time = ?, version = ? " +
		"WHERE account_id = ? AND workspace_id = ? AND id = ? AND version = ?"
)

// queueSep separates the queue names of the queues column; queue names
// cannot hold it (rayfleet.ValidateQueueName).
const queueSep = ","

// queuesColumn is ",q1,q2,": a queue q is used when the column holds ",q,",
// a test that needs neither LIKE (whose '_' queue names may hold) nor a
// second table.
func queuesColumn(spec *rayfleet.ClusterSpec) string {
	return queueSep + strings.Join(spec.Queues(), queueSep) + queueSep
}

// encodedCluster is what a cluster is written as, kept so the value
// UpdateCluster returns is decoded from the same bytes a read would see.
type encodedCluster struct {
	spec, runningSpec, instances []byte
	values                       []any
	needs                        map[string]rayfleet.Resources // c.Spec.Needs()
}

func encodeCluster(c *rayfleet.Cluster) (encodedCluster, error) {
	spec, err := json.Marshal(&c.Spec)
	if err != nil {
		return encodedCluster{}, fmt.Errorf("encode spec of cluster %s: %w", c.ID, err)
	}
	running, err := json.Marshal(&c.RunningSpec)
	if err != nil {
		return encodedCluster{}, fmt.Errorf("encode running spec of cluster %s: %w", c.ID, err)
	}
	inst, err := json.Marshal(c.Instances)
	if err != nil {
		return encodedCluster{}, fmt.Errorf("encode instances of cluster %s: %w", c.ID, err)
	}
	needsByQueue := c.Spec.Needs()
	needs, err := encodeNeeds(needsByQueue)
	if err != nil {
		return encodedCluster{}, fmt.Errorf("encode needs of cluster %s: %w", c.ID, err)
	}
	return encodedCluster{spec: spec, runningSpec: running, instances: inst, values: []any{
		c.Spec.Name, strings.ToLower(c.Spec.Name), queuesColumn(&c.Spec), string(spec), string(running),
		string(c.Desired), boolInt(c.Deleted), string(c.State), c.Message, string(inst), c.InstanceID, c.TokenHash,
		blob(c.TokenSealed), boolInt(c.Modified), toMS(c.CreateTime), toMS(c.StartTime), toMS(c.ModifiedTime), toMS(c.StateTime),
		c.Creator, c.CreatorName, c.Modifier, c.ModifierName, c.Version, needs,
	}, needs: needsByQueue}, nil
}

// decodeJSON sets the cluster's JSON-held fields.
func decodeJSON(c *rayfleet.Cluster, spec, running, inst []byte) error {
	if err := json.Unmarshal(spec, &c.Spec); err != nil {
		return fmt.Errorf("decode spec of cluster %s: %w", c.ID, err)
	}
	if err := json.Unmarshal(running, &c.RunningSpec); err != nil {
		return fmt.Errorf("decode running spec of cluster %s: %w", c.ID, err)
	}
	c.Instances = nil
	if err := json.Unmarshal(inst, &c.Instances); err != nil {
		return fmt.Errorf("decode instances of cluster %s: %w", c.ID, err)
	}
	return nil
}

// CreateCluster stores a new cluster at version 1, with what it holds of
// its queues.
func (s *Store) CreateCluster(ctx context.Context, c rayfleet.Cluster) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		needs, err := s.insertCluster(ctx, s.inTx(tx), c)
		if err != nil {
			return err
		}
		return s.hold(ctx, tx, c.AccountID, c.WorkspaceID, nil, held(&c, needs))
	})
}

// insertCluster writes the row of a new cluster at version 1 and returns
// its spec's needs.
func (s *Store) insertCluster(ctx context.Context, ex execFunc, c rayfleet.Cluster) (map[string]rayfleet.Resources, error) {
	c.Version = 1
	enc, err := encodeCluster(&c)
	if err != nil {
		return nil, err
	}
	_, err = ex(ctx, insertClusterSQL, append([]any{c.ID, c.AccountID, c.WorkspaceID}, enc.values...)...)
	switch {
	case s.d.isUnique(err):
		return nil, alreadyExists("cluster", c.ID)
	case s.d.isForeignKey(err):
		return nil, notFound("workspace", c.WorkspaceID)
	case err != nil:
		return nil, fmt.Errorf("create cluster %s: %w", c.ID, err)
	}
	return enc.needs, nil
}

// GetCluster loads a cluster that is not deleted.
func (s *Store) GetCluster(ctx context.Context, accountID, workspaceID, id string) (rayfleet.Cluster, error) {
	return s.getCluster(ctx, accountID, workspaceID, id, false)
}

// GetClusterAny loads a cluster, deleted or not: the reconciler's read. It is
// not part of store.Store, whose comments promise it.
func (s *Store) GetClusterAny(ctx context.Context, accountID, workspaceID, id string) (rayfleet.Cluster, error) {
	return s.getCluster(ctx, accountID, workspaceID, id, true)
}

const (
	getClusterSQL    = "SELECT " + clusterCols + " FROM clusters WHERE account_id = ? AND workspace_id = ? AND id = ? AND deleted = 0"
	getClusterAnySQL = "SELECT " + clusterCols + " FROM clusters WHERE account_id = ? AND workspace_id = ? AND id = ?"
)

func (s *Store) getCluster(ctx context.Context, accountID, workspaceID, id string, deleted bool) (rayfleet.Cluster, error) {
	q := getClusterSQL
	if deleted {
		q = getClusterAnySQL
	}
	cs, err := s.clusters(ctx, q, 1, accountID, workspaceID, id)
	if err != nil {
		return rayfleet.Cluster{}, fmt.Errorf("get cluster %s: %w", id, err)
	}
	if len(cs) == 0 {
		return rayfleet.Cluster{}, notFound("cluster", id)
	}
	return cs[0], nil
}

// The filters of ListClusters, as bits of an index into the queries built
// once by buildClusterQueries.
const (
	filterState = 1 << iota
	filterName
	filterCreator
	filterQueue
	clusterFilterCombos
)

// buildClusterQueries builds the SQL of ListClusters for the workspaces too
// big for the list cache.
func (s *Store) buildClusterQueries() {
	for m := range clusterFilterCombos {
		// deleted = 0 is literal so the planner matches it to the index.
		where := "account_id = ? AND workspace_id = ? AND deleted = 0"
		if m&filterState != 0 {
			where += " AND state = ?"
		}
		if m&filterName != 0 {
			where += " AND " + s.d.contains("name_lower")
		}
		if m&filterCreator != 0 {
			where += " AND creator = ?"
		}
		if m&filterQueue != 0 {
			where += " AND " + s.d.contains("queues")
		}
		s.clusterList[m] = "SELECT " + listCols + " FROM clusters WHERE " + where + " ORDER BY create_time DESC, id DESC LIMIT ? OFFSET ?"
		s.clusterCount[m] = "SELECT count(*) FROM clusters WHERE " + where
	}
	// Without filters, or by state alone, triggers keep the total (see
	// cluster_counts in the schema).
	s.clusterCount[0] = listLiveSQL
	s.clusterCount[filterState] = "SELECT CAST(coalesce(sum(n), 0) AS BIGINT) FROM cluster_counts WHERE account_id = ? AND workspace_id = ? AND state = ?"
}

// ListClusters returns a page of a workspace's clusters that are not
// deleted, newest first, and how many match the filter in all. The clusters
// have no RunningSpec and no Instances (see store.Store). Lists come from
// the workspace's in-memory snapshot (listcache.go), which one point query
// shows to be current, or through SQL when the workspace is too big to
// hold.
func (s *Store) ListClusters(ctx context.Context, f store.ClusterFilter) ([]rayfleet.Cluster, int, error) {
	if strings.Contains(f.QueueName, queueSep) {
		return nil, 0, nil // no queue has such a name
	}
	sn, err := s.listSnapshot(ctx, wsKey{f.AccountID, f.WorkspaceID})
	switch {
	case errors.Is(err, errListTooBig):
		return s.listClustersSQL(ctx, f)
	case err != nil:
		return nil, 0, fmt.Errorf("list clusters: %w", err)
	case sn == nil:
		return []rayfleet.Cluster{}, 0, nil // no such workspace
	}
	cs, total := sn.list(f)
	return cs, total, nil
}

// listClustersSQL is ListClusters through SQL.
func (s *Store) listClustersSQL(ctx context.Context, f store.ClusterFilter) ([]rayfleet.Cluster, int, error) {
	args := make([]any, 2, 8)
	args[0], args[1] = f.AccountID, f.WorkspaceID
	m := 0
	if f.State != "" {
		m |= filterState
		args = append(args, string(f.State))
	}
	if f.Name != "" {
		m |= filterName
		args = append(args, strings.ToLower(f.Name))
	}
	if f.Creator != "" {
		m |= filterCreator
		args = append(args, f.Creator)
	}
	if f.QueueName != "" {
		m |= filterQueue
		args = append(args, queueSep+f.QueueName+queueSep)
	}
	lim, off := s.d.page(f.Offset, f.Limit)
	// The page's arguments go after the filter's in a separate slice, so the
	// count below gets the filter's alone.
	rows, err := s.query(ctx, s.clusterList[m], append(args[:len(args):len(args)], lim, off)...)
	if err != nil {
		return nil, 0, fmt.Errorf("list clusters: %w", err)
	}
	defer rows.Close()
	read, err := scanListRows(rows, interner{})
	if err != nil {
		return nil, 0, fmt.Errorf("list clusters: %w", err)
	}
	cs := make([]rayfleet.Cluster, len(read))
	for i, r := range read {
		r.fill(&cs[i], f.AccountID, f.WorkspaceID)
	}
	if total, ok := knownTotal(f.Offset, f.Limit, len(cs)); ok {
		return cs, total, nil
	}
	total, err := s.count(ctx, s.clusterCount[m], args...)
	if err != nil {
		return nil, 0, fmt.Errorf("count clusters: %w", err)
	}
	return cs, total, nil
}

// clusters runs a query selecting clusterCols and decodes the rows.
func (s *Store) clusters(ctx context.Context, query string, capHint int, args ...any) ([]rayfleet.Cluster, error) {
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]rayfleet.Cluster, 0, capHint)
	// RawBytes reuse one buffer per column across rows: the JSON is decoded
	// before the next row is read, and the sealed token is copied.
	var spec, running, inst, sealed sql.RawBytes
	for rows.Next() {
		var c rayfleet.Cluster
		var desired, state string
		var deleted, modified, ct, st, mt, stt int64
		if err := rows.Scan(&c.ID, &c.AccountID, &c.WorkspaceID, &spec, &running, &desired, &deleted, &state, &c.Message, &inst,
			&c.InstanceID, &c.TokenHash, &sealed, &modified, &ct, &st, &mt, &stt,
			&c.Creator, &c.CreatorName, &c.Modifier, &c.ModifierName, &c.Version); err != nil {
			return nil, err
		}
		if err := decodeJSON(&c, spec, running, inst); err != nil {
			return nil, err
		}
		c.Desired = rayfleet.RunState(desired)
		c.Deleted = deleted != 0
		c.State = rayfleet.State(state)
		c.TokenSealed = copyBlob(sealed)
		c.Modified = modified != 0
		c.CreateTime, c.StartTime, c.ModifiedTime, c.StateTime = fromMS(ct), fromMS(st), fromMS(mt), fromMS(stt)
		out = append(out, c)
	}
	return out, rows.Err()
}

// UpdateCluster reads a cluster (deleted or not), lets fn change it and
// writes it back only if nobody wrote it in between, bumping its version.
// The read takes no lock, so a slow fn never blocks other writers; the
// price is ErrConflict for the loser of a race, which rereads and retries.
func (s *Store) UpdateCluster(ctx context.Context, accountID, workspaceID, id string, fn func(*rayfleet.Cluster) error) (rayfleet.Cluster, error) {
	c, err := s.getCluster(ctx, accountID, workspaceID, id, true)
	if err != nil {
		return rayfleet.Cluster{}, err
	}
	read := c.Version
	// What it holds is worked out before fn, which may change the spec in
	// place.
	had := held(&c, c.Spec.Needs())
	if err := fn(&c); err != nil {
		return rayfleet.Cluster{}, err
	}
	return s.writeCluster(ctx, accountID, workspaceID, id, read, had, c)
}

// UpdateClusterFrom is UpdateCluster on a row the caller has read already
// (read, at read.Version): it saves the second read. A row written or
// purged since is ErrConflict.
func (s *Store) UpdateClusterFrom(ctx context.Context, read rayfleet.Cluster, fn func(*rayfleet.Cluster) error) (rayfleet.Cluster, error) {
	c := read
	if err := fn(&c); err != nil {
		return rayfleet.Cluster{}, err
	}
	if statusOnly(&read, &c) {
		return s.writeStatus(ctx, &read, c)
	}
	return s.writeCluster(ctx, read.AccountID, read.WorkspaceID, read.ID, read.Version, held(&read, read.Spec.Needs()), c)
}

// statusOnly reports whether c differs from read in nothing but its
// status: State, Message, Instances and StateTime.
func statusOnly(read, c *rayfleet.Cluster) bool {
	a, b := *read, *c
	a.State, a.Message, a.Instances, a.StateTime = "", "", nil, time.Time{}
	b.State, b.Message, b.Instances, b.StateTime = "", "", nil, time.Time{}
	return reflect.DeepEqual(a, b)
}

// writeStatus writes c's status over the row if it is still at
// read.Version; the rest of the row is read's, which the version
// guarantees. A status write that leaves what the cluster holds as it was,
// the reconciler's usual one, is one statement touching only its row.
func (s *Store) writeStatus(ctx context.Context, read *rayfleet.Cluster, c rayfleet.Cluster) (rayfleet.Cluster, error) {
	inst, err := json.Marshal(c.Instances)
	if err != nil {
		return rayfleet.Cluster{}, fmt.Errorf("encode instances of cluster %s: %w", c.ID, err)
	}
	c.Version = read.Version + 1
	args := []any{string(c.State), c.Message, string(inst), toMS(c.StateTime), c.Version, read.AccountID, read.WorkspaceID, read.ID, read.Version}
	var n int64
	if read.HoldsCapacity() == c.HoldsCapacity() && store.ClientTokenOf(ctx) == nil {
		var res sql.Result
		if res, err = s.exec(ctx, updateStatusSQL, args...); err == nil {
			n, err = affected(res)
		}
	} else {
		err = s.writeTx(ctx, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, s.d.rebind(updateStatusSQL), args...)
			if err == nil {
				n, err = affected(res)
			}
			if err != nil || n == 0 {
				return err
			}
			needs := read.Spec.Needs()
			return s.hold(ctx, tx, read.AccountID, read.WorkspaceID, held(read, needs), held(&c, needs))
		})
	}
	switch {
	case err != nil:
		return rayfleet.Cluster{}, fmt.Errorf("update cluster %s: %w", read.ID, err)
	case n == 0:
		return rayfleet.Cluster{}, fmt.Errorf("update cluster %s (version %d): %w", read.ID, read.Version, rayfleet.ErrConflict)
	}
	// Answer with exactly what the next read returns.
	c.Instances = nil
	if err := json.Unmarshal(inst, &c.Instances); err != nil {
		return rayfleet.Cluster{}, fmt.Errorf("decode instances of cluster %s: %w", c.ID, err)
	}
	c.StateTime = fromMS(toMS(c.StateTime))
	return c, nil
}

// writeCluster writes c over the row (accountID, workspaceID, id) if the
// row is still at version read, moving what the cluster holds of its queues
// from had, what the row held, to what c holds. c may differ from the row
// in anything but which row it is and its version.
func (s *Store) writeCluster(ctx context.Context, accountID, workspaceID, id string, read int64, had map[string]rayfleet.Resources, c rayfleet.Cluster) (rayfleet.Cluster, error) {
	c.AccountID, c.WorkspaceID, c.ID = accountID, workspaceID, id
	c.Version = read + 1
	enc, err := encodeCluster(&c)
	if err != nil {
		return rayfleet.Cluster{}, err
	}
	var n int64
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.d.rebind(updateClusterSQL), append(enc.values, accountID, workspaceID, id, read)...)
		if err == nil {
			n, err = affected(res)
		}
		if err != nil || n == 0 {
			return err
		}
		return s.hold(ctx, tx, accountID, workspaceID, had, held(&c, enc.needs))
	})
	switch {
	case rayfleet.ErrorCode(err) != "":
		return rayfleet.Cluster{}, err
	case err != nil:
		return rayfleet.Cluster{}, fmt.Errorf("update cluster %s: %w", id, err)
	case n == 0:
		return rayfleet.Cluster{}, fmt.Errorf("update cluster %s (version %d): %w", id, read, rayfleet.ErrConflict)
	}
	// Answer with exactly what the next read returns.
	if err := decodeJSON(&c, enc.spec, enc.runningSpec, enc.instances); err != nil {
		return rayfleet.Cluster{}, err
	}
	c.TokenSealed = copyBlob(c.TokenSealed)
	c.CreateTime, c.StartTime = fromMS(toMS(c.CreateTime)), fromMS(toMS(c.StartTime))
	c.ModifiedTime, c.StateTime = fromMS(toMS(c.ModifiedTime)), fromMS(toMS(c.StateTime))
	return c, nil
}

// PurgeCluster removes a cluster row, deleted or not, for good, and what it
// held with it.
func (s *Store) PurgeCluster(ctx context.Context, accountID, workspaceID, id string) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var state string
		var needs []byte
		err := tx.QueryRowContext(ctx, s.d.rebind("DELETE FROM clusters WHERE account_id = ? AND workspace_id = ? AND id = ? RETURNING state, needs"),
			accountID, workspaceID, id).Scan(&state, &needs)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("cluster", id)
		}
		if err != nil {
			return err
		}
		if c := (rayfleet.Cluster{State: rayfleet.State(state)}); !c.HoldsCapacity() {
			return nil
		}
		had, err := decodeNeeds(needs)
		if err != nil {
			return fmt.Errorf("needs of cluster %s: %w", id, err)
		}
		return s.hold(ctx, tx, accountID, workspaceID, had, nil)
	})
	if err != nil && rayfleet.ErrorCode(err) == "" {
		return fmt.Errorf("purge cluster %s: %w", id, err)
	}
	return err
}

// ClustersHoldingCapacity returns a workspace's clusters, deleted ones
// included, that hold queue capacity, oldest first.
func (s *Store) ClustersHoldingCapacity(ctx context.Context, accountID, workspaceID string) ([]rayfleet.Cluster, error) {
	// The SQL narrows by state (HoldsCapacity today); the check in Go keeps
	// the answer right should HoldsCapacity ever look at more than that.
	cs, err := s.clusters(ctx, "SELECT "+clusterCols+" FROM clusters WHERE account_id = ? AND workspace_id = ? AND state <> ? ORDER BY create_time, id",
		0, accountID, workspaceID, string(rayfleet.StateStopped))
	if err != nil {
		return nil, fmt.Errorf("clusters holding capacity: %w", err)
	}
	out := cs[:0]
	for i := range cs {
		if cs[i].HoldsCapacity() {
			out = append(out, cs[i])
		}
	}
	return out, nil
}

// CapacityInUse reads what the clusters of a workspace hold of its queues,
// as every cluster write keeps it (hold).
func (s *Store) CapacityInUse(ctx context.Context, accountID, workspaceID string) (map[string]rayfleet.Resources, error) {
	rows, err := s.query(ctx, "SELECT name, used_milli_cpu, used_memory FROM queues WHERE account_id = ? AND workspace_id = ?", accountID, workspaceID)
	if err != nil {
		return nil, fmt.Errorf("capacity in use: %w", err)
	}
	defer rows.Close()
	used := map[string]rayfleet.Resources{}
	for rows.Next() {
		var q string
		var r rayfleet.Resources
		if err := rows.Scan(&q, &r.MilliCPU, &r.MemoryBytes); err != nil {
			return nil, fmt.Errorf("capacity in use: %w", err)
		}
		used[q] = r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("capacity in use: %w", err)
	}
	return used, nil
}

// held is what c holds of its queues: needs, its spec's, while it holds
// capacity, and nothing otherwise.
func held(c *rayfleet.Cluster, needs map[string]rayfleet.Resources) map[string]rayfleet.Resources {
	if !c.HoldsCapacity() {
		return nil
	}
	return needs
}

// hold moves what a cluster holds of its workspace's queues from had to
// has, in the transaction of the cluster's write. A queue it comes to hold
// more of must then fit its limit: the update of the queue's row waits for
// any other writer of that row, so two writes can never both take the same
// free capacity, and the check sees what the others left. Queues are
// updated in name order, so writers of several wait for each other rather
// than deadlock.
func (s *Store) hold(ctx context.Context, tx *sql.Tx, accountID, workspaceID string, had, has map[string]rayfleet.Resources) error {
	queues := make([]string, 0, len(had)+len(has))
	for q := range had {
		queues = append(queues, q)
	}
	for q := range has {
		if _, ok := had[q]; !ok {
			queues = append(queues, q)
		}
	}
	slices.Sort(queues)
	for _, q := range queues {
		d := has[q].Sub(had[q])
		if d == (rayfleet.Resources{}) {
			continue
		}
		var used rayfleet.Resources
		var maxCU int64
		err := tx.QueryRowContext(ctx, s.d.rebind(holdSQL), d.MilliCPU, d.MemoryBytes, accountID, workspaceID, q).Scan(&used.MilliCPU, &used.MemoryBytes, &maxCU)
		grows := d.MilliCPU > 0 || d.MemoryBytes > 0
		switch {
		case errors.Is(err, sql.ErrNoRows) && grows:
			return rayfleet.Errorf(rayfleet.EINVALID, "queueName %q is not a queue of workspace %s", q, workspaceID)
		case errors.Is(err, sql.ErrNoRows):
			continue // a queue gone holds nothing
		case err != nil:
			return fmt.Errorf("hold capacity of queue %s: %w", q, err)
		}
		limit := rayfleet.CU(maxCU)
		if grows && !used.Fits(limit) {
			free := limit.Sub(used.Sub(has[q]))
			return rayfleet.Errorf(rayfleet.EQUOTA, "queue %q cannot hold this cluster: it needs %s there, and %s of the queue's %s is free; stop or shrink other clusters, or raise the queue's limit",
				q, has[q], nonNegative(free), limit)
		}
	}
	return nil
}

const holdSQL = "UPDATE queues SET used_milli_cpu = used_milli_cpu + ?, used_memory = used_memory + ? " +
	"WHERE account_id = ? AND workspace_id = ? AND name = ? RETURNING used_milli_cpu, used_memory, max_cu"

func nonNegative(r rayfleet.Resources) rayfleet.Resources {
	r.MilliCPU = max(r.MilliCPU, 0)
	r.MemoryBytes = max(r.MemoryBytes, 0)
	return r
}

// writeTx runs fn in a write transaction together with the client token
// ctx carries (store.WithClientToken), if any: all of it or nothing.
func (s *Store) writeTx(ctx context.Context, fn func(tx *sql.Tx) error) (err error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	tok := store.ClientTokenOf(ctx)
	if tok != nil {
		if err := s.putToken(ctx, tx, tok); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if tok != nil {
		tok.MarkStored()
	}
	return nil
}

// encodeNeeds renders a spec's needs as the needs column holds them.
func encodeNeeds(needs map[string]rayfleet.Resources) (string, error) {
	m := make(map[string][2]int64, len(needs))
	for q, r := range needs {
		m[q] = [2]int64{r.MilliCPU, r.MemoryBytes}
	}
	b, err := json.Marshal(m)
	return string(b), err
}

// decodeNeeds reads the needs column.
func decodeNeeds(b []byte) (map[string]rayfleet.Resources, error) {
	var m map[string][2]int64
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	out := make(map[string]rayfleet.Resources, len(m))
	for q, r := range m {
		out[q] = rayfleet.Resources{MilliCPU: r[0], MemoryBytes: r[1]}
	}
	return out, nil
}

// ListClusterRefs returns the key of every cluster row, deleted ones
// included, in no particular order.
func (s *Store) ListClusterRefs(ctx context.Context) ([]store.ClusterRef, error) {
	rows, err := s.query(ctx, "SELECT account_id, workspace_id, id FROM clusters")
	if err != nil {
		return nil, fmt.Errorf("list cluster refs: %w", err)
	}
	defer rows.Close()
	var out []store.ClusterRef
	// The reconciler holds every ref: accounts and workspaces are shared
	// by many, so each is one string rather than one per cluster.
	in := interner{}
	var acc, ws sql.RawBytes
	for rows.Next() {
		var r store.ClusterRef
		if err := rows.Scan(&acc, &ws, &r.ID); err != nil {
			return nil, fmt.Errorf("list cluster refs: %w", err)
		}
		r.AccountID, r.WorkspaceID = in.bytes(acc), in.bytes(ws)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list cluster refs: %w", err)
	}
	return out, nil
}

// CountClusterRows counts a workspace's cluster rows, deleted ones
// included.
func (s *Store) CountClusterRows(ctx context.Context, accountID, workspaceID string) (int, error) {
	rows, err := s.query(ctx, "SELECT count(*) FROM clusters WHERE account_id = ? AND workspace_id = ?", accountID, workspaceID)
	if err != nil {
		return 0, fmt.Errorf("count cluster rows: %w", err)
	}
	defer rows.Close()
	var n int64
	for rows.Next() {
		if err := rows.Scan(&n); err != nil {
			return 0, fmt.Errorf("count cluster rows: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("count cluster rows: %w", err)
	}
	return int(n), nil
}

// CountClustersByState counts the clusters that are not deleted, by state;
// states without clusters are absent.
func (s *Store) CountClustersByState(ctx context.Context) (map[rayfleet.State]int, error) {
	rows, err := s.query(ctx, "SELECT state, CAST(sum(n) AS BIGINT) FROM cluster_counts GROUP BY state HAVING sum(n) <> 0")
	if err != nil {
		return nil, fmt.Errorf("count clusters: %w", err)
	}
	defer rows.Close()
	out := map[rayfleet.State]int{}
	for rows.Next() {
		var state string
		var n int64
		if err := rows.Scan(&state, &n); err != nil {
			return nil, fmt.Errorf("count clusters: %w", err)
		}
		out[rayfleet.State(state)] = int(n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count clusters: %w", err)
	}
	return out, nil
}
