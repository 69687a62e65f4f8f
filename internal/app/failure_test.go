package app

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/rayfleet/rayfleet/api"
	"github.com/rayfleet/rayfleet/api/signer"
	"github.com/rayfleet/rayfleet/internal/cli"
	"github.com/rayfleet/rayfleet/internal/poll"
	"github.com/rayfleet/rayfleet/internal/raytest"
)

func client(srv *Server, cred Credentials) *api.Client {
	return &api.Client{Endpoint: srv.Addr, Credentials: signer.Credentials{AccessKeyID: cred.AccessKeyID, AccessKeySecret: cred.AccessKeySecret}}
}

func waitCluster(t *testing.T, c *api.Client, ws, id string, done func(*api.Cluster) bool) *api.Cluster {
	t.Helper()
	var cl *api.Cluster
	poll.Until(t, rayWait, "cluster "+id, func() bool {
		var err error
		cl, err = c.GetCluster(context.Background(), ws, id)
		return err == nil && done(cl)
	})
	return cl
}

// runningCluster creates a 1 CPU / 2Gi cluster named name in ws and waits
// until it is Running.
func runningCluster(t *testing.T, c *api.Client, ws, name string) *api.Cluster {
	t.Helper()
	resp, err := c.CreateCluster(context.Background(), ws, &api.ClusterRequest{Name: ptr(name), HeadSpec: &api.HeadSpec{CPU: "1", Memory: "2Gi"}})
	if err != nil {
		t.Fatal(err)
	}
	return waitCluster(t, c, ws, resp.ClusterID, func(cl *api.Cluster) bool { return cl.State == "Running" })
}

// TestHeadCrashIsError: a head that dies under a running cluster (its GCS
// killed) puts the cluster in Error with Ray's own account of why; a head
// Ray refuses to start does too, and the CLI's --wait exits non-zero with
// it.
func TestHeadCrashIsError(t *testing.T) {
	needRay(t)
	srv, cred := testServer(t)
	c := client(srv, cred)
	cl := runningCluster(t, c, cred.WorkspaceID, "crashy")
	var gcs []raytest.Process
	for _, p := range raytest.Of(raytest.Processes(testRoot), cl.InstanceID) {
		if p.Comm == "gcs_server" {
			gcs = append(gcs, p)
		}
	}
	if len(gcs) != 1 {
		t.Fatalf("%d gcs_server processes of %s:%s", len(gcs), cl.InstanceID, raytest.Names(gcs))
	}
	if err := syscall.Kill(gcs[0].PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cl = waitCluster(t, c, cred.WorkspaceID, cl.ClusterID, func(cl *api.Cluster) bool { return cl.State == "Error" })
	// The leader's own exit code is 1, or unknown when its status was
	// reaped before the watcher looked (seen once after the failover test
	// in the same binary, not understood yet); Ray's account of why comes
	// from its log either way, and that is what this checks.
	exited := strings.Contains(cl.Message, "head node exited with code 1") || strings.Contains(cl.Message, "exit code unknown")
	if !exited || !strings.Contains(cl.Message, "gcs_server [exit code=-9]") || !strings.Contains(cl.Message, ".log") {
		t.Fatalf("message = %q", cl.Message)
	}

	// The head's `ray start` itself killed: Error, and what it started
	// (agents, raylet, GCS) is ended with it, nothing left behind.
	cl = runningCluster(t, c, cred.WorkspaceID, "leader")
	var leader []raytest.Process
	for _, p := range raytest.Of(raytest.Processes(testRoot), cl.InstanceID) {
		if strings.Contains(p.Cmdline, "ray start --head") {
			leader = append(leader, p)
		}
	}
	if len(leader) != 1 {
		t.Fatalf("%d ray start processes of %s:%s", len(leader), cl.InstanceID, raytest.Names(leader))
	}
	if err := syscall.Kill(leader[0].PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cl = waitCluster(t, c, cred.WorkspaceID, cl.ClusterID, func(cl *api.Cluster) bool { return cl.State == "Error" })
	if !strings.Contains(cl.Message, "head node exited with code 137") {
		t.Errorf("message = %q", cl.Message)
	}
	poll.Until(t, rayWait, "nothing of the killed head left", func() bool { return len(raytest.Of(raytest.Processes(testRoot), cl.InstanceID)) == 0 })

	// A head Ray cannot start: --wait says why and exits 1.
	resp, err := c.CreateCluster(context.Background(), cred.WorkspaceID, &api.ClusterRequest{
		Name: ptr("bad-flag"), HeadSpec: &api.HeadSpec{CPU: "1", Memory: "2Gi", RayStartParams: "--no-such-flag=1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	env := map[string]string{"RAYFLEET_ENDPOINT": srv.Addr, "RAYFLEET_ACCESS_KEY_ID": cred.AccessKeyID,
		"RAYFLEET_ACCESS_KEY_SECRET": cred.AccessKeySecret, "RAYFLEET_WORKSPACE": cred.WorkspaceID}
	code := cli.Run(context.Background(), cli.Env{
		Args:   []string{"cluster", "start", resp.ClusterID, "--wait", "--wait-interval", "100ms"},
		Getenv: func(k string) string { return env[k] }, Stdout: &out, Stderr: &errb, IsTerminal: true,
	}, nil)
	if code != 1 || !strings.Contains(errb.String(), "No such option '--no-such-flag'") || !strings.Contains(errb.String(), "\r\033[K") {
		t.Fatalf("start --wait: exit %d\nstdout %q\nstderr %q", code, out.String(), errb.String())
	}
}

// TestMissingRayIsError: without a ray executable a cluster ends in Error
// with a message that says how to install Ray, and the server carries on.
func TestMissingRayIsError(t *testing.T) {
	srv, cred := testServer(t, func(cfg *Config) { cfg.RayPath = filepath.Join(t.TempDir(), "no-such-ray") })
	c := client(srv, cred)
	resp, err := c.CreateCluster(context.Background(), cred.WorkspaceID, &api.ClusterRequest{Name: ptr("no-ray")})
	if err != nil {
		t.Fatal(err)
	}
	cl := waitCluster(t, c, cred.WorkspaceID, resp.ClusterID, func(cl *api.Cluster) bool { return cl.State == "Error" })
	if !strings.Contains(cl.Message, `pip install "ray[default]"`) {
		t.Fatalf("message = %q", cl.Message)
	}
	if _, err := c.ListClusters(context.Background(), cred.WorkspaceID, api.ListClustersOptions{}); err != nil {
		t.Fatalf("server after a missing ray: %v", err)
	}
}
