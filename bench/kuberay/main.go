// Command kuberay benchmarks starting clusters on Kubernetes: N clusters
// created through rayfleet's API (a real `rayfleet server --runtime
// kuberay` process) until the API says every one is Running, against the
// same RayCluster objects created directly with client-go until KubeRay
// says every one is ready. Both run in the same program on the same test
// stack (scripts/kube/up.sh: a real kube-apiserver, scheduler,
// controller-manager, kwok nodes and the KubeRay operator), one after the
// other, with everything deleted in between.
//
// Run it from the repository root:
//
//	go run ./bench/kuberay [-n 1,50,500] [-out bench/kuberay/results/latest.md]
//
// See bench/README.md for what it measures and the goal.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	ns          []int
	nreps       []int // rounds for each of ns
	concurrency int
	poll        time.Duration
	timeout     time.Duration
	out         string
	bin         string
	kubeconfig  string
	podsPerNode int
	workers     int
	reps        int
	keep        bool
	cpuProfile  string
	noBaseline  bool
	cold        bool
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-serve-rayfleet" {
		if err := serveRayfleet(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "kuberay:", err)
			os.Exit(1)
		}
		return
	}
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "kuberay:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "kuberay:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("kuberay", flag.ContinueOnError)
	ns := fs.String("n", "1,50,500", "comma-separated numbers of clusters to start at once; NxR runs R rounds of N (e.g. 1x5,50x2,500)")
	fs.IntVar(&o.concurrency, "concurrency", 16, "create calls in flight at once (both sides)")
	fs.DurationVar(&o.poll, "poll", 5*time.Millisecond, "how often the rayfleet side lists the clusters while waiting for Running, at least N × 2ms")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Minute, "limit of each round (one side, one N)")
	fs.StringVar(&o.out, "out", filepath.Join("bench", "kuberay", "results", "latest.md"), "results file (markdown)")
	fs.StringVar(&o.bin, "rayfleet-bin", "", "rayfleet binary to benchmark (default: build ./cmd/rayfleet into a temp dir)")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "use this running stack (scripts/kube/up.sh) instead of starting one")
	fs.IntVar(&o.podsPerNode, "pods-per-node", 250, "pod capacity of each kwok node added for the benchmark")
	fs.IntVar(&o.workers, "reconcile-workers", 0, "rayfleet's --reconcile-workers (0: the server's default)")
	fs.IntVar(&o.reps, "reps", 1, "rounds of each side for each N without an xR (the order of the sides alternates)")
	fs.StringVar(&o.cpuProfile, "rayfleet-cpuprofile", "", "run rayfleet in this program (the same app.RunServer) under a CPU profile, written to FILE-N<n>-<round> at each round's end")
	fs.BoolVar(&o.cold, "cold", false, "start each rayfleet round as soon as the server answers /readyz, without letting it settle first (how runs before 2026-11-28 09:53 measured)")
	fs.BoolVar(&o.noBaseline, "no-baseline", false, "run the rayfleet side only (with -rayfleet-cpuprofile, to find where its time goes)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temp directory (rayfleet's data dir and log, the stack's logs)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.concurrency < 1 || o.reps < 1 || o.poll <= 0 || o.timeout <= 0 || o.podsPerNode < 10 {
		return o, errors.New("-concurrency, -reps, -poll and -timeout must be positive, -pods-per-node at least 10")
	}
	for f := range strings.SplitSeq(*ns, ",") {
		nf, rf, hasReps := strings.Cut(strings.TrimSpace(f), "x")
		n, err := strconv.Atoi(nf)
		reps := o.reps
		if hasReps && err == nil {
			reps, err = strconv.Atoi(rf)
		}
		if err != nil || n < 1 || reps < 1 {
			return o, fmt.Errorf("-n: %q is not N or NxR with positive integers", f)
		}
		o.ns = append(o.ns, n)
		o.nreps = append(o.nreps, reps)
	}
	return o, nil
}

func run(ctx context.Context, o options) (err error) {
	rep := &report{started: time.Now(), opts: o, machine: machine()}
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	rep.gitState = gitState(root)
	tmp, err := os.MkdirTemp("", "rayfleet-bench-kuberay-")
	if err != nil {
		return err
	}
	if o.keep {
		logf("keeping %s", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}

	kubeconfig := o.kubeconfig
	if kubeconfig == "" {
		st, err := startStack(ctx, root, filepath.Join(tmp, "stack"))
		if err != nil {
			return err
		}
		defer func() {
			if e := st.stop(); e != nil && err == nil {
				err = e
			}
		}()
		kubeconfig = st.kubeconfig
		rep.stackUp = st.upTime
	}
	k, err := newKube(kubeconfig)
	if err != nil {
		return err
	}
	m, err := newMeter(kubeconfig)
	if err != nil {
		return err
	}
	maxN := 0
	for _, n := range o.ns {
		maxN = max(maxN, n)
	}
	if rep.nodes, err = k.addNodes(ctx, podsPerCluster*maxN, o.podsPerNode); err != nil {
		return err
	}

	bin := o.bin
	if bin == "" {
		bin = filepath.Join(tmp, "rayfleet")
		logf("building ./cmd/rayfleet")
		cmd := exec.CommandContext(ctx, "go", "build", "-buildvcs=false", "-o", bin, "./cmd/rayfleet")
		cmd.Dir, cmd.Stdout, cmd.Stderr = root, os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("build rayfleet: %w", err)
		}
	}
	rf := &rayfleetSide{bin: bin, kubeconfig: kubeconfig, dir: tmp, workers: o.workers, opts: o, kube: k, meter: m}
	defer func() {
		if e := rf.stop(); e != nil && err == nil && ctx.Err() == nil {
			err = e
		}
	}()
	// The first start bootstraps the account and makes the workspace; one
	// cluster through rayfleet gives the RayCluster the baseline creates.
	if err := rf.start(ctx); err != nil {
		return err
	}
	if err := rf.setup(ctx, workspaceCU(maxN)); err != nil {
		return err
	}
	logf("warm-up: one cluster through rayfleet, for the RayCluster template")
	tmpl, err := rf.template(ctx)
	if err != nil {
		return err
	}
	rep.template = describeTemplate(tmpl)
	if err := rf.stop(); err != nil {
		return err
	}
	base := &baselineSide{kube: k, meter: m, opts: o, template: tmpl}
	if err := base.setup(ctx); err != nil {
		return err
	}

	for j, n := range o.ns {
		for i := range o.nreps[j] {
			r := roundResult{n: n, rep: i + 1, rayfleetFirst: i%2 == 1}
			sides := []func() error{
				func() (err error) { r.base, r.baseClean, err = baselineRound(ctx, base, n); return err },
				func() (err error) { r.rf, r.rfClean, err = rayfleetRound(ctx, rf, n); return err },
			}
			if r.rayfleetFirst {
				sides[0], sides[1] = sides[1], sides[0]
			}
			if o.noBaseline {
				rfSide := sides[1]
				if r.rayfleetFirst {
					rfSide = sides[0]
				}
				sides = []func() error{rfSide}
			}
			if o.cpuProfile != "" {
				rf.profile = fmt.Sprintf("%s-N%d-%d", o.cpuProfile, n, i+1)
			}
			for _, side := range sides {
				if err := side(); err != nil {
					return err
				}
			}
			rep.rounds = append(rep.rounds, r)
			// Written after every round, so a long run shows its figures early.
			if err := rep.write(o.out); err != nil {
				return err
			}
		}
	}
	rep.total = time.Since(rep.started)
	if err := rep.write(o.out); err != nil {
		return err
	}
	fmt.Print(rep.markdown())
	logf("wrote %s", o.out)
	return nil
}

func baselineRound(ctx context.Context, base *baselineSide, n int) (sideResult, time.Duration, error) {
	logf("N=%d: baseline (client-go, KubeRay alone)", n)
	r, err := base.round(ctx, n)
	if err != nil {
		return r, 0, fmt.Errorf("baseline N=%d: %w", n, err)
	}
	logf("N=%d: baseline all ready in %s; cleaning up", n, r.ready.Round(time.Millisecond))
	clean, err := base.cleanup(ctx)
	if err != nil {
		return r, 0, fmt.Errorf("baseline N=%d cleanup: %w", n, err)
	}
	return r, clean, nil
}

func rayfleetRound(ctx context.Context, rf *rayfleetSide, n int) (sideResult, time.Duration, error) {
	logf("N=%d: rayfleet", n)
	if err := rf.start(ctx); err != nil {
		return sideResult{}, 0, err
	}
	if !rf.opts.cold {
		took, err := rf.settle(ctx)
		if err != nil {
			return sideResult{}, 0, fmt.Errorf("rayfleet N=%d: settle after start: %w", n, err)
		}
		logf("N=%d: rayfleet settled %s after its start", n, took.Round(time.Millisecond))
	}
	r, err := rf.round(ctx, n)
	if err != nil {
		return r, 0, fmt.Errorf("rayfleet N=%d: %w", n, err)
	}
	logf("N=%d: rayfleet all Running in %s (KubeRay ready at %s); cleaning up", n,
		r.running.Round(time.Millisecond), r.kubeReady.Round(time.Millisecond))
	clean, err := rf.cleanup(ctx)
	if err != nil {
		return r, 0, fmt.Errorf("rayfleet N=%d cleanup: %w", n, err)
	}
	return r, clean, rf.stop()
}

// podsPerCluster is what each benchmark cluster runs: a head and one worker.
const podsPerCluster = 2

// workspaceCU is a quota that holds n clusters of 2 CU each, with room.
func workspaceCU(n int) int64 { return int64(2*n + 16) }

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

func gitState(root string) string {
	head, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output()
	status, serr := exec.Command("git", "-C", root, "status", "--porcelain").Output()
	if err != nil {
		return "unknown (git rev-parse HEAD failed)"
	}
	if serr == nil && len(strings.TrimSpace(string(status))) > 0 {
		return fmt.Sprintf("uncommitted tree (%d changed or untracked paths) on top of %s",
			strings.Count(strings.TrimSpace(string(status)), "\n")+1, strings.TrimSpace(string(head)))
	}
	return "clean at " + strings.TrimSpace(string(head))
}

func machine() string {
	model := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%s, %d CPUs, %s", model, runtime.NumCPU(), runtime.Version())
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
