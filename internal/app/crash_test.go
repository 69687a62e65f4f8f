package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rayfleet/rayfleet/api"
	"github.com/rayfleet/rayfleet/api/signer"
	"github.com/rayfleet/rayfleet/internal/poll"
	"github.com/rayfleet/rayfleet/internal/raytest"
)

// serverProcess is rayfleet running as its own process, to be killed -9.
type serverProcess struct {
	t    *testing.T
	bin  string
	dir  string
	addr string
	args []string // more flags
	cmd  *exec.Cmd
}

func (p *serverProcess) start() {
	p.t.Helper()
	conf := filepath.Join(p.dir, "rayfleet.yaml")
	if err := os.WriteFile(conf, []byte("localTempRoot: "+rayTempRoot+"\n"), 0o600); err != nil {
		p.t.Fatal(err)
	}
	p.cmd = exec.Command(p.bin, "server", "--config", conf, "--data-dir", filepath.Join(p.dir, "data"), "--api-addr", p.addr,
		"--gateway-listen", "127.0.0.1:0", "--gateway-grpc-listen", "127.0.0.1:0",
		"--ray-path", raytest.Ray(p.t), "--stop-grace", "2s", "--log-level", "warn")
	p.cmd.Args = append(p.cmd.Args, p.args...)
	p.cmd.Env = append(os.Environ(), "RAYFLEET_CONFIG="+filepath.Join(p.dir, "cli.json"))
	logf, err := os.OpenFile(filepath.Join(p.dir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		p.t.Fatal(err)
	}
	defer logf.Close()
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	poll.Until(p.t, rayWait, "the server to answer", func() bool {
		resp, err := http.Get("http://" + p.addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}

func (p *serverProcess) kill9() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		p.t.Fatal(err)
	}
	_ = p.cmd.Wait()
}

func (p *serverProcess) stop() {
	if p.cmd == nil || p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

// waitExit waits until the server exits by itself, failing after d.
func (p *serverProcess) waitExit(d time.Duration) {
	p.t.Helper()
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		p.t.Fatalf("the server did not exit within %s", d)
	}
}

var built struct {
	once sync.Once
	bin  string
	err  error
}

// rayfleetBinary builds cmd/rayfleet once per test binary and returns its
// path.
func rayfleetBinary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		built.bin = filepath.Join(testRoot, "rayfleet")
		if out, err := exec.Command("go", "build", "-o", built.bin, "github.com/rayfleet/rayfleet/cmd/rayfleet").CombinedOutput(); err != nil {
			built.err = fmt.Errorf("build: %w\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startedServer starts rayfleet as a process of its own on a fresh data
// directory (with more flags args) and returns it with a client of the
// root credentials its first start wrote. At the test's end it is stopped,
// any node left behind is killed, and a failed test shows its log.
func startedServer(t *testing.T, args ...string) (*serverProcess, *api.Client, Credentials) {
	t.Helper()
	dir := t.TempDir()
	srv := &serverProcess{t: t, bin: rayfleetBinary(t), dir: dir, addr: freeAddr(t), args: args}
	t.Cleanup(func() {
		srv.stop()
		killNodes(t) // never leave nodes behind, whatever failed
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
			t.Logf("server log:\n%s", log)
		}
	})
	srv.start()
	cred := readCredentials(t, filepath.Join(dir, "data"))
	c := &api.Client{Endpoint: srv.addr, Credentials: signer.Credentials{AccessKeyID: cred.AccessKeyID, AccessKeySecret: cred.AccessKeySecret}}
	return srv, c, cred
}

// TestKill9Converges kills the server with SIGKILL in the middle of starts,
// stops and deletes, starts it again, and checks that every cluster ends as
// its owner asked, with no node lost, duplicated or orphaned.
func TestKill9Converges(t *testing.T) {
	needRay(t)
	if len(rayProcesses(t)) != 0 {
		t.Fatal("ray nodes are already running")
	}
	srv, c, cred := startedServer(t)
	ctx := context.Background()
	ws := cred.WorkspaceID
	create := func(name string) string {
		t.Helper()
		resp, err := c.CreateCluster(ctx, ws, &api.ClusterRequest{Name: ptr(name), HeadSpec: &api.HeadSpec{CPU: "1", Memory: "2Gi"},
			WorkerSpec: &[]api.WorkerSpec{{GroupName: "g", Replica: 1, CPU: "1", Memory: "2Gi"}}})
		if err != nil {
			t.Fatal(err)
		}
		return resp.ClusterID
	}
	allRunning := func(id string) func() bool {
		return func() bool {
			cl, err := c.GetCluster(ctx, ws, id)
			if err != nil {
				return false
			}
			if cl.State == "Error" {
				t.Fatalf("cluster %s failed: %s", id, cl.Message)
			}
			n := 0
			for _, in := range cl.Instances {
				if in.Phase == "Running" {
					n++
				}
			}
			return cl.State == "Running" && n == 2
		}
	}
	state := func(id, want string) func() bool {
		return func() bool { cl, err := c.GetCluster(ctx, ws, id); return err == nil && cl.State == want }
	}
	processes := func(n int) func() bool { return func() bool { return len(rayProcesses(t)) == n } }

	// 1. One cluster up, two more created, and the server killed mid-start.
	a := create("a")
	poll.Until(t, rayWait, "a to run", allRunning(a))
	b, cc := create("b"), create("c")
	srv.kill9()

	// 2. After a restart all three run, with exactly their nodes.
	srv.start()
	for _, id := range []string{a, b, cc} {
		poll.Until(t, rayWait, id+" to run after the restart", allRunning(id))
	}
	poll.Until(t, rayWait, "exactly 6 nodes", processes(6))
	before, err := c.GetCluster(ctx, ws, cc)
	if err != nil {
		t.Fatal(err)
	}

	// 3. Stop one, delete another, and kill the server before it can act.
	if _, err := c.StopCluster(ctx, ws, a, &api.StopRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteCluster(ctx, ws, b); err != nil {
		t.Fatal(err)
	}
	srv.kill9()
	srv.start()

	// 4. a is Stopped with no nodes, b is gone, c kept running untouched.
	poll.Until(t, rayWait, "a to be Stopped", state(a, "Stopped"))
	poll.Until(t, rayWait, "only c's 2 nodes to be left", processes(2))
	var apiErr *api.Error
	if _, err := c.GetCluster(ctx, ws, b); !errors.As(err, &apiErr) || apiErr.Code != "ResourceNotFound" {
		t.Fatalf("deleted cluster: %v", err)
	}
	after, err := c.GetCluster(ctx, ws, cc)
	if err != nil {
		t.Fatal(err)
	}
	if after.State != "Running" || after.InstanceID != before.InstanceID || fmt.Sprint(startTimes(after)) != fmt.Sprint(startTimes(before)) {
		t.Fatalf("c was not re-adopted as it ran: before %s %v, after %s %s %v", before.InstanceID, startTimes(before), after.State, after.InstanceID, startTimes(after))
	}
	l, err := c.ListClusters(ctx, ws, api.ListClustersOptions{})
	if err != nil || l.TotalCount != 2 {
		t.Fatalf("clusters after the restarts: %+v %v", l, err)
	}

	// 5. Clean up through the API: the last cluster stops for real.
	if _, err := c.StopCluster(ctx, ws, cc, &api.StopRequest{}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, rayWait, "c to be Stopped", state(cc, "Stopped"))
	poll.Until(t, rayWait, "no node left", processes(0))
}

func startTimes(c *api.Cluster) []int64 {
	var out []int64
	for _, in := range c.Instances {
		out = append(out, in.StartTime)
	}
	return out
}
