package local

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// Versions are the Ray and Python versions a ray executable runs.
type Versions struct {
	Ray    string // e.g. 2.60.0
	Python string // e.g. 3.11.7
}

// pythonMinor is "3.11" of "3.11.7".
func pythonMinor(v string) string {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return v
	}
	return parts[0] + "." + parts[1]
}

// matches reports whether v is what a release naming Ray ray and Python
// python (major.minor, as the catalog writes it) runs.
func (v Versions) matches(ray, python string) bool {
	return v.Ray == ray && (python == "" || pythonMinor(v.Python) == pythonMinor(python))
}

func (v Versions) String() string { return "Ray " + v.Ray + " on Python " + v.Python }

// probeVersions asks the Python interpreter behind a `ray` console script
// which Ray distribution it has and which Python it is. importlib.metadata
// reads the installed distribution's metadata without importing Ray, so it
// takes tens of milliseconds where `ray --version` takes over a second.
//
// pip writes console scripts with a "#!<interpreter>" first line (a venv's
// bin/python, or the system's); a script that is not such a file (a
// wrapper, a binary) cannot be asked, and the error says so.
func probeVersions(ctx context.Context, rayPath string) (Versions, error) {
	python, err := interpreterOf(rayPath)
	if err != nil {
		return Versions{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, python, "-c",
		"import importlib.metadata as m, platform; print(m.version('ray')); print(platform.python_version())").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && len(ee.Stderr) > 0 {
			err = fmt.Errorf("%w: %s", err, lastNonEmpty(string(ee.Stderr)))
		}
		return Versions{}, fmt.Errorf("ask %s for its Ray version: %w", python, err)
	}
	lines := strings.Fields(string(out))
	if len(lines) != 2 {
		return Versions{}, fmt.Errorf("ask %s for its Ray version: unexpected answer %q", python, out)
	}
	return Versions{Ray: lines[0], Python: lines[1]}, nil
}

// interpreterOf reads the "#!" line of a console script.
func interpreterOf(script string) (string, error) {
	f, err := os.Open(script)
	if err != nil {
		return "", err
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil && line == "" {
		return "", fmt.Errorf("%s: cannot read its first line: %w", script, err)
	}
	if !strings.HasPrefix(line, "#!") {
		return "", fmt.Errorf("%s is not a Python console script (no #! line), so its Ray version cannot be told", script)
	}
	fields := strings.Fields(strings.TrimPrefix(line, "#!"))
	if len(fields) == 0 {
		return "", fmt.Errorf("%s: empty #! line", script)
	}
	// "#!/usr/bin/env python3" names the interpreter through env.
	if strings.HasSuffix(fields[0], "/env") && len(fields) > 1 {
		return exec.LookPath(fields[len(fields)-1])
	}
	return fields[0], nil
}

func lastNonEmpty(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// versionCache remembers what each executable runs, keyed by its path and
// modification time, so a reinstall is seen and a steady one is asked once.
type versionCache struct {
	probe func(ctx context.Context, rayPath string) (Versions, error)

	mu   sync.Mutex
	seen map[string]cachedVersions
}

type cachedVersions struct {
	mtime time.Time
	v     Versions
	err   error
}

func (vc *versionCache) get(ctx context.Context, rayPath string) (Versions, error) {
	var mtime time.Time
	if fi, err := os.Stat(rayPath); err == nil {
		mtime = fi.ModTime()
	}
	vc.mu.Lock()
	c, ok := vc.seen[rayPath]
	vc.mu.Unlock()
	if ok && c.mtime.Equal(mtime) {
		return c.v, c.err
	}
	v, err := vc.probe(ctx, rayPath)
	if ctx.Err() != nil {
		return v, err // not the executable's fault; ask again next time
	}
	vc.mu.Lock()
	if vc.seen == nil {
		vc.seen = map[string]cachedVersions{}
	}
	vc.seen[rayPath] = cachedVersions{mtime: mtime, v: v, err: err}
	vc.mu.Unlock()
	return v, err
}
