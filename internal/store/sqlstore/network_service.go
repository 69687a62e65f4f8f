package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/rayfleet/rayfleet"
)

// CreateNetworkService stores a new network service in an existing
// workspace; its name is its key there.
func (s *Store) CreateNetworkService(ctx context.Context, n rayfleet.NetworkService) error {
	return s.writeOne(ctx, func(ex execFunc) error { return s.insertNetworkService(ctx, ex, n) })
}

func (s *Store) insertNetworkService(ctx context.Context, ex execFunc, n rayfleet.NetworkService) error {
	vsw, err := json.Marshal(n.VSwitchIDs)
	if err != nil {
		return fmt.Errorf("create network service %s: encode vswitch ids: %w", n.Name, err)
	}
	_, err = ex(ctx, `INSERT INTO network_services (account_id, workspace_id, name, id, vpc_id, vswitch_ids, security_group_id, type, state, create_time)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		n.AccountID, n.WorkspaceID, n.Name, n.ID, n.VpcID, string(vsw), n.SecurityGroupID, n.Type, n.State, toMS(n.CreateTime))
	switch {
	case s.d.isUnique(err):
		return alreadyExists("network service", n.Name)
	case s.d.isForeignKey(err):
		return notFound("workspace", n.WorkspaceID)
	case err != nil:
		return fmt.Errorf("create network service %s: %w", n.Name, err)
	}
	return nil
}

// ListNetworkServices returns a workspace's network services, oldest first,
// and an empty list for an unknown workspace.
func (s *Store) ListNetworkServices(ctx context.Context, accountID, workspaceID string) ([]rayfleet.NetworkService, error) {
	rows, err := s.query(ctx, `SELECT account_id, workspace_id, name, id, vpc_id, vswitch_ids, security_group_id, type, state, create_time
		FROM network_services WHERE account_id = ? AND workspace_id = ? ORDER BY create_time, name`, accountID, workspaceID)
	if err != nil {
		return nil, fmt.Errorf("list network services: %w", err)
	}
	defer rows.Close()
	var out []rayfleet.NetworkService
	for rows.Next() {
		var n rayfleet.NetworkService
		var vsw []byte
		var ct int64
		if err := rows.Scan(&n.AccountID, &n.WorkspaceID, &n.Name, &n.ID, &n.VpcID, &vsw, &n.SecurityGroupID, &n.Type, &n.State, &ct); err != nil {
			return nil, fmt.Errorf("list network services: %w", err)
		}
		if err := json.Unmarshal(vsw, &n.VSwitchIDs); err != nil {
			return nil, fmt.Errorf("list network services: decode vswitch ids of %s: %w", n.Name, err)
		}
		n.CreateTime = fromMS(ct)
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list network services: %w", err)
	}
	return out, nil
}
