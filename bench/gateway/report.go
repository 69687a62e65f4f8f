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

func render(o options, rs []stepResult, began time.Time, took time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# bench/gateway\n\n")
	fmt.Fprintf(&b, "Run: %s, `go run ./bench/gateway` (-rounds %d -duration %s -warmup %s -clients %s), %s in all.\n\n",
		began.UTC().Format("2006-01-02 15:04 UTC"), o.rounds, o.duration, o.warmup, joinInts(o.clients), took.Round(time.Second))
	fmt.Fprintf(&b, "- Tree: %s\n- Machine: %s\n- nginx: %s\n", o.tree, benchreport.Machine(), nginxVersion(o.nginxBin))
	if o.gatewayEnv != "" {
		fmt.Fprintf(&b, "- Gateway process environment: %s\n", o.gatewayEnv)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "Targets: the same upstream (a Go net/http server started as the cluster's head by rayfleet's local runtime) reached directly; through nginx (`proxy_pass`, HTTP/1.1 keep-alive to the upstream, worker_processes auto); through a `rayfleet gateway` process (SQLite store of a running `rayfleet server --roles api,reconciler`, header `ray-token` with the cluster's submitToken; `/api/...` under the jobUrl, other paths under its `/dashboard/`). `%s` answers %d bytes, `%s` %d bytes. Every client keeps one keep-alive connection and one request in flight.\n\n",
		smallPath, len(smallBody), largePath, largeSize)

	byKey := map[string]stepResult{}
	for _, r := range rs {
		byKey[key(r.round, r.target, r.path, r.clients)] = r
	}
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
		fmt.Fprintf(&b, "| %d | `%s` | %d | %s | %.0f | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			r.round, r.path, r.clients, r.target, r.rps(), benchreport.Dur(r.p(50)), benchreport.Dur(r.p(99)), errs, vsNginx, added,
			proxyCPU, perReq(r.upstreamCPU, r.ok), perReq(r.clientCPU, r.ok), r.otherLoad())
	}
	b.WriteString("\nThe goals are judged on the median over the rounds (the mean of the middle two for an even number), each round's figure beside it.\n")
	b.WriteString("\n| goal | median | every round | met |\n|---|---|---|---|\n")
	for _, g := range goalRows(rs, byKey) {
		fmt.Fprintf(&b, "| `%s`, %d clients: throughput ≥ %.1f × nginx | %.3f × | %s | %s |\n",
			g.path, g.clients, goalThroughput, median(g.ratios), joinFloats(g.ratios, "%.3f"), benchreport.YesNo(median(g.ratios) >= goalThroughput && g.errs == 0))
		fmt.Fprintf(&b, "| `%s`, %d clients: p50 added over direct < %s | %s | %s | %s |\n",
			g.path, g.clients, benchreport.Dur(goalAddedP50), benchreport.Dur(time.Duration(median(g.added))), joinDurs(g.added), benchreport.YesNo(time.Duration(median(g.added)) < goalAddedP50))
	}
	b.WriteString("\nCPU/req is user+system CPU over the measured window divided by the requests completed; the proxy's includes nginx's workers. Other load is the CPU the rest of the machine used meanwhile (other builds and tests), in cores. Steal is the CPU time the hypervisor gave to other machines while this one's CPUs had work (/proc/stat), in cores: a step with steal ran on less than its 2 cores, and the processes' CPU figures may include time that was stolen from them.\n")
	return b.String()
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
