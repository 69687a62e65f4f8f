package httpapi

import (
	"github.com/rayfleet/rayfleet/api"
	"github.com/rayfleet/rayfleet/internal/service"
)

func (h *Handler) listNetworkServices(r *request) (any, error) {
	nss, err := h.Service.ListNetworkServices(r.Context(), r.p, r.PathValue("workspaceId"))
	if err != nil {
		return nil, err
	}
	resp := &api.ListNetworkServicesResponse{
		RequestID: service.RequestID(r.Context()), NetworkServices: make([]api.NetworkService, len(nss)),
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
	// The SDK's model has the same list twice, the second deprecated:
	// a client reading either finds the network services.
	resp.Queues = resp.NetworkServices
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
