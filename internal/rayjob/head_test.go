package rayjob

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
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
	"github.com/rayfleet/rayfleet/internal/raytest"
)

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// freePorts returns n distinct ports free on this machine: all bound at
// once, then released for Ray to take (a race with other programs that is
// accepted, as the local runtime accepts it).
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", ":0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// head is a Ray head started for one test.
type head struct {
	addr, token string
	log         string
}

// startHead starts `ray start --head --block` with token authentication
// on, every port its own (others on the machine run Ray too), under a
// short temporary directory (Ray's socket paths must stay under the Unix
// limit), and arranges for every process it started to be killed when
// the test ends, which the test then checks.
func startHead(t *testing.T) head {
	t.Helper()
	ray := raytest.Ray(t)
	root, err := os.MkdirTemp("/tmp", "rjt-")
	if err != nil {
		t.Fatal(err)
	}
	// rayfleet-<8 hex> is the name raytest knows a node's temp dir by.
	tempDir := filepath.Join(root, "rayfleet-"+randomHex(t, 4))
	p := freePorts(t, 9+16)
	workerPorts := make([]string, 16)
	for i, port := range p[9:] {
		workerPorts[i] = strconv.Itoa(port)
	}
	h := head{addr: "http://127.0.0.1:" + strconv.Itoa(p[1]), token: randomHex(t, 32), log: filepath.Join(root, "head.log")}
	args := []string{"start", "--head", "--block", "--node-ip-address=127.0.0.1",
		"--port=" + strconv.Itoa(p[0]), "--include-dashboard=true", "--dashboard-host=127.0.0.1", "--dashboard-port=" + strconv.Itoa(p[1]),
		"--ray-client-server-port=" + strconv.Itoa(p[2]), "--node-manager-port=" + strconv.Itoa(p[3]),
		"--object-manager-port=" + strconv.Itoa(p[4]), "--dashboard-agent-listen-port=" + strconv.Itoa(p[5]),
		"--dashboard-agent-grpc-port=" + strconv.Itoa(p[6]), "--metrics-export-port=" + strconv.Itoa(p[7]),
		"--runtime-env-agent-port=" + strconv.Itoa(p[8]), "--worker-port-list=" + strings.Join(workerPorts, ","),
		"--num-cpus=2", "--num-gpus=0", "--object-store-memory=" + strconv.Itoa(100<<20),
		"--temp-dir=" + tempDir, "--disable-usage-stats"}
	logf, err := os.Create(h.log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(ray, args...)
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	env := []string{
		"RAY_AUTH_MODE=token", "RAY_AUTH_TOKEN=" + h.token, "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S=0", "RAY_USAGE_STATS_ENABLED=0",
		// The node marker of raytest, so the processes found are this
		// head's; the ray executable's Python first on PATH, for the
		// entrypoints' "python".
		"RAYFLEET_LOCAL_NODE=rayjob-test-" + filepath.Base(root),
		"PATH=" + filepath.Dir(ray) + string(os.PathListSeparator) + os.Getenv("PATH"),
	}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RAY_") && !strings.HasPrefix(kv, "PATH=") && !strings.HasPrefix(kv, "RAYFLEET_") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); logf.Close() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		raytest.Kill(root)
		if left := raytest.Processes(root); len(left) > 0 {
			t.Errorf("processes of the head outlive the test:%s", raytest.Names(left))
		}
		if !t.Failed() {
			_ = os.RemoveAll(root)
		}
	})

	c := &Client{Address: h.addr, Token: h.token, HTTP: &http.Client{Timeout: 5 * time.Second}}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		select {
		case err := <-exited:
			t.Fatalf("ray start exited: %v\n%s", err, tail(h.log))
		default:
		}
		if _, err := c.Version(t.Context()); err == nil {
			return h
		} else if time.Now().After(deadline) {
			t.Fatalf("the head's job API did not answer within 3 minutes: %v\n%s", err, tail(h.log))
		}
		time.Sleep(500 * time.Millisecond) // poll interval
	}
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	return lastLines(string(b), 3000)
}

// waitJob polls a job until cond holds of it, failing after d.
func waitJob(t *testing.T, c *Client, id string, d time.Duration, what string, cond func(JobInfo) bool) JobInfo {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		j, err := c.Job(t.Context(), id)
		if err == nil && cond(j) {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s not %s within %v: %+v, %v", id, what, d, j, err)
		}
		time.Sleep(250 * time.Millisecond) // poll interval
	}
}

// submitWhenReady submits, retrying while the head's job agent is not yet
// up (the head answers 500 "No available agent" until it is).
func submitWhenReady(t *testing.T, c *Client, req SubmitRequest) bool {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		created, err := c.Submit(t.Context(), req)
		if err == nil {
			return created
		}
		var e *Error
		if !errors.As(err, &e) || e.StatusCode != http.StatusInternalServerError || time.Now().After(deadline) {
			t.Fatalf("submit %s: %v", req.SubmissionID, err)
		}
		time.Sleep(time.Second) // poll interval
	}
}

func terminal(j JobInfo) bool {
	return j.Status == rayfleet.RayJobSucceeded || j.Status == rayfleet.RayJobFailed || j.Status == rayfleet.RayJobStopped
}

// TestRealHead drives a real Ray head with token authentication: a job
// with a working directory uploaded as `ray job submit --working-dir`
// would, submitted twice under one submission id, run to SUCCEEDED, its
// log read; a sleeping job stopped.
func TestRealHead(t *testing.T) {
	h := startHead(t)
	ctx := t.Context()
	c := &Client{Address: h.addr, Token: h.token, HTTP: &http.Client{Timeout: 30 * time.Second}}

	// Without the token, or with another, the head refuses.
	for _, tok := range []string{"", "wrong"} {
		_, err := (&Client{Address: h.addr, Token: tok}).Version(ctx)
		var e *Error
		if !errors.As(err, &e) || (e.StatusCode != http.StatusUnauthorized && e.StatusCode != http.StatusForbidden) {
			t.Fatalf("the job API with token %q: %v, want 401 or 403", tok, err)
		}
	}
	v, err := c.Version(ctx)
	if err != nil || v.RayVersion == "" {
		t.Fatalf("version: %+v, %v", v, err)
	}

	dir := t.TempDir()
	for name, body := range map[string]string{
		"main.py":        "import os\nprint(os.environ['GREETING'], open('data/input.txt').read().strip(), flush=True)\n",
		"data/input.txt": "from the working dir",
		"notes.log":      "left out by .gitignore",
		".gitignore":     "*.log\n",
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	uri, err := c.UploadWorkingDir(ctx, WorkingDir{Path: dir})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := c.PackageExists(ctx, uri); err != nil || !ok {
		t.Fatalf("package %s after upload: %v, %v", uri, ok, err)
	}
	if again, err := c.UploadWorkingDir(ctx, WorkingDir{Path: dir}); err != nil || again != uri {
		t.Fatalf("a second upload: %s, %v", again, err)
	}

	job := rayfleet.Job{ID: "rj-" + randomHex(t, 8), Spec: rayfleet.JobSpec{
		Entrypoint: "python main.py", WorkingDir: uri, EntrypointNumCPUs: "0.5",
		RuntimeEnvJSON: `{"env_vars":{"GREETING":"hello from rayfleet"}}`, MetadataJSON: `{"owner":"rayjob-test"}`,
	}}
	if err := job.Spec.Validate(); err != nil && rayfleet.ErrorCode(err) != rayfleet.EMISSING {
		t.Fatal(err) // it names no cluster, which is the service's to give
	}
	req, err := RequestFor(&job)
	if err != nil {
		t.Fatal(err)
	}
	if !submitWhenReady(t, c, req) {
		t.Fatal("the first submit found the job there already")
	}
	// A retry, as after a crash between the submit and its record: found,
	// not submitted again.
	if created, err := c.Submit(ctx, req); err != nil || created {
		t.Fatalf("a second submit of %s: created %v, %v; want false, nil", job.ID, created, err)
	}
	got := waitJob(t, c, job.ID, 3*time.Minute, "ended", terminal)
	logs, logErr := c.Logs(ctx, job.ID)
	if got.Status != rayfleet.RayJobSucceeded {
		t.Fatalf("job %s: %s (%s)\nlogs:\n%s%v\nhead log:\n%s", job.ID, got.Status, got.Message, logs, logErr, tail(h.log))
	}
	if st, _ := rayfleet.JobStatusOfRay(got.Status, rayfleet.JobStopNone); st != rayfleet.JobSucceeded {
		t.Errorf("SUCCEEDED maps to %s", st)
	}
	if got.SubmissionID != job.ID || got.Metadata["owner"] != "rayjob-test" || got.StartTime == 0 || got.EndTime < got.StartTime {
		t.Errorf("job as the head reports it: %+v", got)
	}
	if logErr != nil || !strings.Contains(logs, "hello from rayfleet from the working dir") {
		t.Errorf("logs of %s: %q, %v", job.ID, logs, logErr)
	}

	// The state API: the head is the cluster's one node, its log
	// directory holds the job's driver log, read whole and by its last
	// line. (The job never connects to Ray, so Ray gives it no job id and
	// it has no tasks to list: the end-to-end test of the log collector,
	// in internal/app, lists those of one that has.)
	nodes, err := c.Nodes(ctx)
	if err != nil || len(nodes) != 1 || !nodes[0].IsHead || nodes[0].State != NodeAlive || nodes[0].NodeID != got.DriverNodeID {
		t.Fatalf("nodes: %+v, %v (the driver ran on %s)", nodes, err, got.DriverNodeID)
	}
	files, err := c.NodeLogFiles(ctx, nodes[0].NodeID)
	if err != nil || !slices.Contains(files, "raylet.out") || !slices.Contains(files, "job-driver-"+job.ID+".log") {
		t.Fatalf("log files: %v, %v", files, err)
	}
	var whole, last strings.Builder
	if err := c.NodeLog(ctx, nodes[0].NodeID, "job-driver-"+job.ID+".log", -1, &whole); err != nil || whole.String() != logs {
		t.Fatalf("the driver's log file:\n%s\n(%v), the job API's:\n%s", whole.String(), err, logs)
	}
	if err := c.NodeLog(ctx, nodes[0].NodeID, "job-driver-"+job.ID+".log", 1, &last); err != nil || strings.Count(last.String(), "\n") != 1 || !strings.HasSuffix(logs, last.String()) {
		t.Fatalf("the driver's last line: %q, %v", last.String(), err)
	}
	if err := c.NodeLog(ctx, nodes[0].NodeID, "../../etc/passwd", -1, io.Discard); err == nil {
		t.Fatal("a file outside the log directory was streamed")
	}

	// A sleeping job, stopped while it runs.
	sleeper := SubmitRequest{SubmissionID: "rj-" + randomHex(t, 8), Entrypoint: `python -c "import time; print('sleeping', flush=True); time.sleep(600)"`}
	if !submitWhenReady(t, c, sleeper) {
		t.Fatal("the sleeper was there already")
	}
	waitJob(t, c, sleeper.SubmissionID, 2*time.Minute, "running", func(j JobInfo) bool { return j.Status == rayfleet.RayJobRunning })
	if stopped, err := c.Stop(ctx, sleeper.SubmissionID); err != nil || !stopped {
		t.Fatalf("stop %s: %v, %v", sleeper.SubmissionID, stopped, err)
	}
	got = waitJob(t, c, sleeper.SubmissionID, 2*time.Minute, "ended", terminal)
	if got.Status != rayfleet.RayJobStopped {
		t.Fatalf("the stopped job ended %s (%s)", got.Status, got.Message)
	}
	if st, _ := rayfleet.JobStatusOfRay(got.Status, rayfleet.JobStopCancel); st != rayfleet.JobCancelled {
		t.Errorf("STOPPED after a cancel maps to %s", st)
	}
	if _, err := c.Stop(ctx, sleeper.SubmissionID); err != nil {
		t.Errorf("stopping an ended job: %v", err)
	}

	all, err := c.Jobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, j := range all {
		seen[j.SubmissionID]++
	}
	if seen[job.ID] != 1 || seen[sleeper.SubmissionID] != 1 {
		t.Errorf("the head lists %v, want each job once", seen)
	}
	if _, err := c.Job(ctx, "rj-nosuchjob"); !errors.Is(err, ErrNotFound) {
		t.Errorf("an unknown job: %v", err)
	}
	if _, err := c.Stop(ctx, "rj-nosuchjob"); !errors.Is(err, ErrNotFound) {
		t.Errorf("stopping an unknown job: %v", err)
	}
}
