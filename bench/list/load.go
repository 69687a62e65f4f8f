package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/rayfleet/rayfleet/api"
	"github.com/rayfleet/rayfleet/api/signer"
	"github.com/rayfleet/rayfleet/bench/internal/benchproc"
)

// target is a server the load generator drives.
type target struct {
	name string // "rayfleet" or "ceiling"
	addr string
	pid  int
	// benchPids are every server process of the benchmark (this target and
	// the idle other one), to tell the machine's CPU use by anything else.
	benchPids []int
}

// loadSpec is one step: C clients listing pages of one size.
type loadSpec struct {
	clients  int
	pageSize int
	pages    int // pageNum is drawn uniformly from 1..pages
	warmup   time.Duration
	duration time.Duration
}

// stepResult is what one step measured.
type stepResult struct {
	target   string
	pageSize int
	clients  int
	ok       int           // 200 responses completed inside the window
	errors   int           // anything else, warm-up excluded
	window   time.Duration // the measured window
	p50, p99 time.Duration
	// serverCPU and clientCPU are the CPU time the target process and this
	// process used during the window (warm-up excluded); otherCPU is what
	// the rest of the machine used meanwhile (other people's builds...),
	// which would skew the figures.
	serverCPU, clientCPU, otherCPU time.Duration
	firstErr                       string
}

func (r stepResult) rps() float64 { return float64(r.ok) / r.window.Seconds() }

// newRequest builds a signed ListRayCluster call, exactly as api.Client.Do
// does: every request gets a fresh nonce (rayfleet refuses a replayed one)
// and the current date. The ceiling gets the very same requests, so the
// client's cost is identical for both targets.
func newRequest(ctx context.Context, addr, ws string, pageNum, pageSize int, cred signer.Credentials) (*http.Request, error) {
	u := "http://" + addr + "/api/v1/workspaces/" + url.PathEscape(ws) + "/rayCluster?pageNum=" +
		strconv.Itoa(pageNum) + "&pageSize=" + strconv.Itoa(pageSize)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, http.NoBody)
	if err != nil {
		return nil, err
	}
	req.Header.Set("x-acs-action", "ListRayCluster")
	req.Header.Set("x-acs-version", api.Version)
	req.Header.Set("accept", "application/json")
	if err := signer.SignACS3(req, nil, cred, time.Now(), signer.NewNonce()); err != nil {
		return nil, err
	}
	return req, nil
}

// newTransport is a keep-alive transport with an idle connection kept for
// every client, so no step pays for reconnecting.
func newTransport(clients int) *http.Transport {
	return &http.Transport{
		Proxy:               nil, // the targets are local; never go through a proxy from the environment
		MaxIdleConns:        clients * 2,
		MaxIdleConnsPerHost: clients * 2,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
}

// runStep drives t with spec.clients concurrent clients: each sends one
// request at a time, as fast as answers come, for warm-up plus duration.
// Only requests that start after the warm-up and finish inside the window
// count, so the rate is completions per second of the window.
func runStep(ctx context.Context, t target, ws string, cred signer.Credentials, spec loadSpec) (stepResult, error) {
	tr := newTransport(spec.clients)
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}

	start := time.Now()
	warmEnd := start.Add(spec.warmup)
	end := warmEnd.Add(spec.duration)
	type worker struct {
		samples  []int64 // latency of each OK request, ns
		errors   int
		firstErr string
	}
	workers := make([]worker, spec.clients)
	var wg sync.WaitGroup
	// CPU is read at the window's edges by a separate goroutine so the
	// figures cover the measured window only.
	var cpu0, cpu1 cpuSnapshot
	var cpuErr error
	wg.Go(func() {
		sleepUntil(ctx, warmEnd)
		cpu0, cpuErr = snapshotCPU(t)
		sleepUntil(ctx, end)
		var err error
		cpu1, err = snapshotCPU(t)
		if cpuErr == nil {
			cpuErr = err
		}
	})
	for i := range workers {
		w := &workers[i]
		w.samples = make([]int64, 0, 1<<14)
		// A per-client generator, seeded by its index, spreads pageNum over
		// every page without a shared lock.
		rng := rand.New(rand.NewPCG(uint64(i)+1, uint64(spec.pageSize)))
		wg.Go(func() {
			var buf bytes.Buffer
			for ctx.Err() == nil {
				if time.Now().After(end) {
					return
				}
				req, err := newRequest(ctx, t.addr, ws, 1+rng.IntN(spec.pages), spec.pageSize, cred)
				if err != nil {
					w.errors++
					w.firstErr = err.Error()
					return
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				status := 0
				if err == nil {
					buf.Reset()
					_, err = buf.ReadFrom(resp.Body)
					resp.Body.Close()
					status = resp.StatusCode
				}
				t1 := time.Now()
				if t0.Before(warmEnd) || t1.After(end) {
					continue
				}
				switch {
				case err != nil:
					if ctx.Err() != nil {
						return
					}
					w.errors++
					if w.firstErr == "" {
						w.firstErr = err.Error()
					}
				case status != http.StatusOK || buf.Len() == 0:
					w.errors++
					if w.firstErr == "" {
						w.firstErr = fmt.Sprintf("HTTP %d: %.200s", status, buf.String())
					}
				default:
					w.samples = append(w.samples, int64(t1.Sub(t0)))
				}
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return stepResult{}, err
	}
	res := stepResult{target: t.name, pageSize: spec.pageSize, clients: spec.clients, window: spec.duration}
	var all []int64
	for _, w := range workers {
		all = append(all, w.samples...)
		res.errors += w.errors
		if res.firstErr == "" {
			res.firstErr = w.firstErr
		}
	}
	res.ok = len(all)
	slices.Sort(all)
	res.p50 = time.Duration(percentile(all, 50))
	res.p99 = time.Duration(percentile(all, 99))
	if cpuErr != nil {
		return res, fmt.Errorf("read CPU time of %s: %w", t.name, cpuErr)
	}
	res.serverCPU, res.clientCPU = cpu1.target-cpu0.target, cpu1.self-cpu0.self
	res.otherCPU = max(0, (cpu1.machine-cpu0.machine)-(cpu1.bench-cpu0.bench)-res.clientCPU)
	return res, nil
}

// percentile is the nearest-rank percentile of sorted samples: the
// smallest sample at or below which p percent of them lie. Exact, as every
// sample is kept.
func percentile(sorted []int64, p int) int64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := (len(sorted)*p + 99) / 100 // ceil(n*p/100)
	return sorted[max(rank, 1)-1]
}

// cpuSnapshot is CPU time used so far: by the target, by every benchmark
// server, by this process and by the whole machine.
type cpuSnapshot struct {
	target, bench, self, machine time.Duration
}

func snapshotCPU(t target) (cpuSnapshot, error) {
	var s cpuSnapshot
	var err error
	if s.machine, err = benchproc.MachineCPU(); err != nil {
		return s, err
	}
	s.self = benchproc.SelfCPU()
	for _, pid := range t.benchPids {
		d, err := benchproc.CPUTime(pid)
		if err != nil {
			return s, err
		}
		s.bench += d
		if pid == t.pid {
			s.target = d
		}
	}
	return s, nil
}

func sleepUntil(ctx context.Context, t time.Time) {
	select {
	case <-ctx.Done():
	case <-time.After(time.Until(t)):
	}
}
