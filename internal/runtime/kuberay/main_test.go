package kuberay

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

// The integration tests run against a real kube-apiserver, scheduler,
// controller-manager, kwok and KubeRay operator:
//
//   - RAYFLEET_TEST_KUBECONFIG=path uses a stack that is already running
//     (scripts/kube/up.sh prints its kubeconfig); nothing is started or
//     stopped.
//   - Otherwise the first integration test starts one with
//     scripts/kube/up.sh on free ports in a temporary directory, and
//     TestMain stops it with scripts/kube/down.sh when the tests end. A
//     watchdog process stops it too if the test binary dies first (a
//     panic, a -timeout, a signal).
//   - RAYFLEET_TEST_KEEP_FAILED=1 keeps a failed test's namespace (with
//     RAYFLEET_TEST_KUBECONFIG, so that the stack stays up too).
//   - When the stack's binaries are not built (scripts/kube/build.sh, about
//     17 minutes cold), the integration tests are skipped, saying so; so
//     are they with -short.
//
// Unit tests never start anything.

var stack struct {
	once     sync.Once
	cfg      *rest.Config
	skip     string // why the integration tests are skipped
	err      error  // why the stack could not start
	stateDir string // set when this process started the stack
	downSh   string
}

func TestMain(m *testing.M) {
	code := m.Run()
	if stack.stateDir != "" {
		if err := stopStack(); err != nil {
			fmt.Fprintln(os.Stderr, "kuberay tests:", err)
			if code == 0 {
				code = 1
			}
		}
	}
	os.Exit(code)
}

// needKube returns the stack's rest config, starting the stack on first
// use, or skips t.
func needKube(t *testing.T) *rest.Config {
	t.Helper()
	stack.once.Do(startStack)
	switch {
	case stack.err != nil:
		t.Fatalf("test Kubernetes stack: %v", stack.err)
	case stack.skip != "":
		t.Skip(stack.skip)
	}
	return rest.CopyConfig(stack.cfg)
}

func startStack() {
	if path := os.Getenv("RAYFLEET_TEST_KUBECONFIG"); path != "" {
		stack.cfg, stack.err = loadKubeconfig(path)
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

	stateDir, err := os.MkdirTemp("", "rayfleet-kuberay-test-")
	if err != nil {
		stack.err = err
		return
	}
	ports, err := freePorts(7)
	if err != nil {
		stack.err = err
		return
	}
	env := append(os.Environ(), "RAYFLEET_KUBE_DIR="+kubeDir)
	for i, name := range []string{"ETCD_PORT", "ETCD_PEER_PORT", "APISERVER_PORT", "SCHEDULER_PORT",
		"CONTROLLER_MANAGER_PORT", "OPERATOR_METRICS_PORT", "OPERATOR_PROBE_PORT"} {
		env = append(env, fmt.Sprintf("RAYFLEET_KUBE_%s=%d", name, ports[i]))
	}
	stack.stateDir, stack.downSh = stateDir, downSh
	if err := startWatchdog(downSh, stateDir); err != nil {
		stack.err = err
		return
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", upSh, stateDir)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	started := time.Now()
	if err := cmd.Run(); err != nil {
		stack.err = fmt.Errorf("scripts/kube/up.sh: %w\n%s", err, stderr.String())
		return
	}
	path, err := kubeconfigLine(stdout.String())
	if err != nil {
		stack.err = fmt.Errorf("scripts/kube/up.sh: %w\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
		return
	}
	fmt.Fprintf(os.Stderr, "kuberay tests: test Kubernetes stack up in %s (%s)\n", time.Since(started).Round(100*time.Millisecond), stateDir)
	stack.cfg, stack.err = loadKubeconfig(path)
}

func stopStack() error {
	started := time.Now()
	out, err := exec.Command("bash", stack.downSh, stack.stateDir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("scripts/kube/down.sh: %w\n%s", err, out)
	}
	fmt.Fprintf(os.Stderr, "kuberay tests: test Kubernetes stack stopped in %s\n", time.Since(started).Round(100*time.Millisecond))
	return nil
}

// startWatchdog starts a process, in its own process group so that a ^C
// to the test does not reach it, that waits for this process to end and
// then runs down.sh: the stack's processes run in their own sessions and
// would otherwise outlive a test binary that panicked or was killed. When
// TestMain stopped the stack already, down.sh finds nothing to do.
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
		return "", fmt.Errorf("no 'export KUBECONFIG=' last line")
	}
	return strings.Trim(path, `'"`), nil
}

func loadKubeconfig(path string) (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig %s: %w", path, err)
	}
	return cfg, nil
}

// repoRoot finds the module root above the package directory.
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
// the stack never collides with another one (another test run, a
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
