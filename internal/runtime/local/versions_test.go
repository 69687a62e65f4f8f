package local

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rayfleet/rayfleet"
)

func TestInterpreterOf(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if got, err := interpreterOf(write("venv", "#!/opt/env/bin/python3.11\nimport sys\n")); err != nil || got != "/opt/env/bin/python3.11" {
		t.Errorf("venv script: %q, %v", got, err)
	}
	if got, err := interpreterOf(write("sh", "#!/bin/sh\n")); err != nil || got != "/bin/sh" {
		t.Errorf("env script: %q, %v", got, err)
	}
	if _, err := interpreterOf(write("bin", "\x7fELF\x02\x01")); err == nil || !strings.Contains(err.Error(), "not a Python console script") {
		t.Errorf("binary: %v", err)
	}
	if _, err := interpreterOf(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
}

// TestProbeVersions asks an interpreter that answers as Python would: the
// Ray version then the Python version, one a line.
func TestProbeVersions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	py := filepath.Join(dir, "python")
	if err := os.WriteFile(py, []byte("#!/bin/sh\nprintf '2.60.0\\n3.11.7\\n'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	ray := filepath.Join(dir, "ray")
	if err := os.WriteFile(ray, []byte("#!"+py+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	v, err := probeVersions(context.Background(), ray)
	if err != nil || v != (Versions{Ray: "2.60.0", Python: "3.11.7"}) {
		t.Fatalf("probe: %+v, %v", v, err)
	}
	if err := os.WriteFile(py, []byte("#!/bin/sh\necho 'ModuleNotFoundError: No package metadata was found for ray' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := probeVersions(context.Background(), ray); err == nil || !strings.Contains(err.Error(), "No package metadata was found for ray") {
		t.Fatalf("probe without Ray: %v", err)
	}
}

func TestVersionCacheSeesAReinstall(t *testing.T) {
	t.Parallel()
	ray := filepath.Join(t.TempDir(), "ray")
	if err := os.WriteFile(ray, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	asked := 0
	vc := versionCache{probe: func(context.Context, string) (Versions, error) {
		asked++
		return Versions{Ray: "2.60.0", Python: "3.11.7"}, nil
	}}
	for range 3 {
		if _, err := vc.get(context.Background(), ray); err != nil {
			t.Fatal(err)
		}
	}
	if asked != 1 {
		t.Fatalf("asked %d times for an unchanged executable, want 1", asked)
	}
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(ray, later, later); err != nil {
		t.Fatal(err)
	}
	if _, err := vc.get(context.Background(), ray); err != nil || asked != 2 {
		t.Fatalf("after a reinstall: asked %d, %v", asked, err)
	}
}

func TestVersionProblem(t *testing.T) {
	t.Parallel()
	catalog := map[string][2]string{
		"ray-1.3.0 (Ray 2.60.0, Python 3.11)": {"2.60.0", "3.11"},
		"ray-1.2.0 (Ray 2.55.1, Python 3.12)": {"2.55.1", "3.12"},
		"ray-1.1.0 (Ray 2.60.0, Python 3.12)": {"2.60.0", "3.12"},
	}
	r := &Runtime{cfg: Config{
		Release: func(d string) (string, string, bool) { v, ok := catalog[d]; return v[0], v[1], ok },
		ReleaseFor: func(ray, py string) string {
			if ray == "2.60.0" && py == "3.11" {
				return "ray-1.3.0 (Ray 2.60.0, Python 3.11)"
			}
			return ""
		},
	}}
	installed := Versions{Ray: "2.60.0", Python: "3.11.7"}
	cluster := func(head string, workers ...string) *rayfleet.Cluster {
		c := &rayfleet.Cluster{RunningSpec: rayfleet.ClusterSpec{ReleaseVersion: head}}
		for _, w := range workers {
			c.RunningSpec.Workers = append(c.RunningSpec.Workers, rayfleet.WorkerSpec{ReleaseVersion: w})
		}
		return c
	}
	cases := []struct {
		name string
		c    *rayfleet.Cluster
		want []string // substrings; none means no problem
	}{
		{"match", cluster("ray-1.3.0 (Ray 2.60.0, Python 3.11)"), nil},
		{"worker without its own release", cluster("ray-1.3.0 (Ray 2.60.0, Python 3.11)", ""), nil},
		{"other ray", cluster("ray-1.2.0 (Ray 2.55.1, Python 3.12)"),
			[]string{"runs Ray 2.55.1 on Python 3.12", "/env/bin/ray is Ray 2.60.0 on Python 3.11.7", `update the cluster to release "ray-1.3.0 (Ray 2.60.0, Python 3.11)"`}},
		{"same ray, other python", cluster("ray-1.1.0 (Ray 2.60.0, Python 3.12)"), []string{"on Python 3.12", "Python 3.11.7"}},
		{"a worker group's release", cluster("ray-1.3.0 (Ray 2.60.0, Python 3.11)", "ray-1.2.0 (Ray 2.55.1, Python 3.12)"), []string{"Ray 2.55.1"}},
		{"unknown release", cluster("ray-9"), []string{`"ray-9" is not in this server's catalog`}},
	}
	for _, tc := range cases {
		got := r.versionProblem(tc.c, "/env/bin/ray", installed)
		if len(tc.want) == 0 && got != "" {
			t.Errorf("%s: %q, want no problem", tc.name, got)
		}
		if len(tc.want) > 0 && got == "" {
			t.Errorf("%s: no problem found", tc.name)
		}
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: %q lacks %q", tc.name, got, w)
			}
		}
	}
	// Without a matching release the message says what to install.
	r.cfg.ReleaseFor = func(string, string) string { return "" }
	got := r.versionProblem(cluster("ray-1.2.0 (Ray 2.55.1, Python 3.12)"), "/env/bin/ray", installed)
	if !strings.Contains(got, `pip install "ray[default]==2.55.1"`) || !strings.Contains(got, "python3.12 -m venv") {
		t.Errorf("no matching release: %q", got)
	}
}

// TestLastLineReadsRaysReport: the tail of a head's log as `ray start
// --block` of Ray 2.60 writes it when its GCS was killed.
func TestLastLineReadsRaysReport(t *testing.T) {
	t.Parallel()
	log := "2026-12-07 17:47:27,100\tINFO scripts.py:1266 -- This command will now block forever until terminated by a signal.\n" +
		"2026-12-07 17:47:29,216\tERR scripts.py:1307 -- \x1b[31mSome Ray subprocesses exited unexpectedly:\x1b[39m\n" +
		"2026-12-07 17:47:29,216\tERR scripts.py:87 -- \x1b[31m\x1b[1mgcs_server\x1b[22m\x1b[26m\x1b[39m\x1b[0m\x1b[2m [exit code=-9]\x1b[22m\x1b[0m\n" +
		"2026-12-07 17:47:29,217\tERR scripts.py:115 -- \x1b[31m----- BEGIN gcs_server.out tail (exit code(s)=-9 (signal 9)) -----\x1b[39m\n" +
		"[2026-12-07 17:47:28,643 I 30576 30576] (gcs_server) metrics_agent_client.cc:59: Exporter initialized.\n" +
		"2026-12-07 17:47:29,217\tERR scripts.py:128 -- \x1b[31m----- END gcs_server.out tail (exit code(s)=-9 (signal 9)) -----\x1b[39m\n" +
		"2026-12-07 17:47:29,217\tERR scripts.py:1315 -- \x1b[31mRemaining processes will be killed.\x1b[39m\n"
	p := filepath.Join(t.TempDir(), "head.log")
	if err := os.WriteFile(p, []byte(log), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, want := lastLine(p), "Ray's own processes exited unexpectedly: gcs_server [exit code=-9]"; got != want {
		t.Errorf("lastLine = %q, want %q", got, want)
	}
	if err := os.WriteFile(p, []byte("starting\n\x1b[31mValueError: bad flag\x1b[39m\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := lastLine(p); got != "ValueError: bad flag" {
		t.Errorf("lastLine = %q", got)
	}
}
