package gateway

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// gate is what both handlers decide with: whether a credential opens a
// door, from what the handler's cache remembers or else from Lookup, what
// is in flight with which credential, and the audit log.
type gate struct {
	lookup  Lookup
	auditor Auditor // nil when Lookup keeps none
	log     *slog.Logger
	cache   *routeCache
	live    *flights
}

func newGate(cfg Config, log *slog.Logger) *gate {
	g := &gate{lookup: cfg.Lookup, log: log, cache: newRouteCache(cfg.LookupCacheTTL)}
	g.auditor, _ = cfg.Lookup.(Auditor)
	g.live = newFlights(g.stillOpens, cfg.LookupCacheTTL, log)
	cfg.Revocations.add(g.cache, g.live)
	return g
}

// source is what a request tells of itself for policies' conditions.
type source struct {
	ip     string
	secure bool
}

func sourceOf(r *http.Request) source {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	return source{ip: ip, secure: r.TLS != nil}
}

// authorize decides whether the credential of k opens k.door. Granted
// comes with the route (of a cluster whose head is not running, dashboard
// and client are ""); NotAllowed with the grant Lookup found, for the audit
// log.
func (g *gate) authorize(ctx context.Context, k grantKey) (*clusterRoute, Verdict, error) {
	return g.decide(ctx, k, true)
}

// decide is authorize, from the cache when cached is true, else from
// Lookup (and what passes is cached anew).
func (g *gate) decide(ctx context.Context, k grantKey, cached bool) (*clusterRoute, Verdict, error) {
	now := time.Now()
	gen := g.cache.generation()
	if cr := g.cache.get(k, now); cr != nil && cached {
		return cr, Granted, nil
	}
	grant, v, err := g.lookup.Authorize(ctx, Request{TokenHash: k.tokenHash, Door: k.door, SourceIP: k.sourceIP, Secure: k.secure})
	if err != nil {
		return nil, 0, err
	}
	cr := &clusterRoute{key: k, grant: grant}
	if v != Granted {
		return cr, v, nil
	}
	dashboard, client, running := g.lookup.Upstream(ctx, grant.Workspace, grant.Cluster)
	if !running {
		return cr, Granted, nil
	}
	if cr.rayToken, err = g.lookup.UpstreamToken(ctx, grant.Workspace, grant.Cluster); err != nil {
		return nil, 0, err
	}
	cr.dashboard, cr.client = dashboard, client
	g.cache.put(cr, gen, now)
	return cr, Granted, nil
}

// stillOpens decides again, asking Lookup, whether fl's credential opens
// its door of its cluster: so what is open is never let go on longer than
// a check's interval after Lookup would refuse it.
func (g *gate) stillOpens(ctx context.Context, fl *flight) (bool, error) {
	cr, v, err := g.decide(ctx, fl.key, false)
	if err != nil {
		return false, err
	}
	return v == Granted && cr.cluster() == clusterKey{fl.grant.Workspace, fl.grant.Cluster}, nil
}

// revokedSince reports whether what was let through with cr, its
// credential looked up at generation gen and now in flight, lost it
// meanwhile: a revocation that landed between the lookup and the flight's
// start found nothing to cut, so the flight asks again.
func (g *gate) revokedSince(ctx context.Context, gen uint64, cr *clusterRoute) bool {
	if g.cache.generation() == gen {
		return false
	}
	ok, err := g.stillOpens(ctx, &flight{key: cr.key, grant: cr.grant})
	if err != nil {
		g.log.WarnContext(ctx, "check a credential again", "workspace", cr.grant.Workspace, "cluster", cr.grant.Cluster, "err", err)
	}
	return !ok
}

// audit records e's request when Lookup keeps an audit log.
func (g *gate) audit(ctx context.Context, cr *clusterRoute, src source, what string, refused bool) {
	if g.auditor == nil || cr == nil {
		return
	}
	g.auditor.Audit(ctx, Event{Grant: cr.grant, Door: cr.key.door, SourceIP: src.ip, What: what, Refused: refused})
}
