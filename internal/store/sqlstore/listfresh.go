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
	gen   int64
	found bool
	err   error
}

// get returns the generation as read by a read that started after the call
// did. read is the query.
func (g *genCheck) get(read func() (gen int64, found bool, err error)) (int64, bool, error) {
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
		gen, found, err := read()
		g.mu.Lock()
		g.running = false
		g.done, g.gen, g.found, g.err = n, gen, found, err
		g.cond.Broadcast()
	}
	return g.gen, g.found, g.err
}
