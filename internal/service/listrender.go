package service

import (
	"sync"

	"github.com/rayfleet/rayfleet"
)

// Lists are the API's hot path, and most of a list's cost was per cluster
// and the same on every call: opening its token, building its addresses,
// encoding its summary. So ListClusters keeps what the caller's Render
// made of each cluster by (ID, Rev), the store's change stamp, and hands
// it back while the cluster is unchanged. A cluster is rendered again
// after any write to it, since every write gives it a new Rev; the
// addresses come from Endpoints, so a change of those empties the cache.

// maxRendered bounds the renderings kept: about 1 KB each, so some 20 MB.
// When full, a quarter of them, taken at random, is dropped.
const maxRendered = 20_000

type renderCache struct {
	mu    sync.RWMutex
	links links
	m     map[string]rendering // by cluster id
}

type rendering struct {
	rev int64
	b   []byte
}

// lookup fills out[i] with the rendering of cs[i] where there is one at its
// Rev, and reports how many it found.
func (rc *renderCache) lookup(l links, cs []rayfleet.Cluster, out [][]byte) int {
	rc.mu.RLock()
	defer rc.mu.RUnlock()
	if rc.links != l {
		return 0
	}
	n := 0
	for i := range cs {
		if cs[i].Rev == 0 {
			continue
		}
		if r, ok := rc.m[cs[i].ID]; ok && r.rev == cs[i].Rev {
			out[i] = r.b
			n++
		}
	}
	return n
}

// store keeps the renderings of the clusters of cs whose out[i] is set and
// was not found by lookup (fresh[i]).
func (rc *renderCache) store(l links, cs []rayfleet.Cluster, out [][]byte, fresh []bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.m == nil || rc.links != l {
		rc.m, rc.links = make(map[string]rendering), l
	}
	for i := range cs {
		if !fresh[i] || cs[i].Rev == 0 {
			continue
		}
		if len(rc.m) >= maxRendered {
			drop := maxRendered / 4
			for id := range rc.m {
				delete(rc.m, id)
				if drop--; drop == 0 {
					break
				}
			}
		}
		rc.m[cs[i].ID] = rendering{rev: cs[i].Rev, b: out[i]}
	}
}
