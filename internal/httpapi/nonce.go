package httpapi

import (
	"context"
	"hash/maphash"
	"sync"
	"time"

	"github.com/rayfleet/rayfleet"
)

// SignatureWindow is how far a request's date may be from the server's
// clock; a nonce must be remembered at least that long past its date.
const SignatureWindow = 15 * time.Minute

// NonceLedger records nonces where every process sharing it sees them
// (sqlstore.Store on PostgreSQL): fresh is false when the nonce was used and
// has not expired by now.
type NonceLedger interface {
	UseNonce(ctx context.Context, nonce string, expires, now time.Time) (fresh bool, err error)
}

// NonceCache remembers the nonces of signed requests until their date falls
// out of the signature window, so a captured request cannot be replayed.
// It is in memory: replicas behind one load balancer each keep their own,
// and share a NonceLedger. Each nonce is charged to its owner (the
// caller's account): one owner may hold at most a quarter of the cache, so
// one account sending requests as fast as it can is throttled alone and
// the others' calls still get their nonces recorded.
type NonceCache struct {
	seed   maphash.Seed
	shards [64]nonceShard
	// Max bounds the entries per shard; a full shard answers Throttling
	// rather than grow without limit.
	Max int
	// MaxPerOwner bounds one owner's entries in the whole cache.
	MaxPerOwner int

	ownersMu sync.Mutex
	owners   map[string]int
}

type nonceShard struct {
	mu     sync.Mutex
	m      map[string]nonceEntry
	nextGC time.Time
}

type nonceEntry struct {
	expires time.Time
	owner   string
}

// NewNonceCache returns a cache holding at most maxEntries nonces, at most
// a quarter of them of one owner.
func NewNonceCache(maxEntries int) *NonceCache {
	c := &NonceCache{seed: maphash.MakeSeed(), Max: max(maxEntries/64, 1), MaxPerOwner: max(maxEntries/4, 1), owners: map[string]int{}}
	for i := range c.shards {
		c.shards[i].m = map[string]nonceEntry{}
	}
	return c
}

// Use records nonce of owner, valid until expires; it fails if the nonce
// was seen, or with Throttling if the cache or the owner's share is full.
func (c *NonceCache) Use(owner, nonce string, expires, now time.Time) error {
	s := &c.shards[maphash.String(c.seed, nonce)%uint64(len(c.shards))]
	for swept := false; ; swept = true {
		s.mu.Lock()
		if now.After(s.nextGC) {
			c.gcLocked(s, now)
		}
		if e, ok := s.m[nonce]; ok && !now.After(e.expires) {
			s.mu.Unlock()
			return rayfleet.Errorf(rayfleet.ENONCE, "Specified signature nonce was used already.")
		}
		if len(s.m) < c.Max && c.charge(owner) {
			if old, ok := s.m[nonce]; ok { // expired, replaced
				c.release(map[string]int{old.owner: 1})
			}
			s.m[nonce] = nonceEntry{expires: expires, owner: owner}
			s.mu.Unlock()
			return nil
		}
		s.mu.Unlock()
		if swept {
			return rayfleet.Errorf(rayfleet.ETHROTTLING, "Request was denied due to request throttling.")
		}
		// The owner's expired entries may sit in shards not collected
		// lately: collect them all once (one shard locked at a time)
		// before refusing.
		for i := range c.shards {
			o := &c.shards[i]
			o.mu.Lock()
			c.gcLocked(o, now)
			o.mu.Unlock()
		}
	}
}

// gcLocked drops the expired entries of s, whose lock is held.
func (c *NonceCache) gcLocked(s *nonceShard, now time.Time) {
	freed := map[string]int{}
	for k, e := range s.m {
		if now.After(e.expires) {
			delete(s.m, k)
			freed[e.owner]++
		}
	}
	c.release(freed)
	s.nextGC = now.Add(time.Minute)
}

// charge counts one more entry of owner, unless its share is full.
func (c *NonceCache) charge(owner string) bool {
	c.ownersMu.Lock()
	defer c.ownersMu.Unlock()
	if c.owners[owner] >= c.MaxPerOwner {
		return false
	}
	c.owners[owner]++
	return true
}

func (c *NonceCache) release(freed map[string]int) {
	if len(freed) == 0 {
		return
	}
	c.ownersMu.Lock()
	defer c.ownersMu.Unlock()
	for o, n := range freed {
		if c.owners[o] -= n; c.owners[o] <= 0 {
			delete(c.owners, o)
		}
	}
}
