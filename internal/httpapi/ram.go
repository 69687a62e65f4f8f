package httpapi

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/service"
)

// RAMVersion is the version of RAM's admin API this server speaks, and
// STSVersion the version of STS's.
const (
	RAMVersion = "2015-05-01"
	STSVersion = "2015-04-01"
)

// The RAM admin API is RPC style: every call goes to the path "/", naming
// its operation in the x-acs-action header (ACS3 signing, as the official
// clients send it) or the Action query parameter, and its version
// (2015-05-01) in x-acs-version or Version. Its parameters are query
// parameters or an application/x-www-form-urlencoded body. The product's
// own API never uses "/", so they share one listener. STS (version
// 2015-04-01) is served the same way: GetSessionToken, rayfleet's own
// operation, issues temporary credentials to the caller.
func (h *Handler) ramRoutes() map[string]handlerFunc {
	return map[string]handlerFunc{
		"CreateUser":           h.ramCreateUser,
		"GetUser":              h.ramGetUser,
		"ListUsers":            h.ramListUsers,
		"UpdateUser":           h.ramUpdateUser,
		"DeleteUser":           h.ramDeleteUser,
		"CreateAccessKey":      h.ramCreateAccessKey,
		"ListAccessKeys":       h.ramListAccessKeys,
		"UpdateAccessKey":      h.ramUpdateAccessKey,
		"DeleteAccessKey":      h.ramDeleteAccessKey,
		"CreatePolicy":         h.ramCreatePolicy,
		"GetPolicy":            h.ramGetPolicy,
		"ListPolicies":         h.ramListPolicies,
		"DeletePolicy":         h.ramDeletePolicy,
		"CreatePolicyVersion":  h.ramCreatePolicyVersion,
		"AttachPolicyToUser":   h.ramAttachPolicyToUser,
		"DetachPolicyFromUser": h.ramDetachPolicyFromUser,
		"ListPoliciesForUser":  h.ramListPoliciesForUser,
	}
}

// ram serves the RPC endpoint: it finds the operation and hands the request
// to wrap like any other, so it is signed, logged and measured the same way.
func (h *Handler) ram() http.Handler {
	ops := map[string]http.Handler{}
	for action, fn := range h.ramRoutes() {
		ops[RAMVersion+"/"+action] = h.wrap(action, fn)
	}
	ops[STSVersion+"/GetSessionToken"] = h.wrap("GetSessionToken", h.stsGetSessionToken)
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
		op, ok := ops[version+"/"+action]
		if !ok || (r.Method != http.MethodGet && r.Method != http.MethodPost) {
			unknown.ServeHTTP(w, r)
			return
		}
		op.ServeHTTP(w, r)
	})
}

// ramParams are an RPC call's parameters: the query, and a form body's
// fields where the query lacks them.
type ramParams struct{ url.Values }

func params(r *request) (ramParams, error) {
	v := r.URL.Query()
	if len(r.body) > 0 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
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

func (p ramParams) page() (service.Page, error) {
	n, err := p.int("MaxItems")
	return service.Page{Marker: p.Get("Marker"), MaxItems: n}, err
}

func (h *Handler) ramCreateUser(r *request) (any, error) {
	q, err := params(r)
	if err != nil {
		return nil, err
	}
	u, err := h.Service.CreateUser(r.Context(), r.p, service.UserInput{Name: q.Get("UserName"), DisplayName: q.Get("DisplayName"), Comments: q.Get("Comments")})
	if err != nil {
		return nil, err
	}
	return &ramUserResponse{RequestID: service.RequestID(r.Context()), User: ramUserOf(u, false)}, nil
}

func (h *Handler) ramGetUser(r *request) (any, error) {
	q, err := params(r)
	if err != nil {
		return nil, err
	}
	u, err := h.Service.GetUser(r.Context(), r.p, q.Get("UserName"))
	if err != nil {
		return nil, err
	}
	return &ramUserResponse{RequestID: service.RequestID(r.Context()), User: ramUserOf(u, true)}, nil
}

func (h *Handler) ramListUsers(r *request) (any, error) {
	q, err := params(r)
	if err != nil {
		return nil, err
	}
	pg, err := q.page()
	if err != nil {
		return nil, err
	}
	us, next, err := h.Service.ListUsers(r.Context(), r.p, pg)
	if err != nil {
		return nil, err
	}
	resp := &ramListUsersResponse{RequestID: service.RequestID(r.Context()), IsTruncated: next != "", Marker: next}
	resp.Users.User = make([]ramUser, len(us))
	for i, u := range us {
		resp.Users.User[i] = ramUserOf(u, true)
	}
	return resp, nil
}

func (h *Handler) ramUpdateUser(r *request) (any, error) {
	q, err := params(r)
	if err != nil {
		return nil, err
	}
	u, err := h.Service.UpdateUser(r.Context(), r.p, service.UpdateUserInput{
		Name: q.Get("UserName"), NewName: q.opt("NewUserName"), NewDisplayName: q.opt("NewDisplayName"), NewComments: q.opt("NewComments"),
	})
	if err != nil {
		return nil, err
	}
	return &ramUserResponse{RequestID: service.RequestID(r.Context()), User: ramUserOf(u, true)}, nil
}

func (h *Handler) ramDeleteUser(r *request) (any, error) {
	q, err := params(r)
	if err != nil {
		return nil, err
	}
	if err := h.Service.DeleteUser(r.Context(), r.p, q.Get("UserName")); err != nil {
		return nil, err
	}
	return &ramEmptyResponse{RequestID: service.RequestID(r.Context())}, nil
}

func (h *Handler) ramCreateAccessKey(r *request) (any, error) {
	q, err := params(r)
	if err != nil {
		return nil, err
	}
	k, secret, err := h.Service.CreateAccessKey(r.Context(), r.p, q.Get("UserName"))
	if err != nil {
		return nil, err
	}
	resp := &ramCreateAccessKeyResponse{RequestID: service.RequestID(r.Context())}
	resp.AccessKey = ramAccessKey{AccessKeyID: k.ID, AccessKeySecret: secret, Status: k.Status, CreateDate: ramDate(k.CreateTime)}
	return resp, nil
}

func (h *Handler) ramListAccessKeys(r *request) (any, error) {
	q, err := params(r)
	if err != nil {
		return nil, err
	}
	keys, err := h.Service.ListAccessKeys(r.Context(), r.p, q.Get("UserName"))
	if err != nil {
		return nil, err
	}
	resp := &ramListAccessKeysResponse{RequestID: service.RequestID(r.Context())}
	resp.AccessKeys.AccessKey = make([]ramAccessKey, len(keys))
	for i, k := range keys {
		resp.AccessKeys.AccessKey[i] = ramAccessKey{AccessKeyID: k.ID, Status: k.Status, CreateDate: ramDate(k.CreateTime)}
	}
	return resp, nil
}

func (h *Handler) ramUpdateAccessKey(r *request) (any, error) {
	q, err := params(r)
	if err != nil {
		return nil, err
	}
	if err := h.Service.UpdateAccessKey(r.Context(), r.p, q.Get("UserName"), q.Get("UserAccessKeyId"), q.Get("Status")); err != nil {
		return nil, err
	}
	return &ramEmptyResponse{RequestID: service.RequestID(r.Context())}, nil
}

func (h *Handler) ramDeleteAccessKey(r *request) (any, error) {
	q, err := params(r)
	if err != nil {
		return nil, err
	}
	if err := h.Service.DeleteAccessKey(r.Context(), r.p, q.Get("UserName"), q.Get("UserAccessKeyId")); err != nil {
		return nil, err
	}
	return &ramEmptyResponse{RequestID: service.RequestID(r.Context())}, nil
}

func (h *Handler) ramCreatePolicy(r *request) (any, error) {
	q, err := params(r)
	if err != nil {
		return nil, err
	}
	p, err := h.Service.CreatePolicy(r.Context(), r.p, q.Get("PolicyName"), q.Get("PolicyDocument"), q.Get("Description"))
	if err != nil {
		return nil, err
	}
	pol := ramPolicyOf(p)
	pol.UpdateDate, pol.AttachmentCount = "", nil
	return &ramPolicyResponse{RequestID: service.RequestID(r.Context()), Policy: pol}, nil
}

func (h *Handler) ramGetPolicy(r *request) (any, error) {
	q, err := params(r)
	if err != nil {
		return nil, err
	}
	p, v, err := h.Service.GetPolicy(r.Context(), r.p, q.Get("PolicyName"), q.Get("PolicyType"))
	if err != nil {
		return nil, err
	}
	return &ramGetPolicyResponse{
		RequestID: service.RequestID(r.Context()), Policy: ramPolicyOf(p),
		DefaultPolicyVersion: ramPolicyVersion{VersionID: v.VersionID, IsDefaultVersion: true, PolicyDocument: v.Document, CreateDate: ramDate(v.CreateTime)},
	}, nil
}

func (h *Handler) ramListPolicies(r *request) (any, error) {
	q, err := params(r)
	if err != nil {
		return nil, err
	}
	pg, err := q.page()
	if err != nil {
		return nil, err
	}
	ps, next, err := h.Service.ListPolicies(r.Context(), r.p, q.Get("PolicyType"), pg)
	if err != nil {
		return nil, err
	}
	resp := &ramListPoliciesResponse{RequestID: service.RequestID(r.Context()), IsTruncated: next != "", Marker: next}
	resp.Policies.Policy = make([]ramPolicy, len(ps))
	for i, p := range ps {
		resp.Policies.Policy[i] = ramPolicyOf(p)
	}
	return resp, nil
}

func (h *Handler) ramDeletePolicy(r *request) (any, error) {
	q, err := params(r)
	if err != nil {
		return nil, err
	}
	if err := h.Service.DeletePolicy(r.Context(), r.p, q.Get("PolicyName")); err != nil {
		return nil, err
	}
	return &ramEmptyResponse{RequestID: service.RequestID(r.Context())}, nil
}

func (h *Handler) ramCreatePolicyVersion(r *request) (any, error) {
	q, err := params(r)
	if err != nil {
		return nil, err
	}
	setDefault, err := q.bool("SetAsDefault")
	if err != nil {
		return nil, err
	}
	v, err := h.Service.CreatePolicyVersion(r.Context(), r.p, q.Get("PolicyName"), q.Get("PolicyDocument"), setDefault, q.Get("RotateStrategy"))
	if err != nil {
		return nil, err
	}
	return &ramPolicyVersionResponse{
		RequestID:     service.RequestID(r.Context()),
		PolicyVersion: ramPolicyVersion{VersionID: v.VersionID, IsDefaultVersion: setDefault, PolicyDocument: v.Document, CreateDate: ramDate(v.CreateTime)},
	}, nil
}

func (h *Handler) ramAttachPolicyToUser(r *request) (any, error) {
	q, err := params(r)
	if err != nil {
		return nil, err
	}
	if err := h.Service.AttachPolicyToUser(r.Context(), r.p, q.Get("PolicyType"), q.Get("PolicyName"), q.Get("UserName")); err != nil {
		return nil, err
	}
	return &ramEmptyResponse{RequestID: service.RequestID(r.Context())}, nil
}

func (h *Handler) ramDetachPolicyFromUser(r *request) (any, error) {
	q, err := params(r)
	if err != nil {
		return nil, err
	}
	if err := h.Service.DetachPolicyFromUser(r.Context(), r.p, q.Get("PolicyType"), q.Get("PolicyName"), q.Get("UserName")); err != nil {
		return nil, err
	}
	return &ramEmptyResponse{RequestID: service.RequestID(r.Context())}, nil
}

func (h *Handler) ramListPoliciesForUser(r *request) (any, error) {
	q, err := params(r)
	if err != nil {
		return nil, err
	}
	as, err := h.Service.ListPoliciesForUser(r.Context(), r.p, q.Get("UserName"))
	if err != nil {
		return nil, err
	}
	resp := &ramListPoliciesResponse{RequestID: service.RequestID(r.Context())}
	resp.Policies.Policy = make([]ramPolicy, len(as))
	for i, a := range as {
		resp.Policies.Policy[i] = ramPolicy{
			PolicyName: a.PolicyName, PolicyType: a.PolicyType, Description: a.Description,
			DefaultVersion: a.DefaultVersion, AttachDate: ramDate(a.AttachTime),
		}
	}
	return resp, nil
}
