package sqlstore

import (
	"context"
	"fmt"

	"github.com/rayfleet/rayfleet"
)

// The gateway's lookups are not scoped by account: a gateway request is
// authenticated by the cluster's own token, not by an account's key, and
// workspace and cluster ids are unique across accounts.
const (
	gatewayClusterSQL = "SELECT " + clusterCols + " FROM clusters WHERE id = ? AND workspace_id = ? AND deleted = 0"
	tokenClusterSQL   = "SELECT " + clusterCols + " FROM clusters WHERE token_hash = ? AND token_hash <> '' AND deleted = 0"
)

// ClusterForGateway finds a live cluster by workspace and id.
func (s *Store) ClusterForGateway(ctx context.Context, workspaceID, id string) (rayfleet.Cluster, error) {
	cs, err := s.clusters(ctx, gatewayClusterSQL, 1, id, workspaceID)
	if err != nil {
		return rayfleet.Cluster{}, fmt.Errorf("get cluster %s: %w", id, err)
	}
	if len(cs) == 0 {
		return rayfleet.Cluster{}, notFound("cluster", id)
	}
	return cs[0], nil
}

// ClusterByTokenHash finds the live cluster whose current instance token
// hashes to tokenHash.
func (s *Store) ClusterByTokenHash(ctx context.Context, tokenHash string) (rayfleet.Cluster, error) {
	if tokenHash == "" {
		return rayfleet.Cluster{}, notFound("cluster", "with that token")
	}
	cs, err := s.clusters(ctx, tokenClusterSQL, 1, tokenHash)
	if err != nil {
		return rayfleet.Cluster{}, fmt.Errorf("find cluster by token: %w", err)
	}
	if len(cs) == 0 {
		return rayfleet.Cluster{}, notFound("cluster", "with that token")
	}
	return cs[0], nil
}
