package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/rayfleet/rayfleet/bench/internal/benchreport"
)

// The bounds of "level": the last window's median against the first
// steady window's (the window after the warm-up). Each allows the larger
// of a share and a fixed amount, the amount covering what moves with no
// leak at all when the figures are small:
//   - RSS +15% or +20 MiB. About half of the server's RSS is its own
//     binary's pages (RssFile: clean, backed by the file), read in as code
//     first runs, so it grows with no allocation at all when the mix
//     reaches code it had not run yet (a rare error path, a reconciler
//     branch); the report shows it apart from RssAnon. Go's heap may grow
//     to twice the live heap between collections and its scavenger gives
//     pages back over minutes, so the RSS of a busy server wanders by
//     several MiB. The API remembers every signed request's nonce for the
//     signature window (15 min), so its memory grows through the first 15
//     minutes, by 10–13 MiB at this mix's 37 signed calls a second (the
//     nonce, its slot in the map and the collector's headroom over both),
//     and then levels off; SQLite's page cache fills up to its bound. The
//     first steady window (5–10 min) is inside that growth, which the
//     fixed amount covers. A leak of 300 B per call or more passes 20 MiB
//     over the 25 minutes judged.
//   - goroutines +10% or +20. Each call in flight at the moment of a
//     sample holds one to three goroutines (the connection, the proxy's
//     copy in each direction), and the mix has up to eight at once, plus
//     the reconciler's and the churn cluster's probes; a goroutine left
//     behind by any kind of call grows by hundreds a window.
//   - open files +10 or +10%. The connections in flight at a sample and
//     those kept alive to the heads come and go; a leaked connection or
//     file per call grows by hundreds a window.
//
// Threads are shown but not judged: the Go runtime starts a thread for a
// goroutine blocked in a system call and never ends idle ones, so the
// count is a high-water mark of blocking at once, not of what is held.
var bounds = []bound{
	{name: "RSS", unit: "MiB", share: 0.15, abs: 20, of: func(s sample) float64 { return float64(s.rssKiB) / 1024 }},
	{name: "goroutines", share: 0.10, abs: 20, of: func(s sample) float64 { return float64(s.goroutines) }},
	{name: "open files", share: 0.10, abs: 10, of: func(s sample) float64 { return float64(s.fds) }},
}

type bound struct {
	name, unit string
	share, abs float64
	of         func(sample) float64
}

// limit is the most the last window's median may be.
func (b bound) limit(first float64) float64 {
	return max(first*(1+b.share), first+b.abs)
}

func (b bound) String() string {
	u := ""
	if b.unit != "" {
		u = " " + b.unit
	}
	return fmt.Sprintf("+%.0f%% or +%g%s", b.share*100, b.abs, u)
}

// window is the samples of one stretch of the run.
type window struct {
	from, to time.Duration
	samples  []sample
}

// windows cuts the samples of a run of d into windows of w; samples past
// the last whole window (the one at the very end) join it.
func windows(samples []sample, d, w time.Duration) []window {
	n := max(int(d/w), 1)
	out := make([]window, n)
	for i := range out {
		out[i].from, out[i].to = time.Duration(i)*w, time.Duration(i+1)*w
	}
	out[n-1].to = d
	for _, s := range samples {
		i := min(int(s.at/w), n-1)
		out[i].samples = append(out[i].samples, s)
	}
	return out
}

// median of f over the samples; 0 for none.
func median(samples []sample, f func(sample) float64) float64 {
	if len(samples) == 0 {
		return 0
	}
	v := make([]float64, len(samples))
	for i, s := range samples {
		v[i] = f(s)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func maxOf(samples []sample, f func(sample) float64) float64 {
	m := 0.0
	for _, s := range samples {
		m = max(m, f(s))
	}
	return m
}

// check is one bound applied to a run.
type check struct {
	bound       bound
	first, last float64
	level       bool
}

// judge compares the last window with the first after the warm-up.
func judge(ws []window) []check {
	if len(ws) < 3 {
		return nil
	}
	first, last := ws[1].samples, ws[len(ws)-1].samples
	out := make([]check, len(bounds))
	for i, b := range bounds {
		c := check{bound: b, first: median(first, b.of), last: median(last, b.of)}
		c.level = len(first) > 0 && len(last) > 0 && c.last <= b.limit(c.first)
		out[i] = c
	}
	return out
}

type report struct {
	opts             options
	machine, tree    string
	ray              string
	setup            time.Duration
	started          time.Time
	total            time.Duration
	cpu0, cpu1       cpuMark
	samples          []sample
	kinds            []kindCount
	dataDir          int64
	windows          []window
	checks           []check
	calls, unexpect  int
	sampleErrors     int
	level            bool // every check level, nothing unexpected
	goroutinesLevel  bool
	firstSampleError string
	logLines         []logLine
	losses           []loss
}

func (r *report) judge() {
	r.windows = windows(r.samples, r.total, r.opts.window)
	r.checks = judge(r.windows)
	r.level = len(r.checks) > 0
	r.goroutinesLevel = true
	for _, c := range r.checks {
		r.level = r.level && c.level
		if c.bound.name == "goroutines" && !c.level {
			r.goroutinesLevel = false
		}
	}
	for _, k := range r.kinds {
		r.calls += k.Calls
		r.unexpect += k.Unexpected
	}
	for _, s := range r.samples {
		if s.err != "" {
			r.sampleErrors++
			if r.firstSampleError == "" {
				r.firstSampleError = s.err
			}
		}
	}
	r.level = r.level && r.unexpect == 0 && r.sampleErrors == 0
}

func (r *report) write(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(r.markdown()), 0o644)
}

func (r *report) markdown() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# bench/soak: one rayfleet server under a mix of calls for %s\n\n", r.total.Round(time.Second))
	p("- started %s UTC, mixed calls for %s after %s of setup (the steady cluster Running, its job submitted)\n",
		r.started.UTC().Format("2006-01-02 15:04"), r.total.Round(time.Second), r.setup.Round(time.Second))
	p("- tree: %s\n- machine: %s\n- ray: %s\n", r.tree, r.machine, r.ray)
	wall := r.cpu1.at.Sub(r.cpu0.at).Seconds()
	if wall > 0 {
		p("- the server used %.2f cores on average; the whole machine was busy %.2f cores of %d (the Ray processes, this program and other people's work included)\n",
			(r.cpu1.server-r.cpu0.server).Seconds()/wall, (r.cpu1.machine-r.cpu0.machine).Seconds()/wall, runtime.NumCPU())
	}
	p("- sampled every %s; windows of %s, the first the warm-up\n", r.opts.sample, r.opts.window)
	if r.opts.window < 5*time.Minute {
		p("- **a quick check**: windows under 5 minutes say whether the program works, not whether the server is level\n")
	}
	p("\n## Samples, median (max) per window\n\n")
	p("| window | samples | RSS MiB | of which anon | of which file | goroutines | open files | threads | Ray processes |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	rss := bounds[0].of
	gor := bounds[1].of
	fds := bounds[2].of
	thr := func(s sample) float64 { return float64(s.threads) }
	ray := func(s sample) float64 { return float64(s.procs) }
	anon := func(s sample) float64 { return float64(s.anonKiB) / 1024 }
	file := func(s sample) float64 { return float64(s.fileKiB) / 1024 }
	for i, w := range r.windows {
		name := fmt.Sprintf("%s–%s", minutes(w.from), minutes(w.to))
		if i == 0 {
			name += " (warm-up)"
		}
		p("| %s | %d | %.1f (%.1f) | %.1f | %.1f | %.0f (%.0f) | %.0f (%.0f) | %.0f (%.0f) | %.0f (%.0f) |\n", name, len(w.samples),
			median(w.samples, rss), maxOf(w.samples, rss), median(w.samples, anon), median(w.samples, file),
			median(w.samples, gor), maxOf(w.samples, gor),
			median(w.samples, fds), maxOf(w.samples, fds), median(w.samples, thr), maxOf(w.samples, thr),
			median(w.samples, ray), maxOf(w.samples, ray))
	}
	if n := len(r.samples); n > 0 {
		p("\nPeak RSS (VmHWM) at the last sample: %.1f MiB. Data directory at the end: %.1f MiB.\n",
			float64(r.samples[n-1].hwmKiB)/1024, float64(r.dataDir)/(1<<20))
	}
	p("\n## Level?\n\nThe last window's median against the first steady window's (bounds and why: `bench/soak/report.go`).\n\n")
	p("| figure | first steady window | last window | change | bound | level |\n|---|---:|---:|---:|---|---|\n")
	for _, c := range r.checks {
		p("| %s | %.1f | %.1f | %+.1f (%+.1f%%) | %s | %s |\n", c.bound.name, c.first, c.last, c.last-c.first,
			pct(c.first, c.last), c.bound, benchreport.YesNo(c.level))
	}
	p("\n## Calls\n\n%d calls, %d not as expected", r.calls, r.unexpect)
	if r.sampleErrors > 0 {
		p("; %d samples failed (first: %s)", r.sampleErrors, r.firstSampleError)
	}
	p(". A call marked (refused) is as expected when refused with the right code or status. Among the answers, " +
		"\"failed while the steady cluster was down\" and \"failed while the head itself was slow\" (to a direct probe of its " +
		"dashboard, not through the gateway) are failures of Ray's, not counted against the server.\n\n")
	p("| kind | calls | not as expected | mean | max | answers | first not as expected |\n|---|---:|---:|---:|---:|---|---|\n")
	for _, k := range r.kinds {
		mean := time.Duration(0)
		if k.Calls > 0 {
			mean = k.Total / time.Duration(k.Calls)
		}
		p("| %s | %d | %d | %s | %s | %s | %s |\n", k.Kind, k.Calls, k.Unexpected, short(mean), short(k.Max), seen(k.Seen),
			strings.ReplaceAll(k.First, "|", "\\|"))
	}
	p("\n## Ray's processes that ended under the run\n\n")
	if len(r.losses) == 0 {
		p("None: every cluster stayed up until the run ended it.\n")
	} else {
		p("A cluster goes to Error with Ray's own report when the processes of its head end without rayfleet ending them " +
			"(killed from outside the run, or a start that Ray gives up on an overloaded machine). The run then starts the steady " +
			"cluster again, or deletes the churn cluster and goes on; the gateway's calls that failed meanwhile are noted, " +
			"not counted against the server. They do not decide the verdict, but are worth a look: each is a node of this run " +
			"that Ray lost.\n\n| at | cluster, step | back Running after | Ray's report |\n|---:|---|---:|---|\n")
		for _, l := range r.losses {
			back := "–"
			if l.back > 0 {
				back = l.back.Round(100 * time.Millisecond).String()
			}
			p("| %s | %s | %s | %s |\n", l.at.Round(time.Second), l.what, back, strings.ReplaceAll(truncate(l.message, 300), "|", "\\|"))
		}
	}
	p("\n## The server's log\n\n")
	if len(r.logLines) == 0 {
		p("No warnings or errors during the mixed calls.\n")
	} else {
		p("Warnings and errors during the mixed calls, by message (they do not decide the verdict):\n\n| level | message | lines |\n|---|---|---:|\n")
		for _, l := range r.logLines {
			p("| %s | %s | %d |\n", l.level, strings.ReplaceAll(l.msg, "|", "\\|"), l.n)
		}
	}
	p("\n**Verdict: %s.**\n", map[bool]string{true: "level, and every call as expected", false: "NOT level, or calls went wrong"}[r.level])
	return b.String()
}

func minutes(d time.Duration) string {
	if d%time.Minute == 0 {
		return fmt.Sprintf("%dm", int(d/time.Minute))
	}
	return d.Round(time.Second).String()
}

func pct(a, b float64) float64 {
	if a == 0 {
		return 0
	}
	return (b - a) / a * 100
}

// short shows a duration at a precision that suits it.
func short(d time.Duration) string {
	if d >= time.Second {
		return d.Round(100 * time.Millisecond).String()
	}
	return benchreport.Dur(d)
}

func seen(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
