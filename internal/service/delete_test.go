package service_test

import (
	"context"
	"testing"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/store"
)

// wakes is a fake service.Waker that records the clusters woken.
type wakes []store.ClusterRef

func (w *wakes) Wake(ref store.ClusterRef) { *w = append(*w, ref) }

// TestDeleteStoppedClusterIsLeftToTheReconciler: a stopped cluster has no
// nodes, yet its row stays (marked deleted) for the reconciler, which purges
// it only once the runtime removed what it keeps (on Kubernetes, a
// suspended RayCluster with its head service).
func TestDeleteStoppedClusterIsLeftToTheReconciler(t *testing.T) {
	s, p, ws := newService(t)
	ctx := context.Background()
	w := &wakes{}
	s.Waker = w
	o, err := s.CreateCluster(ctx, p, ws, rayfleet.ClusterPatch{Name: ptr("c")}, "")
	if err != nil {
		t.Fatal(err)
	}
	id := o.ClusterID
	if _, err := s.StopCluster(ctx, p, ws, id, "", ""); err != nil {
		t.Fatal(err)
	}
	// What the reconciler records once the nodes are gone.
	if _, err := s.Store.UpdateCluster(ctx, p.AccountID, ws, id, func(c *rayfleet.Cluster) error {
		c.State = rayfleet.StateStopped
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	*w = nil
	if _, err := s.DeleteCluster(ctx, p, ws, id, ""); err != nil {
		t.Fatal(err)
	}
	c, err := s.Store.GetClusterAny(ctx, p.AccountID, ws, id)
	if err != nil || !c.Deleted {
		t.Fatalf("the deleted stopped cluster's row: %+v %v", c, err)
	}
	if len(*w) != 1 || (*w)[0].ID != id {
		t.Fatalf("woken %v, want %s", *w, id)
	}
	_, err = s.GetCluster(ctx, p, ws, id)
	wantCode(t, err, rayfleet.ENOTFOUND)
}
