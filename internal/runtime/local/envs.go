package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rayfleet/rayfleet/internal/reconcile"
)

// releaseEnvs makes one Python environment per Ray and Python version
// under DataDir/ray-envs, with `python<X.Y> -m venv` and pip, when a
// cluster's release names a Ray the configured executable does not run
// (Config.ReleaseEnvs). Each is made once, in the background, and reused;
// the clusters that wait for one show its progress and are woken when it
// is done. A failed one is not kept: the next start tries again.
type releaseEnvs struct {
	root   string
	now    func() time.Time
	waker  reconcile.Waker
	logger interface{ Info(string, ...any) }
	// make builds the environment in dir; its output goes to log. Tests
	// replace it.
	make func(ctx context.Context, python, ray, dir string, log *os.File) error

	mu   sync.Mutex
	jobs map[string]*envJob
}

type envJob struct {
	started time.Time
	done    bool
	err     error
	waiting map[reconcile.Ref]bool
}

// envDir names the environment of Ray ray on Python python (major.minor).
func (e *releaseEnvs) envDir(ray, python string) string {
	return filepath.Join(e.root, "ray-"+ray+"-py"+python)
}

// get returns the ray executable of the environment for ray and python
// once it is made; until then "" and a progress message, and the cluster
// ref is woken when it is done. A failure is returned once, as err.
func (e *releaseEnvs) get(ray, python string, ref reconcile.Ref) (path, progress string, err error) {
	dir := e.envDir(ray, python)
	bin := filepath.Join(dir, "bin", "ray")
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		return bin, "", nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.jobs == nil {
		e.jobs = map[string]*envJob{}
	}
	j := e.jobs[dir]
	switch {
	case j != nil && j.done && j.err != nil:
		delete(e.jobs, dir)
		return "", "", j.err
	case j != nil && j.done:
		return bin, "", nil
	case j == nil:
		j = &envJob{started: e.now(), waiting: map[reconcile.Ref]bool{}}
		e.jobs[dir] = j
		go e.build(j, python, ray, dir)
	}
	j.waiting[ref] = true
	return "", fmt.Sprintf("making a Python environment with Ray %s for Python %s in %s (%s so far; pip's log: %s.log)",
		ray, python, dir, e.now().Sub(j.started).Round(time.Second), dir), nil
}

func (e *releaseEnvs) build(j *envJob, python, ray, dir string) {
	err := func() error {
		if err := os.MkdirAll(e.root, 0o755); err != nil {
			return err
		}
		log, err := os.Create(dir + ".log")
		if err != nil {
			return err
		}
		defer log.Close()
		_ = os.RemoveAll(dir) // an interrupted earlier attempt
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		defer cancel()
		if err := e.make(ctx, python, ray, dir, log); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, ".complete"), []byte(e.now().UTC().Format(time.RFC3339)+"\n"), 0o644)
	}()
	if err != nil {
		err = fmt.Errorf("could not make a Python environment with Ray %s for Python %s in %s: %w; "+
			"install it yourself and point --ray-path at its ray, or pick a release of the installed Ray", ray, python, dir, err)
	}
	e.logger.Info("local runtime: release environment", "dir", dir, "err", err)
	e.mu.Lock()
	j.done, j.err = true, err
	waiting := j.waiting
	j.waiting = nil
	e.mu.Unlock()
	if e.waker != nil {
		for ref := range waiting {
			e.waker.Wake(ref)
		}
	}
}

// pipEnv makes dir with python<X.Y> -m venv and pip install ray[default].
func pipEnv(ctx context.Context, python, ray, dir string, log *os.File) error {
	exe, err := exec.LookPath("python" + python)
	if err != nil {
		return fmt.Errorf("no python%s on PATH to make it with", python)
	}
	for _, argv := range [][]string{
		{exe, "-m", "venv", dir},
		{filepath.Join(dir, "bin", "pip"), "install", "--disable-pip-version-check", "--progress-bar", "off", "ray[default]==" + ray},
	} {
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Run(); err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return fmt.Errorf("%s: %w: %s", strings.Join(argv[:2], " "), err, lastLine(log.Name()))
			}
			return err
		}
	}
	return nil
}
