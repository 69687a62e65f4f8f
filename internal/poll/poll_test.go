package poll_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/rayfleet/rayfleet/internal/poll"
)

// failures records what Until would fail the test with.
type failures struct{ msgs []string }

func (f *failures) Helper() {}

func (f *failures) Fatalf(format string, args ...any) {
	f.msgs = append(f.msgs, fmt.Sprintf(format, args...))
}

func TestUntilReturnsOnceCondHolds(t *testing.T) {
	f := &failures{}
	n := 0
	poll.Until(f, time.Minute, "the third try", func() bool { n++; return n == 3 }, poll.Every(time.Millisecond))
	if n != 3 || len(f.msgs) != 0 {
		t.Fatalf("tried %d times, failed with %q; want 3 tries and no failure", n, f.msgs)
	}
}

func TestUntilFailsOnceAfterTheDeadline(t *testing.T) {
	f := &failures{}
	start := time.Now()
	poll.Until(f, 30*time.Millisecond, "nothing", func() bool { return false }, poll.Every(5*time.Millisecond))
	if took := time.Since(start); took < 30*time.Millisecond {
		t.Errorf("gave up after %s, before the deadline", took)
	}
	if want := []string{"timed out after 30ms waiting for nothing"}; fmt.Sprint(f.msgs) != fmt.Sprint(want) {
		t.Errorf("failed with %q, want %q", f.msgs, want)
	}
}

func TestUntilSeenSaysWhatItLastSaw(t *testing.T) {
	f := &failures{}
	n := 0
	poll.UntilSeen(f, 20*time.Millisecond, "a ready pod", func() (bool, string) {
		n++
		return false, fmt.Sprintf("%d pending", n)
	}, poll.Every(5*time.Millisecond))
	want := fmt.Sprintf("timed out after 20ms waiting for a ready pod; last seen: %d pending", n)
	if len(f.msgs) != 1 || f.msgs[0] != want {
		t.Errorf("failed with %q, want %q", f.msgs, want)
	}
}
