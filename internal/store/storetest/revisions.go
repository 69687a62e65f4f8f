package storetest

import (
	"strconv"
	"testing"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/store"
)

// testListRevisions checks the Rev that lists give: what is derived from a
// listed cluster is kept by (ID, Rev), so a Rev must change with every
// write and never come back, even for an id purged and created again.
func testListRevisions(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	acc := AccountID(1)
	w := createWorkspace(ctx, t, s, acc, 1)
	a, b := NewCluster(acc, w.ID, 1), NewCluster(acc, w.ID, 2)
	must(t, s.CreateCluster(ctx, a))
	must(t, s.CreateCluster(ctx, b))

	seen := map[int64]string{} // every Rev given, and to what
	revs := func(when string) map[string]int64 {
		t.Helper()
		cs, _, err := s.ListClusters(ctx, store.ClusterFilter{AccountID: acc, WorkspaceID: w.ID})
		must(t, err)
		out := map[string]int64{}
		for _, c := range cs {
			if c.Rev == 0 {
				t.Fatalf("%s: cluster %s listed without a Rev", when, c.ID)
			}
			state := c.ID + " v" + strconv.FormatInt(c.Version, 10) + " " + string(c.State)
			if prev, ok := seen[c.Rev]; ok && prev != state {
				t.Fatalf("%s: Rev %d given to %s and before to %s", when, c.Rev, state, prev)
			}
			seen[c.Rev] = state
			out[c.ID] = c.Rev
		}
		return out
	}

	first := revs("after two creates")
	if first[a.ID] == first[b.ID] {
		t.Fatalf("two clusters share Rev %d", first[a.ID])
	}
	if again := revs("listed again"); again[a.ID] != first[a.ID] || again[b.ID] != first[b.ID] {
		t.Fatalf("Rev changed without a write: %v, then %v", first, again)
	}

	_, err := s.UpdateCluster(ctx, acc, w.ID, a.ID, func(c *rayfleet.Cluster) error {
		c.State, c.Message = rayfleet.StateRunning, "up"
		return nil
	})
	must(t, err)
	second := revs("after an update of one cluster")
	if second[a.ID] == first[a.ID] {
		t.Fatalf("the updated cluster kept Rev %d", first[a.ID])
	}
	if second[b.ID] != first[b.ID] {
		t.Fatalf("the cluster not written changed Rev: %d, then %d", first[b.ID], second[b.ID])
	}

	// The same id, purged and created again, as it was at first.
	must(t, s.PurgeCluster(ctx, acc, w.ID, a.ID))
	must(t, s.CreateCluster(ctx, a))
	third := revs("after the id was created again")
	for _, old := range []int64{first[a.ID], second[a.ID]} {
		if third[a.ID] == old {
			t.Fatalf("the id created again got an earlier Rev %d", old)
		}
	}
}

// testListKnown checks ClusterFilter.Known: asked only about listed
// clusters at their Rev; a cluster it calls unknown comes whole, and one it
// calls known comes at least with its ID, AccountID, WorkspaceID and Rev.
func testListKnown(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	acc := AccountID(1)
	w := createWorkspace(ctx, t, s, acc, 1)
	m := newModel(w)
	for i := range 4 {
		m.create(ctx, t, s, NewCluster(acc, w.ID, i+1))
	}
	f := store.ClusterFilter{AccountID: acc, WorkspaceID: w.ID}
	whole, _, err := s.ListClusters(ctx, f)
	must(t, err)
	revs := map[string]int64{}
	for _, c := range whole {
		revs[c.ID] = c.Rev
	}

	known := map[string]bool{whole[0].ID: true, whole[2].ID: true}
	f.Known = func(id string, rev int64) bool {
		if r, ok := revs[id]; !ok || r != rev {
			t.Errorf("Known asked about %s at Rev %d; listed at %d (%v)", id, rev, r, ok)
		}
		return known[id]
	}
	got, total, err := s.ListClusters(ctx, f)
	must(t, err)
	if total != len(whole) || len(got) != len(whole) {
		t.Fatalf("with Known: %d of %d clusters, want %d", len(got), total, len(whole))
	}
	for i, c := range got {
		if c.ID != whole[i].ID || c.Rev != whole[i].Rev || c.AccountID != acc || c.WorkspaceID != w.ID {
			t.Fatalf("with Known, cluster %d is %s rev %d in %s/%s, want %s rev %d", i, c.ID, c.Rev, c.AccountID, c.WorkspaceID, whole[i].ID, whole[i].Rev)
		}
		if !known[c.ID] {
			wantEqual(t, listed(c), listed(whole[i]), "a cluster Known calls unknown")
		}
	}
}
