package kubetest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// How a test binary gets its stack:
//
//   - RAYFLEET_TEST_KUBECONFIG=path uses a stack that is already running
//     (scripts/kube/up.sh prints its kubeconfig); nothing is started or
//     stopped.
//   - Otherwise the first test that calls Need starts one with
//     scripts/kube/up.sh on free ports in a temporary directory, and Main
//     stops it with scripts/kube/down.sh when the tests end. A watchdog
//     process stops it too if the test binary dies first (a panic, a
//     -timeout, a signal).
//   - When the stack's binaries are not built (scripts/kube/build.sh, about
//     17 minutes cold), the tests that need it are skipped, saying so; so
//     are they with -short. With RAYFLEET_TEST_REQUIRE_KUBE set (CI sets
//     it), they fail instead.

// Stack is a running test stack.
type Stack struct {
	// Kubeconfig is the path of an admin kubeconfig for it.
	Kubeconfig string
	cfg        *rest.Config
}

// RestConfig returns a copy of the admin rest config.
func (s *Stack) RestConfig() *rest.Config { return rest.CopyConfig(s.cfg) }

var stack struct {
	once     sync.Once
	stack    *Stack
	skip     string // why the tests that need it are skipped
	err      error  // why the stack could not start
	stateDir string // set when this process started the stack
	downSh   string
}

// Main runs the tests and then stops the stack if one was started, and
// returns the exit code: TestMain(m) { os.Exit(kubetest.Main(m)) }. A
// stack that fails to stop fails the run.
func Main(m *testing.M) int {
	code := m.Run()
	if stack.stateDir != "" {
		if err := stopStack(); err != nil {
			fmt.Fprintln(os.Stderr, "kubetest:", err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}

// Need returns the stack, starting it on first use, or skips t when the
// stack is not built (or with -short). A stack that is built and does not
// start fails t.
func Need(t testing.TB) *Stack {
	t.Helper()
	stack.once.Do(startStack)
	switch {
	case stack.err != nil:
		t.Fatalf("test Kubernetes stack: %v", stack.err)
	case stack.skip != "" && os.Getenv("RAYFLEET_TEST_REQUIRE_KUBE") != "":
		t.Fatalf("RAYFLEET_TEST_REQUIRE_KUBE is set, yet: %s", stack.skip)
	case stack.skip != "":
		t.Skip(stack.skip)
	}
	return stack.stack
}

// upAttempts: free ports are picked before up.sh binds them, so another
// test binary starting its own stack at the same moment may take one.
const upAttempts = 3

func startStack() {
	if path := os.Getenv("RAYFLEET_TEST_KUBECONFIG"); path != "" {
		stack.stack, stack.err = load(path)
		return
	}
	if testing.Short() {
		stack.skip = "integration test: skipped with -short"
		return
	}
	root, err := repoRoot()
	if err != nil {
		stack.err = err
		return
	}
	scripts := filepath.Join(root, "scripts", "kube")
	upSh, downSh := filepath.Join(scripts, "up.sh"), filepath.Join(scripts, "down.sh")
	for _, f := range []string{upSh, downSh, filepath.Join(scripts, "build.sh")} {
		if _, err := os.Stat(f); err != nil {
			stack.skip = fmt.Sprintf("integration test: %s is missing; set RAYFLEET_TEST_KUBECONFIG to use a running stack", f)
			return
		}
	}
	kubeDir, err := builtStack(scripts)
	if err != nil {
		stack.skip = fmt.Sprintf("integration test: the test Kubernetes stack is not built (%v); "+
			"run scripts/kube/build.sh (about 17 minutes the first time) or set RAYFLEET_TEST_KUBECONFIG", err)
		return
	}
	stack.downSh = downSh
	for attempt := 1; ; attempt++ {
		var retry bool
		stack.stack, retry, stack.err = up(upSh, downSh, kubeDir)
		if stack.err == nil || !retry || attempt == upAttempts {
			return
		}
		fmt.Fprintf(os.Stderr, "kubetest: %v; trying again on other ports\n", stack.err)
	}
}

// up starts a stack in a new state directory; retry tells whether another
// attempt may do better (up.sh failed, which a port taken in between
// explains).
func up(upSh, downSh, kubeDir string) (s *Stack, retry bool, err error) {
	stateDir, err := os.MkdirTemp("", "rayfleet-kube-test-")
	if err != nil {
		return nil, false, err
	}
	ports, err := freePorts(7)
	if err != nil {
		return nil, false, err
	}
	env := append(os.Environ(), "RAYFLEET_KUBE_DIR="+kubeDir)
	for i, name := range []string{"ETCD_PORT", "ETCD_PEER_PORT", "APISERVER_PORT", "SCHEDULER_PORT",
		"CONTROLLER_MANAGER_PORT", "OPERATOR_METRICS_PORT", "OPERATOR_PROBE_PORT"} {
		env = append(env, fmt.Sprintf("RAYFLEET_KUBE_%s=%d", name, ports[i]))
	}
	if err := startWatchdog(downSh, stateDir); err != nil {
		return nil, false, err
	}
	// Set before up.sh runs: whatever it started, Main stops.
	stack.stateDir = stateDir

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", upSh, stateDir)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	started := time.Now()
	if err := cmd.Run(); err != nil {
		// up.sh stopped what it started and kept its logs for a look;
		// a new attempt gets a new directory.
		return nil, true, fmt.Errorf("scripts/kube/up.sh: %w\n%s", err, stderr.String())
	}
	path, err := kubeconfigLine(stdout.String())
	if err != nil {
		return nil, false, fmt.Errorf("scripts/kube/up.sh: %w\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	fmt.Fprintf(os.Stderr, "kubetest: test Kubernetes stack up in %s (%s)\n", time.Since(started).Round(100*time.Millisecond), stateDir)
	s, err = load(path)
	return s, false, err
}

func stopStack() error {
	started := time.Now()
	out, err := exec.Command("bash", stack.downSh, stack.stateDir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("scripts/kube/down.sh: %w\n%s", err, out)
	}
	fmt.Fprintf(os.Stderr, "kubetest: test Kubernetes stack stopped in %s\n", time.Since(started).Round(100*time.Millisecond))
	return nil
}

// startWatchdog starts a process, in its own process group so that a ^C
// to the test does not reach it, that waits for this process to end and
// then runs down.sh: the stack's processes run in their own sessions and
// would otherwise outlive a test binary that panicked or was killed. When
// Main stopped the stack already, down.sh finds nothing to do.
func startWatchdog(downSh, stateDir string) error {
	script := `while kill -0 "$1" 2>/dev/null; do sleep 1; done; exec bash "$2" "$3"`
	cmd := exec.Command("bash", "-c", script, "watchdog", strconv.Itoa(os.Getpid()), downSh, stateDir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// No pipes shared with `go test`, which would wait for them to close.
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, nil, nil
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the stack's watchdog: %w", err)
	}
	go func() { _ = cmd.Wait() }() // reaps it should it end first
	return nil
}

// kubeconfigLine finds the kubeconfig in up.sh's stdout, whose last line
// is "export KUBECONFIG=<path>".
func kubeconfigLine(stdout string) (string, error) {
	var last string
	sc := bufio.NewScanner(strings.NewReader(stdout))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			last = l
		}
	}
	path, ok := strings.CutPrefix(last, "export KUBECONFIG=")
	if !ok {
		return "", errors.New("no 'export KUBECONFIG=' last line")
	}
	return strings.Trim(path, `'"`), nil
}

func load(path string) (*Stack, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig %s: %w", path, err)
	}
	return &Stack{Kubeconfig: path, cfg: cfg}, nil
}

// RepoRoot finds the module root above the test's directory.
func RepoRoot() (string, error) { return repoRoot() }

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.HasPrefix(b, []byte("module github.com/rayfleet/rayfleet\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("the rayfleet module root was not found above the test's directory")
		}
		dir = parent
	}
}

var versionLine = regexp.MustCompile(`(?m)^(K8S_VERSION|KWOK_VERSION|KUBERAY_VERSION)=(\S+)$`)

// builtStack returns the directory build.sh builds into, if its stamp says
// the build completed. The directory is keyed by the versions pinned in
// build.sh, which are read from it so that they are written down once;
// RAYFLEET_KUBE_DIR, as for up.sh, names a directory directly.
func builtStack(scripts string) (string, error) {
	dir := os.Getenv("RAYFLEET_KUBE_DIR")
	if dir == "" {
		b, err := os.ReadFile(filepath.Join(scripts, "build.sh"))
		if err != nil {
			return "", err
		}
		v := map[string]string{}
		for _, m := range versionLine.FindAllStringSubmatch(string(b), -1) {
			v[m[1]] = m[2]
		}
		if len(v) != 3 {
			return "", errors.New("the pinned versions were not found in scripts/kube/build.sh")
		}
		root := os.Getenv("RAYFLEET_KUBE_CACHE")
		if root == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", err
			}
			root = filepath.Join(home, ".cache", "rayfleet")
		}
		dir = filepath.Join(root, fmt.Sprintf("kube-%s-kwok-%s-kuberay-%s", v["K8S_VERSION"], v["KWOK_VERSION"], v["KUBERAY_VERSION"]))
		if _, err := os.Stat(filepath.Join(dir, ".complete")); err != nil {
			return "", fmt.Errorf("no %s", filepath.Join(dir, ".complete"))
		}
	}
	for _, b := range []string{"etcd", "kube-apiserver", "kube-scheduler", "kube-controller-manager", "kubectl", "kwok", "ray-operator"} {
		if _, err := os.Stat(filepath.Join(dir, "bin", b)); err != nil {
			return "", fmt.Errorf("no %s", filepath.Join(dir, "bin", b))
		}
	}
	return dir, nil
}

// freePorts returns n distinct ports free on 127.0.0.1 right now, so that
// the stack never collides with another one (another test binary's, a
// developer's own).
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var out []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}
