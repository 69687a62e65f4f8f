package storetest

import "testing"

// testGatewayLookups: the gateway finds live clusters by workspace and id,
// whatever their account; deleted clusters are not found.
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

	// A deleted cluster is gone.
	markDeleted(ctx, t, s, b)
	_, err = s.ClusterForGateway(ctx, w2.ID, b.ID)
	wantNotFound(t, err, "ClusterForGateway of a deleted cluster")
}
