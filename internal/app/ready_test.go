package app

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/rayfleet/rayfleet/api"
	"github.com/rayfleet/rayfleet/internal/poll"
)

// TestReadyzFailsWhileWritesFail: on a full disk, where the store still
// answers reads but takes no write, /readyz fails; with space again it
// passes. The data directory is a small tmpfs, so the test needs root.
func TestReadyzFailsWhileWritesFail(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("RAYFLEET_TEST_REQUIRE_ROOT") != "" {
			t.Fatal("mounting a tmpfs needs root, and RAYFLEET_TEST_REQUIRE_ROOT is set")
		}
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	cfg := testConfig(dir)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", cfg.DataDir, "tmpfs", 0, "size=32m,mode=0700"); err != nil {
		t.Fatalf("mount a tmpfs: %v", err) // as root it must work
	}
	t.Cleanup(func() { _ = syscall.Unmount(cfg.DataDir, 0) })
	old := readyProbeEvery
	readyProbeEvery = 20 * time.Millisecond
	t.Cleanup(func() { readyProbeEvery = old })
	getenv := func(k string) string {
		return map[string]string{"RAYFLEET_CONFIG": filepath.Join(dir, "cli", "config.json")}[k]
	}
	srv, err := Start(context.Background(), cfg, getenv, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shutdown(t, srv) })
	readyz := func() int {
		resp, err := http.Get("http://" + srv.Addr + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := readyz(); code != http.StatusOK {
		t.Fatalf("readyz on a fresh server: %d", code)
	}

	fill := filepath.Join(cfg.DataDir, "fill")
	f, err := os.Create(fill)
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := f.Write(make([]byte, 64<<10)); err != nil {
			break
		}
	}
	for {
		if _, err := f.Write(make([]byte, 512)); err != nil {
			break
		}
	}
	f.Close()
	poll.Until(t, rayWait, "readyz to fail on a full disk", func() bool { return readyz() == http.StatusServiceUnavailable })
	cred := readCredentials(t, cfg.DataDir)
	if _, err := client(srv, cred).ListClusters(context.Background(), cred.WorkspaceID, api.ListClustersOptions{}); err != nil {
		t.Fatalf("reads fail too, so this shows nothing of writes: %v", err)
	}

	if err := os.Remove(fill); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, rayWait, "readyz to pass with space again", func() bool { return readyz() == http.StatusOK })
}

type countingProbe struct {
	calls int
	err   error
}

func (p *countingProbe) ProbeWrite(ctx context.Context, _ string, _ time.Time) error {
	p.calls++
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return p.err
}

// TestReadinessProbesAtMostEveryInterval: polls within an interval share
// one probe; a poll that was cancelled does not make the next ones fail.
func TestReadinessProbesAtMostEveryInterval(t *testing.T) {
	now := time.Unix(1000, 0)
	p := &countingProbe{}
	r := &readiness{read: func(context.Context) error { return nil }, probe: p, now: func() time.Time { return now }}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.check(cancelled); err != nil {
		t.Fatalf("a cancelled poll: %v", err)
	}
	for range 100 {
		if err := r.check(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if p.calls != 1 {
		t.Fatalf("%d probes within one interval", p.calls)
	}
	p.err = errors.New("disk full")
	now = now.Add(readyProbeEvery)
	if err := r.check(context.Background()); err == nil || p.calls != 2 {
		t.Fatalf("after an interval: %v, %d probes", err, p.calls)
	}
	p.err = nil
	if err := r.check(context.Background()); err == nil {
		t.Fatal("the failure was forgotten within its interval")
	}
	now = now.Add(readyProbeEvery)
	if err := r.check(context.Background()); err != nil {
		t.Fatalf("after the next interval: %v", err)
	}
}
