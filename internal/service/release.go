package service

import (
	"context"
	"strings"

	"github.com/rayfleet/rayfleet"
)

// ListReleaseVersionsInput is ListReleaseVersions' query.
type ListReleaseVersionsInput struct {
	// Version is a short name or a display string.
	Version string
	// State is ONLINE or OFFLINE; Type stable or beta.
	State string
	Type  string
	// ServiceFilter names the engines' service: rayfleet's are all Ray's.
	ServiceFilter string
	// WorkspaceID, when given, must be a workspace of the caller; every
	// workspace may use every release version.
	WorkspaceID string
}

// ListReleaseVersions lists the Ray engines that match in.
func (s *Service) ListReleaseVersions(ctx context.Context, p rayfleet.Principal, in ListReleaseVersionsInput) ([]rayfleet.ReleaseVersion, error) {
	if err := s.authorize(ctx, p, "ListReleaseVersions", "*"); err != nil {
		return nil, err
	}
	if in.State != "" && in.State != "ONLINE" && in.State != "OFFLINE" {
		return nil, rayfleet.Errorf(rayfleet.EINVALID, "releaseVersionStatus must be ONLINE or OFFLINE, got %q", in.State)
	}
	if in.Type != "" && in.Type != "stable" && in.Type != "beta" {
		return nil, rayfleet.Errorf(rayfleet.EINVALID, "releaseType must be stable or beta, got %q", in.Type)
	}
	if in.ServiceFilter != "" && !strings.EqualFold(in.ServiceFilter, "ray") {
		return nil, rayfleet.Errorf(rayfleet.EINVALID,
			"serviceFilter %q is not served: rayfleet's release versions are all Ray engines; pass ray or leave serviceFilter out", in.ServiceFilter)
	}
	if in.WorkspaceID != "" {
		if _, err := s.workspace(ctx, p, in.WorkspaceID); err != nil {
			return nil, err
		}
	}
	var out []rayfleet.ReleaseVersion
	for _, r := range s.Releases {
		if in.Version != "" && r.Version != in.Version && r.Display != in.Version {
			continue
		}
		if in.State != "" && r.State != in.State {
			continue
		}
		if in.Type != "" && r.Type != in.Type {
			continue
		}
		out = append(out, r)
	}
	return out, nil
}
