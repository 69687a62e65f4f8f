package httpapi

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/api"
	"github.com/rayfleet/rayfleet/internal/service"
)

func (h *Handler) listWorkspaces(r *request) (any, error) {
	q := r.URL.Query()
	maxResults, err := pageParam(q, "maxResults")
	if err != nil {
		return nil, err
	}
	offset := 0
	if t := q.Get("nextToken"); t != "" {
		if offset, err = strconv.Atoi(t); err != nil || offset < 0 {
			return nil, rayfleet.Errorf(rayfleet.EINVALID, "nextToken %q is not valid; pass the nextToken of the previous page", t)
		}
	}
	if g := q.Get("resourceGroupId"); g != "" {
		return nil, noResourceGroups("resourceGroupId")
	}
	tags, err := tagQuery(q.Get("tag"))
	if err != nil {
		return nil, err
	}
	ws, total, err := h.Service.ListWorkspaces(r.Context(), r.p, service.ListWorkspacesInput{
		Name: q.Get("name"), State: q.Get("state"), Tags: tags, Offset: offset, Limit: maxResults,
	})
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
		tags := make([]api.WorkspaceTag, len(w.Tags))
		for j, t := range w.Tags {
			tags[j] = api.WorkspaceTag{TagKey: t.Key, TagValue: t.Value}
		}
		resp.Workspaces[i] = api.Workspace{
			WorkspaceID: w.ID, WorkspaceName: w.Name, RegionID: h.Service.RegionID,
			ResourceSpec: fmt.Sprintf("%dcu", w.CU), Storage: w.OSSBucket, PaymentType: w.PaymentType,
			WorkspaceStatus: w.Status, ReleaseType: w.ReleaseType, CreateTime: ms(w.CreateTime),
			GPUSpec: gpus, IPWhiteList: []string{}, PrePaidQuotaGPU: []struct{}{}, Tags: tags,
		}
	}
	return resp, nil
}

// tagQuery parses ListWorkspaces' tag: JSON text of [{"key","value"}], as
// the SDK sends an array in a query. A tag without "value" matches its key
// with any value.
func tagQuery(v string) ([]service.TagFilter, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	var in []struct {
		Key   string  `json:"key"`
		Value *string `json:"value"`
	}
	if err := json.Unmarshal([]byte(v), &in); err != nil {
		return nil, rayfleet.Errorf(rayfleet.EINVALID, `tag must be JSON text of an array such as [{"key":"team","value":"a"}], got %q`, v)
	}
	out := make([]service.TagFilter, len(in))
	for i, t := range in {
		out[i] = service.TagFilter{Key: t.Key, AnyValue: t.Value == nil}
		if t.Value != nil {
			out[i].Value = *t.Value
		}
	}
	return out, nil
}

func noResourceGroups(field string) error {
	return rayfleet.Errorf(rayfleet.EINVALID, "%s is not supported: rayfleet has no resource groups; leave it out (RAM policies on workspace ARNs scope access instead)", field)
}

// unsupportedCreateWorkspace names the first field of a CreateWorkspace
// body that asks for what rayfleet does not have, with why and what to do.
func unsupportedCreateWorkspace(in *api.CreateWorkspaceRequest) error {
	switch {
	case in.RAMRoleName != "":
		return rayfleet.Errorf(rayfleet.EINVALID, "ramRoleName is not supported: rayfleet's clusters and jobs run under no RAM role; leave it out")
	case in.DLFCatalogID != "" || in.DLFType != "":
		return rayfleet.Errorf(rayfleet.EINVALID, "dlfCatalogId and dlfType are not supported: rayfleet has no Data Lake Formation catalog; leave them out")
	case in.AutoStartSessionCluster:
		return rayfleet.Errorf(rayfleet.EINVALID, "autoStartSessionCluster is not supported: rayfleet has no Spark session clusters; leave it out or false")
	case in.ResourceSpec.GPU != 0 || len(in.GPUSpec) > 0:
		return rayfleet.Errorf(rayfleet.EINVALID, "resourceSpec.gpu and gpuSpec are not supported: rayfleet's quota is in CU, and every workspace may use every GPU type the server is configured with (ListWorkspaces gpuSpec); leave them out")
	case in.ResourceGroupID != "":
		return noResourceGroups("resourceGroupId")
	case in.AutoRenew != "" || in.AutoRenewPeriod != "" || in.AutoRenewPeriodUnit != "" || in.Duration != "" || in.PaymentDurationUnit != "":
		return rayfleet.Errorf(rayfleet.EINVALID, "autoRenew, autoRenewPeriod, autoRenewPeriodUnit, duration and paymentDurationUnit are not supported: rayfleet bills nothing, so it keeps no subscription terms; leave them out")
	}
	return nil
}

func (h *Handler) createWorkspace(r *request) (any, error) {
	var in api.CreateWorkspaceRequest
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	if err := unsupportedCreateWorkspace(&in); err != nil {
		return nil, err
	}
	var cu int64
	if in.ResourceSpec.CU != nil {
		cu = int64(*in.ResourceSpec.CU)
	}
	if in.ResourceSpec.MaxCU != nil || in.ResourceSpec.GPUMachineNum != 0 {
		return nil, rayfleet.Errorf(rayfleet.EINVALID, "a workspace's resourceSpec takes cu alone (maxCu and gpuMachineNum are a queue's); leave them out")
	}
	token := in.ClientToken
	if token == "" {
		token = r.URL.Query().Get("clientToken")
	}
	tags := make([]rayfleet.Tag, len(in.Tag))
	for i, t := range in.Tag {
		tags[i] = rayfleet.Tag{Key: t.Key, Value: t.Value}
	}
	o, err := h.Service.CreateWorkspace(r.Context(), r.p, service.CreateWorkspaceInput{
		Name: in.WorkspaceName, CU: cu, OSSBucket: in.OSSBucket, PaymentType: in.PaymentType,
		ReleaseType: in.ReleaseType, Tags: tags, ClientToken: token,
	})
	if err != nil {
		return nil, err
	}
	return &api.CreateWorkspaceResponse{RequestID: requestIDOf(r, o), WorkspaceID: o.WorkspaceID, OperationID: o.WorkspaceID}, nil
}

func (h *Handler) updateWorkspace(r *request) (any, error) {
	var in api.UpdateWorkspaceRequest
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	switch {
	case in.GPU != 0 || len(in.GPUSpec) > 0 || len(in.GPUSubscription) > 0:
		return nil, rayfleet.Errorf(rayfleet.EINVALID, "gpu, gpuSpec and gpuSubscription are not supported: rayfleet's quota is in CU, and every workspace may use every GPU type the server is configured with; leave them out")
	case len(in.IPWhiteList) > 0:
		return nil, rayfleet.Errorf(rayfleet.EINVALID, "ipWhiteList is not supported: rayfleet keeps no per-workspace allow-list; leave it out and give RAM users a policy with an acs:SourceIp condition instead")
	case in.ResourceGroupID != "":
		return nil, noResourceGroups("resourceGroupId")
	case len(in.Subscription) > 0:
		return nil, rayfleet.Errorf(rayfleet.EINVALID, "subscription is not supported: rayfleet bills nothing, so a quota is changed with cu alone; leave it out")
	}
	u := service.UpdateWorkspaceInput{WorkspaceID: in.WorkspaceID, Name: in.WorkspaceName}
	if in.CU != nil {
		cu := int64(*in.CU)
		u.CU = &cu
	}
	if err := h.Service.UpdateWorkspace(r.Context(), r.p, u); err != nil {
		return nil, err
	}
	return &api.UpdateWorkspaceResponse{RequestID: service.RequestID(r.Context())}, nil
}

func (h *Handler) deleteWorkspace(r *request) (any, error) {
	if err := h.Service.DeleteWorkspace(r.Context(), r.p, r.PathValue("workspaceId")); err != nil {
		return nil, err
	}
	return &api.RequestIDResponse{RequestID: service.RequestID(r.Context())}, nil
}
