package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
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
	b.WriteString("| N | round | first | baseline: creates answered | baseline: heads ready | baseline: all ready | rayfleet: creates answered | rayfleet: all RayClusters exist | rayfleet: heads ready | rayfleet: KubeRay all ready | rayfleet: API all Running | rayfleet / baseline |\n")
	b.WriteString("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, x := range r.rounds {
		first := "baseline"
		if x.rayfleetFirst {
			first = "rayfleet"
		}
		ratio := "–"
		if r, ok := x.ratio(); ok {
			ratio = fmt.Sprintf("%.2f×", r)
		}
		fmt.Fprintf(&b, "| %d | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", x.n, x.rep, first,
			ms(x.base.created), ms(x.base.headsReady), ms(x.base.ready), ms(x.rf.created), ms(x.rf.objects),
			ms(x.rf.headsReady), ms(x.rf.kubeReady), ms(x.rf.running), ratio)
	}
	b.WriteString("\n*heads ready*: a watch on the head pods has seen every one Ready (what rayfleet's Running waits for).\n\n")

	b.WriteString("The goal is judged, for each N, on the median over its rounds of rayfleet / baseline (one ratio per round, ")
	b.WriteString("both sides run back to back, their order alternating); a single round of N = 1 lasts about 0.1 s and is ")
	b.WriteString("dominated by noise.\n\n")
	b.WriteString("| N | rounds | median baseline: all ready | median rayfleet: API all Running | rayfleet / baseline per round | median rayfleet / baseline | goal ≤ 1.1× |\n")
	b.WriteString("|---:|---:|---:|---:|---|---:|---|\n")
	for _, s := range r.summaries() {
		median, met := "–", "– (no baseline)"
		if s.ratios != "" {
			median, met = fmt.Sprintf("**%.2f×**", s.medianRatio), "yes"
			if s.medianRatio > goal {
				met = "**no**"
			}
		}
		fmt.Fprintf(&b, "| %d | %d | %s | %s | %s | %s | %s |\n", s.n, s.rounds, ms(s.medianBase), ms(s.medianRF),
			s.ratios, median, met)
	}

	b.WriteString("\n- *to RayCluster*: rayfleet's all RayClusters exist − creates answered (the reconciler's first pass and the apply).\n")
	b.WriteString("- *head to Running*: API all Running − heads ready, in the rayfleet round (rayfleet noticing the ready head, ")
	b.WriteString("writing Running, and the next list poll).\n")
	b.WriteString("- *status lag*: API Running − KubeRay all ready, in the rayfleet round (negative: rayfleet says Running on the head alone, KubeRay's ready waits for the workers too).\n")
	b.WriteString("- *KubeRay slower*: KubeRay all ready in the rayfleet round − all ready in the baseline round.\n\n")
	b.WriteString("| N | round | to RayCluster | head to Running | status lag | KubeRay slower | list polls | cleanup baseline / rayfleet |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, x := range r.rounds {
		fmt.Fprintf(&b, "| %d | %d | %s | %s | %s | %s | %d | %s / %s |\n", x.n, x.rep, signed(x.rf.objects-x.rf.created),
			signed(x.rf.running-x.rf.headsReady), signed(x.rf.running-x.rf.kubeReady),
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

// ratio is the round's rayfleet / baseline; false without a baseline
// (-no-baseline).
func (x roundResult) ratio() (float64, bool) {
	if x.base.ready <= 0 {
		return 0, false
	}
	return x.rf.ready.Seconds() / x.base.ready.Seconds(), true
}

// summary is one N's rounds.
type summary struct {
	n, rounds            int
	medianBase, medianRF time.Duration
	medianRatio          float64
	ratios               string // every round's, in order; "" without a baseline
}

// summaries gives, for each N in the order first run, the medians over its
// rounds (the mean of the middle two for an even number of rounds).
func (r *report) summaries() []summary {
	var out []summary
	byN := map[int][]roundResult{}
	for _, x := range r.rounds {
		if len(byN[x.n]) == 0 {
			out = append(out, summary{n: x.n})
		}
		byN[x.n] = append(byN[x.n], x)
	}
	for i := range out {
		xs := byN[out[i].n]
		var base, rf, ratio []float64
		var each []string
		for _, x := range xs {
			base = append(base, x.base.ready.Seconds())
			rf = append(rf, x.rf.ready.Seconds())
			if r, ok := x.ratio(); ok {
				ratio = append(ratio, r)
				each = append(each, fmt.Sprintf("%.2f", r))
			}
		}
		out[i].rounds = len(xs)
		out[i].medianBase = seconds(median(base))
		out[i].medianRF = seconds(median(rf))
		if len(ratio) > 0 {
			out[i].medianRatio = median(ratio)
		}
		out[i].ratios = strings.Join(each, ", ")
	}
	return out
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// median of xs (not empty); xs is sorted in place.
func median(xs []float64) float64 {
	slices.Sort(xs)
	m := len(xs) / 2
	if len(xs)%2 == 1 {
		return xs[m]
	}
	return (xs[m-1] + xs[m]) / 2
}

func signed(d time.Duration) string {
	if d < 0 {
		return "−" + ms(-d)
	}
	return "+" + ms(d)
}
