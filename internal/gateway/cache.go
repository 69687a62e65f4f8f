package gateway

import (
	"sync"
	"time"
)

// Revocations carries word of revoked cluster tokens to the gateway
// handlers built with it (Config.Revocations), so that they stop honouring
// a token at once instead of when what they remember of it expires. It
// serves a gateway that runs in the same process as the API; a gateway in
// a process of its own learns of revocations only through Lookup. Handlers
// stay known to r for its lifetime: build a process's handlers once.
type Revocations struct {
	mu      sync.Mutex
	caches  []*routeCache
	flights []*flights
}

// NewRevocations returns Revocations that no handler uses yet.
func NewRevocations() *Revocations { return &Revocations{} }

// Revoke makes every handler built with r forget cluster id of workspace
// ws: the next request for it asks Lookup, and the requests and streams
// to it in flight (WebSockets, log streams, Ray client streams) are cut. Call it after the store holds
// the cluster's new token (or none).
func (r *Revocations) Revoke(ws, id string) {
	r.mu.Lock()
	caches, flights := r.caches, r.flights
	r.mu.Unlock()
	for _, c := range caches {
		c.forget(clusterKey{ws, id})
	}
	for _, f := range flights {
		f.cutAll(clusterKey{ws, id})
	}
}

func (r *Revocations) add(c *routeCache) {
	if r == nil || c.ttl <= 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.caches = append(r.caches, c)
}

// maxCached bounds each cache; past it, expired entries are swept and, if
// that is not enough, everything is dropped (lookups refill what is used).
const maxCached = 1 << 16

// clusterRoute is what a request to one cluster needs from Lookup.
type clusterRoute struct {
	ws, id            string
	tokenHash         string // "" when the cluster is unknown or stopped
	dashboard, client string
	rayToken          string
	account           string // what the in-flight slots are shared by (accountOf)
	expires           time.Time
}

// routeCache remembers clusterRoutes of running clusters for a short time,
// keyed by cluster (HTTP) or by token hash (gRPC), so that a request does
// not cost store queries and a file read. It only ever answers "this token
// is still good": a token that does not match a cached entry is checked
// against Lookup again (so a cluster's new token works at once), nothing
// is cached for clusters that are unknown, stopped or not running, and a
// revoked token stops working within the TTL.
type routeCache struct {
	ttl time.Duration // 0: nothing is cached

	mu        sync.RWMutex
	byCluster map[clusterKey]*clusterRoute
	byToken   map[string]*clusterRoute
	// gen counts forget calls: an entry looked up before one is not
	// cached, since the lookup may have read the token just revoked.
	gen uint64
}

func newRouteCache(ttl time.Duration) *routeCache {
	return &routeCache{ttl: ttl, byCluster: map[clusterKey]*clusterRoute{}, byToken: map[string]*clusterRoute{}}
}

// cluster returns the fresh entry of k, or nil.
func (c *routeCache) cluster(k clusterKey, now time.Time) *clusterRoute {
	if c.ttl <= 0 {
		return nil
	}
	c.mu.RLock()
	e := c.byCluster[k]
	c.mu.RUnlock()
	if e == nil || now.After(e.expires) {
		return nil
	}
	return e
}

// token returns the fresh entry of the cluster whose token hashes to h, or
// nil.
func (c *routeCache) token(h string, now time.Time) *clusterRoute {
	if c.ttl <= 0 {
		return nil
	}
	c.mu.RLock()
	e := c.byToken[h]
	c.mu.RUnlock()
	if e == nil || now.After(e.expires) {
		return nil
	}
	return e
}

// generation is what put needs to tell whether a revocation happened
// since; take it before asking Lookup.
func (c *routeCache) generation() uint64 {
	if c.ttl <= 0 {
		return 0
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// put caches e (a running cluster with a token) until now+ttl, unless a
// cluster was forgotten since generation gen was taken.
func (c *routeCache) put(e *clusterRoute, gen uint64, now time.Time) {
	if c.ttl <= 0 || e.tokenHash == "" {
		return
	}
	e.expires = now.Add(c.ttl)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if len(c.byCluster) >= maxCached || len(c.byToken) >= maxCached {
		c.sweepLocked(now)
	}
	k := clusterKey{e.ws, e.id}
	if old := c.byCluster[k]; old != nil && old.tokenHash != e.tokenHash {
		delete(c.byToken, old.tokenHash) // the cluster's previous token
	}
	c.byCluster[k] = e
	c.byToken[e.tokenHash] = e
}

// drop forgets cluster k (its token was found wrong or gone).
func (c *routeCache) drop(k clusterKey) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.byCluster[k]; old != nil {
		delete(c.byToken, old.tokenHash)
		delete(c.byCluster, k)
	}
}

// forget drops cluster k because its token was revoked, and keeps entries
// looked up before from being cached.
func (c *routeCache) forget(k clusterKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if old := c.byCluster[k]; old != nil {
		delete(c.byToken, old.tokenHash)
		delete(c.byCluster, k)
	}
}

func (c *routeCache) sweepLocked(now time.Time) {
	for k, e := range c.byCluster {
		if now.After(e.expires) {
			delete(c.byCluster, k)
		}
	}
	for h, e := range c.byToken {
		if now.After(e.expires) {
			delete(c.byToken, h)
		}
	}
	if len(c.byCluster) >= maxCached || len(c.byToken) >= maxCached {
		c.byCluster = map[clusterKey]*clusterRoute{}
		c.byToken = map[string]*clusterRoute{}
	}
}
