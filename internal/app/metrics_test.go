package app

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
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
	code, body := scrape(t, srv, srv.metricsToken)
	if code != 200 {
		t.Fatalf("/metrics with its token: %d %s", code, body)
	}
	if line := fmt.Sprintf("\n%s %d\n", name, want); !strings.Contains(body, line) {
		t.Fatalf("/metrics lacks %q:\n%.3000s", strings.TrimSpace(line), body)
	}
}

// scrape GETs srv's /metrics with the bearer token tok ("" for none).
func scrape(t *testing.T, srv *Server, tok string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+srv.Addr+"/metrics", nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(body)
}

// /metrics tells every tenant's activity: it answers only with the token
// of the server's metrics token file, which the first start makes (mode
// 0600) and later starts keep.
func TestMetricsNeedTheirToken(t *testing.T) {
	srv, cred := testServer(t)
	path := filepath.Join(srv.Config.DataDir, "metrics-token")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s has mode %v, want 0600", path, fi.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	if tok := strings.TrimSpace(string(b)); tok != srv.metricsToken || len(tok) != 64 {
		t.Fatalf("the server's token %q is not the file's %q", srv.metricsToken, tok)
	}
	for _, tok := range []string{"", "wrong", cred.AccessKeySecret} {
		if code, body := scrape(t, srv, tok); code != 401 || !strings.Contains(body, "InvalidMetricsToken") || strings.Contains(body, "rayfleet_") {
			t.Fatalf("/metrics with token %q: %d %.300s", tok, code, body)
		}
	}
	if code, body := scrape(t, srv, srv.metricsToken); code != 200 || !strings.Contains(body, "rayfleet_reconciler_running") {
		t.Fatalf("/metrics with its token: %d %.300s", code, body)
	}

	// Refused credentials are counted by code (the log's account of each
	// source is httpapi's TestAuthFailuresLoggedPerSource).
	srv2, cred2 := testServer(t)
	bad := client(srv2, cred2)
	bad.Credentials.AccessKeySecret = "not-the-secret"
	for range 3 {
		if _, err := bad.ListWorkspaces(context.Background(), "", 0, ""); err == nil {
			t.Fatal("a wrong secret was taken")
		}
	}
	if _, body := scrape(t, srv2, srv2.metricsToken); !strings.Contains(body, `rayfleet_api_auth_failures_total{code="SignatureDoesNotMatch"} 3`) {
		t.Fatalf("auth failures not counted:\n%.3000s", body)
	}
}
