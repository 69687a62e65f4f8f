package service

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/authz"
	"github.com/rayfleet/rayfleet/internal/store"
)

// DeniedError is a Forbidden.RAM refusal with what was refused, for the
// AccessDeniedDetail of the error body.
type DeniedError struct {
	err *rayfleet.Error
	// Action and Resource are what was asked ("emr-serverless-spark:GetRayCluster",
	// an ARN or "*").
	Action   string
	Resource string
	// NoPermissionType is authz.ImplicitDeny or authz.ExplicitDeny.
	NoPermissionType string
	// AccountID and UserUID are the caller's.
	AccountID string
	UserUID   string
}

func (e *DeniedError) Error() string { return e.err.Error() }
func (e *DeniedError) Unwrap() error { return e.err }

func denied(p rayfleet.Principal, action, resource, effect string) error {
	return &DeniedError{
		err: rayfleet.Errorf(rayfleet.EFORBIDDEN, "You are not authorized to perform %s on %s. Ask the account's administrator for a RAM policy that allows it.",
			action, resource),
		Action: action, Resource: resource, NoPermissionType: effect, AccountID: p.AccountID, UserUID: p.UserUID,
	}
}

// wsARN, clusterARN and jobARN name the caller's resources in RAM policies.
func (s *Service) wsARN(p rayfleet.Principal, wsID string) string {
	return authz.WorkspaceARN(s.RegionID, p.AccountID, wsID)
}

func (s *Service) clusterARN(p rayfleet.Principal, wsID, id string) string {
	return authz.ClusterARN(s.RegionID, p.AccountID, wsID, id)
}

func (s *Service) jobARN(p rayfleet.Principal, wsID, id string) string {
	return authz.JobARN(s.RegionID, p.AccountID, wsID, id)
}

// authorize decides whether p may call operation (an operation of the
// product, e.g. "GetRayCluster") on resource (an ARN, or "*" for the account
// as a whole). The account's root user may do everything in its account;
// anyone else needs a policy that allows it and none that denies it.
func (s *Service) authorize(ctx context.Context, p rayfleet.Principal, operation, resource string) error {
	if p.Root && p.SessionPolicy == "" && p.AccountID != "" {
		// The common case, reads on the hot path among them: nothing to
		// evaluate, and the action name is built only for an audit event.
		if t, ok := ctx.Value(auditKey).(*auditTrail); ok {
			t.action, t.resource = authz.ActionName(operation), resource
		}
		return nil
	}
	return s.authorizeAction(ctx, p, authz.ActionName(operation), resource)
}

// authorizeAction is authorize with a full action name ("ram:CreateUser").
func (s *Service) authorizeAction(ctx context.Context, p rayfleet.Principal, action, resource string) error {
	noteAudit(ctx, action, resource)
	if p.AccountID == "" {
		return denied(p, action, resource, authz.ImplicitDeny)
	}
	req := s.authzRequest(p, action, resource)
	if p.SessionPolicy != "" {
		sp, err := sessionPolicy(p)
		if err != nil {
			return err
		}
		if d := authz.Evaluate(sp, req); !d.Allowed {
			return denied(p, action, resource, d.Effect)
		}
	}
	if p.Root {
		return nil
	}
	pols, err := s.userPolicies(ctx, p)
	if err != nil {
		return err
	}
	d := authz.Evaluate(pols, req)
	if !d.Allowed {
		return denied(p, action, resource, d.Effect)
	}
	return nil
}

// sessionPolicy is the policy temporary credentials were narrowed with.
func sessionPolicy(p rayfleet.Principal) ([]authz.Policy, error) {
	doc, err := authz.Parse([]byte(p.SessionPolicy))
	if err != nil {
		return nil, fmt.Errorf("session policy: %w", err)
	}
	return []authz.Policy{{Name: "session", Type: authz.TypeCustom, Document: doc, DefaultVersion: "v1"}}, nil
}

func (s *Service) authzRequest(p rayfleet.Principal, action, resource string) authz.Request {
	return authz.Request{
		Action: action, Resource: resource,
		SourceIP: p.SourceIP, SecureTransport: p.SecureTransport, Now: s.Now(),
	}
}

// hider returns, for a list of operation's items, a function that tells
// whether the caller may not see the item of an ARN, or nil when it can hide
// nothing. A list is authorized on what holds the items (the workspace of
// the clusters, the account for workspaces); an item is hidden when a policy
// explicitly denies the operation on the item itself. Root users and users
// without a Deny for the operation see every item, without an evaluation per
// item.
func (s *Service) hider(ctx context.Context, p rayfleet.Principal, operation string) (func(arn string) bool, error) {
	if p.Root && p.SessionPolicy == "" {
		return nil, nil // the hot path: the root user sees everything
	}
	var pols []authz.Policy
	if p.SessionPolicy != "" {
		sp, err := sessionPolicy(p)
		if err != nil {
			return nil, err
		}
		pols = append(pols, sp...)
	}
	if !p.Root {
		up, err := s.userPolicies(ctx, p)
		if err != nil {
			return nil, err
		}
		pols = append(pols, up...)
	}
	action := authz.ActionName(operation)
	if !authz.MayDeny(pols, action) {
		return nil, nil
	}
	req := s.authzRequest(p, action, "")
	return func(arn string) bool {
		req.Resource = arn
		return authz.Evaluate(pols, req).Effect == authz.ExplicitDeny
	}, nil
}

// listVisibleClusters is Store.ListClusters without the clusters the caller
// may not see.
func (s *Service) listVisibleClusters(ctx context.Context, p rayfleet.Principal, f store.ClusterFilter) ([]rayfleet.Cluster, int, error) {
	return listVisible(ctx, s, p, "ListRayCluster", f.Offset, f.Limit,
		func(offset, limit int) ([]rayfleet.Cluster, int, error) {
			f.Offset, f.Limit = offset, limit
			return s.Store.ListClusters(ctx, f)
		},
		func(c rayfleet.Cluster) string { return s.clusterARN(p, c.WorkspaceID, c.ID) })
}

// listVisibleWorkspaces is Store.ListWorkspaces without the workspaces the
// caller may not see.
func (s *Service) listVisibleWorkspaces(ctx context.Context, p rayfleet.Principal, f store.WorkspaceFilter) ([]rayfleet.Workspace, int, error) {
	return listVisible(ctx, s, p, "ListWorkspaces", f.Offset, f.Limit,
		func(offset, limit int) ([]rayfleet.Workspace, int, error) {
			f.Offset, f.Limit = offset, limit
			return s.Store.ListWorkspaces(ctx, f)
		},
		func(w rayfleet.Workspace) string { return s.wsARN(p, w.ID) })
}

// listVisible is the page (offset, limit) list returns without the items
// the caller may not see (hider), arn naming each. When some may be hidden
// it reads every match and pages after dropping them, so totals and pages
// count only what the caller sees.
func listVisible[T any](ctx context.Context, s *Service, p rayfleet.Principal, operation string, offset, limit int,
	list func(offset, limit int) ([]T, int, error), arn func(T) string,
) ([]T, int, error) {
	hide, err := s.hider(ctx, p, operation)
	if err != nil {
		return nil, 0, err
	}
	if hide == nil {
		return list(offset, limit)
	}
	// The page is cut here, from every item: the store must return them
	// all, whole.
	all, _, err := list(0, 0)
	if err != nil {
		return nil, 0, err
	}
	shown := all[:0]
	for _, x := range all {
		if !hide(arn(x)) {
			shown = append(shown, x)
		}
	}
	return page(shown, offset, limit), len(shown), nil
}

func page[T any](items []T, offset, limit int) []T {
	if offset >= len(items) {
		return nil
	}
	items = items[offset:]
	if limit > 0 && limit < len(items) {
		items = items[:limit]
	}
	return items
}

// policyCacheTTL is how long the policies of a user are trusted once read,
// as access keys are (authCacheTTL). A change made through this server
// clears them at once; one made through another replica of the same
// database shows here within this time.
const policyCacheTTL = 2 * time.Second

type policyCache struct {
	mu sync.Mutex
	m  map[string]policyEntry
	// gen counts clears: policies read before one are not remembered.
	gen uint64
}

type policyEntry struct {
	pols    []authz.Policy
	expires time.Time
}

func (c *policyCache) get(key string, now time.Time) ([]authz.Policy, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || !now.Before(e.expires) {
		return nil, false
	}
	return e.pols, true
}

func (c *policyCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

func (c *policyCache) put(gen uint64, key string, pols []authz.Policy, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if c.m == nil || len(c.m) >= authCacheMax {
		c.m = map[string]policyEntry{}
	}
	c.m[key] = policyEntry{pols: pols, expires: expires}
}

// clear forgets every user's policies: after any change of policies or
// attachments, which are rare next to the requests they decide.
func (c *policyCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m = nil
	c.gen++
}

// userPolicies returns the policies attached to the caller, parsed.
func (s *Service) userPolicies(ctx context.Context, p rayfleet.Principal) ([]authz.Policy, error) {
	key := p.AccountID + "/" + p.UserUID
	now := s.Now()
	if pols, ok := s.policies.get(key, now); ok {
		return pols, nil
	}
	gen := s.policies.generation()
	pols, err := s.readPolicies(ctx, p)
	if err != nil {
		return nil, err
	}
	s.policies.put(gen, key, pols, now.Add(policyCacheTTL))
	return pols, nil
}

// readPolicies reads the policies attached to p's user from the store.
func (s *Service) readPolicies(ctx context.Context, p rayfleet.Principal) ([]authz.Policy, error) {
	as, err := s.Store.ListAttachments(ctx, store.AttachmentFilter{AccountID: p.AccountID, UserUID: p.UserUID})
	if err != nil {
		return nil, fmt.Errorf("load policies: %w", err)
	}
	pols := make([]authz.Policy, 0, len(as))
	for _, a := range as {
		switch a.PolicyType {
		case rayfleet.PolicySystem:
			sp, ok := authz.SystemPolicy(a.PolicyName)
			if !ok {
				return nil, fmt.Errorf("user %s holds unknown system policy %s", p.UserUID, a.PolicyName)
			}
			pols = append(pols, sp)
		default:
			doc, err := authz.Parse([]byte(a.Document))
			if err != nil {
				return nil, fmt.Errorf("policy %s %s: %w", a.PolicyName, a.DefaultVersion, err)
			}
			pols = append(pols, authz.Policy{Name: a.PolicyName, Type: authz.TypeCustom, Description: a.Description, Document: doc, DefaultVersion: a.DefaultVersion})
		}
	}
	return pols, nil
}
