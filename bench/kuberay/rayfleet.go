package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	rayv1 "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/rayfleet/rayfleet/api"
	"github.com/rayfleet/rayfleet/api/signer"
	"github.com/rayfleet/rayfleet/bench/internal/benchproc"
)

// rayfleetSide drives a real `rayfleet server --runtime kuberay` process.
type rayfleetSide struct {
	bin, kubeconfig, dir string
	workers              int
	opts                 options
	kube                 *kube
	meter                *meter
	profile              string // when set, rayfleet runs in this program under a CPU profile written here

	cmd  *exec.Cmd
	done chan struct{}
	addr string
	api  *api.Client
	ws   string // the benchmark's workspace
}

func (s *rayfleetSide) dataDir() string { return filepath.Join(s.dir, "rayfleet-data") }

// namespace is the workspace's namespace (the server's default prefix).
func (s *rayfleetSide) namespace() string { return "rayfleet-" + s.ws }

func (s *rayfleetSide) start(ctx context.Context) error {
	if s.addr == "" { // the same address for every start: the client keeps it
		ports, err := freePorts(1)
		if err != nil {
			return err
		}
		s.addr = "127.0.0.1:" + strconv.Itoa(ports[0])
	}
	args := []string{"server", "--runtime", "kuberay", "--kubeconfig", s.kubeconfig, "--data-dir", s.dataDir(),
		"--api-addr", s.addr, "--gateway-listen", "127.0.0.1:0", "--gateway-grpc-listen", "127.0.0.1:0"}
	if s.workers > 0 {
		args = append(args, "--reconcile-workers", strconv.Itoa(s.workers))
	}
	logPath := filepath.Join(s.dir, "rayfleet.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	s.cmd = exec.Command(s.bin, args...)
	if s.profile != "" {
		self, err := os.Executable()
		if err != nil {
			return err
		}
		s.cmd = exec.Command(self, append([]string{"-serve-rayfleet", s.profile}, args[1:]...)...)
	}
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	s.cmd.Env = append(os.Environ(), "RAYFLEET_CONFIG="+filepath.Join(s.dir, "cli-config.json"), "HOME="+s.dir)
	// A benchmark killed hard must not leave the server running.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := s.cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start rayfleet: %w", err)
	}
	s.done = make(chan struct{})
	go func() { _ = s.cmd.Wait(); logFile.Close(); close(s.done) }()
	if err := waitReady(ctx, s.addr, s.done); err != nil {
		_ = s.stop()
		return fmt.Errorf("%w; see %s", err, logPath)
	}
	return nil
}

// stop sends SIGTERM and waits; after 40 s it kills.
func (s *rayfleetSide) stop() error {
	if s.cmd == nil {
		return nil
	}
	defer func() { s.cmd = nil }()
	select {
	case <-s.done:
		return fmt.Errorf("rayfleet exited early: %v", s.cmd.ProcessState)
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		return nil
	case <-time.After(40 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
		return errors.New("rayfleet ignored SIGTERM for 40s and was killed")
	}
}

func waitReady(ctx context.Context, addr string, exited <-chan struct{}) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/readyz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return errors.New("rayfleet exited before it was ready")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("rayfleet at %s not ready after 2 minutes", addr)
		}
	}
}

// setup reads the root credentials of the first start and creates the
// benchmark's workspace, with a quota for the largest N.
// settle brings a server just started to the state of one that has been
// running: one signed ListRayCluster, as the round's polls make (the
// connection, the authentication and list caches), then a wait until the
// process is idle (under 2 ms of CPU in 250 ms, for at most 10 s), so that
// its start (informers syncing, the first resync, the heap growing) is not
// counted in the round. A rayfleet server is a long-running process; the
// benchmark stops it between its rounds only so that the baseline's rounds
// run without it.
func (s *rayfleetSide) settle(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	if _, _, err := s.countRunning(ctx, nil); err != nil {
		return 0, fmt.Errorf("first list: %w", err)
	}
	pid := s.cmd.Process.Pid
	for time.Since(start) < 10*time.Second {
		a, err := benchproc.CPUTime(pid)
		if err != nil {
			return 0, err
		}
		if err := sleep(ctx, 250*time.Millisecond); err != nil {
			return 0, err
		}
		b, err := benchproc.CPUTime(pid)
		if err != nil {
			return 0, err
		}
		if b-a < 2*time.Millisecond {
			break
		}
	}
	return time.Since(start), nil
}

func (s *rayfleetSide) setup(ctx context.Context, cu int64) error {
	b, err := os.ReadFile(filepath.Join(s.dataDir(), "credentials"))
	if err != nil {
		return err
	}
	var cred struct{ AccessKeyID, AccessKeySecret string }
	if err := json.Unmarshal(b, &cred); err != nil {
		return err
	}
	s.api = &api.Client{
		Endpoint:    s.addr,
		Credentials: signer.Credentials{AccessKeyID: cred.AccessKeyID, AccessKeySecret: cred.AccessKeySecret},
		HTTP:        &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: time.Minute},
	}
	q := api.FlexInt(cu)
	w, err := s.api.CreateWorkspace(ctx, &api.CreateWorkspaceRequest{WorkspaceName: "bench", ResourceSpec: api.ResourceSpec{CU: &q}})
	if err != nil {
		return fmt.Errorf("create workspace: %w", err)
	}
	s.ws = w.WorkspaceID
	return nil
}

// clusterRequest is every benchmark cluster: a 1 CPU / 4 GiB head and one
// worker of the same size, no autoscaling.
func clusterRequest(name string) *api.ClusterRequest {
	release := "ray-1.0.0 (Ray 2.47.1, Python 3.12)"
	return &api.ClusterRequest{
		Name:                  &name,
		DisplayReleaseVersion: &release,
		HeadSpec:              &api.HeadSpec{QueueName: "root_queue", CPU: "1", Memory: "4Gi"},
		WorkerSpec: &[]api.WorkerSpec{{
			GroupName: "group-1", Replica: 1, QueueName: "root_queue", CPU: "1", Memory: "4Gi",
		}},
	}
}

// template starts one cluster through rayfleet, waits until it is Running,
// and returns its RayCluster as rayfleet applied it; the cluster is then
// deleted.
func (s *rayfleetSide) template(ctx context.Context) (*rayv1.RayCluster, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	res, err := s.api.CreateCluster(ctx, s.ws, clusterRequest("bench-template"))
	if err != nil {
		return nil, fmt.Errorf("create the template cluster: %w", err)
	}
	for {
		c, err := s.api.GetCluster(ctx, s.ws, res.ClusterID)
		if err != nil {
			return nil, err
		}
		if c.State == "Running" {
			break
		}
		if c.State == "Error" {
			return nil, fmt.Errorf("the template cluster is in Error")
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return nil, fmt.Errorf("the template cluster not Running (%s): %w", c.State, err)
		}
	}
	var rc rayv1.RayCluster
	if err := s.kube.c.Get(ctx, client.ObjectKey{Namespace: s.namespace(), Name: res.ClusterID}, &rc); err != nil {
		return nil, fmt.Errorf("read the template RayCluster: %w", err)
	}
	if _, err := s.cleanup(ctx); err != nil {
		return nil, err
	}
	return &rc, nil
}

// sideResult is one side's figures for one N, as durations since the
// first create call was sent.
type sideResult struct {
	created    time.Duration // every create call answered
	objects    time.Duration // every RayCluster exists
	headsReady time.Duration // every head pod is ready (what rayfleet's Running waits for)
	kubeReady  time.Duration // KubeRay says every RayCluster is ready
	running    time.Duration // rayfleet's API says every cluster is Running
	ready      time.Duration // the side's end: running (rayfleet) or kubeReady (baseline)
	use        usage
	polls      int
}

func (s *rayfleetSide) round(ctx context.Context, n int) (sideResult, error) {
	var r sideResult
	ctx, cancel := context.WithTimeout(ctx, s.opts.timeout)
	defer cancel()
	pid := s.cmd.Process.Pid
	s0 := s.meter.sample(ctx, pid)
	start := time.Now()
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	w := s.kube.watchRayClusters(wctx, s.namespace(), start)

	ids := make([]string, n)
	err := forEach(ctx, n, s.opts.concurrency, func(i int) error {
		res, err := s.api.CreateCluster(ctx, s.ws, clusterRequest(fmt.Sprintf("bench-%d", i)))
		if err != nil {
			return err
		}
		ids[i] = res.ClusterID
		return nil
	})
	if err != nil {
		return r, fmt.Errorf("create: %w", err)
	}
	r.created = time.Since(start)

	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	for {
		running, states, err := s.countRunning(ctx, want)
		r.polls++
		if err != nil {
			return r, err
		}
		if states["Error"] > 0 {
			return r, fmt.Errorf("%d clusters in Error", states["Error"])
		}
		if running == n {
			r.running = time.Since(start)
			break
		}
		if err := sleep(ctx, pollInterval(s.opts.poll, n)); err != nil {
			return r, fmt.Errorf("%d of %d Running (%v): %w", running, n, states, err)
		}
	}
	r.ready = r.running
	r.use = diff(s0, s.meter.sample(ctx, pid))
	// The watch has seen every RayCluster and its ready state by now, or
	// will within moments (KubeRay may write ready after rayfleet's
	// Running: rayfleet needs only the head).
	if r.objects, err = w.waitFor(ctx, ids, untilExists); err != nil {
		return r, err
	}
	if r.headsReady, err = w.waitFor(ctx, ids, untilHeadReady); err != nil {
		return r, err
	}
	if r.kubeReady, err = w.waitFor(ctx, ids, untilReady); err != nil {
		return r, err
	}
	return r, nil
}

// pollInterval is how often the rayfleet side lists while waiting: a list
// of N clusters costs the server about N × 10 µs of CPU per page of 100,
// and polling must not take the machine from KubeRay. For small N the
// floor (-poll, 5 ms) keeps the poll from adding more than a few
// milliseconds to a round of 0.1 s that the baseline's watch sees at once.
func pollInterval(poll time.Duration, n int) time.Duration {
	return max(poll, time.Duration(n)*2*time.Millisecond)
}

// countRunning lists every cluster of the workspace and counts those of
// want that are Running, and the states of all of want.
func (s *rayfleetSide) countRunning(ctx context.Context, want map[string]bool) (int, map[string]int, error) {
	states := map[string]int{}
	running := 0
	for page := 1; ; page++ {
		l, err := s.api.ListClusters(ctx, s.ws, api.ListClustersOptions{PageNum: page, PageSize: 100})
		if err != nil {
			return 0, nil, fmt.Errorf("list: %w", err)
		}
		for _, c := range l.RayClusters {
			if want[c.ClusterID] {
				states[c.State]++
				if c.State == "Running" {
					running++
				}
			}
		}
		if len(l.RayClusters) < 100 || page*100 >= l.TotalCount {
			return running, states, nil
		}
	}
}

// cleanup deletes every cluster of the workspace through the API and waits
// until the API lists none and the namespace holds no RayCluster or pod.
func (s *rayfleetSide) cleanup(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, s.opts.timeout)
	defer cancel()
	var ids []string
	for page := 1; ; page++ {
		l, err := s.api.ListClusters(ctx, s.ws, api.ListClustersOptions{PageNum: page, PageSize: 100})
		if err != nil {
			return 0, err
		}
		for _, c := range l.RayClusters {
			ids = append(ids, c.ClusterID)
		}
		if len(l.RayClusters) < 100 {
			break
		}
	}
	if err := forEach(ctx, len(ids), s.opts.concurrency, func(i int) error {
		_, err := s.api.DeleteCluster(ctx, s.ws, ids[i])
		return err
	}); err != nil {
		return 0, fmt.Errorf("delete: %w", err)
	}
	for {
		l, err := s.api.ListClusters(ctx, s.ws, api.ListClustersOptions{PageSize: 1})
		if err != nil {
			return 0, err
		}
		if l.TotalCount == 0 {
			break
		}
		if err := sleep(ctx, 250*time.Millisecond); err != nil {
			return 0, fmt.Errorf("%d clusters still listed: %w", l.TotalCount, err)
		}
	}
	if err := s.kube.waitEmpty(ctx, s.namespace()); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// forEach runs f(0..n-1) with at most c calls at once, and returns the
// first error (after the calls in flight end).
func forEach(ctx context.Context, n, c int, f func(i int) error) error {
	sem := make(chan struct{}, c)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		}
		mu.Lock()
		failed := first != nil
		mu.Unlock()
		if failed {
			<-sem
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := f(i); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}
