// Command local benchmarks starting clusters with the local runtime: N
// clusters of a head and 2 workers created through a real `rayfleet server`
// process until the API says Running and Ray's state API on each head shows
// 3 ALIVE nodes, against starting the same Ray nodes by hand with the same
// `ray start` command lines (fresh ports and temp dirs) until each head
// shows 3 ALIVE nodes. Both sides run real Ray in the same run, one after
// the other, their order alternating per round, with every process ended
// in between.
//
// Run it from the repository root:
//
//	go run ./bench/local [-n 1x5,4x3] [-out bench/local/results/latest.md]
//
// See bench/README.md for what it measures and the goal.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rayfleet/rayfleet/bench/internal/benchproc"
	"github.com/rayfleet/rayfleet/bench/internal/benchreport"
)

type options struct {
	ns, nreps []int // clusters at once, and rounds of each
	poll      time.Duration
	dial      time.Duration
	timeout   time.Duration
	out       string
	bin       string
	ray       string
	keep      bool
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/local:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/local:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("local", flag.ContinueOnError)
	ns := fs.String("n", "1x5,4x3", "comma-separated numbers of clusters to start at once; NxR runs R rounds of N")
	fs.DurationVar(&o.poll, "poll", 100*time.Millisecond, "how often both sides ask each head's state API (and rayfleet's API) while waiting")
	fs.DurationVar(&o.dial, "dial", 20*time.Millisecond, "how often the hand start tries the head's GCS port before starting the workers")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Minute, "limit of each side of a round")
	fs.StringVar(&o.out, "out", filepath.Join("bench", "local", "results", "latest.md"), "results file (markdown)")
	fs.StringVar(&o.bin, "rayfleet-bin", "", "rayfleet binary to benchmark (default: build ./cmd/rayfleet into a temp dir)")
	fs.StringVar(&o.ray, "ray", "", "ray executable (default: <scripts/pyenv.sh's environment>/bin/ray)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temp directory (rayfleet's data dir and log, the nodes' logs)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.poll <= 0 || o.dial <= 0 || o.timeout <= 0 {
		return o, errors.New("-poll, -dial and -timeout must be positive")
	}
	for f := range strings.SplitSeq(*ns, ",") {
		nf, rf, hasReps := strings.Cut(strings.TrimSpace(f), "x")
		n, err := strconv.Atoi(nf)
		reps := 1
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
	rep := &report{started: time.Now(), opts: o, machine: benchreport.Machine(), tree: benchreport.GitState(".")}
	if o.ray == "" {
		if o.ray, err = benchproc.PyenvRay(ctx); err != nil {
			return err
		}
	}
	rep.ray = o.ray
	// Short: Ray's unix sockets live under the nodes' temp dirs, and their
	// paths must stay under 108 bytes.
	tmp, err := os.MkdirTemp("/tmp", "rfl-")
	if err != nil {
		return err
	}
	defer func() {
		if o.keep || err != nil {
			logf("kept %s", tmp)
		} else {
			os.RemoveAll(tmp)
		}
	}()

	bin, err := benchproc.RayfleetBinary(ctx, o.bin, tmp)
	if err != nil {
		return err
	}
	mark := markerEnv + "=" + tmp
	rf := &rayfleetSide{bin: bin, ray: o.ray, dir: tmp, opts: o, mark: mark}
	if err := rf.start(ctx); err != nil {
		return err
	}
	defer func() {
		if e := rf.stop(); e != nil && err == nil {
			err = e
		}
	}()
	// Leave nothing running whatever failed: rayfleet's nodes outlive it
	// by design, and the hand start's are ours.
	defer benchproc.KillMarked(mark, rf.pid())

	logf("warm-up: one cluster through rayfleet, for the nodes' command lines")
	tmpl, warm, err := rf.template(ctx)
	if err != nil {
		return err
	}
	rep.template, rep.warmup = tmpl, warm
	rf.tmpl = tmpl
	hand := &handSide{dir: filepath.Join(tmp, "h"), opts: o, mark: mark, tmpl: tmpl}

	for j, n := range o.ns {
		for i := range o.nreps[j] {
			r := roundResult{n: n, rep: i + 1, rayfleetFirst: i%2 == 1}
			sides := []func() error{
				func() (err error) { r.hand, err = handRound(ctx, hand, n, rf.pid()); return err },
				func() (err error) { r.rf, err = rayfleetRound(ctx, rf, n); return err },
			}
			if r.rayfleetFirst {
				sides[0], sides[1] = sides[1], sides[0]
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

func handRound(ctx context.Context, h *handSide, n, serverPID int) (sideResult, error) {
	logf("N=%d: by hand", n)
	r, err := h.round(ctx, n, serverPID)
	if err != nil {
		return r, fmt.Errorf("hand start N=%d: %w", n, err)
	}
	logf("N=%d: by hand, every node alive in %s (other load %.2f cores); cleaning up", n, r.alive.Round(time.Millisecond), r.use.otherCores())
	if r.clean, err = h.cleanup(ctx, serverPID); err != nil {
		return r, fmt.Errorf("hand start N=%d cleanup: %w", n, err)
	}
	return r, nil
}

func rayfleetRound(ctx context.Context, rf *rayfleetSide, n int) (sideResult, error) {
	logf("N=%d: rayfleet", n)
	if took, err := rf.settle(ctx); err != nil {
		return sideResult{}, err
	} else if took > 5*time.Second {
		logf("N=%d: rayfleet took %s to settle", n, took.Round(time.Millisecond))
	}
	r, err := rf.round(ctx, n)
	if err != nil {
		return r, fmt.Errorf("rayfleet N=%d: %w", n, err)
	}
	logf("N=%d: rayfleet, every cluster Running with every node alive in %s (other load %.2f cores); cleaning up",
		n, r.ready.Round(time.Millisecond), r.use.otherCores())
	if r.clean, err = rf.cleanup(ctx); err != nil {
		return r, fmt.Errorf("rayfleet N=%d cleanup: %w", n, err)
	}
	return r, nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
