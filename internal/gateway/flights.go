package gateway

import (
	"context"
	"io"
	"sync"
)

// flights are the requests and streams in flight through one handler, per
// cluster, so that Revocations can cut them: a WebSocket, a log stream or a
// Ray client's streams opened with a token stop when the token is revoked,
// not when the head goes away. Only handlers built with Revocations keep
// them; without, nothing is tracked.
type flights struct {
	mu sync.Mutex
	m  map[clusterKey]map[*flight]struct{}
}

// flight is one request in flight; cut ends it.
type flight struct{ cut func() }

func newFlights(r *Revocations) *flights {
	if r == nil {
		return nil
	}
	f := &flights{m: map[clusterKey]map[*flight]struct{}{}}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.flights = append(r.flights, f)
	return f
}

// add tracks a request to k that cut ends; the returned func forgets it.
// On nil flights it does nothing.
func (f *flights) add(k clusterKey, cut func()) (done func()) {
	if f == nil {
		return func() {}
	}
	fl := &flight{cut: cut}
	f.mu.Lock()
	set := f.m[k]
	if set == nil {
		set = map[*flight]struct{}{}
		f.m[k] = set
	}
	set[fl] = struct{}{}
	f.mu.Unlock()
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if set := f.m[k]; set != nil {
			delete(set, fl)
			if len(set) == 0 {
				delete(f.m, k)
			}
		}
	}
}

// addRequest tracks a request to k served through a reverse proxy. It
// returns the context to proxy it with, which a cut ends, and the func
// that forgets it. A cut also closes the request's body: an HTTP/2 stream
// whose handler ends with its body unread can stall its connection's other
// streams.
func (f *flights) addRequest(ctx context.Context, k clusterKey, body io.Closer) (context.Context, func()) {
	if f == nil {
		return ctx, func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	forget := f.add(k, func() {
		cancel()
		if body != nil {
			_ = body.Close()
		}
	})
	return ctx, func() {
		forget()
		cancel()
	}
}

// cutAll cuts every request to k in flight.
func (f *flights) cutAll(k clusterKey) {
	f.mu.Lock()
	set := f.m[k]
	delete(f.m, k)
	f.mu.Unlock()
	for fl := range set {
		fl.cut()
	}
}
