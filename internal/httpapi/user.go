package httpapi

import (
	"context"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/api"
	"github.com/rayfleet/rayfleet/internal/service"
)

func (h *Handler) ramCreateUser(ctx context.Context, p rayfleet.Principal, q ramParams) (any, error) {
	u, err := h.Service.CreateUser(ctx, p, service.UserInput{Name: q.Get("UserName"), DisplayName: q.Get("DisplayName"), Comments: q.Get("Comments")})
	if err != nil {
		return nil, err
	}
	return &api.UserResponse{RequestID: service.RequestID(ctx), User: ramUserOf(u, false)}, nil
}

func (h *Handler) ramGetUser(ctx context.Context, p rayfleet.Principal, q ramParams) (any, error) {
	u, err := h.Service.GetUser(ctx, p, q.Get("UserName"))
	if err != nil {
		return nil, err
	}
	return &api.UserResponse{RequestID: service.RequestID(ctx), User: ramUserOf(u, true)}, nil
}

func (h *Handler) ramListUsers(ctx context.Context, p rayfleet.Principal, q ramParams) (any, error) {
	pg, err := q.page()
	if err != nil {
		return nil, err
	}
	us, next, err := h.Service.ListUsers(ctx, p, pg)
	if err != nil {
		return nil, err
	}
	resp := &api.ListUsersResponse{RequestID: service.RequestID(ctx), IsTruncated: next != "", Marker: next}
	resp.Users.User = make([]api.RAMUser, len(us))
	for i, u := range us {
		resp.Users.User[i] = ramUserOf(u, true)
	}
	return resp, nil
}

func (h *Handler) ramUpdateUser(ctx context.Context, p rayfleet.Principal, q ramParams) (any, error) {
	u, err := h.Service.UpdateUser(ctx, p, service.UpdateUserInput{
		Name: q.Get("UserName"), NewName: q.opt("NewUserName"), NewDisplayName: q.opt("NewDisplayName"), NewComments: q.opt("NewComments"),
	})
	if err != nil {
		return nil, err
	}
	return &api.UserResponse{RequestID: service.RequestID(ctx), User: ramUserOf(u, true)}, nil
}

func (h *Handler) ramDeleteUser(ctx context.Context, p rayfleet.Principal, q ramParams) error {
	return h.Service.DeleteUser(ctx, p, q.Get("UserName"))
}

func ramUserOf(u rayfleet.User, withUpdate bool) api.RAMUser {
	out := api.RAMUser{UserID: u.UID, UserName: u.Name, DisplayName: u.Nickname, Comments: u.Comments, CreateDate: ramDate(u.CreateTime)}
	if withUpdate {
		out.UpdateDate = ramDate(u.UpdateTime)
	}
	return out
}
