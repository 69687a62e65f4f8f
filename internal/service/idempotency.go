package service

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/store"
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

// guard returns ctx carrying the client token of the call, if it has one,
// with o as the outcome to remember: the store writes the two together
// with the write made with that context (store.WithClientToken). A call
// passes it, right before its one write, what it will answer.
type guard func(ctx context.Context, o Outcome) context.Context

// noGuard is the guard of a call without a client token.
func noGuard(ctx context.Context, _ Outcome) context.Context { return ctx }

// idempotent runs fn once per (account, client token) within the idempotency
// window: a retry with the same token and parameters returns the first
// outcome without acting; the same token with other parameters is refused.
// The token is recorded in the transaction of fn's write (fn calls the
// guard it is given to make that write's context), so a crash can never
// leave the write without it and let a retry act twice. Calls with one
// token are serialised, so a retry racing the first call waits for it. A
// failed call is not remembered: retrying it acts again.
func (s *Service) idempotent(ctx context.Context, p rayfleet.Principal, token, op string, params any, fn func(guard) (Outcome, error)) (Outcome, error) {
	if token == "" {
		return fn(noGuard)
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
	since := now.Add(-rayfleet.IdempotencyWindow)
	remembered := func() (Outcome, bool, error) {
		prev, found, err := s.Store.GetIdempotency(ctx, p.AccountID, token, since)
		if err != nil || !found {
			return Outcome{}, false, err
		}
		if prev.ParamsHash != hash {
			return Outcome{}, true, rayfleet.Errorf(rayfleet.EIDEMPOTENT,
				"clientToken %q was already used with different parameters (by %s); use a new token for a new request", token, prev.Operation)
		}
		var out Outcome
		if err := json.Unmarshal(prev.Response, &out); err != nil {
			return Outcome{}, true, fmt.Errorf("decode remembered outcome: %w", err)
		}
		return out, true, nil
	}
	if out, found, err := remembered(); err != nil || found {
		if err != nil && !found {
			err = fmt.Errorf("load client token: %w", err)
		}
		return out, err
	}
	rec := rayfleet.Idempotency{AccountID: p.AccountID, Token: token, Operation: op, ParamsHash: hash, CreateTime: now}
	var tok *store.ClientToken
	var encodeErr error
	out, err := fn(func(ctx context.Context, o Outcome) context.Context {
		o.RequestID = RequestID(ctx)
		rec.Response, encodeErr = json.Marshal(o)
		tok = &store.ClientToken{Record: rec, Since: since}
		return store.WithClientToken(ctx, tok)
	})
	if encodeErr != nil {
		return Outcome{}, fmt.Errorf("encode outcome: %w", encodeErr)
	}
	if errors.Is(err, store.ErrTokenUsed) {
		// Another process recorded the token since the read above: its
		// call acted, this one did not.
		out, found, err := remembered()
		if err == nil && !found {
			err = fmt.Errorf("client token %q: recorded and gone", token)
		}
		return out, err
	}
	if err != nil {
		return out, err
	}
	out.RequestID = RequestID(ctx)
	if tok != nil && tok.Stored() {
		return out, nil
	}
	// fn wrote nothing (the call had nothing to do): remember its answer
	// all the same.
	resp, err := json.Marshal(out)
	if err != nil {
		return out, fmt.Errorf("encode outcome: %w", err)
	}
	rec.Response = resp
	if _, _, err := s.Store.PutIdempotency(ctx, rec); err != nil {
		// Nothing was done, so a retry that finds no record acts no
		// more than this call did. Log and answer.
		if s.Logger != nil {
			s.Logger.ErrorContext(ctx, "remember client token", "err", err)
		}
	}
	return out, nil
}
