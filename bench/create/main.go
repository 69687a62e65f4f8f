// Command create benchmarks CreateRayCluster: its latency in a workspace
// that holds a few clusters against one that holds thousands, so that a
// create whose cost grows with the workspace (admission reading every
// cluster, say) shows as a ratio above 1. Each size runs on a fresh data
// dir of its own, in rounds that alternate the sizes, against the rayfleet
// server as its own process (the API role alone).
//
// Run it from the repository root:
//
//	go run ./bench/create [-rounds 5] [-creates 1000] [-small 10] [-large 10000]
//
// See bench/README.md for what it measures and the goal.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rayfleet/rayfleet/api"
	"github.com/rayfleet/rayfleet/api/signer"
	"github.com/rayfleet/rayfleet/bench/internal/benchproc"
	"github.com/rayfleet/rayfleet/bench/internal/benchreport"
	"github.com/rayfleet/rayfleet/internal/app"
)

// goalRatio bounds the large workspace's p50 and p99 against the small's.
const goalRatio = 1.2

type options struct {
	rounds, creates, warmup, clients int
	small, large                     int
	out, bin                         string
}

func main() {
	var o options
	fs := flag.NewFlagSet("create", flag.ExitOnError)
	fs.IntVar(&o.rounds, "rounds", 5, "rounds; each measures every size once, on a fresh data dir")
	fs.IntVar(&o.creates, "creates", 1000, "creates measured per size and round")
	fs.IntVar(&o.warmup, "warmup", 50, "creates before the measured ones, not counted")
	fs.IntVar(&o.clients, "clients", 1, "concurrent clients, each with one create in flight")
	fs.IntVar(&o.small, "small", 10, "clusters in the small workspace before the creates")
	fs.IntVar(&o.large, "large", 10000, "clusters in the large workspace before the creates")
	fs.StringVar(&o.out, "out", filepath.Join("bench", "create", "results", "latest.md"), "results file (markdown)")
	fs.StringVar(&o.bin, "rayfleet-bin", "", "rayfleet binary to benchmark (default: build ./cmd/rayfleet into a temp dir)")
	_ = fs.Parse(os.Args[1:])
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "create:", err)
		os.Exit(1)
	}
}

// measured is one size's creates of one round.
type measured struct {
	size, round int
	p50, p99    time.Duration
	rps         float64
	seedTime    time.Duration
}

func run(ctx context.Context, o options) error {
	started := time.Now()
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "rayfleet-bench-create-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := o.bin
	if bin == "" {
		bin = filepath.Join(tmp, "rayfleet")
		logf("building ./cmd/rayfleet")
		cmd := exec.CommandContext(ctx, "go", "build", "-buildvcs=false", "-o", bin, "./cmd/rayfleet")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("build rayfleet: %w", err)
		}
	}
	var results []measured
	for r := range o.rounds {
		for _, size := range []int{o.small, o.large} {
			m, err := runOne(ctx, bin, filepath.Join(tmp, fmt.Sprintf("r%d-%d", r, size)), size, o)
			if err != nil {
				return fmt.Errorf("round %d, %d clusters: %w", r+1, size, err)
			}
			m.round = r + 1
			logf("round %d: %5d clusters: p50 %s p99 %s, %.0f creates/s (seeded in %s)", m.round, size,
				benchreport.Dur(m.p50), benchreport.Dur(m.p99), m.rps, m.seedTime.Round(time.Millisecond))
			results = append(results, m)
		}
	}
	md := report(results, o, benchreport.GitState(root), benchreport.Machine(), started)
	fmt.Print("\n" + md)
	if err := os.MkdirAll(filepath.Dir(o.out), 0o755); err != nil {
		return err
	}
	return os.WriteFile(o.out, []byte(md), 0o644)
}

// runOne bootstraps a data dir, seeds size clusters into its workspace,
// starts the server and times the creates.
func runOne(ctx context.Context, bin, dir string, size int, o options) (m measured, err error) {
	m.size = size
	dataDir, home := filepath.Join(dir, "data"), filepath.Join(dir, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return m, err
	}
	boot, err := startServer(ctx, bin, dataDir, home, filepath.Join(dir, "bootstrap.log"))
	if err != nil {
		return m, err
	}
	if err := boot.Stop(); err != nil {
		return m, fmt.Errorf("stop the bootstrap server: %w", err)
	}
	data, err := os.ReadFile(filepath.Join(dataDir, "credentials"))
	if err != nil {
		return m, err
	}
	var cred app.Credentials
	if err := json.Unmarshal(data, &cred); err != nil {
		return m, fmt.Errorf("credentials: %w", err)
	}
	t := time.Now()
	if err := seed(ctx, dataDir, cred, size); err != nil {
		return m, fmt.Errorf("seed: %w", err)
	}
	m.seedTime = time.Since(t)

	srv, err := startServer(ctx, bin, dataDir, home, filepath.Join(dir, "rayfleet.log"))
	if err != nil {
		return m, err
	}
	defer func() {
		if e := srv.Stop(); e != nil && err == nil {
			err = fmt.Errorf("rayfleet did not stop cleanly: %w", e)
		}
	}()
	c := &api.Client{
		Endpoint:    srv.Ready,
		Credentials: signer.Credentials{AccessKeyID: cred.AccessKeyID, AccessKeySecret: cred.AccessKeySecret},
		HTTP:        &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.clients}},
	}
	if _, err := creates(ctx, c, cred.WorkspaceID, o.warmup, o.clients); err != nil {
		return m, err
	}
	t = time.Now()
	lat, err := creates(ctx, c, cred.WorkspaceID, o.creates, o.clients)
	if err != nil {
		return m, err
	}
	m.rps = float64(len(lat)) / time.Since(t).Seconds()
	slices.Sort(lat)
	m.p50, m.p99 = nearestRank(lat, 50), nearestRank(lat, 99)
	// Every create made one cluster: the workspace holds what it should.
	l, err := c.ListClusters(ctx, cred.WorkspaceID, api.ListClustersOptions{PageSize: 1})
	if err != nil {
		return m, err
	}
	if want := size + o.warmup + o.creates; l.TotalCount != want {
		return m, fmt.Errorf("the workspace lists %d clusters after the creates, want %d", l.TotalCount, want)
	}
	return m, nil
}

// creates makes n clusters with clients concurrent clients and returns each
// create's latency, signing excluded.
func creates(ctx context.Context, c *api.Client, ws string, n, clients int) ([]time.Duration, error) {
	var mu sync.Mutex
	var lat []time.Duration
	var firstErr error
	next := 0
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for {
				mu.Lock()
				if next >= n || firstErr != nil {
					mu.Unlock()
					return
				}
				next++
				mu.Unlock()
				req := &api.ClusterRequest{
					Name:       ptr("bench"),
					HeadSpec:   &api.HeadSpec{CPU: "1", Memory: "4Gi"},
					WorkerSpec: &[]api.WorkerSpec{{GroupName: "g", Replica: 2, CPU: "2", Memory: "8Gi"}},
				}
				t := time.Now()
				_, err := c.CreateCluster(ctx, ws, req)
				d := time.Since(t)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				lat = append(lat, d)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return lat, firstErr
}

func ptr[T any](v T) *T { return &v }

// nearestRank is the p-th percentile of sorted, nearest-rank.
func nearestRank(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (p*len(sorted) + 99) / 100
	return sorted[max(i-1, 0)]
}

// startServer runs rayfleet's API role on dataDir and waits until it is
// ready.
func startServer(ctx context.Context, bin, dataDir, home, logPath string) (*benchproc.Proc, error) {
	cmd := exec.Command(bin, "server", "--data-dir", dataDir, "--api-addr", "127.0.0.1:0", "--roles", "api")
	// The first start writes a CLI profile; keep it out of the user's home.
	cmd.Env = append(os.Environ(), "RAYFLEET_CONFIG="+filepath.Join(home, "cli-config.json"), "HOME="+home)
	p, err := benchproc.Start(ctx, "rayfleet", cmd, logPath, benchproc.Stderr, apiAddr)
	if err != nil {
		return nil, err
	}
	if err := waitReady(ctx, p.Ready); err != nil {
		_ = p.Stop()
		return nil, err
	}
	return p, nil
}

// apiAddr finds the API address in rayfleet's JSON log line
// "rayfleet API listening".
func apiAddr(line string) string {
	if !strings.Contains(line, "rayfleet API listening") {
		return ""
	}
	var v struct {
		Addr string `json:"addr"`
	}
	if json.Unmarshal([]byte(line), &v) != nil {
		return ""
	}
	return v.Addr
}

// waitReady polls /readyz until the server answers 200.
func waitReady(ctx context.Context, addr string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/readyz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			return errors.Join(fmt.Errorf("server at %s not ready after 30s", addr), err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s create: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
