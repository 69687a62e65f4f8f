package httpapi

import (
	"fmt"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/api"
	"github.com/rayfleet/rayfleet/internal/service"
)

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
