package storetest

import (
	"slices"
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

// testListKnown checks ClusterFilter.Known: asked about each cluster of
// the page once, in list order; the clusters it calls known are left out of
// the answer and the others come whole; and a Memo keeps what was stored
// in it while, and only while, the cluster is unchanged. A store may never
// call Known, and then it returns the whole page.
func testListKnown(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	acc := AccountID(1)
	w := createWorkspace(ctx, t, s, acc, 1)
	m := newModel(w)
	for i := range 4 {
		m.create(ctx, t, s, NewCluster(acc, w.ID, i+1))
	}
	page := store.ClusterFilter{AccountID: acc, WorkspaceID: w.ID, Offset: 1, Limit: 2}
	whole, _, err := s.ListClusters(ctx, page)
	must(t, err)

	var asked []string
	memos := map[string]any{}
	list := func(when string, known func(id string) bool) {
		t.Helper()
		asked = asked[:0]
		clear(memos)
		f := page
		f.Known = func(id string, memo *store.Memo) bool {
			asked = append(asked, id)
			memos[id] = memo.Load()
			for _, c := range whole {
				if c.ID == id {
					memo.Store(id + " " + strconv.FormatInt(c.Rev, 10))
				}
			}
			return known(id)
		}
		got, total, err := s.ListClusters(ctx, f)
		must(t, err)
		if total != 4 {
			t.Fatalf("%s: total %d, want 4", when, total)
		}
		var want []rayfleet.Cluster
		for _, c := range whole {
			if len(asked) == 0 || !known(c.ID) {
				want = append(want, c)
			}
		}
		if len(asked) > 0 && !slices.Equal(asked, ids2(whole)) {
			t.Fatalf("%s: Known asked about %v, want the page %v in order", when, asked, ids2(whole))
		}
		if !sameList(got, listedAll(want)) {
			t.Fatalf("%s: the clusters not known are %s, want %s", when, ids(got), ids(want))
		}
	}
	list("first list", func(id string) bool { return id == whole[0].ID })
	if len(asked) == 0 {
		t.Log("the store never calls Known")
		return
	}
	for id, v := range memos {
		if v != nil {
			t.Fatalf("the first list found %v in the Memo of %s", v, id)
		}
	}
	// Unchanged, each Memo still holds what was stored.
	list("second list", func(id string) bool { return id == whole[1].ID })
	for _, c := range whole {
		if want := c.ID + " " + strconv.FormatInt(c.Rev, 10); memos[c.ID] != want {
			t.Fatalf("the Memo of unchanged %s holds %v, want %q", c.ID, memos[c.ID], want)
		}
	}
	// After a write, that cluster's Memo starts empty again.
	changed := whole[1].ID
	m.update(ctx, t, s, changed, func(c *rayfleet.Cluster) { c.Message = "written" })
	whole, _, err = s.ListClusters(ctx, page)
	must(t, err)
	list("after a write", func(string) bool { return true })
	for _, c := range whole {
		v := memos[c.ID]
		if c.ID == changed && v != nil {
			t.Fatalf("the Memo of the written cluster %s still holds %v", c.ID, v)
		}
		if c.ID != changed && v == nil {
			t.Fatalf("the Memo of unchanged %s was emptied by a write to another cluster", c.ID)
		}
	}
}

func ids2(cs []rayfleet.Cluster) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}
