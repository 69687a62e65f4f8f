package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rayfleet/rayfleet/api"
	"github.com/rayfleet/rayfleet/api/signer"
	"github.com/rayfleet/rayfleet/internal/cli"
)

func TestFirstStartWritesCredentialsAndProfile(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	profiles := filepath.Join(dir, "cli", "config.json")
	getenv := func(k string) string { return map[string]string{"RAYFLEET_CONFIG": profiles}[k] }
	var out bytes.Buffer
	srv, err := Start(context.Background(), cfg, getenv, &out, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(cfg.DataDir, "credentials"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v %v", st, err)
	}
	cred := readCredentials(t, cfg.DataDir)
	if !strings.HasPrefix(cred.AccessKeyID, "LTAI") || len(cred.AccessKeySecret) != 30 || len(cred.UserID) != 16 ||
		!strings.HasPrefix(cred.WorkspaceID, "w-") || cred.Endpoint != srv.Addr || strings.HasSuffix(cred.Endpoint, ":0") {
		t.Fatalf("credentials = %+v (server at %s)", cred, srv.Addr)
	}
	if !strings.Contains(out.String(), filepath.Join(cfg.DataDir, "credentials")) || !strings.Contains(out.String(), profiles) {
		t.Fatalf("first start must say where the credentials are: %q", out.String())
	}
	pf, err := cli.LoadProfiles(profiles)
	if err != nil {
		t.Fatal(err)
	}
	if p := pf.Profiles["default"]; p.AccessKeyID != cred.AccessKeyID || p.Endpoint != srv.Addr || p.WorkspaceID != cred.WorkspaceID {
		t.Fatalf("profile = %+v", p)
	}

	// A second server on the same data directory refuses to start.
	cfg2 := cfg
	if _, err := Start(context.Background(), cfg2, getenv, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "another rayfleet server") {
		t.Fatalf("second server on the same data dir: %v", err)
	}

	// Create a cluster, restart, and find everything again, with the
	// credentials and profile following the new port.
	c := &api.Client{Endpoint: cred.Endpoint, Credentials: signer.Credentials{AccessKeyID: cred.AccessKeyID, AccessKeySecret: cred.AccessKeySecret}}
	created, err := c.CreateCluster(context.Background(), cred.WorkspaceID, &api.ClusterRequest{Name: ptr("keep-me")})
	if err != nil {
		t.Fatal(err)
	}
	shutdown(t, srv)
	out.Reset()
	srv, err = Start(context.Background(), cfg, getenv, &out, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, srv)
	defer killNodes(t)
	if out.Len() != 0 {
		t.Fatalf("a restart must not bootstrap again: %q", out.String())
	}
	cred2 := readCredentials(t, cfg.DataDir)
	if cred2.AccessKeyID != cred.AccessKeyID || cred2.Endpoint != srv.Addr {
		t.Fatalf("after restart: %+v", cred2)
	}
	pf, _ = cli.LoadProfiles(profiles)
	if pf.Profiles["default"].Endpoint != srv.Addr {
		t.Fatalf("profile endpoint not updated: %+v", pf.Profiles["default"])
	}
	c.Endpoint = srv.Addr
	got, err := c.GetCluster(context.Background(), cred.WorkspaceID, created.ClusterID)
	if err != nil || got.Name != "keep-me" || (got.State != "Starting" && got.State != "Running") {
		t.Fatalf("after restart: %+v, %v", got, err)
	}
}

func shutdown(t *testing.T, srv *Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

func ptr[T any](v T) *T { return &v }

// rawCall signs and sends a request by hand, so tests can tamper with it.
func rawCall(t *testing.T, addr string, cred signer.Credentials, method, path, body string, tweak func(*http.Request)) (int, api.ErrorResponse, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
	req.Header.Set("x-acs-action", "")
	req.Header.Del("x-acs-action")
	req.Header.Set("x-acs-version", "2023-08-08")
	if body != "" {
		req.Header.Set("content-type", "application/json; charset=utf-8")
	}
	if err := signer.SignACS3(req, []byte(body), cred, time.Now(), signer.NewNonce()); err != nil {
		t.Fatal(err)
	}
	if tweak != nil {
		tweak(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var e api.ErrorResponse
	_ = json.Unmarshal(data, &e)
	return resp.StatusCode, e, data
}

func TestSignatureFailures(t *testing.T) {
	srv, cred := testServer(t)
	good := signer.Credentials{AccessKeyID: cred.AccessKeyID, AccessKeySecret: cred.AccessKeySecret}
	path := "/api/v1/workspaces/" + cred.WorkspaceID + "/rayCluster"

	for _, tc := range []struct {
		name   string
		cred   signer.Credentials
		tweak  func(*http.Request)
		body   string
		status int
		code   string
	}{
		{"wrong secret", signer.Credentials{AccessKeyID: cred.AccessKeyID, AccessKeySecret: "nope"}, nil, "", 400, "SignatureDoesNotMatch"},
		{"unknown key", signer.Credentials{AccessKeyID: "LTAIunknown", AccessKeySecret: "x"}, nil, "", 404, "InvalidAccessKeyId.NotFound"},
		{"no signature", good, func(r *http.Request) { r.Header.Del("Authorization") }, "", 400, "IncompleteSignature"},
		{"old date", good, func(r *http.Request) {
			// Re-sign with a date 20 minutes old: a well-formed, stale request.
			r.Header.Del("Authorization")
			_ = signer.SignACS3(r, nil, good, time.Now().Add(-20*time.Minute), signer.NewNonce())
		}, "", 400, "InvalidTimeStamp.Expired"},
		{"body changed after signing", good, func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader(`{"name":"evil"}`))
			r.ContentLength = int64(len(`{"name":"evil"}`))
		}, `{"name":"good"}`, 400, "SignatureDoesNotMatch"},
		{"unsigned x-acs header", good, func(r *http.Request) { r.Header.Set("x-acs-extra", "1") }, "", 400, "IncompleteSignature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method := "GET"
			if tc.body != "" {
				method = "POST"
			}
			status, e, raw := rawCall(t, srv.Addr, tc.cred, method, path, tc.body, tc.tweak)
			if status != tc.status || e.Code != tc.code || e.RequestID == "" || e.Message == "" {
				t.Fatalf("got %d %s", status, raw)
			}
		})
	}

	t.Run("replayed nonce", func(t *testing.T) {
		req, _ := http.NewRequest("GET", "http://"+srv.Addr+path, nil)
		if err := signer.SignACS3(req, nil, good, time.Now(), signer.NewNonce()); err != nil {
			t.Fatal(err)
		}
		for i, want := range []int{200, 400} {
			r2 := req.Clone(context.Background())
			resp, err := http.DefaultClient.Do(r2)
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != want || (i == 1 && !bytes.Contains(data, []byte("SignatureNonceUsed"))) {
				t.Fatalf("send %d: %d %s", i+1, resp.StatusCode, data)
			}
		}
	})
}

// TestErrorsNeverLeak sends malformed and hostile input and checks that
// every answer is a JSON object in the API's format with nothing internal.
func TestErrorsNeverLeak(t *testing.T) {
	srv, cred := testServer(t)
	good := signer.Credentials{AccessKeyID: cred.AccessKeyID, AccessKeySecret: cred.AccessKeySecret}
	ws := "/api/v1/workspaces/" + cred.WorkspaceID
	cases := []struct{ method, path, body string }{
		{"POST", ws + "/rayCluster", `{`},
		{"POST", ws + "/rayCluster", `[]`},
		{"POST", ws + "/rayCluster", `"x"`},
		{"POST", ws + "/rayCluster", `{"name": 5}`},
		{"POST", ws + "/rayCluster", `{"name":"a","headSpec":{"cpu":"-1","memory":"1Gi"}}`},
		{"POST", ws + "/rayCluster", `{"name":"a","headSpec":{"cpu":"1e400","memory":"1Gi"}}`},
		{"POST", ws + "/rayCluster", `{"name":"a","headSpec":{"cpu":"1","memory":"99999999999999999999Ei"}}`},
		{"POST", ws + "/rayCluster", `{"name":"a","workerSpec":[{"groupName":"g","replica":2147483647,"cpu":"1","memory":"1Gi"}]}`},
		{"POST", ws + "/rayCluster", `{"name":"a","extraParam":"{not json"}`},
		{"POST", ws + "/rayCluster", `{"name":"'; DROP TABLE clusters; --","headSpec":{"queueName":"x'--"}}`},
		{"POST", ws + "/rayCluster", `{"name":"a","headSpec":{"queueName":"nope"}}`},
		{"GET", ws + "/rayCluster?pageNum=abc", ``},
		{"GET", ws + "/rayCluster?state=Bogus", ``},
		{"GET", ws + "/rayCluster/ray-doesnotexist0000", ``},
		{"GET", ws + "/rayCluster/%27%20OR%201=1", ``},
		{"GET", "/api/v1/workspaces/w-0000000000000000/rayCluster", ``},
		{"POST", ws + "/rayCluster/ray-x/start", `{"clientToken": ` + `"` + strings.Repeat("a", 100) + `"}`},
		{"PUT", ws + "/rayCluster", `{}`},
		{"GET", "/nope", ``},
		{"POST", "/api/v1/workspaces/queues", `{"workspaceId":"` + cred.WorkspaceID + `","workspaceQueueName":"a b"}`},
		{"POST", "/api/v1/workspaces", `{"workspaceName":"x","resourceSpec":{"cu":"many"}}`},
		{"POST", ws + "/rayCluster", `{"name":"` + strings.Repeat("a", MaxTestBody) + `"}`},
	}
	for _, tc := range cases {
		status, e, raw := rawCall(t, srv.Addr, good, tc.method, tc.path, tc.body, nil)
		if status < 400 || e.Code == "" || e.RequestID == "" || e.Message == "" {
			t.Errorf("%s %s %.60s: want an error body, got %d %s", tc.method, tc.path, tc.body, status, raw)
			continue
		}
		if status >= 500 {
			t.Errorf("%s %s %.60s: server error %s", tc.method, tc.path, tc.body, raw)
		}
		low := strings.ToLower(string(raw))
		for _, bad := range []string{"sql", ".go:", "goroutine", "panic"} {
			if strings.Contains(low, bad) {
				t.Errorf("%s %s: response contains %q: %s", tc.method, tc.path, bad, raw)
			}
		}
	}
	// Nothing above created anything.
	c := &api.Client{Endpoint: srv.Addr, Credentials: good}
	l, err := c.ListClusters(context.Background(), cred.WorkspaceID, api.ListClustersOptions{})
	if err != nil || l.TotalCount != 0 {
		t.Fatalf("bad input changed state: %+v %v", l, err)
	}
}

// MaxTestBody is just over the 1 MiB body limit.
const MaxTestBody = 1<<20 + 10

// TestAPIOnlyRole: a process with only the api role serves the API but
// runs no gateway listener and no reconciler (clusters stay as the API put them).
func TestAPIOnlyRole(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.Roles = "api"
	cfg.Gateway.Listen = "127.0.0.1:1" // would fail to bind if the gateway ran
	getenv := func(k string) string { return map[string]string{"RAYFLEET_CONFIG": filepath.Join(dir, "cli.json")}[k] }
	srv, err := Start(context.Background(), cfg, getenv, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, srv)
	cred := readCredentials(t, cfg.DataDir)
	c := client(srv, cred)
	resp, err := c.CreateCluster(context.Background(), cred.WorkspaceID, &api.ClusterRequest{Name: ptr("idle")})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // long enough for a reconciler to have acted, if one ran
	got, err := c.GetCluster(context.Background(), cred.WorkspaceID, resp.ClusterID)
	if err != nil || got.State != "Starting" || len(got.Instances) != 0 || len(rayProcesses(t)) != 0 {
		t.Fatalf("api-only process acted on a cluster: %+v %v", got, err)
	}
	if !strings.HasPrefix(got.JobURL, "http://127.0.0.1:1/") {
		t.Fatalf("jobUrl = %s", got.JobURL)
	}
}

// TestGatewayOnlyRole: a process with only the gateway role opens no API
// listener (the API address is held by another socket, so binding it would
// fail), runs no first-start setup (no account, no credentials file) and
// serves the gateway; its log says what runs.
func TestGatewayOnlyRole(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.Roles = "gateway"
	cfg.LogLevel, cfg.LogFormat = "info", "text"
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	cfg.APIAddr = held.Addr().String()
	getenv := func(k string) string { return map[string]string{"RAYFLEET_CONFIG": filepath.Join(dir, "cli.json")}[k] }
	var stdout bytes.Buffer
	logs := &lockedBuffer{}
	srv, err := Start(context.Background(), cfg, getenv, &stdout, logs)
	if err != nil {
		t.Fatal(err)
	}
	if srv.Addr != "" {
		t.Fatalf("a gateway-only process reports an API address %q", srv.Addr)
	}
	accts, err := srv.Store.ListAccounts(context.Background())
	if err != nil || len(accts) != 0 {
		t.Fatalf("a gateway-only process ran the first-start setup: %d accounts, %v", len(accts), err)
	}
	for _, name := range []string{filepath.Join(cfg.DataDir, "credentials"), filepath.Join(dir, "cli.json")} {
		if _, err := os.Stat(name); !os.IsNotExist(err) {
			t.Fatalf("a gateway-only process wrote %s: %v", name, err)
		}
	}
	if stdout.Len() != 0 {
		t.Fatalf("a gateway-only process printed %q", stdout.String())
	}
	resp, err := http.Get("http://" + srv.GatewayAddr + "/workspace/w-1/raycluster/c-1/api/version")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var e struct{ Code string }
	if resp.StatusCode != http.StatusUnauthorized || json.Unmarshal(body, &e) != nil || e.Code != "InvalidToken" {
		t.Fatalf("the gateway without a token: %d %s", resp.StatusCode, body)
	}
	shutdown(t, srv)
	log := logs.String()
	if !strings.Contains(log, "rayfleet running without the API") || !strings.Contains(log, "roles=gateway") || !strings.Contains(log, "reconciler=false") {
		t.Fatalf("the log does not say what runs:\n%s", log)
	}
}

// lockedBuffer is a bytes.Buffer that goroutines may write at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
