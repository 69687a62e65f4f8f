package gateway

import (
	"context"
	"sync"
	"time"
)

// Revocations carries word of what ends data-plane credentials to the
// gateway handlers built with it (Config.Revocations), so that they stop
// honouring a credential at once instead of when what they remember of it
// expires, and cut what is open with it. It serves a gateway that runs in
// the same process as the API; a gateway in a process of its own learns of
// revocations only through Lookup, within Config.LookupCacheTTL. Handlers
// stay known to r for its lifetime: build a process's handlers once. Call
// its methods after the store holds the change.
type Revocations struct {
	mu      sync.Mutex
	caches  []*routeCache
	flights []*flights
}

// NewRevocations returns Revocations that no handler uses yet.
func NewRevocations() *Revocations { return &Revocations{} }

// Revoke ends every credential for cluster id of workspace ws (its
// instance stopped, or another started): the next request with one asks
// Lookup, and the requests and streams in flight with them (WebSockets,
// log streams, Ray client streams) are cut.
func (r *Revocations) Revoke(ws, id string) {
	caches, flights := r.handlers()
	match := func(g *Grant) bool { return g.Workspace == ws && g.Cluster == id }
	for _, c := range caches {
		c.forget(match)
	}
	for _, f := range flights {
		f.cut(match)
	}
}

// RevokeUser says what a user may do has narrowed (a policy attached,
// detached or changed; the user deleted): the next request with one of its
// credentials asks Lookup, and what is open with them is checked again at
// once and cut unless Lookup still lets it through.
func (r *Revocations) RevokeUser(account, user string) {
	r.recheck(func(g *Grant) bool { return g.Account == account && g.User == user })
}

// RevokeKey says an access key was disabled or deleted: as RevokeUser,
// for the credentials got with the key or with temporary credentials it
// asked for.
func (r *Revocations) RevokeKey(account, key string) {
	r.recheck(func(g *Grant) bool { return g.Account == account && (g.AccessKey == key || g.ParentKey == key) })
}

func (r *Revocations) recheck(match func(*Grant) bool) {
	caches, flights := r.handlers()
	for _, c := range caches {
		c.forget(match)
	}
	var wg sync.WaitGroup
	for _, f := range flights {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.recheck(context.Background(), f.matching(match), true)
		}()
	}
	wg.Wait()
}

func (r *Revocations) handlers() ([]*routeCache, []*flights) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.caches, r.flights
}

func (r *Revocations) add(c *routeCache, f *flights) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.caches = append(r.caches, c)
	r.flights = append(r.flights, f)
}

// maxCached bounds each cache; past it, expired entries are swept and, if
// that is not enough, everything is dropped (lookups refill what is used).
const maxCached = 1 << 16

// grantKey is what a decision of Lookup.Authorize depends on: the
// credential, the door, and the request context policies' conditions read.
type grantKey struct {
	tokenHash string
	door      Door
	sourceIP  string
	secure    bool
}

// clusterRoute is what a request through one door needs from Lookup: the
// credential's grant, and its cluster's head (dashboard and client are ""
// while it is not running) and Ray token.
type clusterRoute struct {
	key               grantKey
	grant             Grant
	dashboard, client string
	rayToken          string
	expires           time.Time // of the cache entry
}

// account is what the in-flight slots of the route count against.
func (cr *clusterRoute) account() string {
	if cr.grant.Account != "" {
		return cr.grant.Account
	}
	return cr.grant.Workspace
}

func (cr *clusterRoute) cluster() clusterKey { return clusterKey{cr.grant.Workspace, cr.grant.Cluster} }

// routeCache remembers, for a short time, that a credential opens a door of
// a running cluster, so that a request does not cost store queries and a
// file read. It only ever answers "this credential still passes": nothing
// is cached for credentials refused or clusters not running, a cluster's
// new credentials are unknown to it and asked of Lookup, and a revoked one
// stops working within the TTL (or the expiry of the credential, if
// sooner).
type routeCache struct {
	ttl time.Duration // 0: nothing is cached

	mu sync.RWMutex
	m  map[grantKey]*clusterRoute
	// gen counts forget calls: an entry looked up before one is not
	// cached, since the lookup may have read what was just revoked.
	gen uint64
}

func newRouteCache(ttl time.Duration) *routeCache {
	return &routeCache{ttl: ttl, m: map[grantKey]*clusterRoute{}}
}

// get returns the fresh entry of k, or nil.
func (c *routeCache) get(k grantKey, now time.Time) *clusterRoute {
	if c.ttl <= 0 {
		return nil
	}
	c.mu.RLock()
	e := c.m[k]
	c.mu.RUnlock()
	if e == nil || now.After(e.expires) {
		return nil
	}
	return e
}

// generation is what put needs to tell whether a revocation happened
// since; take it before asking Lookup.
func (c *routeCache) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// put caches e (a granted credential of a running cluster) until now+ttl,
// or its credential's expiry if sooner, unless something was forgotten
// since generation gen was taken.
func (c *routeCache) put(e *clusterRoute, gen uint64, now time.Time) {
	if c.ttl <= 0 {
		return
	}
	e.expires = now.Add(c.ttl)
	if x := e.grant.Expires; !x.IsZero() && x.Before(e.expires) {
		e.expires = x
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if len(c.m) >= maxCached {
		c.sweepLocked(now)
	}
	c.m[e.key] = e
}

// forget drops the entries whose grant match accepts, and keeps entries
// looked up before from being cached.
func (c *routeCache) forget(match func(*Grant) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, e := range c.m {
		if match(&e.grant) {
			delete(c.m, k)
		}
	}
}

func (c *routeCache) sweepLocked(now time.Time) {
	for k, e := range c.m {
		if now.After(e.expires) {
			delete(c.m, k)
		}
	}
	if len(c.m) >= maxCached {
		c.m = map[grantKey]*clusterRoute{}
	}
}
