package httpapi

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rayfleet/rayfleet"
)

// authFailureCodes are the refusals of a request's credentials: a wrong
// signature, an unknown or disabled key, a stale or replayed request.
var authFailureCodes = map[string]bool{
	rayfleet.ESIGNATURE: true, "IncompleteSignature": true, rayfleet.EAKNOTFOUND: true, rayfleet.EAKINACTIVE: true,
	rayfleet.ETIMESTAMP: true, rayfleet.ENONCE: true, rayfleet.ESECURITYTOKEN: true,
}

// authFailures counts refused credentials, in a metric by code and per
// source address in the log: the first failure from a source is logged at
// once, later ones at most once a minute per source with how many came in
// between, so a source guessing keys shows up without flooding the log.
type authFailures struct {
	log     *slog.Logger
	counter *prometheus.CounterVec // nil without metrics
	now     func() time.Time

	mu      sync.Mutex
	sources map[string]*authSource
}

type authSource struct {
	logged  time.Time
	pending int // failures since logged
	code    string
	key     string
}

// maxAuthSources bounds the sources remembered; past it the table starts
// over (each source is then logged again once).
const maxAuthSources = 4096

// authLogEvery is how often one source's failures are logged.
const authLogEvery = time.Minute

func newAuthFailures(log *slog.Logger, m *Metrics, now func() time.Time) *authFailures {
	if now == nil {
		now = time.Now
	}
	a := &authFailures{log: log, now: now, sources: map[string]*authSource{}}
	if m != nil {
		a.counter = m.authFailures
	}
	return a
}

// note records a refusal of code from source, for access key id key.
func (a *authFailures) note(ctx context.Context, source, key, code string) {
	if !authFailureCodes[code] {
		return
	}
	if a.counter != nil {
		a.counter.WithLabelValues(code).Inc()
	}
	now := a.now()
	a.mu.Lock()
	s := a.sources[source]
	if s == nil {
		if len(a.sources) >= maxAuthSources {
			a.sources = map[string]*authSource{}
		}
		s = &authSource{}
		a.sources[source] = s
	}
	s.pending++
	s.code, s.key = code, key
	var n int
	if s.logged.IsZero() || now.Sub(s.logged) >= authLogEvery || now.Before(s.logged) {
		n, s.pending, s.logged = s.pending, 0, now
	}
	a.mu.Unlock()
	if n > 0 {
		a.log.WarnContext(ctx, "API credentials refused", "source", source, "failures", n, "lastCode", code, "lastAccessKeyId", key)
	}
}
