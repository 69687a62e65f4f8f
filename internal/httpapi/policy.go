package httpapi

import (
	"context"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/api"
	"github.com/rayfleet/rayfleet/internal/service"
)

func (h *Handler) ramCreatePolicy(ctx context.Context, p rayfleet.Principal, q ramParams) (any, error) {
	info, err := h.Service.CreatePolicy(ctx, p, q.Get("PolicyName"), q.Get("PolicyDocument"), q.Get("Description"))
	if err != nil {
		return nil, err
	}
	pol := ramPolicyOf(info)
	pol.UpdateDate, pol.AttachmentCount = "", nil
	return &api.PolicyResponse{RequestID: service.RequestID(ctx), Policy: pol}, nil
}

func (h *Handler) ramGetPolicy(ctx context.Context, p rayfleet.Principal, q ramParams) (any, error) {
	info, v, err := h.Service.GetPolicy(ctx, p, q.Get("PolicyName"), q.Get("PolicyType"))
	if err != nil {
		return nil, err
	}
	return &api.GetPolicyResponse{
		RequestID: service.RequestID(ctx), Policy: ramPolicyOf(info),
		DefaultPolicyVersion: api.RAMPolicyVersion{VersionID: v.VersionID, IsDefaultVersion: true, PolicyDocument: v.Document, CreateDate: ramDate(v.CreateTime)},
	}, nil
}

func (h *Handler) ramListPolicies(ctx context.Context, p rayfleet.Principal, q ramParams) (any, error) {
	pg, err := q.page()
	if err != nil {
		return nil, err
	}
	ps, next, err := h.Service.ListPolicies(ctx, p, q.Get("PolicyType"), pg)
	if err != nil {
		return nil, err
	}
	resp := &api.ListPoliciesResponse{RequestID: service.RequestID(ctx), IsTruncated: next != "", Marker: next}
	resp.Policies.Policy = make([]api.RAMPolicy, len(ps))
	for i, info := range ps {
		resp.Policies.Policy[i] = ramPolicyOf(info)
	}
	return resp, nil
}

func (h *Handler) ramDeletePolicy(ctx context.Context, p rayfleet.Principal, q ramParams) error {
	return h.Service.DeletePolicy(ctx, p, q.Get("PolicyName"))
}

func (h *Handler) ramCreatePolicyVersion(ctx context.Context, p rayfleet.Principal, q ramParams) (any, error) {
	setDefault, err := q.bool("SetAsDefault")
	if err != nil {
		return nil, err
	}
	v, err := h.Service.CreatePolicyVersion(ctx, p, q.Get("PolicyName"), q.Get("PolicyDocument"), setDefault, q.Get("RotateStrategy"))
	if err != nil {
		return nil, err
	}
	return &api.PolicyVersionResponse{
		RequestID:     service.RequestID(ctx),
		PolicyVersion: api.RAMPolicyVersion{VersionID: v.VersionID, IsDefaultVersion: setDefault, PolicyDocument: v.Document, CreateDate: ramDate(v.CreateTime)},
	}, nil
}

func (h *Handler) ramAttachPolicyToUser(ctx context.Context, p rayfleet.Principal, q ramParams) error {
	return h.Service.AttachPolicyToUser(ctx, p, q.Get("PolicyType"), q.Get("PolicyName"), q.Get("UserName"))
}

func (h *Handler) ramDetachPolicyFromUser(ctx context.Context, p rayfleet.Principal, q ramParams) error {
	return h.Service.DetachPolicyFromUser(ctx, p, q.Get("PolicyType"), q.Get("PolicyName"), q.Get("UserName"))
}

func (h *Handler) ramListPoliciesForUser(ctx context.Context, p rayfleet.Principal, q ramParams) (any, error) {
	as, err := h.Service.ListPoliciesForUser(ctx, p, q.Get("UserName"))
	if err != nil {
		return nil, err
	}
	resp := &api.ListPoliciesResponse{RequestID: service.RequestID(ctx)}
	resp.Policies.Policy = make([]api.RAMPolicy, len(as))
	for i, a := range as {
		resp.Policies.Policy[i] = api.RAMPolicy{
			PolicyName: a.PolicyName, PolicyType: a.PolicyType, Description: a.Description,
			DefaultVersion: a.DefaultVersion, AttachDate: ramDate(a.AttachTime),
		}
	}
	return resp, nil
}

func ramPolicyOf(p service.PolicyInfo) api.RAMPolicy {
	n := p.AttachmentCount
	return api.RAMPolicy{
		PolicyName: p.Name, PolicyType: p.Type, Description: p.Description, DefaultVersion: p.DefaultVersion,
		CreateDate: ramDate(p.CreateTime), UpdateDate: ramDate(p.UpdateTime), AttachmentCount: &n,
	}
}
