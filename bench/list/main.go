// Command list benchmarks ListRayCluster: the rayfleet server, seeded with
// 100,000 clusters (10,000 in the workspace listed), against a "ceiling"
// server that answers the same requests with the same bytes and does
// nothing else. Both run as separate processes, driven by the same load
// generator (C concurrent keep-alive clients, every request freshly signed
// with ACS3), so the gap between them is what rayfleet's own work costs.
// It also reports the server's memory and the database size.
//
// Run it from the repository root:
//
//	go run ./bench/list [-duration 10s] [-clients 1,8,64] [-out bench/list/results/latest.md]
//
// See bench/README.md for what it measures and the goals.
package main

import (
	"bytes"
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
	"runtime/pprof"
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
	duration, warmup     time.Duration
	clients, pageSizes   []int
	out                  string
	bin                  string
	seed                 seedConfig
	keep, seedOnly       bool
	cpuProfile           string
	serverCPU, serverMem string
}

// modes are the server roles this program plays when re-executed by
// itself; they take positional arguments and never reach the flags.
var modes = map[string]func([]string) error{
	"-serve-ceiling":  serveCeiling,
	"-serve-rayfleet": serveRayfleet,
}

func main() {
	if len(os.Args) > 1 {
		if mode := modes[os.Args[1]]; mode != nil {
			if err := mode(os.Args[2:]); err != nil {
				fmt.Fprintln(os.Stderr, "list:", err)
				os.Exit(1)
			}
			return
		}
	}
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "list:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "list:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("list", flag.ContinueOnError)
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured duration of each step (target × pageSize × clients)")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "warm-up before each step's measurement")
	clients := fs.String("clients", "1,8,64", "comma-separated numbers of concurrent clients")
	pageSizes := fs.String("page-sizes", "20,100", "comma-separated pageSize values (1..100)")
	fs.StringVar(&o.out, "out", filepath.Join("bench", "list", "results", "latest.md"), "results file (markdown)")
	fs.StringVar(&o.bin, "rayfleet-bin", "", "rayfleet binary to benchmark (default: build ./cmd/rayfleet into a temp dir)")
	fs.IntVar(&o.seed.Total, "clusters", 100000, "clusters to seed in all")
	fs.IntVar(&o.seed.Listed, "listed", 10000, "of which in the listed workspace")
	fs.IntVar(&o.seed.OwnWorkspaces, "own-workspaces", 5, "other workspaces of the listed workspace's account")
	fs.IntVar(&o.seed.OtherAccounts, "other-accounts", 4, "other accounts")
	fs.IntVar(&o.seed.WorkspacesPerAccount, "workspaces-per-account", 10, "workspaces of each other account")
	seed := fs.Uint64("seed", 1, "seed of the generated data")
	fs.BoolVar(&o.keep, "keep", false, "keep the temp directory (data dir, logs, captured bodies)")
	fs.BoolVar(&o.seedOnly, "seed-only", false, "stop after seeding and keep the data dir (for BenchmarkBreakdown)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write the load generator's CPU profile here")
	fs.StringVar(&o.serverCPU, "server-cpuprofile", "", "run rayfleet in-process in a profiling wrapper and write its CPU profile here (memory figures then come from the wrapper)")
	fs.StringVar(&o.serverMem, "server-memprofile", "", "like -server-cpuprofile, for a heap profile taken at the end of the load")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.seed.Seed = *seed
	o.keep = o.keep || o.seedOnly
	var err error
	if o.clients, err = intList(*clients); err != nil {
		return o, fmt.Errorf("-clients: %w", err)
	}
	if o.pageSizes, err = intList(*pageSizes); err != nil {
		return o, fmt.Errorf("-page-sizes: %w", err)
	}
	for _, p := range o.pageSizes {
		if p > 100 {
			return o, fmt.Errorf("-page-sizes: %d is over ListRayCluster's maximum of 100", p)
		}
	}
	if o.seed.Listed < 1 || o.seed.Listed > o.seed.Total {
		return o, errors.New("-listed must be between 1 and -clusters")
	}
	if o.duration <= 0 || o.warmup < 0 {
		return o, errors.New("-duration must be positive and -warmup not negative")
	}
	return o, nil
}

func intList(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// report is everything the results file shows.
type report struct {
	started    time.Time
	total      time.Duration
	gitState   string
	machine    string
	opts       options
	build      time.Duration
	seed       seedResult
	dbSeeded   int64
	dbEnd      int64
	bodySizes  map[int]int
	steps      []stepResult
	memIdle    memStatus // rayfleet right after start, before any list call
	memEnd     memStatus // rayfleet after the whole load
	ceilMemEnd memStatus
	profiled   bool
}

func run(ctx context.Context, o options) (err error) {
	rep := &report{started: time.Now(), opts: o, bodySizes: map[int]int{}}
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	rep.gitState = benchreport.GitState(root)
	rep.machine = benchreport.Machine()
	tmp, err := os.MkdirTemp("", "rayfleet-bench-list-")
	if err != nil {
		return err
	}
	if o.keep {
		logf("keeping %s", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	// Every server started is stopped on the way out, error or not.
	var procs []*benchproc.Proc
	defer func() {
		for i := len(procs) - 1; i >= 0; i-- {
			if e := procs[i].Stop(); e != nil && err == nil && ctx.Err() == nil {
				err = fmt.Errorf("stop %s: %w", procs[i].Name, e)
			}
		}
	}()

	bin := o.bin
	if bin == "" {
		bin = filepath.Join(tmp, "rayfleet")
		logf("building ./cmd/rayfleet")
		t := time.Now()
		cmd := exec.CommandContext(ctx, "go", "build", "-buildvcs=false", "-o", bin, "./cmd/rayfleet")
		cmd.Dir, cmd.Stdout, cmd.Stderr = root, os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("build rayfleet: %w", err)
		}
		rep.build = time.Since(t)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	dataDir, home := filepath.Join(tmp, "data"), filepath.Join(tmp, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return err
	}

	// 1. Bootstrap: the first start creates the account, key and workspace.
	// A started server's Ready is the address rayfleetAddr found in its log.
	logf("bootstrapping a data dir")
	boot, err := benchproc.Start(ctx, "rayfleet (bootstrap)", serverCmd(bin, self, "", "", dataDir, home), filepath.Join(tmp, "bootstrap.log"), benchproc.Stderr, rayfleetAddr)
	if err != nil {
		return err
	}
	procs = append(procs, boot)
	if err := waitReady(ctx, boot.Ready); err != nil {
		return err
	}
	if err := boot.Stop(); err != nil {
		return fmt.Errorf("stop the bootstrap server: %w", err)
	}
	cred, err := readCredentials(dataDir)
	if err != nil {
		return err
	}

	// 2. Seed the stopped server's store directly.
	logf("seeding %d clusters (%d in workspace %s)", o.seed.Total, o.seed.Listed, cred.WorkspaceID)
	if rep.seed, err = seed(ctx, dataDir, cred, o.seed); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	logf("seeded %d clusters in %d workspaces in %s (inserts %s)", rep.seed.Clusters, rep.seed.Workspaces,
		rep.seed.Elapsed.Round(time.Millisecond), rep.seed.Inserts.Round(time.Millisecond))
	if rep.dbSeeded, err = dbSize(dataDir); err != nil {
		return err
	}
	if o.seedOnly {
		logf("seeded data dir: %s", dataDir)
		return nil
	}

	// 3. The real server, in its own process so its memory is its own.
	rep.profiled = o.serverCPU != "" || o.serverMem != ""
	srv, err := benchproc.Start(ctx, "rayfleet", serverCmd(bin, self, absOrEmpty(o.serverCPU), absOrEmpty(o.serverMem), dataDir, home),
		filepath.Join(tmp, "rayfleet.log"), benchproc.Stderr, rayfleetAddr)
	if err != nil {
		return err
	}
	procs = append(procs, srv)
	if err := waitReady(ctx, srv.Ready); err != nil {
		return err
	}
	if rep.memIdle, err = readMem(srv.PID()); err != nil {
		return err
	}
	sc := signer.Credentials{AccessKeyID: cred.AccessKeyID, AccessKeySecret: cred.AccessKeySecret}

	// 4. Capture rayfleet's answers for the ceiling to replay.
	bodies := filepath.Join(tmp, "bodies")
	if err := os.MkdirAll(bodies, 0o700); err != nil {
		return err
	}
	for _, ps := range o.pageSizes {
		b, err := capture(ctx, srv.Ready, cred.WorkspaceID, ps, o.seed.Listed, sc)
		if err != nil {
			return err
		}
		rep.bodySizes[ps] = len(b)
		if err := os.WriteFile(ceilingBodyFile(bodies, ps), b, 0o600); err != nil {
			return err
		}
	}
	ceil, err := benchproc.Start(ctx, "ceiling", exec.Command(self, "-serve-ceiling", "127.0.0.1:0", bodies), filepath.Join(tmp, "ceiling.log"), benchproc.Stdout, ceilingAddr)
	if err != nil {
		return err
	}
	procs = append(procs, ceil)
	for _, ps := range o.pageSizes {
		if err := checkCeiling(ctx, ceil.Ready, cred.WorkspaceID, ps, sc, ceilingBodyFile(bodies, ps)); err != nil {
			return err
		}
	}

	// 5. The load.
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	pids := []int{srv.PID(), ceil.PID()}
	targets := []target{{"rayfleet", srv.Ready, srv.PID(), pids}, {"ceiling", ceil.Ready, ceil.PID(), pids}}
	for _, ps := range o.pageSizes {
		for _, c := range o.clients {
			for _, t := range targets {
				spec := loadSpec{clients: c, pageSize: ps, pages: (o.seed.Listed + ps - 1) / ps, warmup: o.warmup, duration: o.duration}
				r, err := runStep(ctx, t, cred.WorkspaceID, sc, spec)
				if err != nil {
					return fmt.Errorf("%s pageSize=%d clients=%d: %w", t.name, ps, c, err)
				}
				logf("%-8s pageSize=%-3d clients=%-2d %8.0f req/s  p50 %s  p99 %s  errors %d  other load %.2f cores %s",
					r.target, ps, c, r.rps(), benchreport.Dur(r.p50), benchreport.Dur(r.p99), r.errors, r.otherCPU.Seconds()/r.window.Seconds(), r.firstErr)
				rep.steps = append(rep.steps, r)
			}
		}
	}

	// 6. Memory after the load, then a clean stop.
	if rep.memEnd, err = readMem(srv.PID()); err != nil {
		return err
	}
	if rep.ceilMemEnd, err = readMem(ceil.PID()); err != nil {
		return err
	}
	if err := srv.Stop(); err != nil {
		return fmt.Errorf("rayfleet did not stop cleanly: %w", err)
	}
	if rep.dbEnd, err = dbSize(dataDir); err != nil {
		return err
	}
	rep.total = time.Since(rep.started)

	md := rep.markdown()
	fmt.Print("\n" + md)
	if err := os.MkdirAll(filepath.Dir(o.out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(o.out, []byte(md), 0o644); err != nil {
		return err
	}
	logf("results written to %s", o.out)
	return nil
}

// capture fetches page 1 of pageSize from rayfleet and checks it is a full,
// well-formed page of the seeded workspace: the benchmark must measure
// real answers, not errors.
func capture(ctx context.Context, addr, ws string, pageSize, listed int, cred signer.Credentials) ([]byte, error) {
	req, err := newRequest(ctx, addr, ws, 1, pageSize, cred)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("capture pageSize=%d: HTTP %d: %s", pageSize, resp.StatusCode, body)
	}
	var out api.ListClustersResponse
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("capture pageSize=%d: %w", pageSize, err)
	}
	if out.TotalCount != listed || len(out.RayClusters) != min(pageSize, listed) {
		return nil, fmt.Errorf("capture pageSize=%d: got %d clusters of %d, want %d of %d",
			pageSize, len(out.RayClusters), out.TotalCount, min(pageSize, listed), listed)
	}
	return body, nil
}

// checkCeiling makes sure the ceiling replays the captured bytes.
func checkCeiling(ctx context.Context, addr, ws string, pageSize int, cred signer.Credentials, file string) error {
	want, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	req, err := newRequest(ctx, addr, ws, 3, pageSize, cred)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, want) {
		return fmt.Errorf("ceiling answered HTTP %d with %d bytes, want 200 with the %d captured", resp.StatusCode, len(got), len(want))
	}
	return nil
}

func readCredentials(dataDir string) (app.Credentials, error) {
	var c app.Credentials
	data, err := os.ReadFile(filepath.Join(dataDir, "credentials"))
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return c, fmt.Errorf("credentials: %w", err)
	}
	return c, nil
}

// moduleRoot is the directory of go.mod, where ./cmd/rayfleet is built.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the rayfleet module: run from the repository root")
	}
	return filepath.Dir(mod), nil
}

func absOrEmpty(p string) string {
	if p == "" {
		return ""
	}
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
