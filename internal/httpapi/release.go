package httpapi

import (
	"github.com/rayfleet/rayfleet/api"
	"github.com/rayfleet/rayfleet/internal/service"
)

func (h *Handler) listReleaseVersions(r *request) (any, error) {
	q := r.URL.Query()
	rvs, err := h.Service.ListReleaseVersions(r.Context(), r.p, service.ListReleaseVersionsInput{
		Version: q.Get("releaseVersion"), State: q.Get("releaseVersionStatus"), Type: q.Get("releaseType"),
		ServiceFilter: q.Get("serviceFilter"), WorkspaceID: q.Get("workspaceId"),
	})
	if err != nil {
		return nil, err
	}
	resp := &api.ListReleaseVersionsResponse{RequestID: service.RequestID(r.Context()), ReleaseVersions: make([]api.ReleaseVersion, len(rvs)), TotalCount: len(rvs), MaxResults: len(rvs)}
	for i, v := range rvs {
		resp.ReleaseVersions[i] = api.ReleaseVersion{
			ReleaseVersion: v.Version, DisplayReleaseVersion: v.Display, State: v.State, Type: v.Type, IaasType: "K8S",
			GmtCreate: ms(v.CreateTime), CommunityVersion: "Ray " + v.RayVersion, CPUArchitectures: v.CPUArch, IsCustom: v.Custom,
			RayVersion: v.RayVersion, PythonVersion: v.PythonVersion, Image: v.Image,
		}
	}
	return resp, nil
}
