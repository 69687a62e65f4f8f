package sqlstore

import (
	"context"
	"fmt"

	"github.com/rayfleet/rayfleet"
)

// The gateway's lookup is not scoped by account: a gateway request is
// authenticated by a data-plane token, not by an account's key, and
// workspace and cluster ids are unique across accounts.
const gatewayClusterSQL = "SELECT " + clusterCols + " FROM clusters WHERE id = ? AND workspace_id = ? AND deleted = 0"

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
