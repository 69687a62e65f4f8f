package storetest

import (
	"cmp"
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/store"
)

// NewSharedStores returns two stores over the same fresh, empty database, as
// two replicas (or two processes) would open it, and arranges for both to be
// closed.
type NewSharedStores func(t *testing.T) (a, b store.Store)

// RunShared checks what the contract promises to stores sharing a
// database: whatever one of them caches, a read through either reflects
// every write completed before it through either, and admission holds
// across them.
func RunShared(t *testing.T, newStores NewSharedStores) {
	tests := []struct {
		name string
		fn   func(t *testing.T, newStores NewSharedStores)
	}{
		{"ListSeesOtherStoresWrites", testListSeesOtherStoresWrites},
		{"ListOfRecreatedWorkspace", testListOfRecreatedWorkspace},
		{"QuotaOneWinner", testQuotaOneWinner},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStores) })
	}
}

// model is what a workspace's clusters should be: the test's own record of
// every write.
type model struct {
	accountID, workspaceID string
	clusters               map[string]rayfleet.Cluster
}

func newModel(w rayfleet.Workspace) *model {
	return &model{accountID: w.AccountID, workspaceID: w.ID, clusters: map[string]rayfleet.Cluster{}}
}

// live returns the clusters a list shows, in list order.
func (m *model) live() []rayfleet.Cluster {
	var out []rayfleet.Cluster
	for _, c := range m.clusters {
		if !c.Deleted {
			out = append(out, listed(c))
		}
	}
	slices.SortFunc(out, func(a, b rayfleet.Cluster) int {
		if c := b.CreateTime.Compare(a.CreateTime); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
	return out
}

// check lists the workspace through s, whole and filtered, and compares
// with the model.
func (m *model) check(ctx context.Context, t *testing.T, s store.Store, when string) {
	t.Helper()
	all := m.live()
	f := store.ClusterFilter{AccountID: m.accountID, WorkspaceID: m.workspaceID}
	got, total, err := s.ListClusters(ctx, f)
	must(t, err)
	if total != len(all) || !sameList(got, all) {
		t.Fatalf("%s: ListClusters gives %d of %d:\n%s\nwant %d:\n%s", when, len(got), total, ids(got), len(all), ids(all))
	}
	// A page and a filter, which a store may serve another way.
	f.Offset, f.Limit = 1, 2
	got, total, err = s.ListClusters(ctx, f)
	must(t, err)
	want := all[min(1, len(all)):min(3, len(all))]
	if total != len(all) || !sameList(got, want) {
		t.Fatalf("%s: page 2 of 2 gives %s (total %d), want %s (total %d)", when, ids(got), total, ids(want), len(all))
	}
	f = store.ClusterFilter{AccountID: m.accountID, WorkspaceID: m.workspaceID, State: rayfleet.StateStopped}
	got, total, err = s.ListClusters(ctx, f)
	must(t, err)
	want = slices.DeleteFunc(slices.Clone(all), func(c rayfleet.Cluster) bool { return c.State != rayfleet.StateStopped })
	if total != len(want) || !sameList(got, want) {
		t.Fatalf("%s: the Stopped clusters are %s (total %d), want %s", when, ids(got), total, ids(want))
	}
}

// sameList compares a list's clusters with the model's.
func sameList(got, want []rayfleet.Cluster) bool {
	return len(got) == len(want) && (len(got) == 0 || reflect.DeepEqual(listedAll(got), want))
}

func ids(cs []rayfleet.Cluster) string {
	var b strings.Builder
	for _, c := range cs {
		fmt.Fprintf(&b, "  %s %s %s v%d\n", c.ID, c.Spec.Name, c.State, c.Version)
	}
	return b.String()
}

func (m *model) create(ctx context.Context, t *testing.T, s store.Store, c rayfleet.Cluster) {
	t.Helper()
	must(t, s.CreateCluster(ctx, c))
	m.clusters[c.ID] = stored(c)
}

func (m *model) update(ctx context.Context, t *testing.T, s store.Store, id string, fn func(*rayfleet.Cluster)) {
	t.Helper()
	c, err := s.UpdateCluster(ctx, m.accountID, m.workspaceID, id, func(c *rayfleet.Cluster) error { fn(c); return nil })
	must(t, err)
	m.clusters[id] = c
}

func (m *model) purge(ctx context.Context, t *testing.T, s store.Store, id string) {
	t.Helper()
	must(t, s.PurgeCluster(ctx, m.accountID, m.workspaceID, id))
	delete(m.clusters, id)
}

func testListSeesOtherStoresWrites(t *testing.T, newStores NewSharedStores) {
	a, b := newStores(t)
	ctx := t.Context()
	acc := AccountID(1)
	w := createWorkspace(ctx, t, a, acc, 1)
	other := createWorkspace(ctx, t, a, acc, 2)
	m, mo := newModel(w), newModel(other)
	m.check(ctx, t, b, "empty")

	for i := range 8 {
		c := NewCluster(acc, w.ID, i)
		c.CreateTime = At(100 - i/2) // pairs share a time: ids break the ties
		c.State = []rayfleet.State{rayfleet.StateRunning, rayfleet.StateStopped}[i%2]
		m.create(ctx, t, a, c)
	}
	mo.create(ctx, t, a, NewCluster(acc, other.ID, 50))
	m.check(ctx, t, b, "after creating through the other store")
	mo.check(ctx, t, b, "the other workspace")
	m.check(ctx, t, a, "through the writer")

	// Each step writes through one store and lists through both, the
	// writer's last, so the reader's cached list is the older one.
	steps := []struct {
		name string
		do   func(s store.Store)
	}{
		{"a new cluster", func(s store.Store) { m.create(ctx, t, s, NewCluster(acc, w.ID, 20)) }},
		{"a state change", func(s store.Store) {
			m.update(ctx, t, s, ClusterID(1), func(c *rayfleet.Cluster) { c.State = rayfleet.StateRunning })
		}},
		{"a rename and a new message", func(s store.Store) {
			m.update(ctx, t, s, ClusterID(2), func(c *rayfleet.Cluster) { c.Spec.Name, c.Message = "renamed", "hello" })
		}},
		{"a new creation time (the list order changes)", func(s store.Store) {
			m.update(ctx, t, s, ClusterID(7), func(c *rayfleet.Cluster) { c.CreateTime = At(500) })
		}},
		{"a cluster marked deleted", func(s store.Store) {
			m.update(ctx, t, s, ClusterID(3), func(c *rayfleet.Cluster) { c.Deleted = true })
		}},
		{"the deleted cluster purged", func(s store.Store) { m.purge(ctx, t, s, ClusterID(3)) }},
		{"a cluster marked deleted and purged between two lists", func(s store.Store) {
			m.update(ctx, t, s, ClusterID(4), func(c *rayfleet.Cluster) { c.Deleted = true })
			m.purge(ctx, t, s, ClusterID(4))
		}},
		{"a live cluster purged", func(s store.Store) { m.purge(ctx, t, s, ClusterID(5)) }},
		{"a purged id created again, older", func(s store.Store) {
			c := NewCluster(acc, w.ID, 5)
			c.CreateTime, c.Spec.Name, c.State = At(-10), "reborn", rayfleet.StateStopped
			m.create(ctx, t, s, c)
		}},
		{"a purge and a create of the same count", func(s store.Store) {
			m.purge(ctx, t, s, ClusterID(6))
			m.create(ctx, t, s, NewCluster(acc, w.ID, 21))
		}},
		{"a deleted cluster brought back", func(s store.Store) {
			m.update(ctx, t, s, ClusterID(0), func(c *rayfleet.Cluster) { c.Deleted = true })
			m.update(ctx, t, s, ClusterID(0), func(c *rayfleet.Cluster) { c.Deleted = false })
		}},
		{"a write in another workspace only", func(s store.Store) {
			mo.update(ctx, t, s, ClusterID(50), func(c *rayfleet.Cluster) { c.Message = "elsewhere" })
		}},
		{"many changes at once", func(s store.Store) {
			for i := 30; i < 45; i++ {
				c := NewCluster(acc, w.ID, i)
				c.CreateTime = At(90 + i%4)
				m.create(ctx, t, s, c)
			}
			for i := 30; i < 45; i += 3 {
				m.update(ctx, t, s, ClusterID(i), func(c *rayfleet.Cluster) { c.State = rayfleet.StateStopped })
			}
		}},
	}
	for i, step := range steps {
		writer, reader := a, b
		if i%2 == 1 {
			writer, reader = b, a
		}
		step.do(writer)
		m.check(ctx, t, reader, step.name+", through the other store")
		mo.check(ctx, t, reader, step.name+", the other workspace through the other store")
		m.check(ctx, t, writer, step.name+", through the writer")
	}

	// Another account naming the workspace sees nothing, even with the
	// workspace's list at hand.
	for _, s := range []store.Store{a, b} {
		got, total, err := s.ListClusters(ctx, store.ClusterFilter{AccountID: AccountID(2), WorkspaceID: w.ID})
		must(t, err)
		if len(got) != 0 || total != 0 {
			t.Fatalf("another account lists %d clusters (total %d) of workspace %s", len(got), total, w.ID)
		}
	}
}

// testListOfRecreatedWorkspace deletes a workspace whose list a store holds
// and creates it again under the same id: the list must be the new one's.
func testListOfRecreatedWorkspace(t *testing.T, newStores NewSharedStores) {
	a, b := newStores(t)
	ctx := t.Context()
	acc := AccountID(1)
	w := createWorkspace(ctx, t, a, acc, 1)
	m := newModel(w)
	for i := range 4 {
		m.create(ctx, t, a, NewCluster(acc, w.ID, i))
	}
	m.check(ctx, t, b, "before")

	recreate := func(listWhileGone bool) {
		for id := range m.clusters {
			m.purge(ctx, t, a, id)
		}
		must(t, a.DeleteWorkspace(ctx, acc, w.ID))
		if listWhileGone {
			got, total, err := b.ListClusters(ctx, store.ClusterFilter{AccountID: acc, WorkspaceID: w.ID})
			must(t, err)
			if len(got) != 0 || total != 0 {
				t.Fatalf("a deleted workspace lists %d clusters (total %d)", len(got), total)
			}
		}
		must(t, a.CreateWorkspace(ctx, w, NewQueue(w, rayfleet.RootQueue), NewNetworkService(w, rayfleet.DefaultNetworkService)))
		must(t, a.CreateQueue(ctx, NewQueue(w, GPUQueue)))
	}

	// Listed while gone, then created again with other clusters.
	recreate(true)
	m.check(ctx, t, b, "created again, empty")
	for i := 10; i < 13; i++ {
		m.create(ctx, t, a, NewCluster(acc, w.ID, i))
	}
	m.check(ctx, t, b, "created again with new clusters")

	// Not listed while gone, and empty.
	recreate(false)
	m.check(ctx, t, b, "created again, empty, not listed while gone")

	// Not listed while gone: the store holds the earlier life's list, with
	// as many clusters as the new life has, two of them under the same ids.
	for i := 10; i < 13; i++ {
		m.create(ctx, t, a, NewCluster(acc, w.ID, i))
	}
	m.check(ctx, t, b, "before the last life")
	recreate(false)
	for i := 11; i < 14; i++ {
		c := NewCluster(acc, w.ID, i)
		c.CreateTime = At(i).Add(time.Hour)
		m.create(ctx, t, a, c)
	}
	m.check(ctx, t, b, "created again without a list in between")
}
