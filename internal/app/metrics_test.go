package app

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// An API process that does not run the reconciler says so in its metrics.
func TestReconcilerMetric(t *testing.T) {
	a, _ := testServer(t, func(c *Config) { c.Roles = "api" })
	reconcilerMetric(t, a, 0)
}

// reconcilerMetric checks what srv's /metrics says of its reconciler.
func reconcilerMetric(t *testing.T, srv *Server, want int) {
	t.Helper()
	metricIs(t, srv, "rayfleet_reconciler_running", want)
}

// metricIs checks that srv's /metrics gives the unlabelled metric name
// the value want.
func metricIs(t *testing.T, srv *Server, name string, want int) {
	t.Helper()
	resp, err := http.Get("http://" + srv.Addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if line := fmt.Sprintf("\n%s %d\n", name, want); !strings.Contains(string(body), line) {
		t.Fatalf("/metrics lacks %q:\n%.3000s", strings.TrimSpace(line), body)
	}
}
