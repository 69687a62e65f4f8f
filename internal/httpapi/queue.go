package httpapi

import (
	"fmt"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/api"
	"github.com/rayfleet/rayfleet/internal/service"
)

func (h *Handler) listQueues(r *request) (any, error) {
	wsID := r.PathValue("workspaceId")
	qs, err := h.Service.ListQueues(r.Context(), r.p, wsID, r.URL.Query().Get("environment"))
	if err != nil {
		return nil, err
	}
	resp := &api.ListQueuesResponse{RequestID: service.RequestID(r.Context()), Queues: make([]api.Queue, len(qs)), TotalCount: len(qs), MaxResults: len(qs)}
	for i, q := range qs {
		resp.Queues[i] = api.Queue{
			QueueName: q.Name, WorkspaceID: wsID, RegionID: h.Service.RegionID, QueueType: "instance",
			QueueCategory: q.Category, QueueStatus: "RUNNING", QueueScope: `{"arch":"x86"}`, Properties: "",
			MaxResource: resourceJSON(q.Max()), MinResource: resourceJSON(rayfleet.Resources{}), UsedResource: resourceJSON(q.Used),
			Environments: environments(q.Environments), PaymentType: q.PaymentType, Creator: q.Creator,
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

func environments(envs []string) []string {
	if envs == nil {
		return []string{}
	}
	return envs
}

// queueInput decodes the body of CreateWorkspaceQueue and
// EditWorkspaceQueue. A queue has one limit: resourceSpec.cu, or maxCu
// when cu is left out; both given must agree.
func queueInput(r *request) (service.QueueInput, error) {
	var in api.QueueRequest
	if err := decode(r, &in); err != nil {
		return service.QueueInput{}, err
	}
	spec := in.ResourceSpec
	var cu int64
	switch {
	case spec.CU != nil && spec.MaxCU != nil && *spec.CU != *spec.MaxCU:
		return service.QueueInput{}, rayfleet.Errorf(rayfleet.EINVALID,
			"resourceSpec.cu is %d and maxCu %d: a rayfleet queue has one limit; give cu (or maxCu) alone", *spec.CU, *spec.MaxCU)
	case spec.CU != nil:
		cu = int64(*spec.CU)
	case spec.MaxCU != nil:
		cu = int64(*spec.MaxCU)
	}
	switch {
	case spec.GPU != 0 || spec.GPUMachineNum != 0 || len(in.GPUSpec) > 0 || in.InstanceID != "":
		return service.QueueInput{}, rayfleet.Errorf(rayfleet.EINVALID,
			"resourceSpec.gpu, resourceSpec.gpuMachineNum, gpuSpec and instanceId are not supported: a rayfleet queue's limit is in CU, and GPU nodes count against it by their CPU and memory; leave them out")
	case in.Preheat:
		return service.QueueInput{}, rayfleet.Errorf(rayfleet.EINVALID, "preheat is not supported: rayfleet starts a cluster's nodes when the cluster starts and keeps none warm; leave it out or false")
	case in.WorkspaceID == "":
		return service.QueueInput{}, rayfleet.Errorf(rayfleet.EMISSING, "workspaceId is required")
	}
	out := service.QueueInput{
		WorkspaceID: in.WorkspaceID, Name: in.WorkspaceQueueName, CU: cu, Description: in.Description,
		Category: in.QueueCategory, PaymentType: in.PaymentType, ClientToken: in.ClientToken,
	}
	if in.Environments != nil {
		out.Environments = &in.Environments
	}
	return out, nil
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
