package rayjob

import (
	"archive/zip"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rayfleet/rayfleet/internal/raytest"
)

func TestWildmatch(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		match   []string
		miss    []string
	}{
		{"*.log", []string{"a.log", "d/a.log", "d/e/a.log"}, []string{"a.txt", "log"}},
		{"build/", []string{"build/x", "d/build/x/y"}, []string{"build", "builds/x"}},
		{"/top", []string{"top", "top/x"}, []string{"d/top"}},
		{"d/*.py", []string{"d/a.py"}, []string{"a.py", "e/d/a.py", "d/e/a.py"}},
		{"**/cache", []string{"cache", "a/b/cache", "a/cache/x"}, []string{"a/caches"}},
		{"a/**/b", []string{"a/b", "a/x/b", "a/x/y/b"}, []string{"b", "x/a/b"}},
		{"data/**", []string{"data/x", "data/x/y"}, []string{"data"}},
		{"file?.txt", []string{"file1.txt"}, []string{"file10.txt", "file.txt"}},
		{"[ab].txt", []string{"a.txt", "x/b.txt"}, []string{"c.txt"}},
		{"[!ab].txt", []string{"c.txt"}, []string{"a.txt"}},
		{`\#hash`, []string{"#hash"}, []string{"hash"}},
		{"*", []string{".", "a", "a/b"}, nil},
		{".git", []string{".git", ".git/config", "sub/.git/HEAD"}, []string{".gitignore"}},
	} {
		p, ok := compileWildmatch(tc.pattern)
		if !ok {
			t.Fatalf("%q did not compile", tc.pattern)
		}
		for _, m := range tc.match {
			if !p.re.MatchString(m) {
				t.Errorf("%q does not match %q (%s)", tc.pattern, m, p.re)
			}
		}
		for _, m := range tc.miss {
			if p.re.MatchString(m) {
				t.Errorf("%q matches %q (%s)", tc.pattern, m, p.re)
			}
		}
	}
	for _, blank := range []string{"", "  ", "# comment", "/"} {
		if _, ok := compileWildmatch(blank); ok {
			t.Errorf("%q compiled to a pattern", blank)
		}
	}
	// The last pattern that matches decides; a negated one brings a path back.
	ig := newIgnore("/w", []string{"*.log", "!keep.log"})
	if !ig.matches("/w/a.log") || ig.matches("/w/keep.log") || ig.matches("/w/a.txt") {
		t.Error("negation does not bring keep.log back")
	}
}

// writeTree makes a working directory with what Ray's packaging treats
// specially: default excludes, nested ignore files, an empty directory, a
// directory excluded by a trailing-slash pattern (hashed, not packed), a
// negation, a link and an executable.
func writeTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"main.py":                   "print(open('data/input.txt').read())\n",
		"data/input.txt":            "hello from rayfleet\n",
		"data/big.log":              "excluded by .gitignore\n",
		"data/keep.log":             "brought back by a negation\n",
		".gitignore":                "*.log\n!keep.log\nout/\n",
		"out/result.bin":            "excluded with its directory's content",
		"pkg/.rayignore":            "secret.txt\n",
		"pkg/secret.txt":            "excluded by the nested .rayignore",
		"pkg/mod.py":                "X = 1\n",
		"pkg/sub/deep.py":           "Y = 2\n",
		"__pycache__/main.pyc":      "default exclude",
		".git/HEAD":                 "default exclude",
		"venv/bin/python":           "default exclude",
		"scratch/tmp.txt":           "excluded by the test's excludes",
		"nested/__pycache__/x.pyc":  "default exclude at depth",
		"nested/.gitignore":         "/local.txt\n",
		"nested/local.txt":          "excluded by the nested .gitignore",
		"nested/kept/local.txt":     "anchored patterns do not reach here",
		"unicodé/файл.txt":          "names in UTF-8",
		"run.sh":                    "#!/bin/sh\necho hi\n",
		"nested/kept/.hidden":       "hidden files are kept",
		"pkg/sub/data.json":         "{}",
		"data/more/input-2.txt":     "2",
		"data/more/input-3.txt":     "3",
		"pkg/sub/empty-file.txt":    "",
		"data/deep/deeper/deep.txt": "deep",
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(dir, "run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "empty", "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("data/input.txt", filepath.Join(dir, "link.txt")); err != nil {
		t.Fatal(err)
	}
	return dir
}

var testExcludes = []string{"scratch"}

func zipNames(t *testing.T, w WorkingDir) []string {
	t.Helper()
	var buf bytes.Buffer
	if err := w.Zip(&buf); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
	}
	slices.Sort(names)
	return names
}

func TestWorkingDirPackage(t *testing.T) {
	dir := writeTree(t)
	w := WorkingDir{Path: dir, Excludes: testExcludes}
	uri, err := w.URI()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(uri, "gcs://_ray_pkg_") || len(uri) != len("gcs://_ray_pkg_")+16+len(".zip") {
		t.Fatalf("URI %s is not gcs://_ray_pkg_<16 hex>.zip", uri)
	}
	want := []string{
		".gitignore", "data/deep/deeper/deep.txt", "data/input.txt", "data/keep.log", "data/more/input-2.txt", "data/more/input-3.txt",
		"empty/dir/", "link.txt", "main.py", "nested/.gitignore", "nested/kept/.hidden", "nested/kept/local.txt",
		"pkg/.rayignore", "pkg/mod.py", "pkg/sub/data.json", "pkg/sub/deep.py", "pkg/sub/empty-file.txt", "run.sh", "unicodé/файл.txt",
	}
	if got := zipNames(t, w); !slices.Equal(got, want) {
		t.Errorf("package holds\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	// The name is the content's: the same tree elsewhere has it, any
	// change to a packed file changes it, and a change to an excluded one
	// does not.
	again, err := WorkingDir{Path: dir, Excludes: testExcludes}.URI()
	if err != nil || again != uri {
		t.Fatalf("a second hash gives %s, %v", again, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "data/big.log"), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	if u, _ := w.URI(); u != uri {
		t.Errorf("changing an excluded file changed the URI")
	}
	if err := os.WriteFile(filepath.Join(dir, "pkg/mod.py"), []byte("X = 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if u, _ := w.URI(); u == uri {
		t.Errorf("changing a packed file left the URI as it was")
	}
	if _, err := (WorkingDir{Path: filepath.Join(dir, "main.py")}).URI(); err == nil {
		t.Error("a file was taken as a working directory")
	}
}

// TestWorkingDirMatchesRay has Ray's own packaging name and zip the same
// tree: the URI must be the very one, so rayfleet and Ray's CLI share
// packages on a head, and the zip must hold the same files.
func TestWorkingDirMatchesRay(t *testing.T) {
	python := raytest.Python(t)
	dir := writeTree(t)
	out := filepath.Join(t.TempDir(), "ray.zip")
	script := `
import sys, zipfile
from pathlib import Path
from ray._private import ray_constants
from ray._private.runtime_env.packaging import get_uri_for_directory, create_package
d, out, extra = sys.argv[1], sys.argv[2], sys.argv[3:]
excludes = ray_constants.get_runtime_env_default_excludes() + extra
print(get_uri_for_directory(d, include_gitignore=True, excludes=excludes))
create_package(d, Path(out), include_gitignore=True, excludes=excludes)
for n in sorted(zipfile.ZipFile(out).namelist()):
    print(n)
`
	cmd := exec.Command(python, append([]string{"-c", script, dir, out}, testExcludes...)...)
	cmd.Env = append(os.Environ(), "RAY_OVERRIDE_RUNTIME_ENV_DEFAULT_EXCLUDES="+strings.Join(DefaultExcludes, ","))
	b, err := cmd.Output()
	if err != nil {
		var stderr []byte
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			stderr = ee.Stderr
		}
		t.Fatalf("Ray's packaging: %v\n%s", err, stderr)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	w := WorkingDir{Path: dir, Excludes: testExcludes}
	uri, err := w.URI()
	if err != nil {
		t.Fatal(err)
	}
	if uri != lines[0] {
		t.Errorf("URI %s, Ray names it %s", uri, lines[0])
	}
	if got := zipNames(t, w); !slices.Equal(got, lines[1:]) {
		t.Errorf("package holds\n  %s\nRay's holds\n  %s", strings.Join(got, "\n  "), strings.Join(lines[1:], "\n  "))
	}
}
