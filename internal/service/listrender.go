package service

import (
	"sync"
	"sync/atomic"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/store"
)

// Lists are the API's hot path, and most of a list's cost was per cluster
// and the same on every call: copying it out of the store, opening its
// token, building its addresses, encoding its summary. So ListClusters
// keeps what the caller's Render made of each cluster by (ID, Rev), the
// store's change stamp, and hands it back while the cluster is unchanged;
// the store is told which clusters are known (ClusterFilter.Known) and
// need not copy them. A cluster is rendered again after any write to it,
// since every write gives it a new Rev; the addresses come from Endpoints,
// so a change of those empties the cache.

// maxRendered bounds the renderings kept: about 1 KB each, so some 20 MB.
// When full, a quarter of them, taken in map order, is dropped.
const maxRendered = 20_000

type renderCache struct {
	m sync.Map // cluster id -> *rendering
	n atomic.Int64

	mu    sync.Mutex // over links changes and trimming
	links atomic.Pointer[links]
}

type rendering struct {
	rev int64
	b   []byte
}

// listRenders is the cache as one list sees it: the hits are kept aside as
// the store finds them, so that an entry dropped meanwhile is not lost.
type listRenders struct {
	rc   *renderCache
	ok   bool // the cache holds renderings for these links
	hits []hit
}

type hit struct {
	id string
	b  []byte
}

func (rc *renderCache) forList(l links, limit int) *listRenders {
	cur := rc.links.Load()
	return &listRenders{rc: rc, ok: cur != nil && *cur == l, hits: make([]hit, 0, limit)}
}

// known is the store's ClusterFilter.Known.
func (lr *listRenders) known(id string, rev int64) bool {
	if !lr.ok {
		return false
	}
	v, ok := lr.rc.m.Load(id)
	if !ok || v.(*rendering).rev != rev {
		return false
	}
	lr.hits = append(lr.hits, hit{id, v.(*rendering).b})
	return true
}

// found returns the rendering kept aside for id; i is where to look first
// (the store lists in the order it asks).
func (lr *listRenders) found(id string, i int) ([]byte, bool) {
	if i < len(lr.hits) && lr.hits[i].id == id {
		return lr.hits[i].b, true
	}
	for _, h := range lr.hits {
		if h.id == id {
			return h.b, true
		}
	}
	return nil, false
}

// store keeps the renderings of cs made for links l.
func (rc *renderCache) store(l links, cs []rayfleet.Cluster, out [][]byte, fresh []bool) {
	if cur := rc.links.Load(); cur == nil || *cur != l {
		rc.mu.Lock()
		if cur := rc.links.Load(); cur == nil || *cur != l {
			rc.m.Clear()
			rc.n.Store(0)
			rc.links.Store(&l)
		}
		rc.mu.Unlock()
	}
	for i := range cs {
		if !fresh[i] || cs[i].Rev == 0 {
			continue
		}
		if _, had := rc.m.Swap(cs[i].ID, &rendering{rev: cs[i].Rev, b: out[i]}); !had {
			if rc.n.Add(1) > maxRendered {
				rc.trim()
			}
		}
	}
}

func (rc *renderCache) trim() {
	if !rc.mu.TryLock() {
		return // someone else is trimming
	}
	defer rc.mu.Unlock()
	drop := maxRendered / 4
	rc.m.Range(func(k, _ any) bool {
		if _, ok := rc.m.LoadAndDelete(k); ok {
			rc.n.Add(-1)
		}
		drop--
		return drop > 0
	})
}

// listRendered is ListClusters with a Render: the page's clusters as the
// caller renders them.
func (s *Service) listRendered(f store.ClusterFilter, l links, render func(*ClusterInfo) []byte, list func(store.ClusterFilter) ([]rayfleet.Cluster, int, error)) ([][]byte, int, error) {
	lr := s.rendered.forList(l, f.Limit)
	f.Known = lr.known
	cs, total, err := list(f)
	if err != nil {
		return nil, 0, err
	}
	out := make([][]byte, len(cs))
	fresh := make([]bool, len(cs))
	var info ClusterInfo
	some := false
	for i := range cs {
		if b, ok := lr.found(cs[i].ID, i); ok && b != nil {
			out[i] = b
			continue
		}
		info = ClusterInfo{Cluster: cs[i]}
		if err := l.add(&info, s.Sealer); err != nil {
			return nil, 0, err
		}
		out[i], fresh[i], some = render(&info), true, true
	}
	if some {
		s.rendered.store(l, cs, out, fresh)
	}
	return out, total, nil
}
