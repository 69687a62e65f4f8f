package sqlstore

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/store"
	"github.com/rayfleet/rayfleet/internal/store/storetest"
)

func createTestWorkspace(t *testing.T, s *Store, acc string, n int) rayfleet.Workspace {
	t.Helper()
	w := storetest.NewWorkspace(acc, n)
	if err := s.CreateWorkspace(t.Context(), w, storetest.NewQueue(w, rayfleet.RootQueue), storetest.NewNetworkService(w, "vpc")); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateQueue(t.Context(), storetest.NewQueue(w, storetest.GPUQueue)); err != nil {
		t.Fatal(err)
	}
	return w
}

func listAll(t *testing.T, s *Store, f store.ClusterFilter) ([]rayfleet.Cluster, int) {
	t.Helper()
	cs, total, err := s.ListClusters(t.Context(), f)
	if err != nil {
		t.Fatal(err)
	}
	return cs, total
}

// cachedSnapshot returns the snapshot a store holds for a workspace.
func cachedSnapshot(s *Store, w rayfleet.Workspace) *listSnapshot {
	s.lists.mu.Lock()
	defer s.lists.mu.Unlock()
	if e := s.lists.entries[wsKey{w.AccountID, w.ID}]; e != nil {
		return e.snap.Load()
	}
	return nil
}

// TestListCacheKeepsWhatDidNotChange checks the cache does its job: no
// write, no new snapshot; one write, the other rows carried over as they
// were.
func TestListCacheKeepsWhatDidNotChange(t *testing.T) {
	s := openSQLiteForTest(t)
	acc := storetest.AccountID(1)
	w := createTestWorkspace(t, s, acc, 1)
	for i := range 5 {
		if err := s.CreateCluster(t.Context(), storetest.NewCluster(acc, w.ID, i)); err != nil {
			t.Fatal(err)
		}
	}
	f := store.ClusterFilter{AccountID: acc, WorkspaceID: w.ID}
	listAll(t, s, f)
	first := cachedSnapshot(s, w)
	listAll(t, s, f)
	if cachedSnapshot(s, w) != first {
		t.Fatal("a list with no write in between built a new snapshot")
	}
	if _, err := s.UpdateCluster(t.Context(), acc, w.ID, storetest.ClusterID(2), func(c *rayfleet.Cluster) error {
		c.Message = "changed"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	cs, _ := listAll(t, s, f)
	second := cachedSnapshot(s, w)
	if second == first || second.stamp.gen <= first.stamp.gen {
		t.Fatalf("after a write the snapshot is at generation %d, was %d", second.stamp.gen, first.stamp.gen)
	}
	for i, r := range second.rows {
		if r.id == storetest.ClusterID(2) {
			if r == first.rows[i] || cs[i].Message != "changed" {
				t.Fatal("the changed row was not read again")
			}
		} else if r != first.rows[i] {
			t.Fatalf("row %s did not change but was read again", r.id)
		}
	}
}

// TestListCacheEviction bounds the rows held: the least recently listed
// workspaces go first, and a workspace bigger than the bound is listed
// through SQL without being held.
func TestListCacheEviction(t *testing.T) {
	s := openSQLiteForTest(t)
	s.lists = newListCache(10)
	acc := storetest.AccountID(1)
	var ws []rayfleet.Workspace
	n := 0
	for i, size := range []int{4, 4, 4, 11} {
		w := createTestWorkspace(t, s, acc, i)
		ws = append(ws, w)
		for range size {
			n++
			if err := s.CreateCluster(t.Context(), storetest.NewCluster(acc, w.ID, n)); err != nil {
				t.Fatal(err)
			}
		}
	}
	held := func() []int {
		var out []int
		for i, w := range ws {
			if sn := cachedSnapshot(s, w); sn != nil && !sn.tooBig {
				out = append(out, i)
			}
		}
		s.lists.mu.Lock()
		defer s.lists.mu.Unlock()
		rows := 0
		for _, e := range s.lists.entries {
			rows += len(e.snap.Load().rows)
		}
		if rows != s.lists.rows || rows > s.lists.maxRows {
			t.Fatalf("the cache counts %d rows, holds %d, may hold %d", s.lists.rows, rows, s.lists.maxRows)
		}
		return out
	}
	for _, tc := range []struct {
		list int
		want []int
	}{
		{0, []int{0}},
		{1, []int{0, 1}},
		{2, []int{1, 2}}, // 0 was listed least recently
		{0, []int{0, 2}},
		{3, []int{0, 2}}, // too big: through SQL, nothing evicted
	} {
		w := ws[tc.list]
		cs, total := listAll(t, s, store.ClusterFilter{AccountID: acc, WorkspaceID: w.ID, Limit: 3})
		if len(cs) != 3 || total < 4 {
			t.Fatalf("workspace %d lists %d of %d", tc.list, len(cs), total)
		}
		if got := held(); !slices.Equal(got, tc.want) {
			t.Fatalf("after listing workspace %d the cache holds %v, want %v", tc.list, got, tc.want)
		}
	}
	// The big workspace is remembered as too big until it changes.
	big := cachedSnapshot(s, ws[3])
	if big == nil || !big.tooBig {
		t.Fatal("the workspace too big to hold is not noted as such")
	}
	listAll(t, s, store.ClusterFilter{AccountID: acc, WorkspaceID: ws[3].ID})
	if cachedSnapshot(s, ws[3]) != big {
		t.Fatal("a workspace known to be too big was counted again with no write in between")
	}
}

// TestListCacheMatchesSQL writes at random through two stores on one
// database and compares, after each write, the lists each store holds with
// what SQL lists.
func TestListCacheMatchesSQL(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "rayfleet.db")
		testListCacheMatchesSQL(t, openSQLitePath(t, path), openSQLitePath(t, path))
	})
	t.Run("Postgres", func(t *testing.T) {
		dsn := newPostgresSchema(t)
		testListCacheMatchesSQL(t, openPostgresDSN(t, dsn), openPostgresDSN(t, dsn))
	})
}

func testListCacheMatchesSQL(t *testing.T, a, b *Store) {
	ctx := t.Context()
	rng := rand.New(rand.NewPCG(1, 2))
	acc := storetest.AccountID(1)
	ws := []rayfleet.Workspace{createTestWorkspace(t, a, acc, 1), createTestWorkspace(t, a, acc, 2)}
	states := []rayfleet.State{rayfleet.StateRunning, rayfleet.StateStopped, rayfleet.StateError}
	type ref struct{ ws, id string }
	var rows []ref // every cluster row, deleted ones too
	next := 0
	for step := range 200 {
		s := []*Store{a, b}[rng.IntN(2)]
		w := ws[rng.IntN(len(ws))]
		switch op := rng.IntN(10); {
		case op < 4 || len(rows) == 0:
			c := storetest.NewCluster(acc, w.ID, next)
			next++
			c.CreateTime = storetest.At(rng.IntN(20)) // many ties
			c.State = states[rng.IntN(len(states))]
			c.Spec.Name = fmt.Sprintf("c-%d", rng.IntN(5))
			if err := s.CreateCluster(ctx, c); err != nil {
				t.Fatal(err)
			}
			rows = append(rows, ref{w.ID, c.ID})
		case op < 8:
			r := rows[rng.IntN(len(rows))]
			if _, err := s.UpdateCluster(ctx, acc, r.ws, r.id, func(c *rayfleet.Cluster) error {
				switch rng.IntN(4) {
				case 0:
					c.Deleted = !c.Deleted
				case 1:
					c.CreateTime = storetest.At(rng.IntN(20))
				default:
					c.State = states[rng.IntN(len(states))]
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		default:
			i := rng.IntN(len(rows))
			if err := s.PurgeCluster(ctx, acc, rows[i].ws, rows[i].id); err != nil {
				t.Fatal(err)
			}
			rows = slices.Delete(rows, i, i+1)
		}
		if rng.IntN(3) > 0 {
			continue // several writes between lists now and then
		}
		for _, s := range []*Store{a, b} {
			for _, w := range ws {
				for _, f := range []store.ClusterFilter{
					{},
					{State: rayfleet.StateStopped, Offset: 1, Limit: 3},
					{Name: "C-1"},
				} {
					f.AccountID, f.WorkspaceID = acc, w.ID
					got, gotTotal, err := s.ListClusters(ctx, f)
					if err != nil {
						t.Fatal(err)
					}
					want, wantTotal, err := s.listClustersSQL(ctx, f)
					if err != nil {
						t.Fatal(err)
					}
					if gotTotal != wantTotal || len(got) != len(want) || (len(got) > 0 && !reflect.DeepEqual(got, want)) {
						t.Fatalf("step %d, %+v: the cache lists %d of %d, SQL %d of %d", step, f, len(got), gotTotal, len(want), wantTotal)
					}
				}
			}
		}
	}
}
