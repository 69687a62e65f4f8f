// Package raytest gives tests real Ray: the ray executable of the test
// suite's Python environment (scripts/pyenv.sh, which pins ray[default] to
// a version of the built-in release catalog), and a view of the process
// table to check that what a cluster started is gone when it should be.
//
//   - Ray finds the executable: $RAYFLEET_TEST_RAY, else
//     $RAYFLEET_TEST_PYENV/bin/ray. Without either a test that needs Ray
//     skips and says how to get it, unless RAYFLEET_TEST_REQUIRE_RAY is set
//     (the README's test command sets it): then it fails.
//   - Processes lists the processes of nodes started under a directory: a
//     local node's processes carry its marker in their environment, but Ray
//     starts some (dashboard modules, agents) with an environment of its
//     own, so the working directory (the node's instance directory under the
//     data directory, inherited by every child) and the command line (which
//     names the node's temp directory) are looked at too.
//
// It imports the standard library only.
package raytest

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// RequireEnv makes a missing Ray a failure instead of a skip.
const RequireEnv = "RAYFLEET_TEST_REQUIRE_RAY"

// Path returns the ray executable of the test environment, "" if none.
func Path() string {
	if p := os.Getenv("RAYFLEET_TEST_RAY"); p != "" {
		return p
	}
	if d := os.Getenv("RAYFLEET_TEST_PYENV"); d != "" {
		return filepath.Join(d, "bin", "ray")
	}
	return ""
}

// Ray returns the ray executable, skipping (or failing, with
// RAYFLEET_TEST_REQUIRE_RAY) the test when there is none.
func Ray(t testing.TB) string {
	t.Helper()
	p := Path()
	if p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		} else if os.Getenv(RequireEnv) != "" {
			t.Fatalf("real Ray: %v (run scripts/pyenv.sh and set RAYFLEET_TEST_PYENV to the directory it prints)", err)
		} else {
			t.Skipf("real Ray: %v", err)
		}
	}
	const how = "this test runs real Ray: export RAYFLEET_TEST_PYENV=\"$(scripts/pyenv.sh | tail -n1)\" (or run make test, which does)"
	if os.Getenv(RequireEnv) != "" {
		t.Fatal("no real Ray and " + RequireEnv + " is set; " + how)
	}
	t.Skip("no real Ray; " + how)
	return ""
}

// Python returns the Python interpreter of the test environment (beside
// its ray), for drivers and clients the tests run.
func Python(t testing.TB) string {
	return filepath.Join(filepath.Dir(Ray(t)), "python")
}

// Process is one process of a node.
type Process struct {
	PID     int
	Comm    string
	Cmdline string
	Cwd     string
	Marker  string // RAYFLEET_LOCAL_NODE of its environment, if any
}

// Processes lists the live processes (zombies are gone already) of local
// nodes started under any of roots: the node marker in their environment
// with a working directory under a root or a command line naming one, or,
// for Ray's processes that have an environment of their own, a working
// directory in a node's instance directory (<data>/local/clusters/...)
// under a root, or a command line naming a node's temp directory
// (rayfleet-<8 hex>) under a root. Other processes under the roots (a
// server, a test Kubernetes stack) are not listed.
func Processes(roots ...string) []Process {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []Process
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		dir := "/proc/" + e.Name()
		stat, err := os.ReadFile(dir + "/stat")
		if err != nil || zombie(stat) {
			continue
		}
		cmd, _ := os.ReadFile(dir + "/cmdline")
		p := Process{PID: pid, Cmdline: strings.TrimSpace(string(bytes.ReplaceAll(cmd, []byte{0}, []byte{' '})))}
		p.Cwd, _ = os.Readlink(dir + "/cwd")
		comm, _ := os.ReadFile(dir + "/comm")
		p.Comm = strings.TrimSpace(string(comm))
		if env, err := os.ReadFile(dir + "/environ"); err == nil {
			for _, kv := range bytes.Split(env, []byte{0}) {
				if v, ok := bytes.CutPrefix(kv, []byte("RAYFLEET_LOCAL_NODE=")); ok {
					p.Marker = string(v)
				}
			}
		}
		for _, root := range roots {
			if root == "" {
				continue
			}
			cwdIn, named := within(p.Cwd, root), strings.Contains(p.Cmdline, root)
			if p.Marker != "" && (cwdIn || named) ||
				cwdIn && strings.Contains(p.Cwd, "/local/clusters/") ||
				named && nodeTempDir.MatchString(p.Cmdline) {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// Of returns the processes of ps whose marker, command line or working
// directory names cluster (a cluster id, or an instance id).
func Of(ps []Process, cluster string) []Process {
	var out []Process
	for _, p := range ps {
		if strings.Contains(p.Marker, cluster) || strings.Contains(p.Cwd, cluster) || strings.Contains(p.Cmdline, cluster) {
			out = append(out, p)
		}
	}
	return out
}

// Names lists ps for a failure message.
func Names(ps []Process) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString("\n  " + strconv.Itoa(p.PID) + " " + p.Comm + " cwd=" + p.Cwd + " " + p.Cmdline)
	}
	return b.String()
}

// Kill ends every process under roots with SIGKILL and waits (up to 10 s)
// until none is left: nodes outlive the server by design, so tests clean up
// after themselves whatever state they end in.
func Kill(roots ...string) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		ps := Processes(roots...)
		if len(ps) == 0 || time.Now().After(deadline) {
			return
		}
		for _, p := range ps {
			_ = syscall.Kill(p.PID, syscall.SIGKILL)
		}
		time.Sleep(100 * time.Millisecond) // poll interval
	}
}

// nodeTempDir is the local runtime's name for a node's Ray temp directory.
var nodeTempDir = regexp.MustCompile(`/rayfleet-[0-9a-f]{8}(/|\s|$)`)

func within(path, root string) bool {
	rel, err := filepath.Rel(root, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// zombie reads the state field of /proc/<pid>/stat (after the last ')').
func zombie(stat []byte) bool {
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}
