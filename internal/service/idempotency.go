package service

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/rayfleet/rayfleet"
)

// Outcome is what a mutating call returns, and what a retry with the same
// client token gets back: the first call's request id and result.
type Outcome struct {
	RequestID   string `json:"requestId,omitempty"`
	ClusterID   string `json:"clusterId,omitempty"`
	WorkspaceID string `json:"workspaceId,omitempty"`
	ID          string `json:"id,omitempty"`
}

// errNoChange tells an update closure's caller that nothing needed writing.
var errNoChange = errors.New("no change")

type ctxKey int

const requestIDKey ctxKey = iota

// WithRequestID returns ctx carrying the id of the request being served.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey, id)
}

// RequestID returns the id of the request being served, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// idempotent runs fn once per (account, client token) within the idempotency
// window: a retry with the same token and parameters returns the first
// outcome without acting; the same token with other parameters is refused.
// Calls with one token are serialised, so a retry racing the first call
// waits for it. A failed call is not remembered: retrying it acts again.
func (s *Service) idempotent(ctx context.Context, p rayfleet.Principal, token, op string, params any, fn func() (Outcome, error)) (Outcome, error) {
	if token == "" {
		return fn()
	}
	if len(token) > 64 {
		return Outcome{}, rayfleet.Errorf(rayfleet.EINVALID, "clientToken must be at most 64 characters")
	}
	raw, err := json.Marshal(struct {
		Op     string
		Params any
	}{op, params})
	if err != nil {
		return Outcome{}, fmt.Errorf("hash parameters: %w", err)
	}
	sum := sha256.Sum256(raw)
	hash := hex.EncodeToString(sum[:])

	// Two calls with one token wait for each other, in this process and,
	// with a Locker, in every process sharing the store.
	unlock, err := s.lockIn(ctx, &s.tokenLocks, "token", p.AccountID+"/"+token)
	if err != nil {
		return Outcome{}, err
	}
	defer unlock()
	now := s.now()
	prev, found, err := s.Store.GetIdempotency(ctx, p.AccountID, token, now.Add(-rayfleet.IdempotencyWindow))
	if err != nil {
		return Outcome{}, fmt.Errorf("load client token: %w", err)
	}
	if found {
		if prev.ParamsHash != hash {
			return Outcome{}, rayfleet.Errorf(rayfleet.EIDEMPOTENT,
				"clientToken %q was already used with different parameters (by %s); use a new token for a new request", token, prev.Operation)
		}
		var out Outcome
		if err := json.Unmarshal(prev.Response, &out); err != nil {
			return Outcome{}, fmt.Errorf("decode remembered outcome: %w", err)
		}
		return out, nil
	}
	out, err := fn()
	if err != nil {
		return out, err
	}
	out.RequestID = RequestID(ctx)
	resp, err := json.Marshal(out)
	if err != nil {
		return out, fmt.Errorf("encode outcome: %w", err)
	}
	if _, _, err := s.Store.PutIdempotency(ctx, rayfleet.Idempotency{
		AccountID: p.AccountID, Token: token, Operation: op, ParamsHash: hash, Response: resp, CreateTime: now,
	}); err != nil {
		// The call took effect; failing it now would invite a retry that acts
		// twice. Log and answer.
		if s.Logger != nil {
			s.Logger.ErrorContext(ctx, "remember client token", "err", err)
		}
	}
	return out, nil
}
