package httpapi

import (
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/api"
	"github.com/rayfleet/rayfleet/internal/service"
)

func (h *Handler) listWorkspaces(r *request) (any, error) {
	maxResults, err := queryInt(r, "maxResults")
	if err != nil {
		return nil, err
	}
	offset := 0
	if t := r.URL.Query().Get("nextToken"); t != "" {
		if offset, err = strconv.Atoi(t); err != nil || offset < 0 {
			return nil, rayfleet.Errorf(rayfleet.EINVALID, "nextToken %q is not valid; pass the nextToken of the previous page", t)
		}
	}
	ws, total, err := h.Service.ListWorkspaces(r.Context(), r.p, r.URL.Query().Get("name"), offset, maxResults)
	if err != nil {
		return nil, err
	}
	if maxResults == 0 {
		maxResults = 20
	}
	resp := &api.ListWorkspacesResponse{
		RequestID: service.RequestID(r.Context()), Workspaces: make([]api.Workspace, len(ws)),
		MaxResults: maxResults, TotalCount: total,
	}
	if next := offset + len(ws); next < total {
		resp.NextToken = strconv.Itoa(next)
	}
	// Every workspace may use every configured GPU type.
	gpus := slices.Sorted(maps.Keys(h.Service.GPUTypes))
	if gpus == nil {
		gpus = []string{}
	}
	for i, w := range ws {
		resp.Workspaces[i] = api.Workspace{
			WorkspaceID: w.ID, WorkspaceName: w.Name, RegionID: h.Service.RegionID,
			ResourceSpec: fmt.Sprintf("%dcu", w.CU), Storage: w.OSSBucket, PaymentType: w.PaymentType,
			WorkspaceStatus: w.Status, ReleaseType: w.ReleaseType, CreateTime: ms(w.CreateTime),
			GPUSpec: gpus, IPWhiteList: []string{}, PrePaidQuotaGPU: []struct{}{}, Tags: []api.WorkspaceTag{},
		}
	}
	return resp, nil
}

func (h *Handler) createWorkspace(r *request) (any, error) {
	var in api.CreateWorkspaceRequest
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	var cu int64
	if in.ResourceSpec.CU != nil {
		cu = int64(*in.ResourceSpec.CU)
	}
	token := in.ClientToken
	if token == "" {
		token = r.URL.Query().Get("clientToken")
	}
	o, err := h.Service.CreateWorkspace(r.Context(), r.p, service.CreateWorkspaceInput{
		Name: in.WorkspaceName, CU: cu, OSSBucket: in.OSSBucket, PaymentType: in.PaymentType,
		ReleaseType: in.ReleaseType, ClientToken: token,
	})
	if err != nil {
		return nil, err
	}
	return &api.CreateWorkspaceResponse{RequestID: requestIDOf(r, o), WorkspaceID: o.WorkspaceID, OperationID: o.WorkspaceID}, nil
}

func (h *Handler) deleteWorkspace(r *request) (any, error) {
	if err := h.Service.DeleteWorkspace(r.Context(), r.p, r.PathValue("workspaceId")); err != nil {
		return nil, err
	}
	return &api.RequestIDResponse{RequestID: service.RequestID(r.Context())}, nil
}
