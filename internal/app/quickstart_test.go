package app

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rayfleet/rayfleet/internal/poll"
	"github.com/rayfleet/rayfleet/internal/raytest"
)

// quickstartBlocks returns the ```sh blocks of README.md's Quickstart
// section, in order.
func quickstartBlocks(t *testing.T, readme string) []string {
	t.Helper()
	b, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "\n## Quickstart\n")
	if i < 0 {
		t.Fatal("README.md has no Quickstart section")
	}
	s = s[i+1:]
	if j := strings.Index(s[3:], "\n## "); j >= 0 {
		s = s[:j+3]
	}
	var blocks []string
	for _, m := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(s, -1) {
		blocks = append(blocks, m[1])
	}
	return blocks
}

// TestQuickstart runs README.md's Quickstart as written, on a copy of the
// work tree with a fresh home directory: the first block in one shell
// (its last line, the server, left running), the others one after another
// in a second shell, as a person pastes them into two terminals. Only the
// listen addresses are moved (through RAYFLEET_* variables, the commands
// stay as written) so the test does not collide with a rayfleet already
// running on the defaults.
func TestQuickstart(t *testing.T) {
	needRay(t)
	if testing.Short() {
		t.Skip("-short: the quickstart installs Ray from the package index")
	}
	blocks := quickstartBlocks(t, "../../README.md")
	if len(blocks) < 3 {
		t.Fatalf("the quickstart has %d sh blocks, want the server's, the cluster's and the job's", len(blocks))
	}
	first := strings.Split(strings.TrimSpace(blocks[0]), "\n")
	server := first[len(first)-1]
	if !strings.HasSuffix(server, "rayfleet server") {
		t.Fatalf("the first block should end by starting the server, ends with %q", server)
	}

	// A copy of the work tree (what git tracks or would, as a clone has).
	tree := filepath.Join(t.TempDir(), "rayfleet")
	files, err := exec.Command("git", "-C", "../..", "ls-files", "-co", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	for _, f := range strings.Split(strings.TrimSpace(string(files)), "\n") {
		data, err := os.ReadFile(filepath.Join("../..", f))
		if err != nil {
			continue // deleted in the work tree
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(tree, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tree, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	home, apiAddr := t.TempDir(), freeAddr(t)
	pipCache, _ := os.UserCacheDir()
	env := []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "GOFLAGS=-buildvcs=false",
		"GOCACHE=" + goEnv(t, "GOCACHE"), "GOMODCACHE=" + goEnv(t, "GOMODCACHE"), "GOPROXY=" + goEnv(t, "GOPROXY"),
		"PIP_CACHE_DIR=" + filepath.Join(pipCache, "pip"), "PIP_DISABLE_PIP_VERSION_CHECK=1",
		"RAYFLEET_API_ADDR=" + apiAddr, "RAYFLEET_GATEWAY_LISTEN=" + freeAddr(t), "RAYFLEET_GATEWAY_GRPC_LISTEN=" + freeAddr(t)}
	t.Cleanup(func() { raytest.Kill(tree, home) })

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	sh := func(script string) (string, error) {
		cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
		cmd.Dir, cmd.Env = tree, env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := sh(strings.Join(first[:len(first)-1], "\n")); err != nil {
		t.Fatalf("the first terminal's setup: %v\n%s", err, out)
	}
	// The server, in the first terminal's shell with what it exported.
	srv := exec.Command("bash", "-euo", "pipefail", "-c", strings.Join(first, "\n"))
	srv.Dir, srv.Env = tree, env
	var srvOut bytes.Buffer
	srv.Stdout, srv.Stderr = &srvOut, &srvOut
	srv.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-srv.Process.Pid, syscall.SIGTERM)
		_ = srv.Wait()
		if t.Failed() {
			t.Logf("server output:\n%s", srvOut.String())
		}
	})
	poll.Until(t, rayWait, "the quickstart's server to answer", func() bool {
		resp, err := http.Get("http://" + apiAddr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200 && fileExists(filepath.Join(tree, "rayfleet-data", "credentials"))
	})

	// The second terminal: every other block, one after the other.
	out, err := sh(strings.Join(blocks[1:], "\n"))
	if err != nil {
		t.Fatalf("the quickstart failed: %v\n%s", err, out)
	}
	for _, want := range []string{"Cluster ray-", "is Running.", "sum of squares: 285", "succeeded", "Stopped", "Deleted cluster"} {
		if !strings.Contains(out, want) {
			t.Errorf("the quickstart's output lacks %q:\n%s", want, out)
		}
	}
	var left []raytest.Process
	for _, p := range raytest.Processes(tree) {
		if p.Comm != "rayfleet" && p.Comm != "bash" { // the server and its terminal still run
			left = append(left, p)
		}
	}
	if len(left) != 0 {
		t.Errorf("processes left after the quickstart's stop and delete:%s", raytest.Names(left))
	}
}

func goEnv(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }
