package benchproc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// RayfleetBinary is bin, or when bin is "", ./cmd/rayfleet (run from the
// repository root) built into dir.
func RayfleetBinary(ctx context.Context, bin, dir string) (string, error) {
	if bin != "" {
		return bin, nil
	}
	bin = filepath.Join(dir, "rayfleet")
	fmt.Fprintf(os.Stderr, "%s building ./cmd/rayfleet\n", time.Now().Format("15:04:05"))
	cmd := exec.CommandContext(ctx, "go", "build", "-buildvcs=false", "-o", bin, "./cmd/rayfleet")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build rayfleet: %w", err)
	}
	return bin, nil
}

// PyenvRay is the ray of the project's Python environment
// (scripts/pyenv.sh, run from the repository root, prints its directory
// last).
func PyenvRay(ctx context.Context) (string, error) {
	cmd := exec.CommandContext(ctx, "scripts/pyenv.sh")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("scripts/pyenv.sh (run from the repository root): %w", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	ray := filepath.Join(lines[len(lines)-1], "bin", "ray")
	if _, err := os.Stat(ray); err != nil {
		return "", fmt.Errorf("scripts/pyenv.sh: %w", err)
	}
	return ray, nil
}

// FreeAddr is a loopback address with a port nothing listens on now.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port), nil
}

// Credentials are what a first start of `rayfleet server` writes to
// <data dir>/credentials: the root access key and the default workspace.
type Credentials struct {
	AccessKeyID, AccessKeySecret, WorkspaceID string
}

// LocalServer is a `rayfleet server` process with the local runtime,
// started by StartLocalServer on a new data directory.
type LocalServer struct {
	*Proc
	Addr    string // the API's host:port
	DataDir string
	Cred    Credentials
}

// StartLocalServer runs bin as `rayfleet server` with the local runtime and
// ray, everything under dir: the SQLite data dir (dir/data), the log
// (dir/server.log), Ray's temp dirs (dir/r, kept short: Ray's unix sockets
// live under them, and their paths must stay under 108 bytes), HOME and
// the CLI's config. The gateway listens on free loopback ports. mark
// ("NAME=value") goes into the server's environment, which it passes on to
// every node it starts, so that Marked finds the run's processes; every
// other setting is the default.
func StartLocalServer(ctx context.Context, bin, ray, dir, mark string) (*LocalServer, error) {
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "rayfleet.yaml")
	if err := os.WriteFile(conf, []byte("localTempRoot: "+filepath.Join(dir, "r")+"\n"), 0o600); err != nil {
		return nil, err
	}
	home := filepath.Join(dir, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, err
	}
	s := &LocalServer{Addr: addr, DataDir: filepath.Join(dir, "data")}
	cmd := exec.Command(bin, "server", "--config", conf, "--data-dir", s.DataDir, "--api-addr", addr,
		"--gateway-listen", "127.0.0.1:0", "--gateway-grpc-listen", "127.0.0.1:0", "--ray-path", ray)
	cmd.Env = append(os.Environ(), "HOME="+home, "RAYFLEET_CONFIG="+filepath.Join(dir, "cli.json"), mark)
	if s.Proc, err = Start(ctx, "rayfleet server", cmd, filepath.Join(dir, "server.log"), Combined, Contains("first start")); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(s.DataDir, "credentials"))
	if err == nil {
		err = json.Unmarshal(b, &s.Cred)
	}
	if err != nil {
		_ = s.Stop() // the credentials are the error to report
		return nil, fmt.Errorf("credentials: %w", err)
	}
	return s, nil
}

// Marked lists the live processes whose environment holds mark
// ("NAME=value"), but except and this process.
func Marked(mark string, except int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	want := []byte(mark)
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == except || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil {
			continue
		}
		for kv := range bytes.SplitSeq(env, []byte{0}) {
			if bytes.Equal(kv, want) {
				if !zombie(pid) {
					out = append(out, pid)
				}
				break
			}
		}
	}
	return out
}

func zombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] == 'Z' || b[i+2] == 'X'
}

// WaitNoneMarked waits until no process but except carries mark.
func WaitNoneMarked(ctx context.Context, mark string, except int, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		left := Marked(mark, except)
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d processes of the run still there after %s: %v", len(left), within, left)
		}
		if err := Sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// KillMarked ends every process carrying mark but except with SIGKILL.
func KillMarked(mark string, except int) {
	for _, pid := range Marked(mark, except) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// Sleep waits d or until ctx ends.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
