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

func (h *Handler) listQueues(r *request) (any, error) {
	wsID := r.PathValue("workspaceId")
	qs, err := h.Service.ListQueues(r.Context(), r.p, wsID)
	if err != nil {
		return nil, err
	}
	resp := &api.ListQueuesResponse{RequestID: service.RequestID(r.Context()), Queues: make([]api.Queue, len(qs)), TotalCount: len(qs), MaxResults: len(qs)}
	for i, q := range qs {
		resp.Queues[i] = api.Queue{
			QueueName: q.Name, WorkspaceID: wsID, RegionID: h.Service.RegionID, QueueType: "instance",
			QueueCategory: q.Category, QueueStatus: "RUNNING", QueueScope: `{"arch":"x86"}`, Properties: "",
			MaxResource: resourceJSON(q.Max()), MinResource: resourceJSON(rayfleet.Resources{}), UsedResource: resourceJSON(q.Used),
			Environments: []string{"dev", "production"}, PaymentType: "PayAsYouGo", Creator: q.Creator,
			CreateTime: ms(q.CreateTime), Description: q.Description,
			AllowActions: []api.QueueAction{}, GPUSpec: []string{},
		}
	}
	return resp, nil
}

// resourceJSON renders resources the way the hosted product does in
// maxResource/usedResource: JSON text such as {"cpu":"64","memory":"256Gi"}.
func resourceJSON(r rayfleet.Resources) string {
	return fmt.Sprintf(`{"cpu":%q,"memory":%q}`, rayfleet.FormatCPU(r.MilliCPU), rayfleet.FormatMemory(r.MemoryBytes))
}

func queueInput(r *request) (service.QueueInput, error) {
	var in api.QueueRequest
	if err := decode(r, &in); err != nil {
		return service.QueueInput{}, err
	}
	var cu int64
	if in.ResourceSpec.CU != nil {
		cu = int64(*in.ResourceSpec.CU)
	} else if in.ResourceSpec.MaxCU != nil {
		cu = int64(*in.ResourceSpec.MaxCU)
	}
	if in.WorkspaceID == "" {
		return service.QueueInput{}, rayfleet.Errorf(rayfleet.EMISSING, "workspaceId is required")
	}
	return service.QueueInput{
		WorkspaceID: in.WorkspaceID, Name: in.WorkspaceQueueName, CU: cu, Description: in.Description,
		Category: in.QueueCategory, ClientToken: in.ClientToken,
	}, nil
}

func (h *Handler) createQueue(r *request) (any, error) {
	in, err := queueInput(r)
	if err != nil {
		return nil, err
	}
	o, err := h.Service.CreateQueue(r.Context(), r.p, in)
	if err != nil {
		return nil, err
	}
	return &api.RequestIDResponse{RequestID: requestIDOf(r, o)}, nil
}

func (h *Handler) editQueue(r *request) (any, error) {
	in, err := queueInput(r)
	if err != nil {
		return nil, err
	}
	o, err := h.Service.EditQueue(r.Context(), r.p, in)
	if err != nil {
		return nil, err
	}
	return &api.CapitalRequestIDResponse{RequestID: requestIDOf(r, o)}, nil
}

func (h *Handler) deleteQueue(r *request) (any, error) {
	if err := h.Service.DeleteQueue(r.Context(), r.p, r.PathValue("workspaceId"), r.PathValue("queueName")); err != nil {
		return nil, err
	}
	return &api.CapitalRequestIDResponse{RequestID: service.RequestID(r.Context())}, nil
}

func (h *Handler) listReleaseVersions(r *request) (any, error) {
	q := r.URL.Query()
	rvs, err := h.Service.ListReleaseVersions(r.Context(), r.p, q.Get("releaseVersion"), q.Get("releaseVersionStatus"))
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

func (h *Handler) listNetworkServices(r *request) (any, error) {
	nss, err := h.Service.ListNetworkServices(r.Context(), r.p, r.PathValue("workspaceId"))
	if err != nil {
		return nil, err
	}
	resp := &api.ListNetworkServicesResponse{
		RequestID: service.RequestID(r.Context()), NetworkServices: make([]api.NetworkService, len(nss)), Queues: []api.NetworkService{},
		TotalCount: len(nss), MaxResults: len(nss),
	}
	for i, n := range nss {
		vs := n.VSwitchIDs
		if vs == nil {
			vs = []string{}
		}
		resp.NetworkServices[i] = api.NetworkService{
			Name: n.Name, NetworkServiceID: n.ID, State: n.State, Type: n.Type, VpcID: n.VpcID,
			VSwitchIDs: vs, SecurityGroupID: n.SecurityGroupID, WorkspaceID: n.WorkspaceID,
		}
	}
	return resp, nil
}

func (h *Handler) createNetworkService(r *request) (any, error) {
	var in api.CreateNetworkServiceRequest
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	o, err := h.Service.CreateNetworkService(r.Context(), r.p, service.CreateNetworkServiceInput{
		WorkspaceID: r.PathValue("workspaceId"), Name: in.Name, VpcID: in.VpcID, VSwitchIDs: in.VSwitchIDs,
		SecurityGroupID: in.SecurityGroupID, Type: in.Type, ClientToken: in.ClientToken,
	})
	if err != nil {
		return nil, err
	}
	return &api.OperationResponse{RequestID: requestIDOf(r, o), OperationID: o.ID}, nil
}
