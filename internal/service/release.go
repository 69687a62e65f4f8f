package service

import (
	"context"

	"github.com/rayfleet/rayfleet"
)

// ListReleaseVersions lists the Ray engines, optionally filtered by
// releaseVersion (short name or display string) and state.
func (s *Service) ListReleaseVersions(ctx context.Context, p rayfleet.Principal, version, state string) ([]rayfleet.ReleaseVersion, error) {
	if err := s.authorize(ctx, p, "ListReleaseVersions", "*"); err != nil {
		return nil, err
	}
	if state != "" && state != "ONLINE" && state != "OFFLINE" {
		return nil, rayfleet.Errorf(rayfleet.EINVALID, "releaseVersionStatus must be ONLINE or OFFLINE, got %q", state)
	}
	var out []rayfleet.ReleaseVersion
	for _, r := range s.Releases {
		if version != "" && r.Version != version && r.Display != version {
			continue
		}
		if state != "" && r.State != state {
			continue
		}
		out = append(out, r)
	}
	return out, nil
}
