package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rayfleet/rayfleet/api"
	"github.com/rayfleet/rayfleet/api/signer"
	"github.com/rayfleet/rayfleet/internal/poll"
)

// TestLocalFailoverRunsNoNodeTwice: on a PostgreSQL database shared by two
// servers with the local runtime, each with its own data directory, the
// standby never takes over while clusters have nodes under the other's
// records: not when the holder is killed -9, not when a PostgreSQL
// restart ends the holder's lease. The holder, started again on its data
// directory, adopts the nodes as they run. Once every cluster is stopped,
// the standby may take over. The node processes are counted throughout.
func TestLocalFailoverRunsNoNodeTwice(t *testing.T) {
	needRay(t)
	if len(rayProcesses(t)) != 0 {
		t.Fatal("ray nodes are already running")
	}
	pg := startPrivatePostgres(t)
	oldLease, oldHome := leaseRetry, homeRetry
	leaseRetry.first, leaseRetry.max, homeRetry = 200*time.Millisecond, time.Second, 200*time.Millisecond
	t.Cleanup(func() { leaseRetry, homeRetry = oldLease, oldHome })

	dir := t.TempDir()
	a := &serverProcess{t: t, bin: rayfleetBinary(t), dir: dir, addr: freeAddr(t), args: []string{"--store", "postgres", "--postgres-dsn", pg.dsn}}
	t.Cleanup(func() {
		a.stop()
		killNodes(t)
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
			t.Logf("holder's log:\n%s", log)
		}
	})
	a.start()
	cred := readCredentials(t, filepath.Join(dir, "data"))
	c := &api.Client{Endpoint: a.addr, Credentials: signer.Credentials{AccessKeyID: cred.AccessKeyID, AccessKeySecret: cred.AccessKeySecret}}
	ws := cred.WorkspaceID

	// The standby: the reconciler alone, its own data directory, the
	// holder's master key.
	cfg := testConfig(t.TempDir())
	cfg.Store, cfg.PostgresDSN, cfg.Roles, cfg.LogLevel = "postgres", pg.dsn, "reconciler", "warn"
	key, err := os.ReadFile(filepath.Join(dir, "data", "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg.DataDir, "master.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	var blog lockedBuffer
	b, err := Start(context.Background(), cfg, func(string) string { return "" }, discard{}, &blog)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = b.Shutdown(ctx)
		if t.Failed() {
			t.Logf("standby's log:\n%s", blog.String())
		}
	})

	one, two := runningCluster(t, c, ws, "one"), runningCluster(t, c, ws, "two")
	if n := len(rayProcesses(t)); n != 2 {
		t.Fatalf("%d nodes run for 2 one-node clusters", n)
	}
	// steady checks for a while that the standby does not reconcile and
	// that exactly the two nodes run.
	steady := func(when string) {
		t.Helper()
		for since := time.Now(); time.Since(since) < 4*time.Second; time.Sleep(100 * time.Millisecond) {
			if b.reconciling.Load() {
				t.Fatalf("%s: the standby took over while the clusters had nodes elsewhere", when)
			}
			if n := len(rayProcesses(t)); n != 2 {
				t.Fatalf("%s: %d nodes run, not 2", when, n)
			}
		}
	}
	adopted := func(when string) {
		t.Helper()
		for _, was := range []*api.Cluster{one, two} {
			cl := waitCluster(t, c, ws, was.ClusterID, func(cl *api.Cluster) bool { return cl.State == "Running" })
			if cl.InstanceID != was.InstanceID || fmt.Sprint(startTimes(cl)) != fmt.Sprint(startTimes(was)) {
				t.Fatalf("%s: %s was started again (instance %s, was %s)", when, cl.ClusterID, cl.InstanceID, was.InstanceID)
			}
		}
		if n := len(rayProcesses(t)); n != 2 {
			t.Fatalf("%s: %d nodes run, not 2", when, n)
		}
	}

	// 1. The holder is killed: its lease ends with its session; the
	// standby stands by and says why.
	a.kill9()
	steady("after kill -9 of the holder")
	poll.Until(t, rayWait, "the standby to say why it does not take over", func() bool {
		return strings.Contains(blog.String(), "this server does not reconcile")
	})
	a.start()
	adopted("after the holder's restart")

	// 2. A PostgreSQL restart ends every session: the holder stops (its
	// supervisor restarts it), the standby still does not take over.
	pg.restart()
	a.waitExit(30 * time.Second)
	steady("after a PostgreSQL restart")
	a.start()
	adopted("after the holder's restart on the restarted database")

	// 3. With every cluster stopped no node can be left behind or run
	// twice: the standby takes over once the holder goes.
	for _, cl := range []*api.Cluster{one, two} {
		if _, err := c.StopCluster(context.Background(), ws, cl.ClusterID, &api.StopRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, cl := range []*api.Cluster{one, two} {
		waitCluster(t, c, ws, cl.ClusterID, func(cl *api.Cluster) bool { return cl.State == "Stopped" })
	}
	poll.Until(t, rayWait, "no node left", func() bool { return len(rayProcesses(t)) == 0 })
	a.kill9()
	poll.Until(t, rayWait, "the standby to take over", b.reconciling.Load)
}
