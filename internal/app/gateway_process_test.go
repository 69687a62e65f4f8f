package app

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"

	"github.com/rayfleet/rayfleet/api"
	"github.com/rayfleet/rayfleet/internal/poll"
)

// TestGatewayProcess runs `rayfleet gateway` as a process of its own next
// to a server, on the server's data directory and store, and reaches the
// server's clusters through it: SQLite (the gateway opens the database
// file the server has open and locked), and PostgreSQL when
// RAYFLEET_TEST_POSTGRES is set.
func TestGatewayProcess(t *testing.T) {
	bin := rayfleetBinary(t)
	t.Run("SQLite", func(t *testing.T) {
		srv, cred := testServer(t)
		testGatewayProcess(t, bin, srv, cred, nil)
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		dsn := postgresSchema(t)
		srv, cred := testServer(t, func(c *Config) { c.Store, c.PostgresDSN = "postgres", dsn })
		testGatewayProcess(t, bin, srv, cred, []string{"--store", "postgres", "--postgres-dsn", dsn})
	})
}

func testGatewayProcess(t *testing.T, bin string, srv *Server, cred Credentials, storeFlags []string) {
	c := client(srv, cred)
	ctx := context.Background()
	ws := cred.WorkspaceID
	a, b := runningCluster(t, c, ws, "a"), runningCluster(t, c, ws, "b")

	gw := startGatewayProcess(t, bin, srv.Config.DataDir, storeFlags)
	// The endpoints the API hands out, on the separate gateway's address.
	on := func(u string) string { return strings.Replace(u, srv.GatewayAddr, gw.httpAddr, 1) }

	get := func(hc *http.Client, u, token string) (int, string) {
		t.Helper()
		return gatewayGet(t, hc, u, token)
	}
	for _, cl := range []*api.Cluster{a, b} {
		if code, body := get(http.DefaultClient, on(cl.JobURL)+"/api/version", cl.SubmitToken); code != 200 || !strings.Contains(body, `"ray_version"`) {
			t.Fatalf("job API of %s through the gateway process: %d %s", cl.ClusterID, code, body)
		}
	}
	if code, body := get(http.DefaultClient, on(a.JobURL)+"/api/jobs/", a.SubmitToken); code != 200 || strings.TrimSpace(body) != "[]" {
		t.Fatalf("job list: %d %s", code, body)
	}
	for _, tok := range []string{"", strings.Repeat("0", 32), b.SubmitToken} {
		code, body := get(http.DefaultClient, on(a.JobURL)+"/api/version", tok)
		var e struct{ Code, Message string }
		if code != 401 || json.Unmarshal([]byte(body), &e) != nil || e.Code != "InvalidToken" {
			t.Fatalf("token %q: %d %s", tok, code, body)
		}
	}

	// The dashboard: the token in the URL becomes a cookie of this gateway.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	resp, err := browser.Get(on(a.DashboardURL))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// The real dashboard's page, not the gateway's 401.
	if resp.StatusCode != 200 || resp.Request.URL.RawQuery != "" || !strings.HasSuffix(resp.Request.URL.Path, "/dashboard/") {
		t.Fatalf("dashboardUrl ended at %d %s", resp.StatusCode, resp.Request.URL)
	}
	if code, body := get(browser, on(a.JobURL)+"/dashboard/api/version", ""); code != 200 || !strings.Contains(body, `"ray_version"`) {
		t.Fatalf("dashboard with the session cookie: %d %s", code, body)
	}
	if code, _ := get(browser, on(b.JobURL)+"/dashboard/api/version", ""); code != 401 {
		t.Fatalf("cluster a's cookie opened cluster b: %d", code)
	}

	// The Ray client listener finds the cluster by its token through the
	// store: a good token reaches the head's client server, a bad one is
	// refused at once.
	call := rayClientCall(ctx, t, gw.grpcAddr)
	if err := call(strings.Repeat("f", 32), 10*time.Second); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("Ray client with a wrong token: %v", err)
	}
	if err := call(a.SubmitToken, 10*time.Second); !headAnswered(err) {
		t.Fatalf("Ray client with a's token did not reach a's head: %v", err)
	}

	// Stopping a cluster through the API revokes its token in the other
	// process within the gateway's cache TTL.
	if _, err := c.StopCluster(ctx, ws, a.ClusterID, &api.StopRequest{}); err != nil {
		t.Fatal(err)
	}
	within := gatewayCacheTTL + time.Second
	revokedWithin(t, within, "a stopped cluster's token", func() int {
		code, _ := get(http.DefaultClient, on(a.JobURL)+"/api/version", a.SubmitToken)
		return code
	})
	revokedWithin(t, within, "a stopped cluster's dashboard session", func() int {
		code, _ := get(browser, on(a.JobURL)+"/dashboard/api/version", "")
		return code
	})
	if code, _ := get(http.DefaultClient, on(b.JobURL)+"/api/version", b.SubmitToken); code != 200 {
		t.Fatalf("cluster b after a stopped: %d", code)
	}
	deadline := time.Now().Add(within)
	for {
		err := call(a.SubmitToken, 5*time.Second)
		if status.Code(err) == codes.Unauthenticated {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Ray client with a stopped cluster's token, %s after the stop: %v", within, err)
		}
		time.Sleep(50 * time.Millisecond) // poll interval
	}

	if code := gw.stop(t); code != 0 {
		t.Fatalf("rayfleet gateway exited %d on SIGTERM\n%s", code, gw.output())
	}
}

// gatewayProcess is a running `rayfleet gateway`.
type gatewayProcess struct {
	cmd                *exec.Cmd
	httpAddr, grpcAddr string
	mu                 sync.Mutex
	out                bytes.Buffer
	waited             chan struct{}
}

func (p *gatewayProcess) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *gatewayProcess) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// startGatewayProcess starts `rayfleet gateway` on dataDir and waits until
// it says where it listens.
func startGatewayProcess(t *testing.T, bin, dataDir string, extra []string) *gatewayProcess {
	t.Helper()
	p := &gatewayProcess{httpAddr: freeAddr(t), grpcAddr: freeAddr(t), waited: make(chan struct{})}
	args := append([]string{"gateway", "--data-dir", dataDir, "--gateway-listen", p.httpAddr,
		"--gateway-grpc-listen", p.grpcAddr, "--log-level", "debug", "--log-format", "text"}, extra...)
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.waited) }()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("rayfleet gateway output:\n%s", p.output())
		}
	})
	want := fmt.Sprintf("dashboard and job API on http://%s, Ray client on %s", p.httpAddr, p.grpcAddr)
	poll.Until(t, rayWait, "rayfleet gateway to listen", func() bool {
		select {
		case <-p.waited:
			t.Fatalf("rayfleet gateway exited: %v\n%s", p.cmd.ProcessState, p.output())
		default:
		}
		return strings.Contains(p.output(), want)
	})
	return p
}

// stop sends SIGTERM and returns the exit code.
func (p *gatewayProcess) stop(t *testing.T) int {
	select {
	case <-p.waited:
	default:
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.waited:
		case <-time.After(20 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.waited
			t.Errorf("rayfleet gateway did not stop within 20s of SIGTERM")
		}
	}
	return p.cmd.ProcessState.ExitCode()
}

// TestGatewayProcessRefusesAnEmptyDataDir: with SQLite the gateway needs a
// server's database, and says so instead of serving an empty one.
func TestGatewayProcessRefusesAnEmptyDataDir(t *testing.T) {
	dir := t.TempDir()
	var stderr bytes.Buffer
	code := RunGateway(context.Background(), []string{"--data-dir", dir, "--gateway-listen", "127.0.0.1:0", "--gateway-grpc-listen", "127.0.0.1:0"},
		func(string) string { return "" }, io.Discard, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "no rayfleet database") || !strings.Contains(stderr.String(), "rayfleet server") {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "rayfleet.db")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the gateway created a database: %v", err)
	}
}

// postgresSchema returns the DSN of a fresh schema of RAYFLEET_TEST_POSTGRES,
// dropped when the test ends, or skips the test.
func postgresSchema(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("RAYFLEET_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("RAYFLEET_TEST_POSTGRES is not set; run scripts/postgres.sh and set it to the DSN it prints to test PostgreSQL")
	}
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	schema := fmt.Sprintf("rfapp_%d_%d", os.Getpid(), time.Now().UnixNano())
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		admin.Close()
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
		admin.Close()
	})
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return dsn + " search_path=" + schema
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// rawCodecV2 moves gRPC messages as bytes: the gateway never looks inside
// them, so the test needs no generated code.
type rawCodecV2 struct{}

func (rawCodecV2) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(*v.(*[]byte))}, nil
}

func (rawCodecV2) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*[]byte) = data.Materialize()
	return nil
}

func (rawCodecV2) Name() string { return "raw" }
