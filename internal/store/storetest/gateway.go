package storetest

import (
	"testing"

	"github.com/rayfleet/rayfleet"
)

// testGatewayLookups: the gateway finds live clusters by workspace and id
// and by token hash, whatever their account; stopped (no token) and deleted
// clusters are not found.
func testGatewayLookups(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	w1 := createWorkspace(ctx, t, s, AccountID(1), 1)
	w2 := createWorkspace(ctx, t, s, AccountID(2), 2)
	a, b := NewCluster(AccountID(1), w1.ID, 1), NewCluster(AccountID(2), w2.ID, 2)
	must(t, s.CreateCluster(ctx, a))
	must(t, s.CreateCluster(ctx, b))

	got, err := s.ClusterForGateway(ctx, w2.ID, b.ID)
	must(t, err)
	if got.ID != b.ID || got.AccountID != AccountID(2) || got.TokenHash != b.TokenHash {
		t.Fatalf("ClusterForGateway = %s/%s", got.AccountID, got.ID)
	}
	_, err = s.ClusterForGateway(ctx, w1.ID, b.ID)
	wantNotFound(t, err, "ClusterForGateway with another workspace's id")

	got, err = s.ClusterByTokenHash(ctx, a.TokenHash)
	must(t, err)
	if got.ID != a.ID {
		t.Fatalf("ClusterByTokenHash found %s, want %s", got.ID, a.ID)
	}
	_, err = s.ClusterByTokenHash(ctx, "")
	wantNotFound(t, err, "ClusterByTokenHash of an empty hash")
	_, err = s.ClusterByTokenHash(ctx, "0000")
	wantNotFound(t, err, "ClusterByTokenHash of an unknown hash")

	// A stopped cluster has no token; a deleted one is gone.
	_, err = s.UpdateCluster(ctx, a.AccountID, a.WorkspaceID, a.ID, func(c *rayfleet.Cluster) error {
		c.TokenHash, c.TokenSealed = "", nil
		return nil
	})
	must(t, err)
	_, err = s.ClusterByTokenHash(ctx, a.TokenHash)
	wantNotFound(t, err, "ClusterByTokenHash of a revoked token")
	markDeleted(ctx, t, s, b)
	_, err = s.ClusterForGateway(ctx, w2.ID, b.ID)
	wantNotFound(t, err, "ClusterForGateway of a deleted cluster")
	_, err = s.ClusterByTokenHash(ctx, b.TokenHash)
	wantNotFound(t, err, "ClusterByTokenHash of a deleted cluster")
}
