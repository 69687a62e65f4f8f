package reconcile

import (
	"testing"
	"time"
)

// Failed passes in a row wait 1s, 2s, 4s ... up to a minute (give or take
// a tenth); a pass that succeeds starts over; clusters count apart.
func TestBackoff(t *testing.T) {
	within := func(d, want time.Duration) bool { return d >= want-want/10 && d <= want+want/10 }
	var b backoffs
	a, other := Ref{ID: "a"}, Ref{ID: "b"}
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute, time.Minute} {
		if d := b.failed(a); !within(d, want) {
			t.Fatalf("failure %d: wait %s, want %s ± 10%%", i+1, d, want)
		}
	}
	if d := b.failed(other); !within(d, time.Second) {
		t.Fatalf("another cluster's first failure: %s", d)
	}
	b.succeeded(a)
	if d := b.failed(a); !within(d, time.Second) {
		t.Fatalf("after a success: %s", d)
	}
	for n := 1; n < 200; n++ {
		if d := retryDelay(n); d <= 0 || d > maxRetry+maxRetry/10 {
			t.Fatalf("retryDelay(%d) = %s", n, d)
		}
	}
}
