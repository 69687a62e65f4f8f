package main

import (
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/rayfleet/rayfleet/bench/internal/benchreport"
)

// Goals (bench/README.md): through the gateway, at least half of nginx's
// throughput and under 0.5 ms added to the direct p50, at 8 clients for
// both response sizes.
const (
	goalThroughput = 0.5
	goalAddedP50   = 500 * time.Microsecond
)

var goalClients = map[int]bool{8: true}

func render(o options, rs, real []stepResult, info realRayInfo, began time.Time, took time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# bench/gateway\n\n")
	fmt.Fprintf(&b, "Run: %s, `go run ./bench/gateway` (-rounds %d -duration %s -warmup %s -clients %s -synthetic=%t -real-ray=%t -real-ray-clients %s -real-ray-rounds %d), %s in all.\n\n",
		began.UTC().Format("2006-01-02 15:04 UTC"), o.rounds, o.duration, o.warmup, joinInts(o.clients), o.synthetic, o.realRay,
		joinInts(o.realRayClients), o.realRayRounds, took.Round(time.Second))
	fmt.Fprintf(&b, "- Tree: %s\n- Machine: %s\n", o.tree, benchreport.Machine())
	if o.synthetic {
		fmt.Fprintf(&b, "- nginx: %s\n", nginxVersion(o.nginxBin))
	}
	if o.realRay {
		fmt.Fprintf(&b, "- Ray: %s (%s)\n", info.rayVersion, info.ray)
	}
	if o.gatewayEnv != "" {
		fmt.Fprintf(&b, "- Gateway process environment: %s\n", o.gatewayEnv)
	}
	b.WriteString("\n")
	if o.synthetic {
		renderSynthetic(&b, rs)
	}
	if o.realRay {
		renderRealRay(&b, real, info)
	}
	return b.String()
}

func renderSynthetic(b *strings.Builder, rs []stepResult) {
	fmt.Fprintf(b, "Targets: the same upstream (a Go net/http server started as the cluster's head by rayfleet's local runtime) reached directly; through nginx (`proxy_pass`, HTTP/1.1 keep-alive to the upstream, worker_processes auto); through a `rayfleet gateway` process (SQLite store of a running `rayfleet server --roles api,reconciler`, header `ray-token` with the cluster's submitToken; `/api/...` under the jobUrl, other paths under its `/dashboard/`). `%s` answers %d bytes, `%s` %d bytes. Every client keeps one keep-alive connection and one request in flight.\n\n",
		smallPath, len(smallBody), largePath, largeSize)

	byKey := indexSteps(rs)
	b.WriteString("| round | path | clients | target | req/s | p50 | p99 | errors | req/s vs nginx | p50 added vs direct | proxy CPU/req | upstream CPU/req | client CPU/req | other load |\n")
	b.WriteString("|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rs {
		vsNginx, added := "", ""
		if n, ok := byKey[key(r.round, "nginx", r.path, r.clients)]; ok && r.target != "nginx" && r.target != "direct" && n.rps() > 0 {
			vsNginx = fmt.Sprintf("%.3f", r.rps()/n.rps())
		}
		if d, ok := byKey[key(r.round, "direct", r.path, r.clients)]; ok && r.target != "direct" {
			added = benchreport.Dur(r.p(50) - d.p(50))
		}
		proxyCPU := ""
		if r.target != "direct" {
			proxyCPU = perReq(r.proxyCPU, r.ok)
		}
		errs := fmt.Sprint(r.errs)
		if r.errs > 0 {
			errs += " (" + r.firstErr + ")"
		}
		fmt.Fprintf(b, "| %d | `%s` | %d | %s | %.0f | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			r.round, r.path, r.clients, r.target, r.rps(), benchreport.Dur(r.p(50)), benchreport.Dur(r.p(99)), errs, vsNginx, added,
			proxyCPU, perReq(r.upstreamCPU, r.ok), perReq(r.clientCPU, r.ok), r.otherLoad())
	}
	b.WriteString("\nThe goals are judged on the median over the rounds (the mean of the middle two for an even number), each round's figure beside it.\n")
	b.WriteString("\n| goal | median | every round | met |\n|---|---|---|---|\n")
	for _, g := range goalRows(rs, byKey) {
		fmt.Fprintf(b, "| `%s`, %d clients: throughput ≥ %.1f × nginx | %.3f × | %s | %s |\n",
			g.path, g.clients, goalThroughput, median(g.ratios), joinFloats(g.ratios, "%.3f"), benchreport.YesNo(median(g.ratios) >= goalThroughput && g.errs == 0))
		fmt.Fprintf(b, "| `%s`, %d clients: p50 added over direct < %s | %s | %s | %s |\n",
			g.path, g.clients, benchreport.Dur(goalAddedP50), benchreport.Dur(time.Duration(median(g.added))), joinDurs(g.added), benchreport.YesNo(time.Duration(median(g.added)) < goalAddedP50))
	}
	b.WriteString("\n" + cpuNote + "\n\n")
}

const cpuNote = "CPU/req is user+system CPU over the measured window divided by the requests completed; the proxy's includes nginx's workers. Other load is the CPU the rest of the machine used meanwhile (other builds and tests), in cores. Steal is the CPU time the hypervisor gave to other machines while this one's CPUs had work (/proc/stat), in cores: a step with steal ran on less than its 2 cores, and the processes' CPU figures may include time that was stolen from them."

func renderRealRay(b *strings.Builder, rs []stepResult, info realRayInfo) {
	b.WriteString("## Real Ray head\n\n")
	fmt.Fprintf(b, "A `rayfleet server` with the local runtime on real Ray started a one-node cluster (head 1 CPU / 2 GiB), Running with its job API answering after %s. "+
		"Its head's dashboard is asked directly (`Authorization: Bearer` with the head's Ray token from the runtime's node record) and through a `rayfleet gateway` process on the server's data directory "+
		"(header `ray-token` with the cluster's submitToken; the gateway sends the head its Ray token). `/api/version` is Ray's version answer, `/api/jobs/` the job list (empty: no job is submitted). "+
		"The two take turns, in the other order every other round. Ray CPU/req is the head's processes' (every process under its `ray start`). The goals are judged on the synthetic upstream alone.\n\n",
		info.startup.Round(time.Second))
	byKey := indexSteps(rs)
	b.WriteString("| round | path | clients | target | req/s | p50 | p99 | errors | p50 added vs direct | gateway CPU/req | Ray CPU/req | client CPU/req | other load |\n")
	b.WriteString("|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rs {
		added, proxyCPU := "", ""
		if d, ok := byKey[key(r.round, "direct", r.path, r.clients)]; ok && r.target != "direct" {
			added, proxyCPU = benchreport.Dur(r.p(50)-d.p(50)), perReq(r.proxyCPU, r.ok)
		}
		errs := fmt.Sprint(r.errs)
		if r.errs > 0 {
			errs += " (" + r.firstErr + ")"
		}
		fmt.Fprintf(b, "| %d | `%s` | %d | %s | %.0f | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			r.round, r.path, r.clients, r.target, r.rps(), benchreport.Dur(r.p(50)), benchreport.Dur(r.p(99)), errs, added,
			proxyCPU, perReq(r.upstreamCPU, r.ok), perReq(r.clientCPU, r.ok), r.otherLoad())
	}
	b.WriteString("\nMedians over the rounds (the mean of the middle two for an even number), each round's added p50 after it:\n\n")
	b.WriteString("| path | clients | direct p50 | direct p99 | gateway p50 | gateway p99 | p50 added by the gateway | gateway req/s vs direct | gateway CPU/req | other load |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---|---:|---:|---:|\n")
	for _, row := range realRayRows(rs) {
		ratios := make([]float64, len(row.gwRPS))
		for i := range ratios {
			if row.directRPS[i] > 0 {
				ratios[i] = row.gwRPS[i] / row.directRPS[i]
			}
		}
		errs := ""
		if row.errs > 0 {
			errs = fmt.Sprintf(" (%d errors)", row.errs)
		}
		fmt.Fprintf(b, "| `%s` | %d | %s | %s | %s | %s | **%s** (%s)%s | %.3f × | %.0f µs | %s cores |\n",
			row.path, row.clients, mdur(row.directP50), mdur(row.directP99), mdur(row.gwP50), mdur(row.gwP99),
			mdur(row.added), joinDurs(row.added), errs, median(ratios), median(row.gatewayCPU), spread(row.other))
	}
	b.WriteString("\n" + cpuNote + "\n")
}

func mdur(xs []float64) string { return benchreport.Dur(time.Duration(median(xs))) }

// spread is the range of xs, as "0.10–0.90".
func spread(xs []float64) string {
	if len(xs) == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f–%.2f", slices.Min(xs), slices.Max(xs))
}

// otherLoad is r's other load in cores, and the steal when there was
// any.
func (r stepResult) otherLoad() string {
	secs := r.window.Seconds()
	s := fmt.Sprintf("%.2f cores", r.otherCPU.Seconds()/secs)
	if steal := r.stealCPU.Seconds() / secs; steal >= 0.005 {
		s += fmt.Sprintf(", steal %.2f", steal)
	}
	return s
}

// indexSteps maps each step's key to the step.
func indexSteps(rs []stepResult) map[string]stepResult {
	byKey := map[string]stepResult{}
	for _, r := range rs {
		byKey[key(r.round, r.target, r.path, r.clients)] = r
	}
	return byKey
}

func key(round int, target, path string, clients int) string {
	return fmt.Sprintf("%d|%s|%s|%d", round, target, path, clients)
}

// goalRow is one step the goals judge: the gateway's throughput over
// nginx's and its p50 over the direct p50, in every round.
type goalRow struct {
	path          string
	clients, errs int
	ratios, added []float64 // added in nanoseconds
}

func goalRows(rs []stepResult, byKey map[string]stepResult) []*goalRow {
	var rows []*goalRow
	byStep := map[string]*goalRow{}
	for _, r := range rs {
		if r.target != "rayfleet gateway" || !goalClients[r.clients] {
			continue
		}
		n, nok := byKey[key(r.round, "nginx", r.path, r.clients)]
		d, dok := byKey[key(r.round, "direct", r.path, r.clients)]
		if !nok || !dok || n.rps() == 0 {
			continue
		}
		k := key(0, "", r.path, r.clients)
		g := byStep[k]
		if g == nil {
			g = &goalRow{path: r.path, clients: r.clients}
			byStep[k] = g
			rows = append(rows, g)
		}
		g.errs += r.errs
		g.ratios = append(g.ratios, r.rps()/n.rps())
		g.added = append(g.added, float64(r.p(50)-d.p(50)))
	}
	return rows
}

// median of xs: the middle one, or the mean of the middle two.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

func joinFloats(xs []float64, format string) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprintf(format, x)
	}
	return strings.Join(s, ", ")
}

func joinDurs(xs []float64) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = benchreport.Dur(time.Duration(x))
	}
	return strings.Join(s, ", ")
}

func perReq(d time.Duration, n int) string {
	if n == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.0f µs", float64(d)/float64(n)/float64(time.Microsecond))
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ",")
}

func nginxVersion(bin string) string {
	out, err := exec.Command(bin, "-v").CombinedOutput()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}
