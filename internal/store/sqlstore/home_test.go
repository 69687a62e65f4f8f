package sqlstore

import (
	"testing"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/store/storetest"
)

// TestClaimHome: the first claim records its home; another home is
// refused while a cluster may have nodes, and granted once every cluster
// is Stopped, or when forced.
func TestClaimHome(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		a, b := Home{ID: "a", Host: "m1", Dir: "/srv/a/local"}, Home{ID: "b", Host: "m2", Dir: "/srv/b/local"}
		claim := func(h Home, force bool, want bool) HomeClaim {
			t.Helper()
			got, err := s.ClaimHome(ctx, "local", h, force)
			if err != nil {
				t.Fatal(err)
			}
			if got.Claimed != want {
				t.Fatalf("claim by %s (force %v): claimed %v, want %v (%+v)", h.ID, force, got.Claimed, want, got)
			}
			return got
		}
		claim(a, false, true)
		claim(b, false, true) // no cluster at all: nothing to leave behind
		claim(a, false, true)

		acc := storetest.AccountID(1)
		w := createTestWorkspace(t, s, acc, 1)
		if err := s.CreateCluster(ctx, storetest.NewCluster(acc, w.ID, 1)); err != nil {
			t.Fatal(err)
		}
		got := claim(b, false, false)
		if got.Home.ID != "a" || got.Home.Dir != a.Dir || got.Home.Host != a.Host || got.Busy != 1 {
			t.Fatalf("refused claim names %+v, want home a with 1 busy cluster", got)
		}
		claim(a, false, true)
		moved := a
		moved.Dir = "/srv/a2/local"
		if got := claim(moved, false, true); got.Home.Dir != moved.Dir {
			t.Fatalf("the same home under a new directory: %+v", got)
		}

		if _, err := s.UpdateCluster(ctx, acc, w.ID, storetest.ClusterID(1), func(c *rayfleet.Cluster) error {
			c.Desired, c.State = rayfleet.RunStateStopped, rayfleet.StateStopped
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		claim(b, false, true)
		if _, err := s.UpdateCluster(ctx, acc, w.ID, storetest.ClusterID(1), func(c *rayfleet.Cluster) error {
			c.Desired, c.State = rayfleet.RunStateRunning, rayfleet.StateStarting
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		claim(a, false, false)
		claim(a, true, true)
	})
}
