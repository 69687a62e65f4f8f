package httpapi

import (
	"context"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/api"
	"github.com/rayfleet/rayfleet/internal/service"
)

func (h *Handler) ramCreateAccessKey(ctx context.Context, p rayfleet.Principal, q ramParams) (any, error) {
	k, secret, err := h.Service.CreateAccessKey(ctx, p, q.Get("UserName"))
	if err != nil {
		return nil, err
	}
	resp := &api.CreateAccessKeyResponse{RequestID: service.RequestID(ctx)}
	resp.AccessKey = api.RAMAccessKey{AccessKeyID: k.ID, AccessKeySecret: secret, Status: k.Status, CreateDate: ramDate(k.CreateTime)}
	return resp, nil
}

func (h *Handler) ramListAccessKeys(ctx context.Context, p rayfleet.Principal, q ramParams) (any, error) {
	keys, err := h.Service.ListAccessKeys(ctx, p, q.Get("UserName"))
	if err != nil {
		return nil, err
	}
	resp := &api.ListAccessKeysResponse{RequestID: service.RequestID(ctx)}
	resp.AccessKeys.AccessKey = make([]api.RAMAccessKey, len(keys))
	for i, k := range keys {
		resp.AccessKeys.AccessKey[i] = api.RAMAccessKey{AccessKeyID: k.ID, Status: k.Status, CreateDate: ramDate(k.CreateTime)}
	}
	return resp, nil
}

func (h *Handler) ramUpdateAccessKey(ctx context.Context, p rayfleet.Principal, q ramParams) error {
	return h.Service.UpdateAccessKey(ctx, p, q.Get("UserName"), q.Get("UserAccessKeyId"), q.Get("Status"))
}

func (h *Handler) ramDeleteAccessKey(ctx context.Context, p rayfleet.Principal, q ramParams) error {
	return h.Service.DeleteAccessKey(ctx, p, q.Get("UserName"), q.Get("UserAccessKeyId"))
}
