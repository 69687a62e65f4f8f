package sqlstore

import "sync"

// genCheck shares the reads of one workspace's cluster_gen among the lists
// that want it at the same time. A list must see every write that completed
// before it began, so it may use a read that started after it arrived and
// no other: it either starts one or waits for the one that starts next.
// Under concurrent lists of a workspace, one point query serves many.
type genCheck struct {
	mu      sync.Mutex
	cond    sync.Cond
	started uint64 // reads started
	running bool

	// The last finished read: its number and result.
	done  uint64
	stamp listStamp
	err   error
}

// get returns the stamp as read by a read that started after the call did.
// read is the query.
func (g *genCheck) get(read func() (listStamp, error)) (listStamp, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cond.L == nil {
		g.cond.L = &g.mu
	}
	// A read running now started before this call: only the next one, or
	// any after it, will do.
	need := g.started + 1
	for g.done < need {
		if g.running {
			g.cond.Wait()
			continue
		}
		g.running = true
		g.started++
		n := g.started
		g.mu.Unlock()
		stamp, err := read()
		g.mu.Lock()
		g.running = false
		g.done, g.stamp, g.err = n, stamp, err
		g.cond.Broadcast()
	}
	return g.stamp, g.err
}
