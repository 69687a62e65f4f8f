package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rayfleet/rayfleet/bench/internal/benchproc"
)

// sample is the server process as seen at one moment of the run.
type sample struct {
	at         time.Duration // since the mixed calls began
	rssKiB     int64         // VmRSS
	anonKiB    int64         // RssAnon: the heap, stacks and what SQLite allocates
	fileKiB    int64         // RssFile: mostly the binary's own pages, read in as code runs
	hwmKiB     int64         // VmHWM, the peak so far
	threads    int64
	fds        int64 // entries of /proc/<pid>/fd
	goroutines int64 // the server's own go_goroutines on /metrics
	procs      int64 // the run's processes but the server: Ray's
	err        string
}

// sampleUntil samples the server every interval, the first at once, until
// ctx ends or the server exits.
func sampleUntil(ctx context.Context, s *soak, every time.Duration, exited <-chan struct{}) []sample {
	metrics := "http://" + s.srv.Addr + "/metrics"
	metricsDataDir = s.srv.DataDir
	hc := &http.Client{Timeout: 10 * time.Second}
	var out []sample
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		sm := takeSample(ctx, s.srv.PID(), hc, metrics, time.Since(s.started))
		sm.procs = int64(len(benchproc.Marked(s.mark, s.srv.PID())))
		out = append(out, sm)
		select {
		case <-ctx.Done():
			return out
		case <-exited:
			return out
		case <-t.C:
		}
	}
}

func takeSample(ctx context.Context, pid int, hc *http.Client, metrics string, at time.Duration) sample {
	sm := sample{at: at}
	var errs []string
	st, err := procStatus(pid)
	if err != nil {
		errs = append(errs, err.Error())
	}
	sm.rssKiB, sm.anonKiB, sm.fileKiB, sm.hwmKiB, sm.threads = st["VmRSS"], st["RssAnon"], st["RssFile"], st["VmHWM"], st["Threads"]
	if fds, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd"); err != nil {
		errs = append(errs, err.Error())
	} else {
		sm.fds = int64(len(fds))
	}
	if sm.goroutines, err = goroutines(ctx, hc, metrics); err != nil {
		errs = append(errs, err.Error())
	}
	sm.err = strings.Join(errs, "; ")
	return sm
}

// procStatus reads the numeric fields of /proc/<pid>/status (kB units
// dropped).
func procStatus(pid int) (map[string]int64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fs := strings.Fields(v)
		if len(fs) == 0 {
			continue
		}
		if n, err := strconv.ParseInt(fs[0], 10, 64); err == nil {
			out[k] = n
		}
	}
	return out, sc.Err()
}

// metricsDataDir is the server's data directory, which holds the token
// /metrics asks for.
var metricsDataDir string

// goroutines reads go_goroutines from the server's /metrics.
func goroutines(ctx context.Context, hc *http.Client, metrics string) (int64, error) {
	req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodGet, metrics, nil)
	if err != nil {
		return 0, err
	}
	if tok, err := os.ReadFile(filepath.Join(metricsDataDir, "metrics-token")); err == nil {
		// /metrics answers only with the server's metrics token.
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s: %s", metrics, resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int64(f), err
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%s: no go_goroutines", metrics)
}

// cpuMark is the CPU the server and the whole machine had used at one
// moment.
type cpuMark struct {
	at              time.Time
	server, machine time.Duration
}

func takeCPU(pid int) cpuMark {
	m := cpuMark{at: time.Now()}
	m.server, _ = benchproc.CPUTime(pid)
	m.machine, _ = benchproc.MachineCPU()
	return m
}
