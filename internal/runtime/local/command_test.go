package local

import (
	"os"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/rayfleet/rayfleet"
)

func TestSplitWords(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want []string
		err  string
	}{
		{in: "", want: nil},
		{in: "  \t\n ", want: nil},
		{in: "--num-cpus=4 --block", want: []string{"--num-cpus=4", "--block"}},
		{in: `--resources='{"GPU_A": 1}'`, want: []string{`--resources={"GPU_A": 1}`}},
		{in: `--resources "{\"a\": 1, \"b\": 2}"`, want: []string{"--resources", `{"a": 1, "b": 2}`}},
		{in: `--labels=a\ b`, want: []string{"--labels=a b"}},
		{in: `"a\nb" 'c\d'`, want: []string{`a\nb`, `c\d`}},
		{in: `'' ""`, want: []string{"", ""}},
		{in: "a\\\nb", want: []string{"ab"}},
		{in: "x 'y", err: "unterminated '"},
		{in: `x "y`, err: `unterminated "`},
		{in: `x \`, err: "lone backslash"},
	} {
		got, err := rayfleet.SplitRayStartParams(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("rayfleet.SplitRayStartParams(%q) error = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("rayfleet.SplitRayStartParams(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
		// What shellQuote renders splits back to the same words.
		if len(got) > 0 {
			back, err := rayfleet.SplitRayStartParams(shellQuote(got))
			if err != nil || !reflect.DeepEqual(back, got) {
				t.Errorf("rayfleet.SplitRayStartParams(shellQuote(%q)) = %q, %v", got, back, err)
			}
		}
	}
}

func TestRayArgs(t *testing.T) {
	t.Parallel()
	p := Ports{GCS: 1, Dashboard: 2, ClientServer: 3, NodeManager: 4, ObjectManager: 5,
		DashboardAgentListen: 6, DashboardAgentGRPC: 7, MetricsExport: 8, RuntimeEnvAgent: 9,
		MinWorker: 20000, MaxWorker: 20099}
	head := nodeSpec{typ: typeHead, name: "c-head", cpu: "2", memory: "4Gi", params: "--num-cpus=8"}
	got, err := rayArgs(head, p, "127.0.0.1", "", "/tmp/rayfleet-00000000", 1)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"start", "--head", "--block", "--node-ip-address=127.0.0.1", "--port=1",
		"--include-dashboard=true", "--dashboard-host=127.0.0.1", "--dashboard-port=2",
		"--ray-client-server-port=3", "--node-manager-port=4", "--object-manager-port=5",
		"--dashboard-agent-listen-port=6", "--dashboard-agent-grpc-port=7", "--metrics-export-port=8",
		"--runtime-env-agent-port=9", "--min-worker-port=20000", "--max-worker-port=20099",
		"--num-cpus=2", "--memory=4294967296", "--object-store-memory=1288490188", "--num-gpus=1",
		"--temp-dir=/tmp/rayfleet-00000000", "--disable-usage-stats", "--num-cpus=8"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("head args\n got %q\nwant %q", got, want)
	}

	worker := nodeSpec{typ: typeWorker, group: "g", name: "c-g-worker-0", cpu: "500m", memory: "100Mi"}
	got, err = rayArgs(worker, p, "127.0.0.1", "127.0.0.1:1", "/tmp/rayfleet-00000001", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"--block", "--address=127.0.0.1:1", "--num-cpus=1", "--memory=104857600",
		"--object-store-memory=78643200", "--num-gpus=0"} {
		if !slices.Contains(got, w) {
			t.Errorf("worker args lack %q: %q", w, got)
		}
	}
	for _, a := range got {
		if a == "--head" || strings.HasPrefix(a, "--port=") || strings.HasPrefix(a, "--dashboard-port=") {
			t.Errorf("worker args hold head flag %q", a)
		}
	}
	for cpu, want := range map[string]string{"2.5": "2", "1999m": "1", "0.1": "1", "16": "16"} {
		got, _ := rayArgs(nodeSpec{typ: typeWorker, cpu: cpu, memory: "1Gi"}, p, "h", "h:1", "/t", 0)
		if !slices.Contains(got, "--num-cpus="+want) {
			t.Errorf("cpu %s: %q, want --num-cpus=%s", cpu, got, want)
		}
	}
	if _, err := rayArgs(nodeSpec{typ: typeWorker, group: "g", params: `"x`}, p, "h", "h:1", "/t", 0); err == nil ||
		!strings.Contains(err.Error(), `workerSpec group "g".rayStartParams`) {
		t.Errorf("bad params: %v", err)
	}
}

func TestWithPath(t *testing.T) {
	t.Parallel()
	got := withPath([]string{"A=1", "PATH=/usr/bin:/bin", "B=2"}, "/env/bin")
	if want := []string{"A=1", "B=2", "PATH=/env/bin:/usr/bin:/bin"}; !reflect.DeepEqual(got, want) {
		t.Errorf("withPath = %q, want %q", got, want)
	}
	if got := withPath([]string{"A=1"}, "/env/bin"); !reflect.DeepEqual(got, []string{"A=1", "PATH=/env/bin"}) {
		t.Errorf("withPath without PATH = %q", got)
	}
}

func TestNodeEnv(t *testing.T) {
	t.Parallel()
	env, err := nodeEnv([]string{"PATH=/bin", "A=old", "RAY_AUTH_MODE=disabled", "RAY_AUTH_TOKEN_PATH=/home/u/t"},
		nodeSpec{env: "A=new\n\nB=x=y\nRAY_AUTH_TOKEN=mine\n" + markerEnv + "=forged\n"}, "c/i/n", "tok")
	if err != nil {
		t.Fatal(err)
	}
	// The server's and the spec's settings of what the runtime owns (Ray's
	// authentication, the marker) are dropped; the runtime's come last.
	want := []string{"PATH=/bin", "A=old", "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S=0", "RAY_GRAFANA_HOST=DISABLED", "RAY_DASHBOARD_INGEST_PLATFORM_EVENTS=1", "A=new", "B=x=y", "RAY_AUTH_MODE=token", "RAY_AUTH_TOKEN=tok", markerEnv + "=c/i/n"}
	if !reflect.DeepEqual(env, want) {
		t.Fatalf("env %q, want %q", env, want)
	}
	if env, _ := nodeEnv([]string{"PATH=/bin"}, nodeSpec{}, "m", ""); !reflect.DeepEqual(env, []string{"PATH=/bin", "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S=0", "RAY_GRAFANA_HOST=DISABLED", "RAY_DASHBOARD_INGEST_PLATFORM_EVENTS=1", markerEnv + "=m"}) {
		t.Fatalf("env without a token %q", env)
	}
	if _, err := nodeEnv(nil, nodeSpec{typ: typeHead, env: "not a pair"}, "m", ""); err == nil || !strings.Contains(err.Error(), "headSpec.env") {
		t.Fatalf("bad env: %v", err)
	}
}

func TestTempDirIsShortAndStable(t *testing.T) {
	t.Parallel()
	a := tempDirFor("/tmp", "ray-0123456789abcdef", "ray-0123456789abcdef-abcd1234", "ray-0123456789abcdef-gpu-group-worker-17")
	if a != tempDirFor("/tmp", "ray-0123456789abcdef", "ray-0123456789abcdef-abcd1234", "ray-0123456789abcdef-gpu-group-worker-17") {
		t.Fatal("not stable")
	}
	// Ray appends /session_2025-01-17_17-06-14_562693_95012/sockets/plasma_store
	// (64 bytes); unix socket paths must stay under 108.
	if len(a)+64 >= 108 {
		t.Fatalf("%s is too long for Ray's sockets", a)
	}
	if b := tempDirFor("/tmp", "ray-0123456789abcdef", "ray-0123456789abcdef-abcd1234", "ray-0123456789abcdef-head"); a == b {
		t.Fatal("two nodes share a temp directory")
	}
}

func TestReadStat(t *testing.T) {
	t.Parallel()
	st, err := readStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if pgid, _ := syscall.Getpgid(os.Getpid()); st.pgid != pgid || st.start == 0 || st.state == 'Z' {
		t.Fatalf("stat of self: %+v", st)
	}
	if _, err := readStat(1 << 30); err == nil {
		t.Fatal("stat of a pid that cannot exist")
	}
}

func TestExitOf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		script string
		code   int
		reason string
	}{
		{"exit 0", 0, "Completed"},
		{"exit 3", 3, "Error"},
		{"kill -KILL $$", 137, "Killed"},
	} {
		cmd := exec.Command("sh", "-c", tc.script)
		_ = cmd.Run()
		code, reason, _ := exitOf(cmd.ProcessState.Sys().(syscall.WaitStatus))
		if code != tc.code || reason != tc.reason {
			t.Errorf("%s: %d %s, want %d %s", tc.script, code, reason, tc.code, tc.reason)
		}
	}
}

func TestPortsAreDistinct(t *testing.T) {
	t.Parallel()
	a := newPortAllocator(map[int]bool{})
	seen := map[int]bool{}
	for range 5 {
		p, err := a.ports(true)
		if err != nil {
			t.Fatal(err)
		}
		if p.MaxWorker-p.MinWorker+1 != workerPorts {
			t.Fatalf("worker range %d-%d", p.MinWorker, p.MaxWorker)
		}
		if p.MinWorker <= a.ephemeralHi && p.MaxWorker >= a.ephemeralLo {
			t.Errorf("worker range %d-%d in the ephemeral range %d-%d", p.MinWorker, p.MaxWorker, a.ephemeralLo, a.ephemeralHi)
		}
		for _, q := range p.list() {
			if seen[q] {
				t.Fatalf("port %d handed out twice", q)
			}
			seen[q] = true
		}
	}
}
