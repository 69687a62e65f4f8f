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
// and share a NonceLedger.
type NonceCache struct {
	seed   maphash.Seed
	shards [64]nonceShard
	// Max bounds the entries per shard; a full shard answers Throttling
	// rather than grow without limit.
	Max int
}

type nonceShard struct {
	mu     sync.Mutex
	m      map[string]time.Time
	nextGC time.Time
}

// NewNonceCache returns a cache holding at most maxEntries nonces.
func NewNonceCache(maxEntries int) *NonceCache {
	c := &NonceCache{seed: maphash.MakeSeed(), Max: max(maxEntries/64, 1)}
	for i := range c.shards {
		c.shards[i].m = map[string]time.Time{}
	}
	return c
}

// Use records nonce, valid until expires; it fails if the nonce was seen.
func (c *NonceCache) Use(nonce string, expires, now time.Time) error {
	s := &c.shards[maphash.String(c.seed, nonce)%uint64(len(c.shards))]
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.After(s.nextGC) {
		for k, exp := range s.m {
			if now.After(exp) {
				delete(s.m, k)
			}
		}
		s.nextGC = now.Add(time.Minute)
	}
	if exp, ok := s.m[nonce]; ok && !now.After(exp) {
		return rayfleet.Errorf(rayfleet.ENONCE, "Specified signature nonce was used already.")
	}
	if len(s.m) >= c.Max {
		return rayfleet.Errorf(rayfleet.ETHROTTLING, "Request was denied due to request throttling.")
	}
	s.m[nonce] = expires
	return nil
}
