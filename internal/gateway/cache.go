package gateway

import (
	"sync"
	"time"
)

// maxCached bounds each cache; past it, expired entries are swept and, if
// that is not enough, everything is dropped (lookups refill what is used).
const maxCached = 1 << 16

// clusterRoute is what a request to one cluster needs from Lookup.
type clusterRoute struct {
	ws, id            string
	tokenHash         string // "" when the cluster is unknown or stopped
	dashboard, client string
	rayToken          string
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

// put caches e (a running cluster with a token) until now+ttl.
func (c *routeCache) put(e *clusterRoute, now time.Time) {
	if c.ttl <= 0 || e.tokenHash == "" {
		return
	}
	e.expires = now.Add(c.ttl)
	c.mu.Lock()
	defer c.mu.Unlock()
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
