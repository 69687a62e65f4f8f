// Command soak runs one real `rayfleet server` process with the local
// runtime and real Ray under a steady mix of calls for a long time (30
// minutes by default) and tells whether the server's memory, goroutines,
// threads and open files stay level: the API through api.Client (reads,
// refused input, wrong signatures), the lifecycle of a second cluster over
// and over, and the gateway's HTTP, WebSocket and Ray client (gRPC) ways
// in to a running head, with and without a good token and with clients
// that hang up. It samples the server every 15 s and prints a Markdown
// report of 5-minute windows; it exits non-zero when the figures are not
// level or a call went wrong in a way it did not expect.
//
// Run it from the repository root:
//
//	go run ./bench/soak [-duration 30m] [-out bench/soak/results/latest.md]
//	go run ./bench/soak -duration 2m    # a quick check of the program itself
//
// See bench/README.md for what it measures and the goal.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rayfleet/rayfleet/api"
	"github.com/rayfleet/rayfleet/api/signer"
	"github.com/rayfleet/rayfleet/bench/internal/benchproc"
	"github.com/rayfleet/rayfleet/bench/internal/benchreport"
)

type options struct {
	duration time.Duration // of the mixed calls, setup and teardown not counted
	window   time.Duration // the report's windows; the first is the warm-up
	sample   time.Duration // how often the server is sampled
	out      string
	bin      string
	ray      string
	keep     bool
	dump     bool
}

// markerEnv names the run in the environment of the server, which passes
// it on to every Ray process it starts, so that the run's processes can be
// told from anyone else's.
const markerEnv = "RAYFLEET_BENCH_SOAK"

func main() {
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/soak:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	level, err := run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/soak:", err)
		os.Exit(1)
	}
	if !level {
		fmt.Fprintln(os.Stderr, "bench/soak: not level, or calls went wrong; see the report")
		os.Exit(1)
	}
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.DurationVar(&o.duration, "duration", 30*time.Minute, "how long the mixed calls run (setup and teardown not counted)")
	fs.DurationVar(&o.window, "window", 0, "length of the report's windows, the first being the warm-up (default: 5m, or duration/6 when shorter)")
	fs.DurationVar(&o.sample, "sample", 0, "how often the server is sampled (default: 15s, or window/4 when shorter)")
	fs.StringVar(&o.out, "out", filepath.Join("bench", "soak", "results", "latest.md"), "results file (markdown)")
	fs.StringVar(&o.bin, "rayfleet-bin", "", "rayfleet binary to soak (default: build ./cmd/rayfleet into a temp dir)")
	fs.StringVar(&o.ray, "ray", "", "ray executable (default: <scripts/pyenv.sh's environment>/bin/ray)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temp directory (the server's data dir and log, the nodes' logs)")
	fs.BoolVar(&o.dump, "goroutine-dump", false, "end the server with SIGQUIT, so that its log (kept) ends with every goroutine's stack; done anyway when the goroutines are not level")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.window == 0 {
		o.window = min(5*time.Minute, o.duration/6)
	}
	if o.sample == 0 {
		o.sample = min(15*time.Second, o.window/4)
	}
	if o.sample <= 0 || o.window < o.sample || o.duration < 3*o.window {
		return o, errors.New("need -sample > 0, -window ≥ -sample and -duration ≥ 3 windows (a warm-up, a first and a last steady window)")
	}
	return o, nil
}

// soak is the run's shared state.
type soak struct {
	opts    options
	dir     string
	mark    string
	srv     *benchproc.LocalServer
	api     *api.Client
	ws      string
	steady  steady
	head    headWatch
	tally   *tally
	started time.Time // of the mixed calls
	// dumpOnStop ends the server with SIGQUIT rather than SIGTERM.
	dumpOnStop bool
	// atEnd closes what the workers keep open (a gRPC connection), once
	// they are done.
	atEnd  []func()
	lossMu sync.Mutex
	losses []loss
}

func run(ctx context.Context, o options) (level bool, err error) {
	rep := &report{opts: o, machine: benchreport.Machine(), tree: benchreport.GitState(".")}
	if o.ray == "" {
		if o.ray, err = benchproc.PyenvRay(ctx); err != nil {
			return false, err
		}
	}
	rep.ray = o.ray
	tmp, err := os.MkdirTemp("/tmp", "rfs-") // short: see benchproc.StartLocalServer
	if err != nil {
		return false, err
	}
	keep := o.keep
	defer func() {
		if keep || err != nil {
			logf("kept %s", tmp)
		} else {
			os.RemoveAll(tmp)
		}
	}()
	bin, err := benchproc.RayfleetBinary(ctx, o.bin, tmp)
	if err != nil {
		return false, err
	}
	s := &soak{opts: o, dir: tmp, mark: markerEnv + "=" + tmp, tally: newTally()}
	if s.srv, err = benchproc.StartLocalServer(ctx, bin, o.ray, tmp, s.mark); err != nil {
		return false, err
	}
	// Whatever fails, nothing of the run is left: the server's nodes
	// outlive it by design.
	defer func() {
		pid := s.srv.PID()
		if e := s.stopServer(); e != nil && err == nil {
			err = e
		}
		benchproc.KillMarked(s.mark, pid)
	}()
	s.api = &api.Client{
		Endpoint:    s.srv.Addr,
		Credentials: signer.Credentials{AccessKeyID: s.srv.Cred.AccessKeyID, AccessKeySecret: s.srv.Cred.AccessKeySecret},
		HTTP:        &http.Client{Timeout: 30 * time.Second},
	}
	s.ws = s.srv.Cred.WorkspaceID

	logf("starting the steady cluster")
	t0 := time.Now()
	steadyCl, err := s.createRunning(ctx, "soak-steady")
	if err != nil {
		return false, fmt.Errorf("steady cluster: %w", err)
	}
	job, err := s.submitJob(ctx, steadyCl)
	if err != nil {
		return false, fmt.Errorf("steady cluster's job: %w", err)
	}
	s.steady.set(steadyCl, job, false)
	rep.setup = time.Since(t0)
	logf("steady cluster %s Running, job %s submitted (%s); mixed calls for %s", steadyCl.ClusterID, job, rep.setup.Round(time.Second), o.duration)

	serverLog := filepath.Join(tmp, "server.log")
	var logFrom int64
	if fi, err := os.Stat(serverLog); err == nil {
		logFrom = fi.Size()
	}
	rep.started = time.Now()
	s.started = rep.started
	rep.cpu0 = takeCPU(s.srv.PID())
	// Cancelled, not timed out: a gRPC call would take a deadline from the
	// context and could end on its own timer a moment before the context
	// says it is done, which would count as the call's failure.
	callCtx, stopCalls := context.WithCancel(ctx)
	stopTimer := time.AfterFunc(o.duration, stopCalls)
	defer stopTimer.Stop()
	var wg sync.WaitGroup
	for _, w := range s.workers() {
		wg.Go(func() { w(callCtx) })
	}
	rep.samples = sampleUntil(callCtx, s, o.sample, s.srv.Done())
	rep.total = time.Since(rep.started)
	rep.cpu1 = takeCPU(s.srv.PID())
	stopCalls()
	wg.Wait()
	for _, f := range s.atEnd {
		f()
	}
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	select {
	case <-s.srv.Done():
		return false, fmt.Errorf("the server exited during the run (%w); see %s", s.srv.Err(), serverLog)
	default:
	}
	if rep.logLines, err = warnings(serverLog, logFrom); err != nil {
		return false, err
	}
	rep.kinds = s.tally.snapshot()
	rep.losses = s.losses
	rep.judge()

	logf("mixed calls done; stopping the clusters")
	if err := s.cleanup(ctx); err != nil {
		return false, err
	}
	rep.dataDir = dirSize(s.srv.DataDir)
	// A server whose goroutines grew ends with their stacks in its log,
	// which is then kept.
	s.dumpOnStop = o.dump || !rep.goroutinesLevel
	keep = keep || s.dumpOnStop || !rep.level
	if err := rep.write(o.out); err != nil {
		return false, err
	}
	fmt.Print(rep.markdown())
	logf("wrote %s", o.out)
	return rep.level, nil
}

// stopServer ends the server: SIGTERM, or SIGQUIT for a goroutine dump.
func (s *soak) stopServer() error {
	if s.dumpOnStop {
		_ = s.srv.Signal(syscall.SIGQUIT)
		select {
		case <-s.srv.Done():
		case <-time.After(30 * time.Second):
		}
		logf("the server's goroutines at the end are in %s", filepath.Join(s.dir, "server.log"))
	}
	err := s.srv.Stop()
	var ee *exec.ExitError
	if errors.As(err, &ee) && (!ee.Exited() || s.dumpOnStop) {
		return nil // ended by the signal
	}
	return err
}

// createRunning creates a cluster of a head of 1 CPU and 2 GiB and waits
// until the API says it is Running.
func (s *soak) createRunning(ctx context.Context, name string) (*api.Cluster, error) {
	res, err := s.api.CreateCluster(ctx, s.ws, headOnly(name))
	if err != nil {
		return nil, fmt.Errorf("create: %w", err)
	}
	return s.waitState(ctx, res.ClusterID, "Running")
}

func headOnly(name string) *api.ClusterRequest {
	return &api.ClusterRequest{
		Name:       &name,
		HeadSpec:   &api.HeadSpec{QueueName: "root_queue", CPU: "1", Memory: "2Gi"},
		WorkerSpec: &[]api.WorkerSpec{},
	}
}

// clusterTimeout bounds every wait for a cluster's state: a head comes up
// in 15–60 s on a busy 2-core machine.
const clusterTimeout = 5 * time.Minute

// waitState polls the cluster every 250 ms until it is in state; Error is
// a failure.
func (s *soak) waitState(ctx context.Context, id, state string) (*api.Cluster, error) {
	ctx, cancel := context.WithTimeout(ctx, clusterTimeout)
	defer cancel()
	for {
		cl, err := s.api.GetCluster(ctx, s.ws, id)
		if err != nil {
			return nil, err
		}
		switch cl.State {
		case state:
			return cl, nil
		case "Error":
			return nil, errorState(cl)
		}
		if err := benchproc.Sleep(ctx, 250*time.Millisecond); err != nil {
			return nil, fmt.Errorf("cluster %s %s (%s), not %s: %w", id, cl.State, cl.Message, state, err)
		}
	}
}

// cleanup stops and deletes every cluster and waits until the run has no
// process left but the server.
func (s *soak) cleanup(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, clusterTimeout)
	defer cancel()
	l, err := s.api.ListClusters(ctx, s.ws, api.ListClustersOptions{PageSize: 100})
	if err != nil {
		return err
	}
	for _, c := range l.RayClusters {
		if _, err := s.api.DeleteCluster(ctx, s.ws, c.ClusterID); err != nil {
			return fmt.Errorf("delete %s: %w", c.ClusterID, err)
		}
	}
	for _, c := range l.RayClusters {
		if err := s.waitPurged(ctx, c.ClusterID); err != nil {
			return err
		}
	}
	return benchproc.WaitNoneMarked(ctx, s.mark, s.srv.PID(), 30*time.Second)
}

// waitPurged waits until the local runtime has removed a deleted
// cluster's directory, which it does once its nodes are gone.
func (s *soak) waitPurged(ctx context.Context, id string) error {
	dir := filepath.Join(s.srv.DataDir, "local", "clusters", id)
	for {
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err := benchproc.Sleep(ctx, 250*time.Millisecond); err != nil {
			return fmt.Errorf("deleted cluster %s still has %s: %w", id, dir, err)
		}
	}
}

// dirSize is the bytes of the files under dir.
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// trimScheme is a grpcEndpoint as a gRPC target (host:port).
func trimScheme(endpoint string) string {
	_, rest, ok := strings.Cut(endpoint, "://")
	if ok {
		return rest
	}
	return endpoint
}
