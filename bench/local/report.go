package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// goal is the most rayfleet may take, as a multiple of the hand start.
const goal = 1.15

type roundResult struct {
	n, rep        int
	rayfleetFirst bool
	hand, rf      sideResult
}

type report struct {
	started  time.Time
	total    time.Duration
	tree     string
	machine  string
	ray      string
	opts     options
	template []nodeTemplate
	warmup   sideResult
	rounds   []roundResult
}

func (r *report) write(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(r.markdown()), 0o644)
}

func secs(d time.Duration) string { return fmt.Sprintf("%.3f s", d.Seconds()) }

func (r *report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# bench/local\n\n")
	fmt.Fprintf(&b, "- started: %s UTC; total %s\n", r.started.UTC().Format("2006-01-02 15:04"), r.total.Round(time.Second))
	fmt.Fprintf(&b, "- tree: %s\n- machine: %s\n- ray: %s\n", r.tree, r.machine, r.ray)
	fmt.Fprintf(&b, "- flags: -n %v (rounds %v) -poll %s -dial %s\n", r.opts.ns, r.opts.nreps, r.opts.poll, r.opts.dial)
	fmt.Fprintf(&b, "- warm-up cluster through rayfleet (not counted): every cluster Running and every node alive in %s\n", secs(r.warmup.ready))
	b.WriteString("- the nodes' command lines, as rayfleet ran them for the warm-up cluster (the hand start runs the same with other ports and temp dirs):\n")
	for _, t := range r.template {
		fmt.Fprintf(&b, "  - `%s`\n", shape(t.args))
	}
	b.WriteString("\nTimes are from the first create call (rayfleet: `CreateRayCluster` for every cluster at once) or the first ")
	b.WriteString("head's `ray start` (by hand). The side ends when every cluster is Running in `GetRayCluster` (rayfleet) ")
	b.WriteString("and Ray's state API on its head (`/api/v0/nodes`: rayfleet through the gateway's jobUrl, by hand directly) shows 3 ALIVE nodes. ")
	b.WriteString("*workers started*: the last worker's `ray start` was launched (rayfleet: its record's start time); ")
	b.WriteString("*head → workers*: the longest wait, over the clusters, from a head's start to the start of its last worker; ")
	b.WriteString("*worker restarts*: workers started again after Ray gave up on their start (both sides wait 5 s, the local runtime's first back-off).\n\n")
	b.WriteString("| N | round | first | by hand: workers started | by hand: all alive | rayfleet: creates answered | rayfleet: workers started | rayfleet: API all Running | rayfleet: all alive | rayfleet: all Running and alive | rayfleet / by hand | head → workers by hand / rayfleet | worker restarts by hand / rayfleet | other load by hand / rayfleet |\n")
	b.WriteString("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, x := range r.rounds {
		first := "by hand"
		if x.rayfleetFirst {
			first = "rayfleet"
		}
		fmt.Fprintf(&b, "| %d | %d | %s | %s | %s | %s | %s | %s | %s | %s | %.2f× | %s / %s | %d / %d | %s / %s |\n", x.n, x.rep, first,
			secs(x.hand.workers), secs(x.hand.alive), secs(x.rf.created), secs(x.rf.workers), secs(x.rf.running), secs(x.rf.alive), secs(x.rf.ready),
			x.ratio(), secs(x.hand.gcsAfter), secs(x.rf.gcsAfter), x.hand.restarts, x.rf.restarts, load(x.hand.use), load(x.rf.use))
	}
	b.WriteString("\nThe goal is judged, for each N, on the median over its rounds of rayfleet / by hand (one ratio per round, ")
	b.WriteString("both sides back to back, their order alternating).\n\n")
	b.WriteString("| N | rounds | median by hand | median rayfleet | rayfleet / by hand per round | median rayfleet / by hand | goal ≤ 1.15× |\n")
	b.WriteString("|---:|---:|---:|---:|---|---:|---|\n")
	for _, s := range r.summaries() {
		met := "yes"
		if s.medianRatio > goal {
			met = "**no**"
		}
		fmt.Fprintf(&b, "| %d | %d | %s | %s | %s | **%.2f×** | %s |\n", s.n, s.rounds, secs(s.medianHand), secs(s.medianRF), s.ratios, s.medianRatio, met)
	}
	b.WriteString("\n### CPU seconds in each side of each round, by process\n\n")
	b.WriteString("*Ray*: every Ray process of the side, as last seen (the benchmark looks every 500 ms); ")
	b.WriteString("*other*: the machine's busy time none of the run's processes used (other people's work, the steal).\n\n")
	for _, x := range r.rounds {
		fmt.Fprintf(&b, "- N=%d round %d, by hand: %s\n", x.n, x.rep, cpuLine(x.hand.use))
		fmt.Fprintf(&b, "- N=%d round %d, rayfleet: %s\n", x.n, x.rep, cpuLine(x.rf.use))
	}
	return b.String()
}

func load(u usage) string {
	s := fmt.Sprintf("%.2f", u.otherCores())
	if st := u.cores(u.steal); st >= 0.005 {
		s += fmt.Sprintf(" (steal %.2f)", st)
	}
	return s
}

func cpuLine(u usage) string {
	return fmt.Sprintf("wall %s; Ray %.1f (%d processes), rayfleet server %.1f, benchmark %.1f, other %.1f (%.2f cores, steal %.2f)",
		secs(u.wall), u.ray.Seconds(), u.procs, u.server.Seconds(), u.bench.Seconds(), u.other().Seconds(), u.otherCores(), u.cores(u.steal))
}

func (x roundResult) ratio() float64 { return x.rf.ready.Seconds() / x.hand.ready.Seconds() }

type summary struct {
	n, rounds            int
	medianHand, medianRF time.Duration
	medianRatio          float64
	ratios               string
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
		var hand, rf, ratio []float64
		var each []string
		for _, x := range byN[out[i].n] {
			hand = append(hand, x.hand.ready.Seconds())
			rf = append(rf, x.rf.ready.Seconds())
			ratio = append(ratio, x.ratio())
			each = append(each, fmt.Sprintf("%.2f", x.ratio()))
		}
		out[i].rounds = len(hand)
		out[i].medianHand = time.Duration(median(hand) * float64(time.Second))
		out[i].medianRF = time.Duration(median(rf) * float64(time.Second))
		out[i].medianRatio = median(ratio)
		out[i].ratios = strings.Join(each, ", ")
	}
	return out
}

// median of xs (not empty); xs is sorted in place.
func median(xs []float64) float64 {
	slices.Sort(xs)
	m := len(xs) / 2
	if len(xs)%2 == 1 {
		return xs[m]
	}
	return (xs[m-1] + xs[m]) / 2
}
