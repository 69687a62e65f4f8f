package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

type roundResult struct {
	n, rep             int
	rayfleetFirst      bool
	base, rf           sideResult
	baseClean, rfClean time.Duration
}

type report struct {
	started  time.Time
	total    time.Duration
	gitState string
	machine  string
	opts     options
	stackUp  time.Duration
	nodes    int
	template string
	rounds   []roundResult
}

// goal is the most rayfleet may take, as a multiple of KubeRay alone.
const goal = 1.1

func (r *report) write(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(r.markdown()), 0o644)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f s", d.Seconds()) }

func (r *report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# bench/kuberay\n\n")
	fmt.Fprintf(&b, "- started: %s UTC; total %s\n", r.started.UTC().Format("2006-01-02 15:04"), r.total.Round(time.Second))
	fmt.Fprintf(&b, "- tree: %s\n- machine: %s\n", r.gitState, r.machine)
	fmt.Fprintf(&b, "- flags: -n %v (rounds %v) -concurrency %d -poll %s (at least N × 2 ms) -reconcile-workers %d (0: the server's default, 16)\n",
		r.opts.ns, r.opts.nreps, r.opts.concurrency, r.opts.poll, r.opts.workers)
	if r.stackUp > 0 {
		fmt.Fprintf(&b, "- stack: scripts/kube/up.sh in %s, plus %d kwok nodes of %d pods\n", r.stackUp.Round(100*time.Millisecond), r.nodes, r.opts.podsPerNode)
	} else {
		fmt.Fprintf(&b, "- stack: given with -kubeconfig, plus %d kwok nodes of %d pods\n", r.nodes, r.opts.podsPerNode)
	}
	fmt.Fprintf(&b, "- RayCluster (as rayfleet applied it for the warm-up cluster; the baseline creates the same without rayfleet's labels): %s\n\n", r.template)

	b.WriteString("Times are from the first create call of the round. rayfleet: creates through the API (`CreateRayCluster`), ")
	b.WriteString("end when `ListRayCluster` shows every cluster `Running`. Baseline: `client.Create` of the RayClusters, ")
	b.WriteString("end when a watch has seen every one with `status.state: ready`.\n\n")
	b.WriteString("| N | round | first | baseline: creates answered | baseline: all ready | rayfleet: creates answered | rayfleet: all RayClusters exist | rayfleet: KubeRay all ready | rayfleet: API all Running | rayfleet / baseline | goal ≤ 1.1× |\n")
	b.WriteString("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, x := range r.rounds {
		first, met := "baseline", "yes"
		if x.rayfleetFirst {
			first = "rayfleet"
		}
		if x.rf.ready.Seconds() > goal*x.base.ready.Seconds() {
			met = "**no**"
		}
		fmt.Fprintf(&b, "| %d | %d | %s | %s | %s | %s | %s | %s | %s | **%.2f×** | %s |\n", x.n, x.rep, first,
			ms(x.base.created), ms(x.base.ready), ms(x.rf.created), ms(x.rf.objects), ms(x.rf.kubeReady), ms(x.rf.running),
			x.rf.ready.Seconds()/x.base.ready.Seconds(), met)
	}
	b.WriteString("\n- *status lag*: API Running − KubeRay all ready, in the rayfleet round (negative: rayfleet says Running on the head alone, KubeRay's ready waits for the workers too).\n")
	b.WriteString("- *KubeRay slower*: KubeRay all ready in the rayfleet round − all ready in the baseline round.\n\n")
	b.WriteString("| N | round | status lag | KubeRay slower | list polls | cleanup baseline / rayfleet |\n|---:|---:|---:|---:|---:|---:|\n")
	for _, x := range r.rounds {
		fmt.Fprintf(&b, "| %d | %d | %s | %s | %d | %s / %s |\n", x.n, x.rep, signed(x.rf.running-x.rf.kubeReady),
			signed(x.rf.kubeReady-x.base.ready), x.rf.polls, ms(x.baseClean), ms(x.rfClean))
	}
	b.WriteString("\n### CPU seconds used in each round (from the first create to the end), by process\n\n")
	b.WriteString("*other* is the machine's busy time not used by these processes: other people's work on a shared machine.\n\n")
	for _, x := range r.rounds {
		fmt.Fprintf(&b, "- N=%d round %d, baseline (%s): %s\n", x.n, x.rep, ms(x.base.use.wall), x.base.use.cpuLine())
		fmt.Fprintf(&b, "- N=%d round %d, rayfleet (%s): %s\n", x.n, x.rep, ms(x.rf.use.wall), x.rf.use.cpuLine())
	}
	b.WriteString("\n### API server requests in each round, by verb and resource\n\n")
	for _, x := range r.rounds {
		fmt.Fprintf(&b, "- N=%d round %d, baseline: %s\n", x.n, x.rep, x.base.use.topRequests(12))
		fmt.Fprintf(&b, "- N=%d round %d, rayfleet: %s\n", x.n, x.rep, x.rf.use.topRequests(12))
	}
	return b.String()
}

func signed(d time.Duration) string {
	if d < 0 {
		return "−" + ms(-d)
	}
	return "+" + ms(d)
}
