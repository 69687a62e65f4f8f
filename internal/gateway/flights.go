package gateway

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// flights are the requests and streams in flight through one handler, with
// the credential each was let through with, so that what is open with a
// credential ends when the credential does: a WebSocket, a log stream or a
// Ray client's streams are cut when Revocations says so, when the
// credential expires, and when a check of what is open (every
// Config.LookupCacheTTL, while anything is) finds it no longer passes, not
// when the head goes away.
type flights struct {
	// check decides again whether the credential of f still opens its
	// door of its cluster.
	check func(ctx context.Context, f *flight) (bool, error)
	every time.Duration
	log   *slog.Logger

	mu sync.Mutex
	m  map[*flight]struct{}
	// sweeping: the goroutine of sweep runs (while m is not empty).
	sweeping bool
}

// flight is one request in flight; cut ends it.
type flight struct {
	key   grantKey
	grant Grant
	once  sync.Once
	end   func()
}

func (fl *flight) cut() { fl.once.Do(fl.end) }

// newFlights returns the flights of a handler whose credentials check
// decides, checked again every interval (each second when it is zero).
func newFlights(check func(context.Context, *flight) (bool, error), every time.Duration, log *slog.Logger) *flights {
	if every <= 0 {
		every = time.Second
	}
	return &flights{check: check, every: every, log: log, m: map[*flight]struct{}{}}
}

// addRequest tracks a request let through with cr, served through a
// reverse proxy. It returns the context to proxy it with, which a cut ends,
// and the func that forgets it. A cut also closes the request's body: an
// HTTP/2 stream whose handler ends with its body unread can stall its
// connection's other streams. The request is cut when its credential
// expires.
func (f *flights) addRequest(ctx context.Context, cr *clusterRoute, body io.Closer) (context.Context, func()) {
	ctx, cancel := context.WithCancel(ctx)
	fl := &flight{key: cr.key, grant: cr.grant, end: func() {
		cancel()
		if body != nil {
			_ = body.Close()
		}
	}}
	var expiry *time.Timer
	if x := cr.grant.Expires; !x.IsZero() {
		expiry = time.AfterFunc(time.Until(x), fl.cut)
	}
	f.mu.Lock()
	f.m[fl] = struct{}{}
	start := !f.sweeping
	f.sweeping = true
	f.mu.Unlock()
	if start {
		go f.sweep()
	}
	return ctx, func() {
		f.mu.Lock()
		delete(f.m, fl)
		f.mu.Unlock()
		if expiry != nil {
			expiry.Stop()
		}
		cancel()
	}
}

// sweep checks what is in flight again every f.every, and ends when
// nothing is.
func (f *flights) sweep() {
	t := time.NewTicker(f.every)
	defer t.Stop()
	for range t.C {
		all := f.matching(func(*Grant) bool { return true })
		if len(all) == 0 {
			f.mu.Lock()
			if len(f.m) == 0 {
				f.sweeping = false
				f.mu.Unlock()
				return
			}
			f.mu.Unlock()
			continue
		}
		// A check that fails (the store does not answer) keeps what is
		// open: it was let through, and nothing says it should not be.
		f.recheck(context.Background(), all, false)
	}
}

// matching returns the flights whose grant match accepts.
func (f *flights) matching(match func(*Grant) bool) []*flight {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*flight
	for fl := range f.m {
		if match(&fl.grant) {
			out = append(out, fl)
		}
	}
	return out
}

// cut cuts every flight whose grant match accepts.
func (f *flights) cut(match func(*Grant) bool) {
	for _, fl := range f.matching(match) {
		fl.cut()
	}
}

// maxChecks bounds the checks recheck runs at once.
const maxChecks = 8

// recheck checks fls again, once for each credential, door and request
// context, and cuts those that no longer pass; a check that fails cuts
// its flights too when failClosed.
func (f *flights) recheck(ctx context.Context, fls []*flight, failClosed bool) {
	groups := map[grantKey][]*flight{}
	for _, fl := range fls {
		groups[fl.key] = append(groups[fl.key], fl)
	}
	sem := make(chan struct{}, maxChecks)
	var wg sync.WaitGroup
	for _, group := range groups {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			ok, err := f.check(ctx, group[0])
			if err != nil {
				f.log.WarnContext(ctx, "check what is open again", "workspace", group[0].grant.Workspace, "cluster", group[0].grant.Cluster, "err", err)
				ok = !failClosed
			}
			if ok {
				return
			}
			for _, fl := range group {
				fl.cut()
			}
		}()
	}
	wg.Wait()
}
