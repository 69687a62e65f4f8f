// Package promtest gives tests a real Prometheus server: the binary that
// scripts/prometheus.sh builds, started in a temporary directory on a free
// loopback port, scraping the targets of a file_sd file (the local
// runtime's targets.json) every second.
//
//   - Start finds the binary in $RAYFLEET_TEST_PROMETHEUS. Without it a test
//     that needs Prometheus skips and says how to get it, unless
//     RAYFLEET_TEST_REQUIRE_PROMETHEUS is set (the README's test command
//     sets it): then it fails. The server ends with the test.
//   - Query evaluates a PromQL expression through the HTTP API
//     (/api/v1/query), as Ray's dashboard does.
//
// It imports the standard library only.
package promtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// RequireEnv makes a missing Prometheus a failure instead of a skip.
const RequireEnv = "RAYFLEET_TEST_REQUIRE_PROMETHEUS"

// Server is a running Prometheus server.
type Server struct {
	// URL is its base, http://127.0.0.1:<port>, without a trailing slash.
	URL string
	log string // the file its output goes to, shown when the test fails
}

// scrapeInterval is how often the server scrapes, and re-reads the file_sd
// file when its directory cannot be watched yet (the runtime creates it
// once it starts, which may be after the server).
const scrapeInterval = time.Second

// config is the server's configuration: one job over the targets file.
const config = `global:
  scrape_interval: %[1]s
  scrape_timeout: %[1]s
  evaluation_interval: %[1]s
scrape_configs:
  - job_name: ray
    file_sd_configs:
      - files: [%[2]q]
        refresh_interval: %[1]s
`

// Start starts Prometheus scraping the targets listed in the file_sd file
// targetsFile (which need not exist yet) and waits until it is ready.
func Start(t testing.TB, targetsFile string) *Server {
	t.Helper()
	bin := os.Getenv("RAYFLEET_TEST_PROMETHEUS")
	if bin == "" {
		const how = "this test runs Prometheus: export RAYFLEET_TEST_PROMETHEUS=\"$(scripts/prometheus.sh | tail -n1)\" (or run make test, which does)"
		if os.Getenv(RequireEnv) != "" {
			t.Fatal("no Prometheus and " + RequireEnv + " is set; " + how)
		}
		t.Skip("no Prometheus; " + how)
	}
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv(RequireEnv) != "" {
			t.Fatalf("Prometheus: %v (run scripts/prometheus.sh and set RAYFLEET_TEST_PROMETHEUS to the path it prints)", err)
		}
		t.Skipf("Prometheus: %v", err)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, config, scrapeInterval, targetsFile), 0o600); err != nil {
		t.Fatal(err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{URL: "http://127.0.0.1:" + strconv.Itoa(port), log: filepath.Join(dir, "prometheus.log")}
	log, err := os.Create(s.log)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	cmd := exec.Command(bin, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address=127.0.0.1:"+strconv.Itoa(port), "--log.level=warn")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start Prometheus: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// Cleanups run last first: the log is shown once the server is gone,
	// and before its directory is.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Prometheus' log:\n%s", tail(s.log))
		}
	})
	// Its exit status says nothing the test needs: it was asked to stop.
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-exited:
			_ = err
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			err := <-exited
			_ = err
		}
	})

	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get(s.URL + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case err := <-exited:
			exited <- err // for the cleanup
			t.Fatalf("Prometheus exited before it was ready: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("Prometheus not ready after a minute")
		}
		time.Sleep(100 * time.Millisecond) // poll interval
	}
}

// Sample is one series of an instant vector: its labels and its value.
type Sample struct {
	Metric map[string]string
	Value  string
}

// Query evaluates the PromQL expression expr now and returns the instant
// vector it gives.
func (s *Server) Query(ctx context.Context, expr string) ([]Sample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/api/v1/query?query="+url.QueryEscape(expr), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"` // [unix time, "value"]
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("query %q: %d %.300s", expr, resp.StatusCode, body)
	}
	if r.Status != "success" || r.Data.ResultType != "vector" {
		return nil, fmt.Errorf("query %q: %s %s (%s)", expr, r.Status, r.Error, r.Data.ResultType)
	}
	out := make([]Sample, 0, len(r.Data.Result))
	for _, v := range r.Data.Result {
		val, _ := v.Value[1].(string)
		out = append(out, Sample{Metric: v.Metric, Value: val})
	}
	return out, nil
}

// freePort returns a loopback port free now; the race with another
// program taking it before Prometheus binds it is accepted.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tail returns the end of the file at path, for a failure message.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}
