package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rayfleet/rayfleet/internal/cli"
)

// TestCLIAgainstServer runs the CLI in-process against a real server, using
// the profile the server's first start wrote, as a new user would.
func TestCLIAgainstServer(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	env := map[string]string{"RAYFLEET_CONFIG": filepath.Join(dir, "config.json"), "HOME": dir}
	getenv := func(k string) string { return env[k] }
	srv, err := Start(context.Background(), cfg, getenv, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, srv)
	defer killNodes(t)

	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := cli.Run(context.Background(), cli.Env{Args: args, Getenv: getenv, Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb}, nil)
		return code, out.String(), errb.String()
	}

	code, out, errs := run("cluster", "create", "--name", "demo", "--head-cpu", "2", "--head-memory", "8Gi",
		"--workers", "2", "--worker-cpu", "2", "--worker-memory", "8Gi", "--wait", "--wait-interval", "100ms")
	var created struct{ ClusterID string }
	if m := regexp.MustCompile(`Created cluster (ray-[a-z0-9]{16})`).FindStringSubmatch(out); m != nil {
		created.ClusterID = m[1]
	}
	// Not a terminal: progress comes as plain lines on stderr, one per change.
	if code != 0 || created.ClusterID == "" || !strings.Contains(out, "is Running") ||
		!strings.Contains(errs, created.ClusterID+" Starting") || !strings.Contains(errs, created.ClusterID+" Running") {
		t.Fatalf("create --wait: %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	code, out, errs = run("cluster", "create", "--name", "j", "-o", "json")
	var j struct{ ClusterID, RequestID string }
	if err := json.Unmarshal([]byte(out), &j); code != 0 || err != nil || !strings.HasPrefix(j.ClusterID, "ray-") || j.RequestID == "" {
		t.Fatalf("create -o json: %d %q %q (%v)", code, out, errs, err)
	}
	if code, _, errs = run("cluster", "delete", j.ClusterID); code != 0 {
		t.Fatalf("delete: %d %s", code, errs)
	}

	code, out, _ = run("cluster", "list")
	if code != 0 || !strings.Contains(out, created.ClusterID) || !strings.Contains(out, "demo") {
		t.Fatalf("list: %d %q", code, out)
	}
	code, out, _ = run("cluster", "get", created.ClusterID)
	if code != 0 || !strings.Contains(out, "/dashboard/?token=") || !strings.Contains(out, "group-1") {
		t.Fatalf("get: %d %q", code, out)
	}

	// Errors: one line with code and request id, and exit codes scripts can use.
	code, _, errs = run("cluster", "get", "ray-0000000000000000")
	if code != 4 || !strings.Contains(errs, "ResourceNotFound") || !strings.Contains(errs, "request id") || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
		t.Fatalf("get missing: %d %q", code, errs)
	}
	code, _, errs = run("cluster", "create", "--name", "big", "--head-cpu", "500", "--head-memory", "8Gi")
	if code != 3 || !strings.Contains(errs, "QuotaExceeded") {
		t.Fatalf("create over quota: %d %q", code, errs)
	}
	code, _, _ = run("cluster", "frobnicate")
	if code != 2 {
		t.Fatalf("unknown command: exit %d", code)
	}

	code, out, errs = run("cluster", "stop", created.ClusterID, "--wait")
	if code != 0 || !strings.Contains(out, "is Stopped") || !strings.Contains(errs, "Stopping") {
		t.Fatalf("stop: %d %s %s", code, out, errs)
	}
	code, out, _ = run("release-version", "list")
	if code != 0 || !strings.Contains(out, "ray-1.2.0") {
		t.Fatalf("release-version list: %d %q", code, out)
	}
	code, out, _ = run("queue", "list")
	if code != 0 || !strings.Contains(out, "root_queue") {
		t.Fatalf("queue list: %d %q", code, out)
	}
	code, out, _ = run("workspace", "list")
	if code != 0 || !strings.Contains(out, "default") {
		t.Fatalf("workspace list: %d %q", code, out)
	}

	// Operability endpoints answer, and the metrics saw the calls above.
	for path, want := range map[string]string{
		"/healthz": `"ok"`, "/readyz": `"ready"`,
		"/metrics": `rayfleet_api_requests_total{action="CreateRayCluster",code="QuotaExceeded"} 1`,
	} {
		req, _ := http.NewRequest("GET", "http://"+srv.Addr+path, nil)
		req.Header.Set("Authorization", "Bearer "+srv.metricsToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Fatalf("%s: %d, want %q in %.400s", path, resp.StatusCode, want, body)
		}
	}
	if _, body := scrape(t, srv, srv.metricsToken); !strings.Contains(body, `rayfleet_clusters{state="Stopped"} 1`) {
		t.Fatalf("clusters by state missing: %.2000s", body)
	}
}
