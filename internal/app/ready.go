package app

import (
	"context"
	"sync"
	"time"
)

// readyProbeEvery is how often /readyz writes to the store; between probes
// it answers with the last outcome, so frequent polls (several load
// balancers, a kubelet) cost the database one small write per interval.
var readyProbeEvery = 5 * time.Second

// readyProbeTimeout bounds one probe: a database that takes longer to
// commit a one-row write is not ready either.
const readyProbeTimeout = 5 * time.Second

// writeProber is a store that can tell whether it takes writes now.
type writeProber interface {
	ProbeWrite(ctx context.Context, name string, at time.Time) error
}

// readiness answers /readyz: ready while the store answers a read and
// takes a write. A read alone would call a server ready on a full disk or
// a database gone read-only, where every call that changes something fails.
type readiness struct {
	read  func(context.Context) error
	probe writeProber // nil: reads only
	now   func() time.Time

	mu      sync.Mutex
	probed  time.Time // when the last probe ran
	lastErr error
}

func (r *readiness) check(ctx context.Context) error {
	if err := r.read(ctx); err != nil {
		return err
	}
	if r.probe == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if !r.probed.IsZero() && now.Sub(r.probed) < readyProbeEvery && !now.Before(r.probed) {
		return r.lastErr
	}
	// A caller that gives up must not leave its cancellation behind as
	// the answer for the next interval.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), readyProbeTimeout)
	defer cancel()
	r.lastErr = r.probe.ProbeWrite(pctx, "readyz", now)
	r.probed = now
	return r.lastErr
}
