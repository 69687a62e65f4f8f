package local

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rayfleet/rayfleet/internal/poll"
	"github.com/rayfleet/rayfleet/internal/reconcile"
)

type wakeSet struct {
	mu   sync.Mutex
	refs []reconcile.Ref
}

func (w *wakeSet) Wake(r reconcile.Ref) { w.mu.Lock(); w.refs = append(w.refs, r); w.mu.Unlock() }
func (w *wakeSet) n() int               { w.mu.Lock(); defer w.mu.Unlock(); return len(w.refs) }

// TestReleaseEnvs: an environment is made once in the background while the
// clusters that need it wait (with progress) and are woken; it is reused
// afterwards; a failure is reported once and the next start tries again.
func TestReleaseEnvs(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	made, fail := 0, true
	release := make(chan struct{})
	w := &wakeSet{}
	e := &releaseEnvs{root: t.TempDir(), now: time.Now, waker: w, logger: slog.New(slog.DiscardHandler),
		make: func(_ context.Context, python, ray, dir string, log *os.File) error {
			<-release
			mu.Lock()
			defer mu.Unlock()
			made++
			if fail {
				fail = false
				return errors.New("pip install failed")
			}
			return os.MkdirAll(filepath.Join(dir, "bin"), 0o755)
		}}
	a, b := reconcile.Ref{ID: "ray-a"}, reconcile.Ref{ID: "ray-b"}

	// First attempt: both clusters wait on one build, which fails.
	for _, ref := range []reconcile.Ref{a, b} {
		path, progress, err := e.get("2.59.0", "3.11", ref)
		if path != "" || err != nil || !strings.Contains(progress, "making a Python environment with Ray 2.59.0 for Python 3.11") {
			t.Fatalf("while making: %q %q %v", path, progress, err)
		}
	}
	release <- struct{}{}
	poll.Until(t, 10*time.Second, "both clusters woken by the failed build", func() bool { return w.n() == 2 })
	if _, _, err := e.get("2.59.0", "3.11", a); err == nil || !strings.Contains(err.Error(), "pip install failed") {
		t.Fatalf("after a failed build: %v", err)
	}
	// The next start tries again, and this one works.
	if _, progress, err := e.get("2.59.0", "3.11", a); progress == "" || err != nil {
		t.Fatalf("retry: %q %v", progress, err)
	}
	release <- struct{}{}
	poll.Until(t, 10*time.Second, "the cluster woken by the second build", func() bool { return w.n() == 3 })
	path, progress, err := e.get("2.59.0", "3.11", a)
	if err != nil || progress != "" || path != filepath.Join(e.root, "ray-2.59.0-py3.11", "bin", "ray") {
		t.Fatalf("made: %q %q %v", path, progress, err)
	}
	// Reused from its stamp, even by a new runtime, with no build.
	again := &releaseEnvs{root: e.root, now: time.Now, make: func(context.Context, string, string, string, *os.File) error {
		t.Error("made again")
		return nil
	}}
	if p, _, err := again.get("2.59.0", "3.11", b); p != path || err != nil {
		t.Fatalf("reuse: %q %v", p, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if made != 2 {
		t.Fatalf("built %d times, want 2 (a failure, then one)", made)
	}
}
