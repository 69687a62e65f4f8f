// Command gateway measures what the rayfleet gateway costs on the way to a
// Ray head: requests per second and latency of the same upstream HTTP
// server reached directly, through nginx as a reverse proxy, and through a
// `rayfleet gateway` process with a real cluster token, in one run with one
// load generator. With -real-ray it also measures a real Ray head started
// by the local runtime, directly and through the gateway. See
// bench/README.md.
//
//	go run ./bench/gateway [-real-ray]
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rayfleet/rayfleet/api"
	"github.com/rayfleet/rayfleet/api/signer"
	"github.com/rayfleet/rayfleet/bench/internal/benchproc"
	"github.com/rayfleet/rayfleet/bench/internal/benchreport"
	"github.com/rayfleet/rayfleet/internal/app"
)

type options struct {
	duration, warmup time.Duration
	clients          []int
	rounds           int
	out              string
	rayfleetBin      string
	nginxBin         string
	gatewayEnv       string
	keep             bool
	tree             string

	synthetic, realRay bool
	ray                string
	realRayClients     []int
	realRayRounds      int
}

func main() {
	// Run as the local runtime's `ray` and its interpreter (see upstream.go).
	if len(os.Args) > 2 && os.Args[1] == "-as-python" {
		os.Exit(runAsPython(os.Args[2], os.Args[3:]))
	}
	var o options
	clients := flag.String("clients", "1,8,64", "concurrent clients per step, comma-separated")
	realClients := flag.String("real-ray-clients", "1,8", "concurrent clients per step of the real-Ray step, comma-separated")
	flag.BoolVar(&o.synthetic, "synthetic", true, "measure the synthetic upstream against nginx (the goals' basis)")
	flag.BoolVar(&o.realRay, "real-ray", false, "also measure a real Ray head started by the local runtime, directly and through the gateway")
	flag.StringVar(&o.ray, "ray", "", "ray executable of the real-Ray step (default: <scripts/pyenv.sh's environment>/bin/ray)")
	flag.IntVar(&o.realRayRounds, "real-ray-rounds", 3, "rounds of every step of the real-Ray step")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds of every step; the goals are judged on the median over the rounds")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "measured time per step")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "warm-up before each step's measurement")
	flag.StringVar(&o.out, "out", "bench/gateway/results/latest.md", "report file")
	flag.StringVar(&o.rayfleetBin, "rayfleet-bin", "", "rayfleet binary to benchmark (default: build ./cmd/rayfleet)")
	flag.StringVar(&o.nginxBin, "nginx", "/usr/sbin/nginx", "nginx binary (Debian: apt-get install nginx)")
	flag.StringVar(&o.gatewayEnv, "gateway-env", "", "extra environment of the gateway process, comma-separated (e.g. GOMAXPROCS=1,GOGC=400)")
	flag.BoolVar(&o.keep, "keep", false, "keep the temp dir (data dir, logs, nginx config)")
	flag.Parse()
	var err error
	if o.clients, err = intList(*clients); err != nil {
		fmt.Fprintln(os.Stderr, "bench/gateway: -clients:", err)
		os.Exit(2)
	}
	if o.realRayClients, err = intList(*realClients); err != nil {
		fmt.Fprintln(os.Stderr, "bench/gateway: -real-ray-clients:", err)
		os.Exit(2)
	}
	if o.rounds < 1 || o.realRayRounds < 1 {
		fmt.Fprintln(os.Stderr, "bench/gateway: -rounds and -real-ray-rounds must be at least 1")
		os.Exit(2)
	}
	if !o.synthetic && !o.realRay {
		fmt.Fprintln(os.Stderr, "bench/gateway: -synthetic=false leaves nothing to measure without -real-ray")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench/gateway:", err)
		os.Exit(1)
	}
}

func intList(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

type setup struct {
	dir                      string
	server, gateway, nginx   *benchproc.Proc
	upstreamAddr             string
	upstreamPID              int
	jobURL, token, clusterID string
}

func run(ctx context.Context, o options) (err error) {
	if _, err := os.Stat(o.nginxBin); err != nil && o.synthetic {
		return fmt.Errorf("nginx not found at %s (%w): install it with apt-get install nginx, or pass -nginx", o.nginxBin, err)
	}
	began := time.Now()
	// The tree as built, not as it is when the report is written.
	o.tree = benchreport.GitState(".")
	buildDir, err := os.MkdirTemp("", "rayfleet-bench-gateway-bin-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(buildDir)
	bin, err := benchproc.RayfleetBinary(ctx, o.rayfleetBin, buildDir)
	if err != nil {
		return err
	}
	var results, real []stepResult
	if o.synthetic {
		if results, err = runSynthetic(ctx, o, bin); err != nil {
			return err
		}
	}
	var info realRayInfo
	if o.realRay {
		if real, info, err = runRealRay(ctx, o, bin); err != nil {
			return err
		}
	}
	report := render(o, results, real, info, began, time.Since(began))
	fmt.Print(report)
	if err := os.MkdirAll(filepath.Dir(o.out), 0o755); err != nil {
		return err
	}
	return os.WriteFile(o.out, []byte(report), 0o644)
}

// runSynthetic measures the synthetic upstream directly, through nginx and
// through the gateway, over the rounds.
func runSynthetic(ctx context.Context, o options, bin string) (results []stepResult, err error) {
	s := &setup{}
	if s.dir, err = os.MkdirTemp("", "rayfleet-bench-gateway-"); err != nil {
		return nil, err
	}
	// Others (nginx as nobody) must reach their files under it.
	if err := os.Chmod(s.dir, 0o755); err != nil {
		return nil, err
	}
	defer func() {
		for _, p := range []*benchproc.Proc{s.nginx, s.gateway, s.server} {
			if serr := p.Stop(); serr != nil && err == nil && !isSignal(serr) {
				err = fmt.Errorf("stop %s: %w", p.Name, serr)
			}
		}
		killUpstream(s)
		if o.keep || err != nil {
			fmt.Fprintln(os.Stderr, "bench/gateway: kept", s.dir)
		} else {
			os.RemoveAll(s.dir)
		}
	}()
	if err := s.start(ctx, o, bin); err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "bench/gateway: upstream %s, nginx %s, gateway %s (cluster %s)\n", s.upstreamAddr, s.nginx.Name, s.jobURL, s.clusterID)

	nginxAddr := strings.TrimPrefix(s.nginx.Name, "nginx ")
	targets := []target{
		{name: "direct", base: "http://" + s.upstreamAddr},
		{name: "nginx", base: "http://" + nginxAddr, proxyPID: s.nginx.PID()},
		{name: "rayfleet gateway", base: s.jobURL, dashboard: "/dashboard", header: http.Header{"Ray-Token": {s.token}}, proxyPID: s.gateway.PID()},
	}
	if err := check(ctx, targets, s.jobURL); err != nil {
		return nil, err
	}
	src := cpuSources{upstreamPID: s.upstreamPID, serverPID: s.server.PID()}
	for round := 1; round <= o.rounds; round++ {
		// The targets take turns in another order each round, so that
		// none is always first or last after a change of step.
		order := append(slices.Clone(targets[(round-1)%len(targets):]), targets[:(round-1)%len(targets)]...)
		for _, path := range []string{smallPath, largePath} {
			for _, c := range o.clients {
				for _, t := range order {
					r, err := runStep(ctx, t, path, c, o.warmup, o.duration, src)
					if err != nil {
						return nil, err
					}
					r.round = round
					fmt.Fprintf(os.Stderr, "bench/gateway: round %d %-16s %-22s %3d clients: %8.0f req/s  p50 %s  p99 %s  errors %d  other load %s\n",
						round, t.name, path, c, r.rps(), benchreport.Dur(r.p(50)), benchreport.Dur(r.p(99)), r.errs, r.otherLoad())
					results = append(results, r)
				}
			}
		}
	}
	return results, nil
}

// start starts a server whose local runtime runs this program as `ray`,
// creates a cluster, and starts the gateway process and nginx in front of
// the cluster's head.
func (s *setup) start(ctx context.Context, o options, bin string) error {
	addrFile := filepath.Join(s.dir, "upstream.addr")
	wrapper, err := writeRayWrapper(s.dir, addrFile)
	if err != nil {
		return err
	}
	apiAddr, err1 := benchproc.FreeAddr()
	gwAddr, err2 := benchproc.FreeAddr()
	gwGRPC, err3 := benchproc.FreeAddr()
	nginxAddr, err4 := benchproc.FreeAddr()
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return err
	}
	data := filepath.Join(s.dir, "data")
	env := append(os.Environ(), "HOME="+s.dir, "RAYFLEET_CONFIG="+filepath.Join(s.dir, "cli.json"))
	// The server runs the API and the reconciler; the gateway runs alone
	// (`rayfleet gateway`), as a deployment with a separate gateway would.
	srvCmd := exec.Command(bin, "server", "--data-dir", data, "--api-addr", apiAddr, "--roles", "api,reconciler",
		"--gateway-url", "http://"+gwAddr, "--gateway-grpc-address", gwGRPC, "--ray-path", wrapper, "--log-level", "warn")
	srvCmd.Env = env
	if s.server, err = benchproc.Start(ctx, "rayfleet server", srvCmd, filepath.Join(s.dir, "server.log"), benchproc.Combined, benchproc.Contains("first start")); err != nil {
		return err
	}
	cred, err := readCredentials(filepath.Join(data, "credentials"))
	if err != nil {
		return err
	}
	c := &api.Client{Endpoint: apiAddr, Credentials: signer.Credentials{AccessKeyID: cred.AccessKeyID, AccessKeySecret: cred.AccessKeySecret}}
	name := "bench"
	created, err := c.CreateCluster(ctx, cred.WorkspaceID, &api.ClusterRequest{Name: &name, DisplayReleaseVersion: &benchRelease.Display, HeadSpec: &api.HeadSpec{CPU: "1", Memory: "2Gi"}})
	if err != nil {
		return fmt.Errorf("create a cluster: %w", err)
	}
	s.clusterID = created.ClusterID
	deadline := time.Now().Add(60 * time.Second)
	for {
		cl, err := c.GetCluster(ctx, cred.WorkspaceID, created.ClusterID)
		if err != nil {
			return fmt.Errorf("get the cluster: %w", err)
		}
		if cl.State == "Running" {
			s.jobURL, s.token = cl.JobURL, cl.SubmitToken
			break
		}
		if cl.State == "Error" || time.Now().After(deadline) {
			return fmt.Errorf("the cluster is %s (%s), not Running; see %s", cl.State, cl.Message, filepath.Join(s.dir, "server.log"))
		}
		time.Sleep(100 * time.Millisecond) // poll interval
	}
	addr, err := os.ReadFile(addrFile)
	if err != nil {
		return fmt.Errorf("the upstream did not say where it listens: %w", err)
	}
	a, pid, _ := strings.Cut(strings.TrimSpace(string(addr)), " ")
	s.upstreamAddr = a
	if s.upstreamPID, err = strconv.Atoi(pid); err != nil {
		return fmt.Errorf("upstream pid %q: %w", pid, err)
	}
	gwCmd := exec.Command(bin, "gateway", "--data-dir", data, "--gateway-listen", gwAddr, "--gateway-grpc-listen", gwGRPC, "--log-level", "warn")
	gwCmd.Env = env
	if o.gatewayEnv != "" {
		gwCmd.Env = append(append([]string(nil), env...), strings.Split(o.gatewayEnv, ",")...)
	}
	if s.gateway, err = benchproc.Start(ctx, "rayfleet gateway", gwCmd, filepath.Join(s.dir, "gateway.log"), benchproc.Combined, benchproc.Contains("rayfleet gateway: dashboard and job API on")); err != nil {
		return err
	}
	if s.nginx, err = startNginx(ctx, o.nginxBin, filepath.Join(s.dir, "nginx"), nginxAddr, s.upstreamAddr); err != nil {
		return err
	}
	s.nginx.Name = "nginx " + nginxAddr
	return nil
}

// check makes sure every target answers the upstream's bytes, and that the
// gateway refuses a wrong token, before anything is measured.
func check(ctx context.Context, targets []target, jobURL string) error {
	for _, t := range targets {
		for path, want := range map[string]int{smallPath: len(smallBody), largePath: largeSize} {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, t.url(path), nil)
			for k, v := range t.header {
				req.Header[k] = v
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return fmt.Errorf("%s %s: %w", t.name, path, err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				return fmt.Errorf("%s %s: read the body: %w", t.name, path, err)
			}
			if resp.StatusCode != 200 || len(body) != want {
				return fmt.Errorf("%s %s: status %d, %d bytes (want 200, %d bytes): %.200s", t.name, path, resp.StatusCode, len(body), want, body)
			}
		}
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, jobURL+smallPath, nil)
	req.Header.Set("Ray-Token", "0123456789abcdef0123456789abcdef")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		return fmt.Errorf("the gateway answered a wrong token with %d, not 401", resp.StatusCode)
	}
	return nil
}

func readCredentials(path string) (app.Credentials, error) {
	var c app.Credentials
	data, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("read the server's credentials: %w", err)
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return c, fmt.Errorf("credentials %s: %w", path, err)
	}
	return c, nil
}

// killUpstream ends the cluster's head: nodes outlive the server by
// design, so the benchmark ends its own.
func killUpstream(s *setup) {
	if s.upstreamPID > 0 {
		_ = syscall.Kill(s.upstreamPID, syscall.SIGTERM)
	}
}

func isSignal(err error) bool {
	var ee *exec.ExitError
	return errors.As(err, &ee) && !ee.Exited()
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
