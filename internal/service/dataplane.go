package service

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/authz"
	"github.com/rayfleet/rayfleet/internal/store"
)

// The data-plane operations: rayfleet's own RAM actions for the three doors
// of the gateway, authorized on the cluster's ARN as GetRayCluster is.
// AliyunEMRServerlessSparkFullAccess (emr-serverless-spark:*) allows them;
// AliyunEmrServerlessSparkReadOnlyAccess (Get*, List*, Query*, Is*,
// Check*) does not.
const (
	// AccessRayDashboard opens the dashboard (dashboardUrl).
	AccessRayDashboard = "AccessRayDashboard"
	// UseRayJobAPI opens the job API (jobUrl with submitToken), and the
	// job API's writes through the dashboard's path too.
	UseRayJobAPI = "UseRayJobAPI"
	// ConnectRayClient opens the Ray client endpoint (grpcEndpoint with
	// submitToken).
	ConnectRayClient = "ConnectRayClient"
)

// DefaultDataPlaneTokenTTL is how long a data-plane credential lasts unless
// the server says otherwise.
const DefaultDataPlaneTokenTTL = 24 * time.Hour

func (s *Service) dataPlaneTTL() time.Duration {
	if s.DataPlaneTokenTTL > 0 {
		return s.DataPlaneTokenTTL
	}
	return DefaultDataPlaneTokenTTL
}

// doors is which data-plane operations a caller may use on a cluster.
type doors struct{ dashboard, jobs, client bool }

func (d doors) any() bool { return d.dashboard || d.jobs || d.client }

// permits decides req over policies already loaded, as authorizeAction
// does: sp are the session's (nil without one), up the user's (unused for
// the root user).
func permits(sp, up []authz.Policy, root bool, req authz.Request) authz.Decision {
	if sp != nil {
		if d := authz.Evaluate(sp, req); !d.Allowed {
			return d
		}
	}
	if root {
		return authz.Decision{Allowed: true, Effect: authz.EffectAllow, Statement: -1}
	}
	return authz.Evaluate(up, req)
}

// principalPolicies returns what permits decides p's requests with: the
// session's policy (nil without one) and, unless p is the root user, its
// user's policies as load reads them.
func (s *Service) principalPolicies(ctx context.Context, p rayfleet.Principal, load func(context.Context, rayfleet.Principal) ([]authz.Policy, error)) (sp, up []authz.Policy, err error) {
	if p.SessionPolicy != "" {
		if sp, err = sessionPolicy(p); err != nil {
			return nil, nil, err
		}
	}
	if !p.Root {
		if up, err = load(ctx, p); err != nil {
			return nil, nil, err
		}
	}
	return sp, up, nil
}

// doorsOf returns what p may use of a cluster's data plane, by the
// cluster's ARN. It decides silently: a call that hands out credentials is
// not refused, nor audited, for the doors it does not open.
func (s *Service) doorsOf(ctx context.Context, p rayfleet.Principal) (func(arn string) doors, error) {
	if p.Root && p.SessionPolicy == "" {
		return func(string) doors { return doors{true, true, true} }, nil
	}
	sp, up, err := s.principalPolicies(ctx, p, s.userPolicies)
	if err != nil {
		return nil, err
	}
	return func(arn string) doors {
		may := func(op string) bool {
			return permits(sp, up, p.Root, s.authzRequest(p, authz.ActionName(op), arn)).Allowed
		}
		return doors{dashboard: may(AccessRayDashboard), jobs: may(UseRayJobAPI), client: may(ConnectRayClient)}
	}, nil
}

// withCredentials gives the clusters of infos (all of one workspace) that
// run an instance the caller's data-plane credential: submitToken when the
// caller may use the job API or the Ray client, dashboardUrl's token when
// it may use the dashboard, nothing when it may use none.
//
// A credential is the caller's own, for its user, the access key that
// signed the call and the instance, and is handed out again while at least
// half its lifetime is left (rayfleet.DataPlaneToken.Fresh); then a new one
// is made, and the old one stays good until it expires. The credentials
// this process handed out are remembered (credentialCache), so a list of
// clusters it has shown the caller before costs no store query; else one
// read of the caller's credentials for the rest of the page, and a write
// only when some instance on it has none fresh: one transaction, at most a
// page's worth (100) of tokens, and for each caller and instance at most
// one per half lifetime (per process).
func (s *Service) withCredentials(ctx context.Context, p rayfleet.Principal, infos []ClusterInfo) error {
	if p.AccountID == "" || p.AccessKeyID == "" || len(infos) == 0 {
		return nil
	}
	var may func(string) doors
	open := make([]doors, len(infos))
	var ids []string
	for i := range infos {
		c := &infos[i].Cluster
		if c.TokenHash == "" || c.Deleted {
			continue // no instance running: nothing to open
		}
		if may == nil {
			var err error
			if may, err = s.doorsOf(ctx, p); err != nil {
				return err
			}
		}
		if open[i] = may(s.clusterARN(p, c.WorkspaceID, c.ID)); open[i].any() {
			ids = append(ids, c.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	now := s.now()
	tokens := make([]string, len(infos))
	unknown := ids[:0]
	for i := range infos {
		c := &infos[i].Cluster
		if !open[i].any() {
			continue
		}
		if tokens[i] = s.credentials.get(p, c.InstanceID, now); tokens[i] == "" {
			unknown = append(unknown, c.ID)
		}
	}
	if len(unknown) == 0 {
		setCredentials(infos, open, tokens)
		return nil
	}
	have, err := s.Store.ListDataPlaneTokens(ctx, store.DataPlaneTokenFilter{
		AccountID: p.AccountID, UserUID: p.UserUID, AccessKeyID: p.AccessKeyID,
		WorkspaceID: infos[0].WorkspaceID, ClusterIDs: unknown, ExpiresAfter: now,
	})
	if err != nil {
		return fmt.Errorf("list data-plane tokens: %w", err)
	}
	fresh := map[string]rayfleet.DataPlaneToken{} // by instance, the one that lasts longest
	for _, t := range have {
		if b, ok := fresh[t.InstanceID]; t.Fresh(now) && (!ok || t.ExpireTime.After(b.ExpireTime)) {
			fresh[t.InstanceID] = t
		}
	}
	expires := now.Add(s.dataPlaneTTL())
	if e := p.SessionExpiration; !e.IsZero() && e.Before(expires) {
		expires = e // a temporary key's credential ends with its session
	}
	var made []rayfleet.DataPlaneToken
	var known []knownCredential
	for i := range infos {
		c := &infos[i].Cluster
		if !open[i].any() || tokens[i] != "" {
			continue
		}
		if t, ok := fresh[c.InstanceID]; ok {
			plain, err := s.Sealer.Open(t.TokenSealed)
			if err != nil {
				return fmt.Errorf("open data-plane token of %s: %w", c.ID, err)
			}
			tokens[i] = string(plain)
			known = append(known, knownCredential{t, tokens[i]})
			continue
		}
		tok, err := s.newToken()
		if err != nil {
			return err
		}
		sealed, err := s.Sealer.Seal([]byte(tok))
		if err != nil {
			return err
		}
		t := rayfleet.DataPlaneToken{
			TokenHash: hashToken(tok), TokenSealed: sealed, AccountID: p.AccountID, UserUID: p.UserUID,
			AccessKeyID: p.AccessKeyID, ParentKeyID: p.ParentAccessKeyID, SessionPolicy: p.SessionPolicy,
			WorkspaceID: c.WorkspaceID, ClusterID: c.ID, InstanceID: c.InstanceID, CreateTime: now, ExpireTime: expires,
		}
		made = append(made, t)
		known = append(known, knownCredential{t, tok})
		fresh[c.InstanceID] = t
		tokens[i] = tok
	}
	if err := s.Store.CreateDataPlaneTokens(ctx, made); err != nil {
		return fmt.Errorf("store data-plane tokens: %w", err)
	}
	s.credentials.put(known)
	setCredentials(infos, open, tokens)
	return nil
}

// setCredentials puts tokens[i] in the fields of infos[i] that open[i]
// says the caller may use.
func setCredentials(infos []ClusterInfo, open []doors, tokens []string) {
	for i := range infos {
		if tokens[i] == "" {
			continue
		}
		if open[i].jobs || open[i].client {
			infos[i].Token = tokens[i]
		}
		if open[i].dashboard && infos[i].JobURL != "" {
			infos[i].DashboardURL = infos[i].JobURL + "/dashboard/?token=" + url.QueryEscape(tokens[i])
		}
	}
}

// credentialCache remembers the data-plane credentials this process
// handed out, by their owner, key and instance, so that showing them again
// costs no store query and no unsealing. It needs no invalidation: a
// credential never changes, and one is handed out only while it is fresh
// (whether it still opens anything is the gateway's question, asked on
// every request).
type credentialCache struct {
	mu sync.Mutex
	m  map[credentialKey]knownCredential
}

type credentialKey struct{ accountID, userUID, accessKeyID, instanceID string }

type knownCredential struct {
	t     rayfleet.DataPlaneToken // without TokenSealed
	token string
}

// maxKnownCredentials bounds the cache; past it, it starts over.
const maxKnownCredentials = 1 << 16

// get returns p's fresh credential for instance, or "".
func (c *credentialCache) get(p rayfleet.Principal, instance string, now time.Time) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	k, ok := c.m[credentialKey{p.AccountID, p.UserUID, p.AccessKeyID, instance}]
	if !ok || !k.t.Fresh(now) {
		return ""
	}
	return k.token
}

func (c *credentialCache) put(ks []knownCredential) {
	if len(ks) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m)+len(ks) > maxKnownCredentials {
		c.m = make(map[credentialKey]knownCredential, len(ks))
	}
	for _, k := range ks {
		k.t.TokenSealed = nil
		key := credentialKey{k.t.AccountID, k.t.UserUID, k.t.AccessKeyID, k.t.InstanceID}
		if old, ok := c.m[key]; !ok || k.t.ExpireTime.After(old.t.ExpireTime) {
			c.m[key] = k
		}
	}
}

// ErrDataPlaneToken says a data-plane token opens nothing: it is unknown or
// expired, its instance is not the cluster's current one, or the access
// key it was got with (or its user) is disabled or gone.
var ErrDataPlaneToken = errors.New("the data-plane token is unknown, expired or revoked")

// DataPlaneRequest is what a gateway request tells of itself, for the
// conditions of policies (acs:SourceIp, acs:SecureTransport).
type DataPlaneRequest struct {
	SourceIP        string
	SecureTransport bool
}

// DataPlaneAccess is a data-plane credential as AuthorizeDataPlane found
// it: whose, for which cluster, until when.
type DataPlaneAccess struct {
	AccountID   string
	WorkspaceID string
	ClusterID   string
	UserUID     string
	UserName    string
	AccessKeyID string
	ParentKeyID string // a temporary key's access key, "" otherwise
	Expires     time.Time
}

// AuthorizeDataPlane decides whether the data-plane token whose SHA-256 is
// tokenHash opens operation (AccessRayDashboard, UseRayJobAPI or
// ConnectRayClient) on its cluster now: the token must be known and
// unexpired, its instance the cluster's current one, its access key
// active (for a temporary key: the key that asked for it), its user there,
// and the user's policies (and the session's) must allow operation on the
// cluster, with r's source address and transport. It reads everything from
// the store, none of the service's caches, so a gateway in another process
// sees a change as soon as the store holds it.
//
// A token that opens nothing is ErrDataPlaneToken; one whose user may not
// use operation is a *DeniedError, with the access filled in. Both come
// with what was found of the token.
func (s *Service) AuthorizeDataPlane(ctx context.Context, tokenHash, operation string, r DataPlaneRequest) (DataPlaneAccess, error) {
	t, err := s.Store.GetDataPlaneToken(ctx, tokenHash)
	if rayfleet.IsNotFound(err) {
		return DataPlaneAccess{}, ErrDataPlaneToken
	}
	if err != nil {
		return DataPlaneAccess{}, fmt.Errorf("load data-plane token: %w", err)
	}
	a := DataPlaneAccess{
		AccountID: t.AccountID, WorkspaceID: t.WorkspaceID, ClusterID: t.ClusterID,
		UserUID: t.UserUID, AccessKeyID: t.AccessKeyID, ParentKeyID: t.ParentKeyID, Expires: t.ExpireTime,
	}
	if !s.Now().Before(t.ExpireTime) {
		return a, ErrDataPlaneToken
	}
	c, err := s.Store.GetCluster(ctx, t.AccountID, t.WorkspaceID, t.ClusterID)
	if rayfleet.IsNotFound(err) {
		return a, ErrDataPlaneToken
	}
	if err != nil {
		return a, fmt.Errorf("load cluster: %w", err)
	}
	if c.TokenHash == "" || c.InstanceID != t.InstanceID {
		return a, ErrDataPlaneToken // stopped, or started again since
	}
	key := t.AccessKeyID
	if t.ParentKeyID != "" {
		key = t.ParentKeyID
	}
	p, _, err := s.keyPrincipal(ctx, key)
	switch code := rayfleet.ErrorCode(err); {
	case code == rayfleet.EAKNOTFOUND || code == rayfleet.EAKINACTIVE:
		return a, ErrDataPlaneToken
	case err != nil:
		return a, err
	case p.AccountID != t.AccountID || p.UserUID != t.UserUID:
		return a, ErrDataPlaneToken
	}
	a.UserName = p.UserName
	p.AccessKeyID, p.ParentAccessKeyID, p.SessionPolicy = t.AccessKeyID, t.ParentKeyID, t.SessionPolicy
	p.SourceIP, p.SecureTransport = r.SourceIP, r.SecureTransport
	sp, up, err := s.principalPolicies(ctx, p, s.readPolicies)
	if err != nil {
		return a, err
	}
	action, arn := authz.ActionName(operation), s.clusterARN(p, t.WorkspaceID, t.ClusterID)
	if d := permits(sp, up, p.Root, s.authzRequest(p, action, arn)); !d.Allowed {
		return a, denied(p, action, arn, d.Effect)
	}
	return a, nil
}

// AuditDataPlane records a data-plane request in a's account's audit log:
// a dashboard session started, a job submitted or stopped, a Ray client
// connection, as operation on the cluster, with what (the request, in the
// message) and refusal (nil when the gateway let it through; else why it
// did not). A failure to record is logged: the request went on.
func (s *Service) AuditDataPlane(ctx context.Context, a DataPlaneAccess, operation, sourceIP, what string, refusal error) {
	e := rayfleet.AuditEvent{
		AccountID: a.AccountID, Time: s.now(), RequestID: NewRequestID(s.Random),
		UserUID: a.UserUID, UserName: a.UserName, AccessKeyID: a.AccessKeyID, SourceIP: sourceIP,
		Action:   authz.ActionName(operation),
		Resource: authz.ClusterARN(s.RegionID, a.AccountID, a.WorkspaceID, a.ClusterID),
		Result:   "OK", Message: what,
	}
	if refusal != nil {
		e.Result, e.Message = rayfleet.ErrorCode(refusal), what+": "+rayfleet.ErrorMessage(refusal)
	}
	if err := s.Store.AppendAudit(context.WithoutCancel(ctx), e); err != nil && s.Logger != nil {
		s.Logger.ErrorContext(ctx, "audit event not recorded", "requestId", e.RequestID, "action", e.Action, "err", err.Error())
	}
}
