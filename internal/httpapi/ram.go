package httpapi

import (
	"bytes"
	"cmp"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/api"
	"github.com/rayfleet/rayfleet/api/signer"
	"github.com/rayfleet/rayfleet/internal/service"
)

// The RAM admin API is RPC style: every call goes to the path "/", naming
// its operation in the x-acs-action header (ACS3 signing, as the official
// clients send it) or the Action parameter, and its version (2015-05-01) in
// x-acs-version or Version. Its parameters are query parameters or an
// application/x-www-form-urlencoded body. Besides the signatures in the
// Authorization header, RPC calls may carry the legacy RPC signature (the
// Signature parameter) of the classic SDKs and the aliyun CLI. The product's
// own API never uses "/", so they share one listener. STS (version
// 2015-04-01) is served the same way: GetSessionToken, rayfleet's own
// operation, issues temporary credentials to the caller.
func (h *Handler) ramRoutes() map[string]handlerFunc {
	// Each operation gets the call's parameters already parsed; one that
	// answers with nothing but the request id returns only its error.
	return map[string]handlerFunc{
		"CreateUser":           rpc(h.ramCreateUser),
		"GetUser":              rpc(h.ramGetUser),
		"ListUsers":            rpc(h.ramListUsers),
		"UpdateUser":           rpc(h.ramUpdateUser),
		"DeleteUser":           empty(h.ramDeleteUser),
		"CreateAccessKey":      rpc(h.ramCreateAccessKey),
		"ListAccessKeys":       rpc(h.ramListAccessKeys),
		"UpdateAccessKey":      empty(h.ramUpdateAccessKey),
		"DeleteAccessKey":      empty(h.ramDeleteAccessKey),
		"CreatePolicy":         rpc(h.ramCreatePolicy),
		"GetPolicy":            rpc(h.ramGetPolicy),
		"ListPolicies":         rpc(h.ramListPolicies),
		"DeletePolicy":         empty(h.ramDeletePolicy),
		"CreatePolicyVersion":  rpc(h.ramCreatePolicyVersion),
		"AttachPolicyToUser":   empty(h.ramAttachPolicyToUser),
		"DetachPolicyFromUser": empty(h.ramDetachPolicyFromUser),
		"ListPoliciesForUser":  rpc(h.ramListPoliciesForUser),
	}
}

// ram serves the RPC endpoint: it finds the operation and hands the request
// to wrap like any other, so it is signed, logged and measured the same way.
func (h *Handler) ram() http.Handler {
	ops := map[string]http.Handler{}
	for action, fn := range h.ramRoutes() {
		ops[api.RAMVersion+"/"+action] = h.wrap(action, fn)
	}
	ops[api.STSVersion+"/GetSessionToken"] = h.wrap("GetSessionToken", rpc(h.stsGetSessionToken))
	unknown := h.wrapUnknown()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		action, version := r.Header.Get("x-acs-action"), r.Header.Get("x-acs-version")
		if action == "" {
			action = q.Get("Action")
		}
		if version == "" {
			version = q.Get("Version")
		}
		if action == "" || version == "" {
			// A form body may carry them, as it may every parameter.
			form := peekForm(r)
			action, version = cmp.Or(action, form.Get("Action")), cmp.Or(version, form.Get("Version"))
		}
		op, ok := ops[version+"/"+action]
		if !ok || (r.Method != http.MethodGet && r.Method != http.MethodPost) {
			unknown.ServeHTTP(w, r)
			return
		}
		op.ServeHTTP(w, r)
	})
}

// isForm reports whether r's body is a form whose fields are parameters.
func isForm(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded")
}

// peekForm parses a form body without consuming it: the call is dispatched
// before wrap reads the body. A body that is too large or not a form yields
// no fields; wrap then refuses it as it refuses any other.
func peekForm(r *http.Request) url.Values {
	if !isForm(r) || r.Body == nil || r.ContentLength > MaxBodyBytes {
		return nil
	}
	read, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(read), r.Body), r.Body}
	if err != nil || len(read) > MaxBodyBytes {
		return nil
	}
	form, _ := url.ParseQuery(string(read))
	return form
}

// ramParams are an RPC call's parameters: the query, and a form body's
// fields where the query lacks them. The protocol's own parameters (Action,
// Version, the RPC signature's AccessKeyId, Signature, Timestamp...) are
// not the operation's and are left out.
type ramParams struct{ url.Values }

func params(r *request) (ramParams, error) {
	v := r.URL.Query()
	if len(r.body) > 0 && isForm(r.Request) {
		form, err := url.ParseQuery(string(r.body))
		if err != nil {
			return ramParams{}, rayfleet.Errorf(rayfleet.EINVALID, "the request body is not a valid form")
		}
		for k, vs := range form {
			if _, ok := v[k]; !ok {
				v[k] = vs
			}
		}
	}
	for k := range v {
		if signer.IsRPCProtocolParameter(k) {
			delete(v, k)
		}
	}
	return ramParams{v}, nil
}

// opt returns a parameter that may be absent (nil).
func (p ramParams) opt(name string) *string {
	if vs, ok := p.Values[name]; ok && len(vs) > 0 {
		return &vs[0]
	}
	return nil
}

func (p ramParams) int(name string) (int, error) { return intParam(p.Values, name) }

func (p ramParams) bool(name string) (bool, error) {
	switch v := p.Get(name); strings.ToLower(v) {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	default:
		return false, rayfleet.Errorf(rayfleet.EINVALID, "%s must be true or false, got %q", name, v)
	}
}

// rpcFunc is one RPC operation, given the caller and the call's parameters.
type rpcFunc func(ctx context.Context, p rayfleet.Principal, q ramParams) (any, error)

// rpc turns an operation into a handler: a malformed form body fails the
// call before the operation sees it.
func rpc(op rpcFunc) handlerFunc {
	return func(r *request) (any, error) {
		q, err := params(r)
		if err != nil {
			return nil, err
		}
		return op(r.Context(), r.p, q)
	}
}

// empty turns an operation whose answer is only the request id into a
// handler.
func empty(op func(ctx context.Context, p rayfleet.Principal, q ramParams) error) handlerFunc {
	return rpc(func(ctx context.Context, p rayfleet.Principal, q ramParams) (any, error) {
		if err := op(ctx, p, q); err != nil {
			return nil, err
		}
		return &api.CapitalRequestIDResponse{RequestID: service.RequestID(ctx)}, nil
	})
}

func (p ramParams) page() (service.Page, error) {
	n, err := p.int("MaxItems")
	return service.Page{Marker: p.Get("Marker"), MaxItems: n}, err
}

// ramDate is RAM's time format, e.g. 2015-01-23T12:33:18Z; "" for a time
// not known (the built-in system policies have none).
func ramDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05Z")
}
