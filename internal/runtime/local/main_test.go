package local

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/poll"
	"github.com/rayfleet/rayfleet/internal/reconcile"
)

// fakeRay is the stand-in `ray` built once for the test binary.
var fakeRay string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "fakeray")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	fakeRay = filepath.Join(dir, "ray")
	goTool, err := exec.LookPath("go")
	if err != nil {
		fmt.Fprintln(os.Stderr, "build fakeray: no go tool on PATH:", err)
		return 1
	}
	if out, err := exec.Command(goTool, "build", "-o", fakeRay, "./fakeray").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build fakeray: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// testCluster returns a valid cluster: head of 2 CPU and 4Gi, one worker
// group "cpu" of 2 replicas.
func testCluster(id string) *rayfleet.Cluster {
	spec := rayfleet.ClusterSpec{
		Name:           "test",
		ReleaseVersion: "ray-1.0.0",
		Head:           rayfleet.HeadSpec{QueueName: "root_queue", CPU: "2", Memory: "4Gi"},
		Workers: []rayfleet.WorkerSpec{
			{GroupName: "cpu", Replica: 2, QueueName: "root_queue", CPU: "1500m", Memory: "2Gi"},
		},
	}
	return &rayfleet.Cluster{
		ID: id, AccountID: "1234567890123456", WorkspaceID: "w-0123456789abcdef",
		Spec: spec, RunningSpec: spec, InstanceID: id + "-abcd1234",
		Desired: rayfleet.RunStateRunning, State: rayfleet.StateStarting,
	}
}

// wakes records what the runtime woke.
type wakes struct{ ch chan reconcile.Ref }

func (w *wakes) Wake(ref reconcile.Ref) {
	select {
	case w.ch <- ref:
	default:
	}
}

// newRuntime starts a Runtime on dataDir with short timeouts, closed when
// the test ends.
func newRuntime(t *testing.T, dataDir string, mod ...func(*Config)) *Runtime {
	t.Helper()
	cfg := Config{
		DataDir:      dataDir,
		RayPath:      fakeRay,
		Grace:        2 * time.Second,
		ProbeTimeout: time.Second,
		TempRoot:     tempRoot(t, dataDir),
		// The stand-in is a Go program, not a Python console script, so
		// it cannot be asked for its versions: say what it stands for.
		Versions: func(context.Context, string) (Versions, error) { return Versions{Ray: "2.60.0", Python: "3.11.7"}, nil },
		Logger:   slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, f := range mod {
		f(&cfg)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// tempRoot is the Ray temp root of a test's data directory, so that the
// temp directories go away with the test.
func tempRoot(t *testing.T, dataDir string) string {
	dir := filepath.Join(dataDir, "tmp")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}

// dataDir returns a fresh data directory whose leftover node processes are
// killed when the test ends, whatever state it ends in.
func dataDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Cleanup(func() { killLeftovers(t, dir) })
	return dir
}

// killLeftovers kills every process a state file under dir names (after
// checking its start time) and waits for them to be gone or zombies, so
// the temp directory can be removed.
func killLeftovers(t *testing.T, dir string) {
	paths, _ := filepath.Glob(filepath.Join(dir, "local", "clusters", "*", "*", "*.json"))
	var pids []int
	for _, p := range paths {
		var rec record
		b, err := os.ReadFile(p)
		if err != nil || json.Unmarshal(b, &rec) != nil || rec.PID <= 0 {
			continue
		}
		if st, err := readStat(rec.PID); err == nil && st.start == rec.ProcStart {
			_ = syscall.Kill(-rec.PGID, syscall.SIGKILL)
			pids = append(pids, rec.PID)
		}
	}
	poll.Until(t, 10*time.Second, "leftover processes to die", func() bool {
		for _, pid := range pids {
			if alive(pid) {
				return false
			}
		}
		return true
	})
}

// alive reports whether pid runs (a zombie does not).
func alive(pid int) bool {
	st, err := readStat(pid)
	return err == nil && st.state != 'Z' && st.state != 'X'
}

// applyUntil calls Apply and Observe, as the reconciler does, until cond
// holds for the observation.
func applyUntil(t *testing.T, r *Runtime, c *rayfleet.Cluster, what string, cond func(reconcile.Observation) bool) reconcile.Observation {
	t.Helper()
	ctx := context.Background()
	var obs reconcile.Observation
	poll.Until(t, 20*time.Second, what, func() bool {
		if err := r.Apply(ctx, c); err != nil {
			t.Fatalf("Apply: %v", err)
		}
		var err error
		obs, err = r.Observe(ctx, c)
		if err != nil {
			t.Fatalf("Observe: %v", err)
		}
		return cond(obs)
	})
	return obs
}

// suspendUntilGone calls Suspend (or Delete) and Observe until nothing of c
// exists.
func suspendUntilGone(t *testing.T, r *Runtime, c *rayfleet.Cluster, del bool) {
	t.Helper()
	ctx := context.Background()
	poll.Until(t, 20*time.Second, "the cluster to be gone", func() bool {
		var err error
		if del {
			err = r.Delete(ctx, c)
		} else {
			err = r.Suspend(ctx, c)
		}
		if err != nil {
			t.Fatalf("Suspend/Delete: %v", err)
		}
		obs, err := r.Observe(ctx, c)
		if err != nil {
			t.Fatalf("Observe: %v", err)
		}
		return !obs.Exists
	})
}

// ready reports a cluster whose head answers and whose workers all run.
func ready(obs reconcile.Observation) bool {
	return obs.HeadReady && obs.ReadyWorkers == obs.DesiredWorkers && obs.Failure == ""
}

// nodeRecords returns the records of c's current instance, head first.
func nodeRecords(r *Runtime, c *rayfleet.Cluster) []record {
	var out []record
	for _, rec := range r.snapshot(c.ID, c.InstanceID) {
		if rec.Instance == c.InstanceID {
			out = append(out, rec)
		}
	}
	return out
}

// logged returns what fakeray printed after prefix ("args " or "env ") in
// the log, decoded from JSON.
func logged(t *testing.T, path, prefix string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if s, ok := strings.CutPrefix(line, "fakeray: "+prefix); ok {
			out = nil
			if err := json.Unmarshal([]byte(s), &out); err != nil {
				t.Fatalf("decode %q: %v", line, err)
			}
		}
	}
	if out == nil {
		t.Fatalf("%s: no %q line in\n%s", path, prefix, b)
	}
	return out
}
