package local

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/poll"
	"github.com/rayfleet/rayfleet/internal/reconcile"
)

func TestApplyStartsHeadAndWorkers(t *testing.T) {
	t.Parallel()
	w := &wakes{ch: make(chan reconcile.Ref, 16)}
	r := newRuntime(t, dataDir(t), func(c *Config) {
		c.Waker = w
		c.GPUs = func(spec string) int {
			if spec == "A10" {
				return 1
			}
			return 0
		}
	})
	c := testCluster("ray-applystarts0001")
	c.RunningSpec.Head.Env = "FOO=bar baz\nHEAD_ONLY=1"
	c.RunningSpec.Head.GPUSpec = "A10"
	c.RunningSpec.Head.RayStartParams = `--resources='{"custom": 1}' --object-store-memory=100000000`
	c.RunningSpec.Workers[0].Env = "WORKER_ENV=w"

	ctx := context.Background()
	if err := r.Apply(ctx, c); err != nil {
		t.Fatal(err)
	}
	obs, err := r.Observe(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	// The first Apply starts the head alone and does not wait for it (a
	// fast head may be ready already); the workers come with later ones.
	if !obs.Exists || obs.InstanceID != c.InstanceID || len(obs.Nodes) != 1 || obs.ReadyWorkers != 0 || obs.Progress == "" {
		t.Fatalf("right after the first Apply: %+v", obs)
	}

	obs = applyUntil(t, r, c, "head ready with 2 workers", ready)
	if obs.DesiredWorkers != 2 || len(obs.Nodes) != 3 || obs.Progress != "" {
		t.Fatalf("observation: %+v", obs)
	}
	if n := obs.Nodes[0]; n.InstanceID != c.ID+"-head" || n.Type != "Head" || n.Phase != "Running" || n.ContainerState != "Running" || n.StartTime.IsZero() {
		t.Fatalf("head node: %+v", n)
	}
	for i, n := range obs.Nodes[1:] {
		if want := c.ID + "-cpu-worker-" + strconv.Itoa(i); n.InstanceID != want || n.Type != "Worker" || n.Group != "cpu" || n.Phase != "Running" {
			t.Fatalf("worker %d: %+v", i, n)
		}
	}

	// The dashboard and the client server answer where HeadEndpoints says.
	dash, client, ok := r.HeadEndpoints(c)
	if !ok {
		t.Fatal("HeadEndpoints: no head")
	}
	// Ray's token authentication is on: the head refuses a request
	// without the instance's token and answers one with it.
	resp, err := http.Get("http://" + dash + "/api/version")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("dashboard without the token: %d", resp.StatusCode)
	}
	token := r.HeadToken(c)
	if len(token) != 64 {
		t.Fatalf("HeadToken %q, want 64 hex digits", token)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+dash+"/api/version", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"ray_version":"2.60.0"`) {
		t.Fatalf("dashboard: %d %s", resp.StatusCode, body)
	}
	if h := obs.Nodes[0]; h.RayVersion != "2.60.0" || h.PythonVersion != "3.11.7" {
		t.Fatalf("head versions %q %q", h.RayVersion, h.PythonVersion)
	}
	conn, err := net.Dial("tcp", client)
	if err != nil {
		t.Fatalf("client server: %v", err)
	}
	conn.Close()

	recs := nodeRecords(r, c)
	if len(recs) != 3 {
		t.Fatalf("%d records", len(recs))
	}
	head := recs[0]
	seenPorts := map[int]string{}
	for _, rec := range recs {
		// Each node leads its own process group.
		if pgid, err := syscall.Getpgid(rec.PID); err != nil || pgid != rec.PID || rec.PGID != rec.PID {
			t.Fatalf("%s: pid %d pgid %d (recorded %d): %v", rec.Node, rec.PID, pgid, rec.PGID, err)
		}
		if _, err := os.Stat(rec.Log); err != nil {
			t.Fatalf("%s: log: %v", rec.Node, err)
		}
		if want := filepath.Join(r.files.instanceDir(c.ID, c.InstanceID), rec.Node+".log"); rec.Log != want {
			t.Fatalf("log at %s, want %s", rec.Log, want)
		}
		if filepath.Dir(rec.TempDir) != r.cfg.TempRoot || len(filepath.Base(rec.TempDir)) != len("rayfleet-12345678") {
			t.Fatalf("temp dir %q, want %s/rayfleet-<8 hex>", rec.TempDir, r.cfg.TempRoot)
		}
		if target, err := os.Readlink(r.files.tempLink(c.ID, c.InstanceID, rec.Node)); err != nil || target != rec.TempDir {
			t.Fatalf("temp dir link: %q %v", target, err)
		}
		for _, p := range rec.Ports.list() {
			if p == 0 {
				continue
			}
			if other, dup := seenPorts[p]; dup {
				t.Fatalf("port %d of %s is also %s's", p, rec.Node, other)
			}
			seenPorts[p] = rec.Node
		}
	}

	// The command lines carry the spec.
	args := logged(t, head.Log, "args ")
	for _, want := range []string{
		"start", "--head", "--block", "--num-cpus=2", "--memory=4294967296", "--num-gpus=1",
		"--port=" + strconv.Itoa(head.Ports.GCS),
		"--dashboard-host=127.0.0.1", "--dashboard-port=" + strconv.Itoa(head.Ports.Dashboard),
		"--ray-client-server-port=" + strconv.Itoa(head.Ports.ClientServer),
		"--node-manager-port=" + strconv.Itoa(head.Ports.NodeManager),
		"--min-worker-port=" + strconv.Itoa(head.Ports.MinWorker),
		"--max-worker-port=" + strconv.Itoa(head.Ports.MaxWorker),
		"--temp-dir=" + head.TempDir, "--disable-usage-stats",
		`--resources={"custom": 1}`,
	} {
		if !slices.Contains(args, want) {
			t.Errorf("head args lack %q: %q", want, args)
		}
	}
	if last := args[len(args)-1]; last != "--object-store-memory=100000000" {
		t.Errorf("rayStartParams are not last: %q", args)
	}
	env := logged(t, head.Log, "env ")
	for _, want := range []string{"FOO=bar baz", "HEAD_ONLY=1", markerEnv + "=" + head.marker()} {
		if !slices.Contains(env, want) {
			t.Errorf("head env lacks %q", want)
		}
	}
	wargs := logged(t, recs[1].Log, "args ")
	for _, want := range []string{"--block", "--address=127.0.0.1:" + strconv.Itoa(head.Ports.GCS),
		"--num-cpus=1", "--memory=2147483648", "--num-gpus=0"} {
		if !slices.Contains(wargs, want) {
			t.Errorf("worker args lack %q: %q", want, wargs)
		}
	}
	if slices.Contains(wargs, "--head") {
		t.Errorf("worker started as head: %q", wargs)
	}
	wenv := logged(t, recs[1].Log, "env ")
	if !slices.Contains(wenv, "WORKER_ENV=w") || slices.Contains(wenv, "HEAD_ONLY=1") {
		t.Errorf("worker env: %q", wenv)
	}

	// Apply is idempotent.
	for range 3 {
		if err := r.Apply(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	again := nodeRecords(r, c)
	for i := range recs {
		if again[i].PID != recs[i].PID {
			t.Fatalf("%s restarted by a repeated Apply", recs[i].Node)
		}
	}
	suspendUntilGone(t, r, c, false)
	select {
	case ref := <-w.ch:
		if ref.ID != c.ID || ref.AccountID != c.AccountID || ref.WorkspaceID != c.WorkspaceID {
			t.Fatalf("woke %+v", ref)
		}
	default:
		t.Fatal("the Waker was not called when the nodes ended")
	}
}

func TestScaleWorkers(t *testing.T) {
	t.Parallel()
	r := newRuntime(t, dataDir(t))
	c := testCluster("ray-scaleworkers001")
	applyUntil(t, r, c, "2 workers", ready)

	c.RunningSpec.Workers[0].Replica = 3
	obs := applyUntil(t, r, c, "3 workers", ready)
	if obs.ReadyWorkers != 3 || len(obs.Nodes) != 4 {
		t.Fatalf("after scaling to 3: %+v", obs)
	}
	before := nodeRecords(r, c)

	c.RunningSpec.Workers[0].Replica = 1
	obs = applyUntil(t, r, c, "1 worker", func(o reconcile.Observation) bool {
		return ready(o) && len(o.Nodes) == 2
	})
	if obs.Nodes[1].InstanceID != c.ID+"-cpu-worker-0" {
		t.Fatalf("kept %s, want worker 0", obs.Nodes[1].InstanceID)
	}
	after := nodeRecords(r, c)
	if len(after) != 2 || after[1].PID != before[1].PID {
		t.Fatalf("worker 0 was replaced: %+v", after)
	}
	for _, rec := range before[2:] {
		if alive(rec.PID) {
			t.Fatalf("%s (pid %d) still runs", rec.Node, rec.PID)
		}
		if _, err := os.Stat(rec.Log); err != nil {
			t.Fatalf("log of a scaled-down worker: %v", err)
		}
	}
	suspendUntilGone(t, r, c, false)
}

func TestSuspendEndsEveryProcess(t *testing.T) {
	t.Parallel()
	dir := dataDir(t)
	r := newRuntime(t, dir, func(c *Config) { c.Grace = time.Second })
	c := testCluster("ray-suspendends001")
	// One worker ignores SIGTERM: the grace period must end in SIGKILL.
	c.RunningSpec.Workers = append(c.RunningSpec.Workers, rayfleet.WorkerSpec{
		GroupName: "stubborn", Replica: 1, CPU: "1", Memory: "1Gi", Env: "FAKERAY_IGNORE_TERM=1"})
	applyUntil(t, r, c, "3 workers", ready)
	recs := nodeRecords(r, c)
	// A process is running before it has set up its signal handling: wait
	// until every node says it is up, or an early TERM kills the stubborn one.
	poll.Until(t, 15*time.Second, "every node to say it started", func() bool {
		for _, rec := range recs {
			if b, err := os.ReadFile(rec.Log); err != nil || !strings.Contains(string(b), "Ray runtime started.") {
				return false
			}
		}
		return true
	})

	ctx := context.Background()
	if err := r.Suspend(ctx, c); err != nil {
		t.Fatal(err)
	}
	obs, _ := r.Observe(ctx, c)
	if !obs.Exists || !strings.HasPrefix(obs.Progress, "stopping") {
		t.Fatalf("right after Suspend: %+v", obs)
	}
	// Once every process is gone (before the follow-up Suspend), the nodes
	// show how they ended.
	poll.Until(t, 15*time.Second, "every node to end", func() bool {
		for _, rec := range nodeRecords(r, c) {
			if !rec.Exited {
				return false
			}
		}
		return true
	})
	obs, _ = r.Observe(ctx, c)
	for _, n := range obs.Nodes {
		want := int32(0)
		if n.Group == "stubborn" {
			want = 128 + 9
		}
		if n.ContainerState != "Terminated" || n.ContainerExitCode != want {
			t.Errorf("%s: %s code %d, want Terminated %d", n.InstanceID, n.ContainerState, n.ContainerExitCode, want)
		}
	}
	suspendUntilGone(t, r, c, false)
	for _, rec := range recs {
		if err := syscall.Kill(rec.PID, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s: kill(%d, 0) = %v, want ESRCH", rec.Node, rec.PID, err)
		}
		if err := syscall.Kill(-rec.PGID, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s: kill(-%d, 0) = %v, want ESRCH", rec.Node, rec.PGID, err)
		}
		if _, err := os.Stat(rec.Log); err != nil {
			t.Errorf("Suspend removed the log: %v", err)
		}
	}
	if states, _ := filepath.Glob(filepath.Join(dir, "local", "clusters", c.ID, "*", "*.json")); len(states) != 0 {
		t.Fatalf("state files left: %v", states)
	}
}

func TestHeadCrashIsAFailure(t *testing.T) {
	t.Parallel()
	r := newRuntime(t, dataDir(t))
	c := testCluster("ray-headcrash00001")
	c.RunningSpec.Head.Env = "FAKERAY_EXIT_AFTER=1500ms"
	obs := applyUntil(t, r, c, "a failure", func(o reconcile.Observation) bool { return o.Failure != "" })
	head := nodeRecords(r, c)[0]
	for _, want := range []string{"head node exited with code 3", "simulated crash", "logs: " + head.Log} {
		if !strings.Contains(obs.Failure, want) {
			t.Errorf("Failure %q lacks %q", obs.Failure, want)
		}
	}
	if n := obs.Nodes[0]; n.Phase != "Failed" || n.ContainerExitCode != 3 || n.Reason != "Error" || !strings.Contains(n.Message, "simulated crash") {
		t.Errorf("head node: %+v", n)
	}
	// The head is never restarted.
	for range 3 {
		if err := r.Apply(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	if again := nodeRecords(r, c)[0]; again.PID != head.PID || !again.Exited {
		t.Fatalf("head restarted: %+v", again)
	}
	suspendUntilGone(t, r, c, false)
}

func TestMissingRay(t *testing.T) {
	// Not parallel: it empties PATH.
	ctx := context.Background()
	t.Run("ray-path", func(t *testing.T) {
		r := newRuntime(t, dataDir(t), func(c *Config) { c.RayPath = "/nonexistent/bin/ray" })
		c := testCluster("ray-missingray0001")
		if err := r.Apply(ctx, c); err != nil {
			t.Fatalf("Apply: %v", err)
		}
		obs, err := r.Observe(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"the ray executable was not found", "/nonexistent/bin/ray", `pip install "ray[default]"`} {
			if !strings.Contains(obs.Failure, want) {
				t.Errorf("Failure %q lacks %q", obs.Failure, want)
			}
		}
		if obs.Exists || obs.HeadReady {
			t.Errorf("observation: %+v", obs)
		}
	})
	t.Run("path", func(t *testing.T) {
		t.Setenv("PATH", "")
		r := newRuntime(t, dataDir(t), func(c *Config) { c.RayPath = "" })
		c := testCluster("ray-missingray0002")
		if err := r.Apply(ctx, c); err != nil {
			t.Fatalf("Apply: %v", err)
		}
		obs, _ := r.Observe(ctx, c)
		if !strings.Contains(obs.Failure, "not in PATH") || !strings.Contains(obs.Failure, "pip install") {
			t.Fatalf("Failure %q", obs.Failure)
		}
		// Installing Ray needs no restart of rayfleet.
		t.Setenv("PATH", filepath.Dir(fakeRay))
		applyUntil(t, r, c, "ready once ray is on PATH", ready)
		suspendUntilGone(t, r, c, false)
	})
}

func TestReadoptAfterRestart(t *testing.T) {
	t.Parallel()
	dir := dataDir(t)
	r1 := newRuntime(t, dir)
	c := testCluster("ray-readopt000001")
	applyUntil(t, r1, c, "ready", ready)
	before := nodeRecords(r1, c)
	r1.Close()
	for _, rec := range before {
		if !alive(rec.PID) {
			t.Fatalf("%s died with the runtime", rec.Node)
		}
	}

	r2 := newRuntime(t, dir)
	ctx := context.Background()
	var obs reconcile.Observation
	poll.Until(t, 10*time.Second, "the new runtime to see the head ready", func() bool {
		obs, _ = r2.Observe(ctx, c)
		return ready(obs)
	})
	after := nodeRecords(r2, c)
	if len(after) != len(before) {
		t.Fatalf("adopted %d nodes, want %d", len(after), len(before))
	}
	for i := range before {
		if after[i].Node != before[i].Node || after[i].PID != before[i].PID || after[i].Exited {
			t.Fatalf("adopted %+v, want %+v", after[i], before[i])
		}
	}
	// Apply adopts, it does not start anything again.
	if err := r2.Apply(ctx, c); err != nil {
		t.Fatal(err)
	}
	if n := len(nodeRecords(r2, c)); n != 3 {
		t.Fatalf("%d nodes after Apply", n)
	}
	suspendUntilGone(t, r2, c, false)
	for _, rec := range before {
		if alive(rec.PID) {
			t.Fatalf("%s still runs after Suspend", rec.Node)
		}
	}
}

// TestLostProcessesAreNotSignalled writes state files whose pids are gone
// or belong to another process: they are recorded as lost, and Suspend
// signals nothing.
func TestLostProcessesAreNotSignalled(t *testing.T) {
	t.Parallel()
	dir := dataDir(t)
	c := testCluster("ray-lostprocess001")
	files := layout{root: filepath.Join(dir, "local")}

	// A process that is not the node's but holds the recorded pid (as after
	// pid reuse): it must survive.
	other := exec.Command("sleep", "60")
	other.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Process.Kill(); other.Wait() })
	// A pid whose process is gone.
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	boot := readBootID()
	for _, rec := range []*record{
		{Cluster: c.ID, Instance: c.InstanceID, Node: headNodeName(c.ID), Type: typeHead,
			PID: other.Process.Pid, PGID: other.Process.Pid, ProcStart: 1, BootID: boot,
			Log: files.logPath(c.ID, c.InstanceID, headNodeName(c.ID))},
		{Cluster: c.ID, Instance: c.InstanceID, Node: workerNodeName(c.ID, "cpu", 0), Type: typeWorker, Group: "cpu",
			PID: gone.Process.Pid, PGID: gone.Process.Pid, ProcStart: 1, BootID: boot,
			Log: files.logPath(c.ID, c.InstanceID, workerNodeName(c.ID, "cpu", 0))},
	} {
		if err := files.write(rec); err != nil {
			t.Fatal(err)
		}
	}

	r := newRuntime(t, dir)
	ctx := context.Background()
	obs, err := r.Observe(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if !obs.Exists || len(obs.Nodes) != 2 {
		t.Fatalf("observation: %+v", obs)
	}
	for _, n := range obs.Nodes {
		if n.Phase != "Failed" || n.ContainerExitCode != -1 || n.Reason != "Lost" || n.ContainerStateMessage != lostMessage {
			t.Errorf("%s: %+v", n.InstanceID, n)
		}
	}
	if !strings.Contains(obs.Failure, "head node exited with code -1 ("+lostMessage+")") {
		t.Errorf("Failure %q", obs.Failure)
	}
	// Apply never restarts that head; Suspend ends nothing and forgets them.
	if err := r.Apply(ctx, c); err != nil {
		t.Fatal(err)
	}
	suspendUntilGone(t, r, c, false)
	if !alive(other.Process.Pid) {
		t.Fatal("a process that was not the node's was signalled")
	}
}

// TestAdoptStartingRecord covers a crash between starting a node and
// writing its pid: the record has no pid, the process carries the marker.
func TestAdoptStartingRecord(t *testing.T) {
	t.Parallel()
	dir := dataDir(t)
	c := testCluster("ray-startingrec001")
	c.RunningSpec.Workers = nil
	files := layout{root: filepath.Join(dir, "local")}
	root := tempRoot(t, dir)

	n := headSpec(c)
	ports, err := newPortAllocator(map[int]bool{}).ports(true)
	if err != nil {
		t.Fatal(err)
	}
	tmp := tempDirFor(root, c.ID, c.InstanceID, n.name)
	args, err := rayArgs(n, ports, "127.0.0.1", "", tmp, 0)
	if err != nil {
		t.Fatal(err)
	}
	rec := &record{Cluster: c.ID, Instance: c.InstanceID, Node: n.name, Type: typeHead,
		Ports: ports, TempDir: tmp, Args: append([]string{fakeRay}, args...),
		Log: files.logPath(c.ID, c.InstanceID, n.name), Created: time.Now()}
	if err := files.write(rec); err != nil {
		t.Fatal(err)
	}
	env, _ := nodeEnv(os.Environ(), n, rec.marker(), "")
	pid, _, err := startProcess(rec.Args, env, t.TempDir(), rec.Log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-pid, syscall.SIGKILL)
		var ws syscall.WaitStatus
		syscall.Wait4(pid, &ws, 0, nil)
	})
	// The process must be up (its environment readable) before the new
	// runtime looks for it, as it would be after any real crash.
	poll.Until(t, 10*time.Second, "the head to start", func() bool {
		return dialable(context.Background(), net.JoinHostPort("127.0.0.1", strconv.Itoa(ports.GCS)))
	})

	r := newRuntime(t, dir, func(cfg *Config) { cfg.TempRoot = root })
	got := nodeRecords(r, c)
	if len(got) != 1 || got[0].PID != pid || got[0].Exited {
		t.Fatalf("adopted %+v, want pid %d", got, pid)
	}
	applyUntil(t, r, c, "ready", ready)
	suspendUntilGone(t, r, c, false)
	if alive(pid) {
		t.Fatal("the adopted head still runs after Suspend")
	}
}

// TestForgetNeverStartedRecord covers a crash after a node's record was
// written and before its process started: no process carries the marker,
// so the node is not reported lost (which would fail the cluster) but
// started afresh.
func TestForgetNeverStartedRecord(t *testing.T) {
	t.Parallel()
	dir := dataDir(t)
	c := testCluster("ray-neverstarted01")
	c.RunningSpec.Workers = nil
	files := layout{root: filepath.Join(dir, "local")}
	root := tempRoot(t, dir)
	n := headSpec(c)
	rec := &record{Cluster: c.ID, Instance: c.InstanceID, Node: n.name, Type: typeHead,
		TempDir: tempDirFor(root, c.ID, c.InstanceID, n.name), Args: []string{fakeRay, "start", "--head"},
		Log: files.logPath(c.ID, c.InstanceID, n.name), Created: time.Now()}
	if err := files.write(rec); err != nil {
		t.Fatal(err)
	}

	r := newRuntime(t, dir, func(cfg *Config) { cfg.TempRoot = root })
	if got := nodeRecords(r, c); len(got) != 0 {
		t.Fatalf("records after the restart: %+v, want none", got)
	}
	if _, err := os.Stat(files.statePath(rec)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("state file of the never-started node: %v", err)
	}
	obs, err := r.Observe(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if obs.Failure != "" {
		t.Fatalf("Failure %q for a node that never started", obs.Failure)
	}
	applyUntil(t, r, c, "ready", ready)
	suspendUntilGone(t, r, c, false)
}

func TestTwoClustersDoNotCollide(t *testing.T) {
	t.Parallel()
	r := newRuntime(t, dataDir(t))
	a, b := testCluster("ray-twoclustersaa01"), testCluster("ray-twoclustersbb01")
	b.RunningSpec.Workers[0].Replica = 1
	poll.Until(t, 20*time.Second, "both clusters ready", func() bool {
		ok := true
		for _, c := range []*rayfleet.Cluster{a, b} {
			if err := r.Apply(context.Background(), c); err != nil {
				t.Fatal(err)
			}
			obs, _ := r.Observe(context.Background(), c)
			ok = ok && ready(obs)
		}
		return ok
	})
	owner := map[int]string{}
	for _, c := range []*rayfleet.Cluster{a, b} {
		for _, rec := range nodeRecords(r, c) {
			for _, p := range rec.Ports.list() {
				if p == 0 {
					continue
				}
				if o, dup := owner[p]; dup {
					t.Fatalf("port %d of %s is also %s's", p, rec.Node, o)
				}
				owner[p] = rec.Node
			}
		}
	}
	da, _, _ := r.HeadEndpoints(a)
	db, _, _ := r.HeadEndpoints(b)
	if da == db {
		t.Fatalf("both dashboards on %s", da)
	}
	suspendUntilGone(t, r, a, false)
	suspendUntilGone(t, r, b, false)
}

func TestDeleteRemovesTheClusterDirectory(t *testing.T) {
	t.Parallel()
	dir := dataDir(t)
	r := newRuntime(t, dir)
	c := testCluster("ray-deletecluster01")
	applyUntil(t, r, c, "ready", ready)
	recs := nodeRecords(r, c)
	suspendUntilGone(t, r, c, true)
	if _, err := os.Stat(filepath.Join(dir, "local", "clusters", c.ID)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("cluster directory: %v", err)
	}
	for _, rec := range recs {
		if alive(rec.PID) {
			t.Fatalf("%s still runs", rec.Node)
		}
		if _, err := os.Stat(rec.TempDir); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("Ray temp directory %s: %v", rec.TempDir, err)
		}
	}
	// Delete of what is gone is a no-op.
	if err := r.Delete(context.Background(), c); err != nil {
		t.Fatal(err)
	}
}

func TestWorkerRestartsAfterACrash(t *testing.T) {
	t.Parallel()
	r := newRuntime(t, dataDir(t))
	c := testCluster("ray-workercrash001")
	c.RunningSpec.Workers[0].Replica = 1
	c.RunningSpec.Workers[0].Env = "FAKERAY_EXIT_AFTER=1s"
	applyUntil(t, r, c, "ready", ready)
	first := nodeRecords(r, c)[1]
	obs := applyUntil(t, r, c, "the worker to crash", func(o reconcile.Observation) bool { return o.ReadyWorkers == 0 })
	if obs.Failure != "" || !strings.Contains(obs.Progress, "restarting in") {
		t.Fatalf("after a worker crash: %+v", obs)
	}
	applyUntil(t, r, c, "the worker to run again", func(o reconcile.Observation) bool { return o.ReadyWorkers == 1 })
	again := nodeRecords(r, c)[1]
	if again.PID == first.PID || again.Restarts != 1 {
		t.Fatalf("restarted worker: %+v", again)
	}
	suspendUntilGone(t, r, c, false)
}

func TestBadRayStartParamsAreAFailure(t *testing.T) {
	t.Parallel()
	r := newRuntime(t, dataDir(t))
	c := testCluster("ray-badparams00001")
	c.RunningSpec.Head.RayStartParams = `--resources='{"x": 1}`
	if err := r.Apply(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	obs, _ := r.Observe(context.Background(), c)
	if obs.Exists || !strings.Contains(obs.Failure, "headSpec.rayStartParams has an unterminated ' quote") {
		t.Fatalf("observation: %+v", obs)
	}
}

func TestClosedRuntime(t *testing.T) {
	t.Parallel()
	r := newRuntime(t, dataDir(t))
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	c := testCluster("ray-closedruntime1")
	if err := r.Apply(context.Background(), c); !errors.Is(err, errClosed) {
		t.Fatalf("Apply after Close: %v", err)
	}
}

func TestSlowHead(t *testing.T) {
	t.Parallel()
	r := newRuntime(t, dataDir(t))
	c := testCluster("ray-slowhead000001")
	c.RunningSpec.Head.Env = "FAKERAY_HEAD_DELAY=2s"
	// Workers start once the GCS answers, before the dashboard does.
	obs := applyUntil(t, r, c, "workers before the dashboard", func(o reconcile.Observation) bool { return o.ReadyWorkers == 2 })
	if obs.HeadReady {
		t.Skip("the dashboard came up before the workers; the machine is too slow for this test")
	}
	dash, _, _ := r.HeadEndpoints(c)
	if obs.Progress != "waiting for the head's dashboard on "+dash {
		t.Fatalf("progress %q", obs.Progress)
	}
	applyUntil(t, r, c, "ready", ready)
	suspendUntilGone(t, r, c, false)
}

func TestFakeRayWorkerWithoutHead(t *testing.T) {
	t.Parallel()
	// A port nothing listens on: bind it and let it go.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(fakeRay, "start", "--block", "--address="+addr, "--num-cpus", "1", "--unknown-flag", "--disable-usage-stats")
	cmd.Env = append(os.Environ(), "FAKERAY_CONNECT_TIMEOUT=300ms")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(out), "could not connect to the GCS at "+addr) {
		t.Fatalf("err %v, output:\n%s", err, out)
	}
	v, err := exec.Command(fakeRay, "--version").Output()
	if err != nil || strings.TrimSpace(string(v)) != "ray, version 2.47.1 (fake)" {
		t.Fatalf("--version: %q %v", v, err)
	}
}
