package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/rayfleet/rayfleet/bench/internal/benchproc"
)

// usage is where the CPU of a round went, and what the API server served.
type usage struct {
	procs   map[string]time.Duration // stack process name (and "rayfleet", "bench") → CPU
	machine time.Duration
	wall    time.Duration
	reqs    map[string]float64 // "VERB resource[/subresource]" → requests
}

// meter samples the CPU of the stack's processes (from up.sh's pids file),
// of rayfleet, of this program and of the machine, and the API server's
// request counters.
type meter struct {
	pids    map[string]int
	metrics *http.Client
	host    string
}

func newMeter(kubeconfig string) (*meter, error) {
	m := &meter{pids: map[string]int{}}
	// up.sh keeps its pids file next to the kubeconfig.
	if data, err := os.ReadFile(filepath.Join(filepath.Dir(kubeconfig), "pids")); err == nil {
		for line := range strings.SplitSeq(string(data), "\n") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				if pid, err := strconv.Atoi(f[1]); err == nil {
					m.pids[f[0]] = pid
				}
			}
		}
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	if m.metrics, err = rest.HTTPClientFor(cfg); err != nil {
		return nil, err
	}
	m.host = strings.TrimRight(cfg.Host, "/")
	return m, nil
}

type sample struct {
	at      time.Time
	procs   map[string]time.Duration
	machine time.Duration
	reqs    map[string]float64
}

func (m *meter) sample(ctx context.Context, rayfleetPid int) sample {
	s := sample{at: time.Now(), procs: map[string]time.Duration{}}
	for name, pid := range m.pids {
		if d, err := benchproc.CPUTime(pid); err == nil {
			s.procs[name] = d
		}
	}
	if rayfleetPid > 0 {
		if d, err := benchproc.CPUTime(rayfleetPid); err == nil {
			s.procs["rayfleet"] = d
		}
	}
	s.procs["bench"] = benchproc.SelfCPU()
	s.machine, _ = benchproc.MachineCPU()
	s.reqs = m.requests(ctx)
	return s
}

// requests reads apiserver_request_total, summed by verb and resource.
func (m *meter) requests(ctx context.Context) map[string]float64 {
	out := map[string]float64{}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.host+"/metrics", nil)
	if err != nil {
		return out
	}
	resp, err := m.metrics.Do(req)
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 256<<20))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, "apiserver_request_total{")
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			continue
		}
		l := map[string]string{}
		for kv := range strings.SplitSeq(labels, ",") {
			k, val, _ := strings.Cut(kv, "=")
			l[k] = strings.Trim(val, `"`)
		}
		key := l["verb"] + " " + l["resource"]
		if l["subresource"] != "" {
			key += "/" + l["subresource"]
		}
		out[key] += v
	}
	return out
}

func diff(a, b sample) usage {
	u := usage{procs: map[string]time.Duration{}, reqs: map[string]float64{}, machine: b.machine - a.machine, wall: b.at.Sub(a.at)}
	for k, v := range b.procs {
		u.procs[k] = v - a.procs[k]
	}
	for k, v := range b.reqs {
		if d := v - a.reqs[k]; d > 0 {
			u.reqs[k] = d
		}
	}
	return u
}

// other is the machine's CPU not used by the stack, rayfleet or this
// program: other people's work on a shared machine.
func (u usage) other() time.Duration {
	o := u.machine
	for _, v := range u.procs {
		o -= v
	}
	return max(o, 0)
}

// cores is d as a share of the round's wall time.
func (u usage) cores(d time.Duration) string {
	if u.wall <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", d.Seconds()/u.wall.Seconds())
}

var procOrder = []string{"kube-apiserver", "etcd", "ray-operator", "kwok", "kube-scheduler", "kube-controller-manager", "rayfleet", "bench"}

// cpuLine is the CPU of each process in the round, in seconds.
func (u usage) cpuLine() string {
	var parts []string
	for _, name := range procOrder {
		if v, ok := u.procs[name]; ok {
			parts = append(parts, fmt.Sprintf("%s %.1f", name, v.Seconds()))
		}
	}
	parts = append(parts, fmt.Sprintf("other %.1f (%s cores)", u.other().Seconds(), u.cores(u.other())))
	return strings.Join(parts, ", ")
}

// topRequests lists the API server's requests of the round, most first.
func (u usage) topRequests(n int) string {
	type kv struct {
		k string
		v float64
	}
	var all []kv
	total := 0.0
	for k, v := range u.reqs {
		all = append(all, kv{k, v})
		total += v
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v > all[j].v || all[i].v == all[j].v && all[i].k < all[j].k })
	var parts []string
	for i, e := range all {
		if i == n {
			break
		}
		parts = append(parts, fmt.Sprintf("%s %.0f", e.k, e.v))
	}
	return fmt.Sprintf("%.0f in all: %s", total, strings.Join(parts, ", "))
}
