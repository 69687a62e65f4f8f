package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rayfleet/rayfleet/api"
	"github.com/rayfleet/rayfleet/api/signer"
	"github.com/rayfleet/rayfleet/internal/poll"
)

// Of two servers with the reconciler role on one PostgreSQL database, one
// reconciles and the other stands by until the first goes.
func TestOneReconcilerPerDatabase(t *testing.T) {
	dsn := postgresSchema(t)
	a, _ := testServer(t, func(c *Config) { c.Store, c.PostgresDSN = "postgres", dsn })
	poll.Until(t, rayWait, "the first server to run the reconciler", a.reconciling.Load)
	reconcilerMetric(t, a, 1)
	b := anotherServer(t, a, dsn, "reconciler")
	since := time.Now()
	for time.Since(since) < 3*time.Second { // longer than the standby's retry
		if b.reconciling.Load() {
			t.Fatal("two servers run the reconciler on one database")
		}
		time.Sleep(100 * time.Millisecond) // poll interval
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, rayWait, "the standby to take over", b.reconciling.Load)
}

// Two API servers on one PostgreSQL database admit clusters into one
// workspace's quota together: concurrent creates through both never hold
// more than the quota.
func TestQuotaAcrossAPIServers(t *testing.T) {
	ca, cb := twoAPIServers(t)
	for round := range 3 {
		quotaRace(t, ca, cb, round)
	}
}

// quotaRace makes a 4 CU workspace and sends 16 creates of 1 CU clusters
// through ca and cb at once: exactly 4 must be admitted.
func quotaRace(t *testing.T, ca, cb *api.Client, round int) {
	t.Helper()
	ctx := context.Background()
	cu := api.FlexInt(4)
	ws, err := ca.CreateWorkspace(ctx, &api.CreateWorkspaceRequest{WorkspaceName: fmt.Sprint("shared-", round), ResourceSpec: api.ResourceSpec{CU: &cu}})
	if err != nil {
		t.Fatal(err)
	}
	// Each cluster is a 1 CU head: 4 fit.
	const tries = 16
	var admitted, refused atomic.Int64
	throughBoth(tries, ca, cb, func(i int, c *api.Client) {
		_, err := c.CreateCluster(ctx, ws.WorkspaceID, &api.ClusterRequest{Name: ptr(fmt.Sprint("c", i)),
			HeadSpec: &api.HeadSpec{CPU: "1", Memory: "4Gi"}, WorkerSpec: &[]api.WorkerSpec{}})
		var apiErr *api.Error
		switch {
		case err == nil:
			admitted.Add(1)
		case errors.As(err, &apiErr) && apiErr.Code == "QuotaExceeded":
			refused.Add(1)
		default:
			t.Errorf("create %d: %v", i, err)
		}
	})
	if admitted.Load() != 4 || refused.Load() != tries-4 {
		t.Fatalf("round %d: %d admitted, %d refused; want 4 and %d", round, admitted.Load(), refused.Load(), tries-4)
	}
}

// throughBoth runs call(i, c) for i in [0, n) all at once, c being ca for
// even i and cb for odd, and returns when every call has.
func throughBoth(n int, ca, cb *api.Client, call func(i int, c *api.Client)) {
	var wg sync.WaitGroup
	for i := range n {
		c := ca
		if i%2 == 1 {
			c = cb
		}
		wg.Go(func() { call(i, c) })
	}
	wg.Wait()
}

// twoAPIServers starts two API servers on one fresh PostgreSQL schema and
// returns a client of each, signed with the same root key.
func twoAPIServers(t *testing.T) (*api.Client, *api.Client) {
	t.Helper()
	dsn := postgresSchema(t)
	a, cred := testServer(t, func(c *Config) { c.Store, c.PostgresDSN, c.Roles = "postgres", dsn, "api" })
	b := anotherServer(t, a, dsn, "api")
	return client(a, cred), client(b, cred)
}

// anotherServer starts another server with roles on a's PostgreSQL schema
// dsn, with a's master key, as a replica.
func anotherServer(t *testing.T, a *Server, dsn, roles string) *Server {
	t.Helper()
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.Store, cfg.PostgresDSN, cfg.Roles = "postgres", dsn, roles
	// Replicas share the master key, which seals the access keys' secrets.
	key, err := os.ReadFile(filepath.Join(a.Config.DataDir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg.DataDir, "master.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := Start(context.Background(), cfg, func(string) string { return "" }, discard{}, discard{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = b.Shutdown(ctx)
		killNodes(t)
	})
	return b
}

// A clientToken sent through two API servers at once acts once: every
// answer names the same cluster, and the workspace holds one.
func TestClientTokenAcrossAPIServers(t *testing.T) {
	ca, cb := twoAPIServers(t)
	ctx := context.Background()
	cu := api.FlexInt(8)
	ws, err := ca.CreateWorkspace(ctx, &api.CreateWorkspaceRequest{WorkspaceName: "tokens", ResourceSpec: api.ResourceSpec{CU: &cu}})
	if err != nil {
		t.Fatal(err)
	}
	const tries = 8
	ids := make([]string, tries)
	throughBoth(tries, ca, cb, func(i int, c *api.Client) {
		resp, err := c.CreateCluster(ctx, ws.WorkspaceID, &api.ClusterRequest{Name: ptr("once"), ClientToken: "the-same-token",
			HeadSpec: &api.HeadSpec{CPU: "1", Memory: "4Gi"}, WorkerSpec: &[]api.WorkerSpec{}})
		if err != nil {
			t.Errorf("create %d: %v", i, err)
			return
		}
		ids[i] = resp.ClusterID
	})
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("one token made clusters %v", ids)
		}
	}
	list, err := ca.ListClusters(ctx, ws.WorkspaceID, api.ListClustersOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.RayClusters) != 1 {
		t.Fatalf("the workspace holds %d clusters, want 1", len(list.RayClusters))
	}
}

// On PostgreSQL, a cluster created through one process's API is started
// at once by another process's reconciler, not at its next resync (30 s).
func TestWakeAcrossProcesses(t *testing.T) {
	dsn := postgresSchema(t)
	api1, cred := testServer(t, func(c *Config) { c.Store, c.PostgresDSN, c.Roles = "postgres", dsn, "api" })
	rec := anotherServer(t, api1, dsn, "reconciler")
	poll.Until(t, rayWait, "the reconciler to run", rec.reconciling.Load)
	time.Sleep(500 * time.Millisecond) // its first resync, which saw no cluster, is over
	c := client(api1, cred)
	resp, err := c.CreateCluster(context.Background(), cred.WorkspaceID, &api.ClusterRequest{Name: ptr("woken"),
		HeadSpec: &api.HeadSpec{CPU: "1", Memory: "2Gi"}, WorkerSpec: &[]api.WorkerSpec{}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for {
		cl, err := c.GetCluster(context.Background(), cred.WorkspaceID, resp.ClusterID)
		if err != nil {
			t.Fatal(err)
		}
		if cl.State == "Running" {
			break
		}
		if time.Since(start) > 15*time.Second {
			t.Fatalf("after 15 s the cluster is %s %q: the other process's reconciler was not woken", cl.State, cl.Message)
		}
		time.Sleep(50 * time.Millisecond) // poll interval
	}
}

// Many concurrent calls that each take a clientToken's lock and then their
// workspace's, on PostgreSQL, all get answered: the two kinds of lock do
// not compete for one pool of sessions.
func TestManyLockedCallsAnswered(t *testing.T) {
	ca, _ := twoAPIServers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cu := api.FlexInt(8)
	ws, err := ca.CreateWorkspace(ctx, &api.CreateWorkspaceRequest{WorkspaceName: "busy", ResourceSpec: api.ResourceSpec{CU: &cu}})
	if err != nil {
		t.Fatal(err)
	}
	const calls = 100 // more than a lock pool holds
	var wg sync.WaitGroup
	var answered atomic.Int64
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := ca.CreateCluster(ctx, ws.WorkspaceID, &api.ClusterRequest{Name: ptr(fmt.Sprint("b", i)), ClientToken: fmt.Sprint("token-", i),
				HeadSpec: &api.HeadSpec{CPU: "1", Memory: "4Gi"}, WorkerSpec: &[]api.WorkerSpec{}})
			var apiErr *api.Error
			if err == nil || errors.As(err, &apiErr) && apiErr.Code == "QuotaExceeded" {
				answered.Add(1)
			} else {
				t.Errorf("create %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if n := answered.Load(); n != calls {
		t.Fatalf("%d of %d calls answered", n, calls)
	}
}

// On PostgreSQL, a signed request replayed to another API process behind
// the same address is refused as it is by the first: nonces are shared.
func TestNonceAcrossAPIServers(t *testing.T) {
	dsn := postgresSchema(t)
	a, cred := testServer(t, func(c *Config) { c.Store, c.PostgresDSN, c.Roles = "postgres", dsn, "api" })
	b := anotherServer(t, a, dsn, "api")
	req, _ := http.NewRequest("GET", "http://"+a.Addr+"/api/v1/workspaces", nil)
	good := signer.Credentials{AccessKeyID: cred.AccessKeyID, AccessKeySecret: cred.AccessKeySecret}
	if err := signer.SignACS3(req, nil, good, time.Now(), signer.NewNonce()); err != nil {
		t.Fatal(err)
	}
	for i, to := range []string{a.Addr, b.Addr} {
		r := req.Clone(context.Background())
		r.URL.Host = to // the same Host header, as behind one load balancer
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := []int{200, 400}[i]; resp.StatusCode != want || (i == 1 && !bytes.Contains(data, []byte("SignatureNonceUsed"))) {
			t.Fatalf("send %d (to %s): %d %s", i+1, to, resp.StatusCode, data)
		}
	}
}
