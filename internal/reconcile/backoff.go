package reconcile

import (
	"math/rand/v2"
	"sync"
	"time"
)

// Retries of a cluster whose passes fail (the runtime's API unreachable, an
// action refused) wait firstRetry, then twice as long each time, up to
// maxRetry; one pass that succeeds starts over. So a fleet whose runtime is
// down is not hammered every few seconds per cluster, and recovers within a
// minute once it is back (an event from the runtime wakes a cluster at once
// whatever its wait).
const (
	firstRetry = time.Second
	maxRetry   = time.Minute
)

// retryDelay is the wait after the n-th failed pass in a row (n >= 1),
// give or take a tenth, so clusters that failed together do not retry
// together.
func retryDelay(n int) time.Duration {
	d := maxRetry
	if n <= 7 { // 1s << 6 = 64s is past maxRetry
		d = min(firstRetry<<max(n-1, 0), maxRetry)
	}
	jitter := time.Duration(rand.Int64N(int64(d)/5+1)) - d/10
	return d + jitter
}

// backoffs counts the failed passes in a row of each cluster.
type backoffs struct {
	mu sync.Mutex
	n  map[Ref]int
}

// failed records a failed pass of ref and returns how long to wait.
func (b *backoffs) failed(ref Ref) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.n == nil {
		b.n = map[Ref]int{}
	}
	b.n[ref]++
	return retryDelay(b.n[ref])
}

// succeeded forgets ref's failures.
func (b *backoffs) succeeded(ref Ref) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.n, ref)
}
