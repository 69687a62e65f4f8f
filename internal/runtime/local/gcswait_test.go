package local

import (
	"net"
	"testing"
	"time"

	"github.com/rayfleet/rayfleet/internal/reconcile"
)

// TestWatcherWakesOnceTheGCSAnswers: workers waiting for their head's GCS
// are started at the pass the watcher asks for once the GCS accepts
// connections, not a reconcile interval later; while it refuses them,
// nothing is woken.
func TestWatcherWakesOnceTheGCSAnswers(t *testing.T) {
	t.Parallel()
	w := &wakes{ch: make(chan reconcile.Ref, 16)}
	r := newRuntime(t, dataDir(t), func(c *Config) { c.Waker = w })
	c := testCluster("ray-gcswait0000001")
	ref := reconcile.Ref{AccountID: c.AccountID, WorkspaceID: c.WorkspaceID, ID: c.ID}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cs := r.cluster(c.ID)
	r.mu.Lock()
	cs.gcsWait, cs.gcsRef = addr, ref
	r.mu.Unlock()
	select {
	case got := <-w.ch:
		t.Fatalf("woke %v while the GCS refused connections", got)
	case <-time.After(3 * pollInterval):
	}

	l, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen again on %s, free a moment ago: %v", addr, err)
	}
	defer l.Close()
	select {
	case got := <-w.ch:
		if got != ref {
			t.Fatalf("woke %v, want %v", got, ref)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the watcher did not wake the reconciler once the GCS accepted connections")
	}
}
