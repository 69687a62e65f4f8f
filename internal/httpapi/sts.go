package httpapi

import (
	"context"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/api"
	"github.com/rayfleet/rayfleet/internal/service"
)

// stsGetSessionToken answers with STS's Credentials shape (as AssumeRole
// does): AccessKeyId "STS.…", AccessKeySecret, SecurityToken, Expiration.
func (h *Handler) stsGetSessionToken(ctx context.Context, p rayfleet.Principal, q ramParams) (any, error) {
	secs, err := q.int("DurationSeconds")
	if err != nil {
		return nil, err
	}
	s, err := h.Service.GetSessionToken(ctx, p, q.Get("Policy"), time.Duration(secs)*time.Second)
	if err != nil {
		return nil, err
	}
	return &api.GetSessionTokenResponse{
		RequestID: service.RequestID(ctx),
		Credentials: api.STSCredentials{
			AccessKeyID: s.AccessKeyID, AccessKeySecret: s.AccessKeySecret, SecurityToken: s.SecurityToken, Expiration: ramDate(s.Expiration),
		},
	}, nil
}
