package poll

import "time"

// T is what Until needs of a *testing.T or *testing.B.
type T interface {
	Helper()
	Fatalf(format string, args ...any)
}

// Option changes how Until polls.
type Option func(*options)

type options struct {
	every time.Duration
}

// Every sets the time between two tries, 50 ms unless set. Waits whose
// every try costs several requests to a rate-limited client space them
// more.
func Every(d time.Duration) Option {
	return func(o *options) { o.every = d }
}

// Until calls cond until it returns true. If it has not once timeout has
// passed, it fails t with "timed out after <timeout> waiting for <what>".
func Until(t T, timeout time.Duration, what string, cond func() bool, opts ...Option) {
	t.Helper()
	UntilSeen(t, timeout, what, func() (bool, string) { return cond(), "" }, opts...)
}

// UntilSeen is Until for a cond that also says what it saw when it does
// not hold: the failure ends with "; last seen: <seen>" of the last try.
func UntilSeen(t T, timeout time.Duration, what string, cond func() (ok bool, seen string), opts ...Option) {
	t.Helper()
	o := options{every: 50 * time.Millisecond}
	for _, opt := range opts {
		opt(&o)
	}
	deadline := time.Now().Add(timeout)
	for {
		ok, seen := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			if seen == "" {
				t.Fatalf("timed out after %s waiting for %s", timeout, what)
			} else {
				t.Fatalf("timed out after %s waiting for %s; last seen: %s", timeout, what, seen)
			}
			return
		}
		time.Sleep(o.every)
	}
}
