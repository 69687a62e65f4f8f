package service

import (
	"context"
	"fmt"

	"github.com/rayfleet/rayfleet"
)

// ListNetworkServices lists a workspace's network services.
func (s *Service) ListNetworkServices(ctx context.Context, p rayfleet.Principal, wsID string) ([]rayfleet.NetworkService, error) {
	if err := s.authorize(ctx, p, "ListNetworkServices", s.wsARN(p, wsID)); err != nil {
		return nil, err
	}
	if _, err := s.workspace(ctx, p, wsID); err != nil {
		return nil, err
	}
	return s.Store.ListNetworkServices(ctx, p.AccountID, wsID)
}

// CreateNetworkServiceInput is CreateNetworkService's body.
type CreateNetworkServiceInput struct {
	WorkspaceID     string
	Name            string
	VpcID           string
	VSwitchIDs      []string
	SecurityGroupID string
	Type            string
	ClientToken     string
}

// CreateNetworkService adds a named network service to a workspace.
func (s *Service) CreateNetworkService(ctx context.Context, p rayfleet.Principal, in CreateNetworkServiceInput) (Outcome, error) {
	if err := s.authorize(ctx, p, "CreateNetworkService", s.wsARN(p, in.WorkspaceID)); err != nil {
		return Outcome{}, err
	}
	if err := rayfleet.ValidateQueueName(in.Name); err != nil {
		return Outcome{}, rayfleet.Errorf(rayfleet.EINVALID, "name must be 1 to 64 of letters, digits, '-', '_' and '.'")
	}
	if len(in.VSwitchIDs) > 32 {
		return Outcome{}, rayfleet.Errorf(rayfleet.EINVALID, "vswitchIds may hold at most 32 entries")
	}
	if in.Type == "" {
		in.Type = "NetworkService"
	}
	if _, err := s.workspace(ctx, p, in.WorkspaceID); err != nil {
		return Outcome{}, err
	}
	token := in.ClientToken
	in.ClientToken = ""
	return s.idempotent(ctx, p, token, "CreateNetworkService", in, func(guard guard) (Outcome, error) {
		id, err := s.newNetworkServiceID()
		if err != nil {
			return Outcome{}, err
		}
		n := rayfleet.NetworkService{
			ID: id, AccountID: p.AccountID, WorkspaceID: in.WorkspaceID, Name: in.Name, VpcID: in.VpcID,
			VSwitchIDs: in.VSwitchIDs, SecurityGroupID: in.SecurityGroupID, Type: in.Type, State: "running", CreateTime: s.now(),
		}
		out := Outcome{ID: id}
		if err := s.Store.CreateNetworkService(guard(ctx, out), n); err != nil {
			if rayfleet.ErrorCode(err) == rayfleet.EDENIED {
				return Outcome{}, rayfleet.Errorf(rayfleet.EDENIED, "network service %q already exists in workspace %s", in.Name, in.WorkspaceID)
			}
			return Outcome{}, fmt.Errorf("create network service: %w", err)
		}
		return out, nil
	})
}
