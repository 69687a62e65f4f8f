package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rayfleet/rayfleet/bench/internal/benchproc"
)

// target is one way to the upstream.
type target struct {
	name string
	base string // URL the request path is appended to
	// dashboard goes between base and a path outside /api/: the gateway
	// serves the dashboard's files under .../dashboard/.
	dashboard string
	header    http.Header
	// proxyPID is the proxy's process (with its children); 0 for direct.
	proxyPID int
}

type stepResult struct {
	target, path string
	clients      int
	round        int
	ok, errs     int
	firstErr     string
	window       time.Duration
	lat          []int64 // sorted, nanoseconds
	// CPU used during the window: the proxy, the upstream, this program
	// (the load generator), the rayfleet server (idle: it runs the
	// reconciler), and the rest of the machine.
	proxyCPU, upstreamCPU, clientCPU, serverCPU, otherCPU time.Duration
	// stealCPU is the time the hypervisor gave this machine's CPUs to
	// other machines while they had work. It is not a part of otherCPU
	// alone: a process's own CPU time may include time stolen from it.
	stealCPU time.Duration
}

func (t target) url(path string) string {
	if strings.HasPrefix(path, "/api/") {
		return t.base + path
	}
	return t.base + t.dashboard + path
}

func (r stepResult) rps() float64 { return float64(r.ok) / r.window.Seconds() }

func (r stepResult) p(q int) time.Duration { return time.Duration(percentile(r.lat, q)) }

// percentile is the nearest-rank percentile of sorted.
func percentile(sorted []int64, p int) int64 {
	if len(sorted) == 0 {
		return 0
	}
	i := (p*len(sorted) + 99) / 100
	return sorted[min(max(i, 1), len(sorted))-1]
}

type cpuSnapshot struct {
	machine, steal, self, proxy, upstream, server time.Duration
}

// cpuSources are the processes whose CPU a step reports beside the proxy's:
// the upstream (with its descendants when upstreamTree: a real Ray head's
// processes) and the rayfleet server (with its descendants, less the
// upstream's).
type cpuSources struct {
	upstreamPID  int
	upstreamTree bool
	serverPID    int
}

func snapshot(t target, src cpuSources) cpuSnapshot {
	s := cpuSnapshot{self: benchproc.SelfCPU()}
	s.machine, _ = benchproc.MachineCPU()
	s.steal, _ = benchproc.StealCPU()
	if t.proxyPID != 0 {
		s.proxy = treeCPU(t.proxyPID)
	}
	if src.upstreamTree {
		s.upstream = treeCPU(src.upstreamPID)
	} else {
		s.upstream, _ = benchproc.CPUTime(src.upstreamPID)
	}
	s.server = treeCPU(src.serverPID) - s.upstream
	return s
}

// runStep keeps clients requests in flight against t for warmup+duration
// and measures the duration part. Every client has its own keep-alive
// connection, as a browser's or a job client's would be.
func runStep(ctx context.Context, t target, path string, clients int, warmup, duration time.Duration, src cpuSources) (stepResult, error) {
	tr := &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        clients * 2,
		MaxIdleConnsPerHost: clients * 2,
		MaxConnsPerHost:     clients,
		DisableCompression:  true,
	}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	url := t.url(path)

	start := time.Now()
	measureFrom := start.Add(warmup)
	end := measureFrom.Add(duration)
	var (
		mu       sync.Mutex
		lats     []int64
		ok, errs int
		firstErr string
		wg       sync.WaitGroup
	)
	var snap0 cpuSnapshot
	snapped := make(chan struct{})
	go func() {
		sleepUntil(ctx, measureFrom)
		snap0 = snapshot(t, src)
		close(snapped)
	}()
	buf := make([][]byte, clients)
	for c := range clients {
		buf[c] = make([]byte, 32<<10)
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []int64
			myOK, myErr := 0, 0
			myFirst := ""
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				for k, v := range t.header {
					req.Header[k] = v
				}
				t0 := time.Now()
				if t0.After(end) {
					break
				}
				resp, err := hc.Do(req)
				if err == nil {
					for {
						_, rerr := resp.Body.Read(buf[c])
						if rerr != nil {
							if rerr != io.EOF {
								err = rerr
							}
							break
						}
					}
					resp.Body.Close()
					if err == nil && resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				t1 := time.Now()
				if t0.Before(measureFrom) || t1.After(end) {
					continue
				}
				if err != nil {
					myErr++
					if myFirst == "" {
						myFirst = err.Error()
					}
					continue
				}
				myOK++
				mine = append(mine, int64(t1.Sub(t0)))
			}
			mu.Lock()
			lats = append(lats, mine...)
			ok += myOK
			errs += myErr
			if firstErr == "" {
				firstErr = myFirst
			}
			mu.Unlock()
		}()
	}
	sleepUntil(ctx, end)
	<-snapped
	snap1 := snapshot(t, src)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return stepResult{}, err
	}
	slices.Sort(lats)
	r := stepResult{
		target: t.name, path: path, clients: clients, ok: ok, errs: errs, firstErr: firstErr,
		window: duration, lat: lats,
		proxyCPU:    snap1.proxy - snap0.proxy,
		upstreamCPU: snap1.upstream - snap0.upstream,
		clientCPU:   snap1.self - snap0.self,
		serverCPU:   max(0, snap1.server-snap0.server),
	}
	r.otherCPU = max(0, (snap1.machine-snap0.machine)-r.proxyCPU-r.upstreamCPU-r.clientCPU-r.serverCPU)
	r.stealCPU = snap1.steal - snap0.steal
	return r, nil
}

func sleepUntil(ctx context.Context, t time.Time) {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-ctx.Done():
	case <-timer.C:
	}
}
