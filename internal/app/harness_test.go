package app

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/rayfleet/rayfleet/internal/kubetest"
)

// testServer starts a real server on 127.0.0.1:0 with a fresh data
// directory and returns it with the credentials its first start wrote.
func testServer(t *testing.T, opts ...func(*Config)) (*Server, Credentials) {
	t.Helper()
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.Gateway.InnerURL = "http://ray-gateway.internal:8081"
	for _, o := range opts {
		o(&cfg)
	}
	env := map[string]string{"RAYFLEET_CONFIG": filepath.Join(dir, "cli", "config.json"), "HOME": dir}
	srv, err := Start(context.Background(), cfg, func(k string) string { return env[k] }, discard{}, discard{})
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		killNodes(t)
	})
	return srv, readCredentials(t, cfg.DataDir)
}

// testConfig is the configuration of a test server in dir: a free port,
// the stand-in ray, quiet logs, everything inside dir.
func testConfig(dir string) Config {
	cfg := DefaultConfig()
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.APIAddr = "127.0.0.1:0"
	cfg.LogLevel = "error"
	cfg.RayPath = fakeRay
	cfg.LocalTempRoot = dir
	cfg.StopGrace = 2 * time.Second
	cfg.Gateway.Listen, cfg.Gateway.GRPCListen = "127.0.0.1:0", "127.0.0.1:0"
	return cfg
}

func readCredentials(t *testing.T, dataDir string) Credentials {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dataDir, "credentials"))
	if err != nil {
		t.Fatalf("read credentials: %v", err)
	}
	var c Credentials
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatalf("credentials: %v", err)
	}
	return c
}

// fakeRay is the stand-in ray executable the tests' local runtime runs:
// real Ray cannot be installed on the machines the tests run on.
var fakeRay string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rayfleet-app-test")
	if err != nil {
		panic(err)
	}
	fakeRay = filepath.Join(dir, "ray")
	out, err := exec.Command("go", "build", "-o", fakeRay, "github.com/rayfleet/rayfleet/internal/runtime/local/fakeray").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build the stand-in ray: %v\n%s", err, out)
		os.Exit(2)
	}
	code := kubetest.Main(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

// eventually polls cond until it holds, failing the test after a deadline.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond) // poll interval
	}
}

// killNodes ends the stand-in ray processes a test left running: nodes
// outlive the server by design, so tests clean them up themselves.
func killNodes(t *testing.T) {
	for _, pid := range rayProcesses(t) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
