package sqlstore

import (
	"maps"
	"sync"

	"github.com/rayfleet/rayfleet"
)

// usageCache holds, for a sole writer (AssumeSoleWriter), what each
// cluster of a workspace holds of its queues, so that admission
// (CapacityInUse, on every create, start and update) sums a map in memory
// instead of reading one row per cluster of the workspace.
//
// As with rowCache, it is right only because every write of a cluster row
// goes through this Store: each write sets its cluster's entry after it
// commits, in commit order (under rows.write), and a read fills a
// workspace only if no cluster was written while it ran.
type usageCache struct {
	mu  sync.Mutex
	ws  map[wsKey]map[string]map[string]rayfleet.Resources // by workspace, by cluster id
	gen uint64                                             // bumped by every write
	max int                                                // workspaces; when full it starts over
}

func newUsageCache(maxWorkspaces int) *usageCache {
	return &usageCache{ws: map[wsKey]map[string]map[string]rayfleet.Resources{}, max: maxWorkspaces}
}

// sum returns what the workspace's clusters but exceptID hold, by queue,
// if the workspace is held.
func (u *usageCache) sum(k wsKey, exceptID string) (map[string]rayfleet.Resources, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	held, ok := u.ws[k]
	if !ok {
		return nil, false
	}
	return sumHeld(held, exceptID), true
}

// sumHeld adds up, by queue, the needs in held (by cluster id) of every
// cluster but exceptID.
func sumHeld(held map[string]map[string]rayfleet.Resources, exceptID string) map[string]rayfleet.Resources {
	used := map[string]rayfleet.Resources{}
	for id, needs := range held {
		if id == exceptID {
			continue
		}
		for q, r := range needs {
			used[q] = used[q].Add(r)
		}
	}
	return used
}

func (u *usageCache) snapshot() uint64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.gen
}

// fill holds held (every cluster of the workspace that holds capacity),
// read after snapshot returned gen, unless a cluster was written since.
func (u *usageCache) fill(k wsKey, held map[string]map[string]rayfleet.Resources, gen uint64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.gen != gen {
		return
	}
	if _, ok := u.ws[k]; !ok && len(u.ws) >= u.max {
		clear(u.ws)
	}
	u.ws[k] = held
}

// set records what cluster id holds now that a write of it committed:
// needs, or nothing (nil) when it holds no capacity or is gone.
func (u *usageCache) set(k wsKey, id string, needs map[string]rayfleet.Resources) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.gen++
	held, ok := u.ws[k]
	if !ok {
		return
	}
	if needs == nil {
		delete(held, id)
		return
	}
	held[id] = maps.Clone(needs)
}

// drop forgets a workspace whose write had an outcome not known.
func (u *usageCache) drop(k wsKey) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.gen++
	delete(u.ws, k)
}

// heldBy is what c holds of its queues, nil if nothing.
func heldBy(c *rayfleet.Cluster) map[string]rayfleet.Resources {
	if !c.HoldsCapacity() {
		return nil
	}
	return c.Spec.Needs()
}
