package service

import (
	"fmt"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/store"
)

// Lists are the API's hot path, and most of a list's cost was per cluster
// and the same on every call: copying it out of the store, opening its
// token, building its addresses, encoding its summary. So ListClusters
// keeps what the caller's Render made of each cluster in the Memo the
// store holds with the cluster's row (store.ClusterFilter.Known), and hands
// it back while the row is unchanged; the store need not copy a cluster
// whose rendering is kept. Any write gives the row a new version with an
// empty Memo, so the cluster is rendered again; the addresses come from
// Endpoints, so a rendering made for other addresses is not used. The
// renderings live and die with the store's list cache, which bounds them.

// rendering is what a Memo holds: a cluster rendered for links l.
type rendering struct {
	l links
	b []byte
}

// listRenders is one list's view of the Memos: each one the store showed,
// in list order, with the rendering found in it.
type listRenders struct {
	l       links
	entries []memoEntry
}

type memoEntry struct {
	id   string
	memo *store.Memo
	b    []byte // the kept rendering, if any
}

// known is the store's ClusterFilter.Known.
func (lr *listRenders) known(id string, memo *store.Memo) bool {
	e := memoEntry{id: id, memo: memo}
	if r, ok := memo.Load().(*rendering); ok && r.l == lr.l {
		e.b = r.b
	}
	lr.entries = append(lr.entries, e)
	return e.b != nil
}

// listRendered is ListClusters with a Render: the page's clusters as the
// caller renders them.
func (s *Service) listRendered(f store.ClusterFilter, l links, render func(*ClusterInfo) []byte, list func(store.ClusterFilter) ([]rayfleet.Cluster, int, error)) ([][]byte, int, error) {
	lr := &listRenders{l: l, entries: make([]memoEntry, 0, f.Limit)}
	f.Known = lr.known
	cs, total, err := list(f)
	if err != nil {
		return nil, 0, err
	}
	fresh := func(c *rayfleet.Cluster) ([]byte, error) {
		info := &ClusterInfo{Cluster: *c}
		if err := l.add(info, s.Sealer); err != nil {
			return nil, err
		}
		return render(info), nil
	}
	if len(lr.entries) == 0 { // the store kept no Memos: the whole page came
		out := make([][]byte, len(cs))
		for i := range cs {
			if out[i], err = fresh(&cs[i]); err != nil {
				return nil, 0, err
			}
		}
		return out, total, nil
	}
	// The page is the entries in order; the clusters are those of them
	// without a rendering.
	out := make([][]byte, len(lr.entries))
	next := 0
	for i := range lr.entries {
		e := &lr.entries[i]
		if e.b != nil {
			out[i] = e.b
			continue
		}
		if next >= len(cs) || cs[next].ID != e.id {
			return nil, 0, fmt.Errorf("list clusters: the store returned the page out of step with Known at %s", e.id)
		}
		if out[i], err = fresh(&cs[next]); err != nil {
			return nil, 0, err
		}
		next++
		e.memo.Store(&rendering{l: l, b: out[i]})
	}
	if next != len(cs) {
		return nil, 0, fmt.Errorf("list clusters: the store returned %d clusters more than Known was asked about", len(cs)-next)
	}
	return out, total, nil
}
