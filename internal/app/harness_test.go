package app

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rayfleet/rayfleet/internal/kubetest"
	"github.com/rayfleet/rayfleet/internal/raytest"
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
// real Ray (or, without it, a ray path that names what is missing: tests
// that start nodes call needRay first), quiet logs, the data inside dir.
func testConfig(dir string) Config {
	cfg := DefaultConfig()
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.APIAddr = "127.0.0.1:0"
	cfg.LogLevel = "error"
	cfg.RayPath = raytest.Path()
	if cfg.RayPath == "" {
		cfg.RayPath = filepath.Join(dir, "ray-not-installed-see-scripts-pyenv.sh")
	}
	cfg.LocalTempRoot = rayTempRoot
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

// testRoot holds every temporary directory of this package's tests (TMPDIR
// points at it), so that the node processes they start are told from those
// of other test binaries running at the same time; rayTempRoot is the
// nodes' Ray temp root under it, short because Ray's unix socket paths
// (<root>/rayfleet-<hash>/session_<date>_<pid>/sockets/plasma_store) must
// stay under 108 bytes.
var testRoot, rayTempRoot string

func TestMain(m *testing.M) {
	var err error
	if testRoot, err = os.MkdirTemp("", "rfapp"); err != nil {
		panic(err)
	}
	rayTempRoot = filepath.Join(testRoot, "t")
	if err := os.Mkdir(rayTempRoot, 0o700); err != nil {
		panic(err)
	}
	os.Setenv("TMPDIR", testRoot)
	code := kubetest.Main(m)
	raytest.Kill(testRoot)
	os.RemoveAll(testRoot)
	os.Exit(code)
}

// needRay skips the test without real Ray (fails with
// RAYFLEET_TEST_REQUIRE_RAY): it starts nodes.
func needRay(t testing.TB) { raytest.Ray(t) }

// rayWait bounds the tests' waits for the server and its nodes. Real Ray
// nodes take seconds each on a 2-core machine; the deadline only matters
// when something is wrong.
const rayWait = 2 * time.Minute

// killNodes ends the node processes the package's tests left running:
// nodes outlive the server by design, so tests clean them up themselves.
func killNodes(testing.TB) { raytest.Kill(testRoot) }

// rayProcesses returns the pids of the nodes running now: the `ray start`
// process of each (Ray's own processes under it are not counted).
func rayProcesses(testing.TB) []int {
	var pids []int
	for _, p := range raytest.Processes(testRoot) {
		if p.Marker != "" && strings.Contains(p.Cmdline, "ray start ") {
			pids = append(pids, p.PID)
		}
	}
	return pids
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
