package authz

import "time"

// Request is what is being asked, in the terms policies are written in.
type Request struct {
	// Action is "<ram-code>:<OperationName>", e.g.
	// "emr-serverless-spark:GetRayCluster" or "ram:CreateUser".
	Action string
	// Resource is the ARN acted on (WorkspaceARN, ClusterARN), or "*" for an
	// operation that acts on no single resource (listing workspaces, for
	// one). "*" is matched literally: only a Resource pattern that matches
	// the string "*" (such as "*") covers it.
	Resource string

	// The request context that condition keys read. An empty string or a
	// zero time means the key is absent. Callers should always set Now
	// (acs:CurrentTime): this package never reads the clock.
	SourceIP        string    // acs:SourceIp: the client address (host, or host:port)
	SecureTransport bool      // acs:SecureTransport: the request came over TLS
	Now             time.Time // acs:CurrentTime
	UserAgent       string    // acs:UserAgent
	Referer         string    // acs:Referer
}

// Decision is the outcome of Evaluate and what a Forbidden.RAM error reports
// (AccessDeniedDetail.NoPermissionType is Effect when it is a denial).
type Decision struct {
	Allowed bool
	// Effect is EffectAllow, ExplicitDeny or ImplicitDeny.
	Effect string
	// Policy and PolicyType name the policy whose statement decided; both
	// are empty for an implicit denial.
	Policy     string
	PolicyType string
	// Statement is the index of the deciding statement in that policy's
	// document, or -1 for an implicit denial.
	Statement int
}

// Evaluate decides req against every policy the principal holds, as RAM
// does: an applicable Deny statement in any policy denies (ExplicitDeny, the
// first one in policy and statement order is reported); otherwise an
// applicable Allow allows (the first one is reported); otherwise the request
// is denied (ImplicitDeny). A statement applies when one of its Action
// patterns matches req.Action (or none of its NotAction patterns does), one
// of its Resource patterns matches req.Resource, and its Condition holds.
//
// A condition that cannot be decided (see Condition) makes an Allow
// statement not apply and a Deny statement apply, so missing information
// never grants access and never lifts a denial. A statement whose Effect is
// neither Allow nor Deny (possible only in a Document built in code) is
// ignored, and a request without an Action or a Resource is denied.
//
// Evaluate knows nothing of principals: the caller decides which policies
// apply and lets an account's root user through without asking.
func Evaluate(policies []Policy, req Request) Decision {
	denied := Decision{Effect: ImplicitDeny, Statement: -1}
	if req.Action == "" || req.Resource == "" {
		return denied
	}
	ctx := &reqContext{req: &req}
	var allow *Decision
	for _, p := range policies {
		for i, s := range p.Document.Statement {
			if s.Effect != EffectAllow && s.Effect != EffectDeny {
				continue
			}
			if s.Effect == EffectAllow && allow != nil {
				continue // an Allow is already found; only a Deny can change the answer
			}
			if !s.applies(&req, ctx) {
				continue
			}
			if s.Effect == EffectDeny {
				return Decision{Effect: ExplicitDeny, Policy: p.Name, PolicyType: p.Type, Statement: i}
			}
			allow = &Decision{Allowed: true, Effect: EffectAllow, Policy: p.Name, PolicyType: p.Type, Statement: i}
		}
	}
	if allow != nil {
		return *allow
	}
	return denied
}

func (s *Statement) applies(req *Request, ctx *reqContext) bool {
	if !s.coversAction(req.Action) || !s.coversResource(req.Resource) {
		return false
	}
	if len(s.Condition) == 0 {
		return true
	}
	switch s.Condition.holds(ctx) {
	case triTrue:
		return true
	case triUnknown:
		// Undecidable: keep access closed.
		return s.Effect == EffectDeny
	default:
		return false
	}
}

func (s *Statement) coversAction(action string) bool {
	if len(s.Action) == 0 && len(s.NotAction) == 0 {
		return false
	}
	if len(s.Action) > 0 && !anyMatch(s.Action, action, actionMatches) {
		return false
	}
	return !anyMatch(s.NotAction, action, actionMatches)
}

func (s *Statement) coversResource(arn string) bool {
	return anyMatch(s.Resource, arn, resourceMatches)
}

func anyMatch(patterns []string, s string, match func(pattern, s string) bool) bool {
	for _, p := range patterns {
		if match(p, s) {
			return true
		}
	}
	return false
}

// CanList answers, for each ARN, whether the principal may perform action on
// it; List handlers use it to drop the workspaces or clusters the caller may
// not see. It is Evaluate per item with req's context, so a Deny on one
// workspace hides that workspace, and an Allow on "*" shows them all. The
// result has one entry per ARN, in order.
func CanList(policies []Policy, action string, arns []string, req Request) []bool {
	out := make([]bool, len(arns))
	req.Action = action
	for i, arn := range arns {
		req.Resource = arn
		out[i] = Evaluate(policies, req).Allowed
	}
	return out
}

// MayDeny reports whether some Deny statement of policies covers action,
// whatever its resource and condition: when it is false, no item a list
// shows for action can be hidden by a Deny, and a List handler may skip
// evaluating them one by one.
func MayDeny(policies []Policy, action string) bool {
	for _, p := range policies {
		for i := range p.Document.Statement {
			s := &p.Document.Statement[i]
			if s.Effect == EffectDeny && s.coversAction(action) {
				return true
			}
		}
	}
	return false
}
