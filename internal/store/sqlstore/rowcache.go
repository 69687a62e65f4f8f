package sqlstore

import (
	"bytes"
	"slices"
	"sync"

	"github.com/rayfleet/rayfleet"
)

// rowCache holds cluster rows as a store that is the database's only
// writer (AssumeSoleWriter) last read or wrote them, so that reading a
// cluster again (the reconciler reads one on every pass, several times a
// second while it starts) costs a map lookup instead of a query.
//
// It is right only because every write of a cluster row goes through this
// Store: writes of a row update (or drop) its entry after they commit,
// one at a time in commit order (write is held across the statement and
// the update), and a read fills an entry only if no cluster was written
// while it ran (gen unchanged), so a row read before a write can never
// replace what the write left. Entries are copies in and out: no caller
// shares a slice with it.
type rowCache struct {
	write sync.Mutex // held by a cluster write from its statement to its entry

	mu  sync.Mutex
	m   map[clusterKey]rayfleet.Cluster
	gen uint64 // bumped by every change of an entry by a write
	max int    // entries; when full it starts over
}

type clusterKey struct{ account, workspace, id string }

func newRowCache(maxRows int) *rowCache {
	return &rowCache{m: map[clusterKey]rayfleet.Cluster{}, max: maxRows}
}

// get returns a copy of k's row, if held.
func (c *rowCache) get(k clusterKey) (rayfleet.Cluster, bool) {
	c.mu.Lock()
	v, ok := c.m[k]
	c.mu.Unlock()
	if !ok {
		return rayfleet.Cluster{}, false
	}
	return cloneCluster(v), true
}

// snapshot is taken before a read that may fill an entry.
func (c *rowCache) snapshot() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// fill holds v, read from the database after snapshot returned gen, unless
// a cluster was written since.
func (c *rowCache) fill(k clusterKey, v rayfleet.Cluster, gen uint64) {
	v = cloneCluster(v)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	c.putLocked(k, v)
}

// wrote holds v as k's row, just written by the caller, who holds write.
func (c *rowCache) wrote(k clusterKey, v rayfleet.Cluster) {
	v = cloneCluster(v)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.putLocked(k, v)
}

// drop forgets k's row: it is gone, or a write's outcome is not known.
func (c *rowCache) drop(k clusterKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.m, k)
}

func (c *rowCache) putLocked(k clusterKey, v rayfleet.Cluster) {
	if _, ok := c.m[k]; !ok && len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[k] = v
}

// cloneCluster deep-copies what a Cluster holds by reference.
func cloneCluster(c rayfleet.Cluster) rayfleet.Cluster {
	c.Spec = cloneSpec(c.Spec)
	c.RunningSpec = cloneSpec(c.RunningSpec)
	c.Instances = slices.Clone(c.Instances)
	c.TokenSealed = bytes.Clone(c.TokenSealed)
	return c
}
