package local

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/reconcile"
)

// Apply makes the nodes of c's current instance match c.RunningSpec: it
// starts the head if the instance has none, then, once the head's GCS
// accepts connections, starts missing workers and stops extra ones
// (highest index first). A head that exited is never restarted: Observe
// reports it as the Failure. A worker that exited is restarted after a
// back-off. A missing ray executable or a spec Ray cannot take is not an
// error of Apply: Observe reports it as the Failure. Apply never waits for
// a node to come up; the reconciler calls it again.
func (r *Runtime) Apply(ctx context.Context, c *rayfleet.Cluster) error {
	if err := checkIDs(c, true); err != nil {
		return err
	}
	cs := r.cluster(c.ID)
	if cs == nil {
		return errClosed
	}
	cs.op.Lock()
	defer cs.op.Unlock()

	// Spec errors are found again at every Apply, so a fixed spec (at the
	// next instance) clears them.
	r.mu.Lock()
	cs.specFailure, cs.failureInstance = specProblem(c), c.InstanceID
	head := cs.nodes[c.InstanceID+"/"+headNodeName(c.ID)]
	var headCopy record
	if head != nil {
		headCopy = *head
	}
	r.mu.Unlock()

	if head == nil {
		ray, v, ok := r.lookRay(ctx, cs, c)
		if !ok {
			return nil
		}
		return r.start(cs, c, headSpec(c), ray, v, nil, "", newAuthToken())
	}
	if !headCopy.running() {
		return nil
	}

	starts, removable := r.planWorkers(cs, c)
	if err := r.removeGone(cs, removable); err != nil {
		return err
	}
	if len(starts) == 0 {
		return nil
	}
	gcs := net.JoinHostPort(r.cfg.Host, strconv.Itoa(headCopy.Ports.GCS))
	if !dialable(ctx, gcs) {
		// The head is still coming up; the watcher wakes the reconciler
		// once its GCS answers, and that Apply starts them.
		r.mu.Lock()
		cs.gcsWait, cs.gcsRef = gcs, reconcile.Ref{AccountID: c.AccountID, WorkspaceID: c.WorkspaceID, ID: c.ID}
		r.mu.Unlock()
		return nil
	}
	ray, v, ok := r.lookRay(ctx, cs, c)
	if !ok {
		return nil
	}
	var errs []error
	for _, s := range starts {
		errs = append(errs, r.start(cs, c, s.spec, ray, v, s.prev, gcs, headCopy.AuthToken))
	}
	return errors.Join(errs...)
}

// specProblem returns why Ray cannot take c's running spec ("" if it can).
func specProblem(c *rayfleet.Cluster) string {
	nodes := []nodeSpec{headSpec(c)}
	for _, w := range c.RunningSpec.Workers {
		nodes = append(nodes, workerSpec(c, w, 0))
	}
	for _, n := range nodes {
		if _, err := rayfleet.SplitRayStartParams(n.params); err != nil {
			return fmt.Sprintf("%s.rayStartParams %s", n.field(), err)
		}
		if _, err := rayfleet.ParseEnv(n.env); err != nil {
			return fmt.Sprintf("%s.env %s", n.field(), err)
		}
	}
	return ""
}

// lookRay finds the ray executable now, so that installing Ray needs no
// restart of rayfleet, and checks that it runs the Ray and Python versions
// c's releases name: a cluster never runs another version silently. When
// it cannot, the instance gets a Failure that says what to do.
func (r *Runtime) lookRay(ctx context.Context, cs *clusterState, c *rayfleet.Cluster) (string, Versions, bool) {
	r.setWaiting(cs, "")
	name := r.cfg.RayPath
	if name == "" {
		name = "ray"
	}
	path, err := exec.LookPath(name)
	if err != nil && r.envs == nil {
		where := fmt.Sprintf("%q is not in PATH=%q", name, os.Getenv("PATH"))
		if r.cfg.RayPath != "" {
			where = fmt.Sprintf("%s: %v", r.cfg.RayPath, errors.Unwrap(err))
		}
		r.setRayProblem(cs, c.InstanceID, fmt.Sprintf("the ray executable was not found on PATH (or --ray-path): %s; "+
			"install Ray on this machine with `pip install \"ray[default]\"`, then start the cluster again", where))
		return "", Versions{}, false
	}
	var v Versions
	if err == nil {
		if v, err = r.versions.get(ctx, path); err != nil && r.envs == nil {
			r.setRayProblem(cs, c.InstanceID, fmt.Sprintf("cannot tell which Ray version %s runs (%v); "+
				"point --ray-path at the ray of a Python environment with Ray installed, then start the cluster again", path, err))
			return "", Versions{}, false
		}
	}
	msg := "no ray executable"
	if err == nil {
		msg = r.versionProblem(c, path, v)
	}
	if msg != "" && r.envs != nil {
		// The release's own environment, made under the data directory.
		ray, python, why := r.oneRelease(c)
		if why != "" {
			r.setRayProblem(cs, c.InstanceID, why)
			return "", Versions{}, false
		}
		envRay, progress, err := r.envs.get(ray, python, reconcile.Ref{AccountID: c.AccountID, WorkspaceID: c.WorkspaceID, ID: c.ID})
		switch {
		case err != nil:
			r.setRayProblem(cs, c.InstanceID, err.Error())
			return "", Versions{}, false
		case progress != "":
			r.setRayProblem(cs, c.InstanceID, "")
			r.setWaiting(cs, progress)
			return "", Versions{}, false
		}
		path = envRay
		if v, err = r.versions.get(ctx, path); err != nil {
			r.setRayProblem(cs, c.InstanceID, fmt.Sprintf("the environment made for release Ray %s, Python %s does not run: %v", ray, python, err))
			return "", Versions{}, false
		}
		msg = r.versionProblem(c, path, v)
	}
	if msg != "" {
		r.setRayProblem(cs, c.InstanceID, msg)
		return "", Versions{}, false
	}
	r.setRayProblem(cs, c.InstanceID, "")
	return path, v, true
}

// oneRelease returns the Ray and Python versions every release of c names:
// a local cluster's nodes run one environment.
func (r *Runtime) oneRelease(c *rayfleet.Cluster) (ray, python, why string) {
	if r.cfg.Release == nil {
		return "", "", "no release catalog to make an environment from"
	}
	ray, python, ok := r.cfg.Release(c.RunningSpec.ReleaseVersion)
	if !ok {
		return "", "", fmt.Sprintf("release version %q is not in this server's catalog", c.RunningSpec.ReleaseVersion)
	}
	for _, w := range c.RunningSpec.Workers {
		if w.ReleaseVersion == "" {
			continue
		}
		wr, wp, ok := r.cfg.Release(w.ReleaseVersion)
		if !ok || wr != ray || wp != python {
			return "", "", fmt.Sprintf("worker group %q names release %q and the head %q: the local runtime runs one Ray for all the nodes of a cluster",
				w.GroupName, w.ReleaseVersion, c.RunningSpec.ReleaseVersion)
		}
	}
	return ray, python, ""
}

func (r *Runtime) setWaiting(cs *clusterState, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cs.waiting = msg
}

func (r *Runtime) setRayProblem(cs *clusterState, instance, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cs.rayProblem = msg
	if msg != "" {
		cs.failureInstance = instance
	}
}

// versionProblem returns why the ray at path, running v, cannot run c ("" if
// it can): a release of c names another Ray or Python version. It names
// both, and a release of the catalog that matches what is installed.
func (r *Runtime) versionProblem(c *rayfleet.Cluster, path string, v Versions) string {
	if r.cfg.Release == nil {
		return ""
	}
	releases := []string{c.RunningSpec.ReleaseVersion}
	for _, w := range c.RunningSpec.Workers {
		if w.ReleaseVersion != "" && w.ReleaseVersion != releases[0] {
			releases = append(releases, w.ReleaseVersion)
		}
	}
	for _, rel := range releases {
		ray, python, ok := r.cfg.Release(rel)
		if !ok {
			return fmt.Sprintf("release version %q is not in this server's catalog; pick one of `rayfleet release-version list`", rel)
		}
		if v.matches(ray, python) {
			continue
		}
		msg := fmt.Sprintf("release %q runs Ray %s on Python %s, but %s is %s; the local runtime never runs another version", rel, ray, python, path, v)
		if r.cfg.ReleaseFor != nil {
			if other := r.cfg.ReleaseFor(v.Ray, pythonMinor(v.Python)); other != "" {
				msg += fmt.Sprintf(": update the cluster to release %q", other)
				msg += fmt.Sprintf(", or install Ray %s for Python %s and point --ray-path at its ray", ray, python)
				return msg
			}
		}
		return msg + fmt.Sprintf(": install Ray %s for Python %s (`python%s -m venv <dir> && <dir>/bin/pip install \"ray[default]==%s\"`) and point --ray-path at <dir>/bin/ray",
			ray, python, python, ray)
	}
	return ""
}

// dialable reports whether addr accepts TCP connections.
func dialable(ctx context.Context, addr string) bool {
	d := net.Dialer{Timeout: time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// startItem is a worker to start: prev is the record of the same slot whose
// process exited, if any.
type startItem struct {
	spec nodeSpec
	prev *record
}

// Restart back-off of a worker that keeps exiting: 5s, doubling per
// restart up to 5 minutes, forgotten once a run lasted restartReset.
const (
	restartBase  = 5 * time.Second
	restartMax   = 5 * time.Minute
	restartReset = 10 * time.Minute
)

func restartDelay(rec *record) time.Duration {
	if rec.StopReason == stopScaleDown || rec.Ended.Sub(rec.Started) >= restartReset {
		return 0
	}
	return min(restartBase<<min(rec.Restarts, 6), restartMax)
}

// planWorkers compares the workers of c's instance with the spec: it asks
// extra ones to stop (SIGTERM now, SIGKILL from the watcher after Grace),
// returns the workers to start, and the exited extra ones to forget.
// Worker i of a group of Replica n exists for i < n, like a StatefulSet's
// pods, so scaling down stops the highest indexes.
func (r *Runtime) planWorkers(cs *clusterState, c *rayfleet.Cluster) ([]startItem, []record) {
	now := r.cfg.Now()
	want := map[string]int{}
	for _, w := range c.RunningSpec.Workers {
		want[w.GroupName] = int(w.Replica)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var extra []*record
	var removable []record
	for _, rec := range cs.nodes {
		if rec.Instance != c.InstanceID || rec.Type != typeWorker || rec.Index < want[rec.Group] {
			continue
		}
		switch {
		case rec.running() && rec.StopReason == "":
			extra = append(extra, rec)
		case rec.Exited:
			removable = append(removable, *rec)
		}
	}
	sort.Slice(extra, func(i, j int) bool {
		if extra[i].Group != extra[j].Group {
			return extra[i].Group < extra[j].Group
		}
		return extra[i].Index > extra[j].Index
	})
	for _, rec := range extra {
		rec.StopReason, rec.StopTime = stopScaleDown, now
		r.saveLocked(rec)
		signalNode(rec, r.bootID, nil, syscall.SIGTERM)
		r.cfg.Logger.Info("local runtime: scaling down", "node", rec.Node)
	}
	var starts []startItem
	for _, w := range c.RunningSpec.Workers {
		for i := range int(w.Replica) {
			rec := cs.nodes[c.InstanceID+"/"+workerNodeName(c.ID, w.GroupName, i)]
			switch {
			case rec == nil:
				starts = append(starts, startItem{spec: workerSpec(c, w, i)})
			case rec.Exited && now.Sub(rec.Ended) >= restartDelay(rec):
				prev := *rec
				starts = append(starts, startItem{spec: workerSpec(c, w, i), prev: &prev})
			}
		}
	}
	return starts, removable
}

// removeGone forgets exited workers that were scaled away once nothing of
// their process group is left (the log stays), and hurries what is left.
func (r *Runtime) removeGone(cs *clusterState, recs []record) error {
	if len(recs) == 0 {
		return nil
	}
	procs := scanProcs()
	now := r.cfg.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range recs {
		if !r.groupGone(&recs[i], procs, now) {
			continue
		}
		rec := cs.nodes[recs[i].key()]
		if rec == nil || !rec.Exited {
			continue
		}
		if err := r.files.remove(rec); err != nil {
			return err
		}
		delete(cs.nodes, rec.key())
	}
	return nil
}

// groupGone reports whether nothing of rec's process group is left, and
// signals what is: SIGTERM, or SIGKILL once its grace period is over.
func (r *Runtime) groupGone(rec *record, procs []procEntry, now time.Time) bool {
	left := members(procs, rec, r.bootID)
	if len(left) == 0 {
		return true
	}
	sig := syscall.SIGTERM
	if !rec.StopTime.IsZero() && now.Sub(rec.StopTime) >= r.cfg.Grace {
		sig = syscall.SIGKILL
	}
	for _, pid := range left {
		_ = syscall.Kill(pid, sig)
	}
	return false
}

// takenLocked returns the ports held by every node that may still run.
func (r *Runtime) takenLocked() map[int]bool {
	taken := map[int]bool{}
	for _, cs := range r.clusters {
		for _, rec := range cs.nodes {
			if rec.live() {
				for _, p := range rec.Ports.list() {
					taken[p] = true
				}
			}
		}
	}
	return taken
}

// start starts one node: its record is written (without a pid) before the
// process exists and again with the pid once it does. A process that
// cannot be started is recorded as exited (Reason StartError), which for
// the head is the Failure Observe reports.
func (r *Runtime) start(cs *clusterState, c *rayfleet.Cluster, n nodeSpec, ray string, v Versions, prev *record, gcs, token string) error {
	now := r.cfg.Now()
	tempDir := tempDirFor(r.cfg.TempRoot, c.ID, c.InstanceID, n.name)
	marker := c.ID + "/" + c.InstanceID + "/" + n.name
	// The Prometheus setting goes with the server's environment, under the
	// spec's env lines: a cluster may point its dashboard elsewhere.
	base := append(withPath(os.Environ(), filepath.Dir(ray)), prometheusEnv(n.typ, r.cfg.PrometheusURL)...)
	env, err := nodeEnv(base, n, marker, token)
	if err != nil {
		return nil // specProblem reported it
	}
	gpus := 0
	if r.cfg.GPUs != nil && n.gpu != "" {
		gpus = r.cfg.GPUs(n.gpu)
	}

	r.mu.Lock()
	ports, err := newPortAllocator(r.takenLocked()).ports(n.typ == typeHead)
	if err != nil {
		r.mu.Unlock()
		return fmt.Errorf("local runtime: start %s: %w", n.name, err)
	}
	args, err := rayArgs(n, ports, r.cfg.Host, gcs, tempDir, gpus)
	if err != nil {
		r.mu.Unlock()
		return nil // specProblem reported it
	}
	rec := &record{
		Cluster: c.ID, AccountID: c.AccountID, WorkspaceID: c.WorkspaceID, Instance: c.InstanceID,
		Node: n.name, Type: n.typ, Group: n.group, Index: n.index,
		Ports: ports, TempDir: tempDir, Args: append([]string{ray}, args...),
		Log: r.files.logPath(c.ID, c.InstanceID, n.name), Created: now,
		AuthToken: token, RayVersion: v.Ray, PythonVersion: v.Python,
	}
	switch {
	case prev == nil:
	case prev.StopReason == stopScaleDown:
		rec.Restarts = prev.Restarts // scaled down and up again: no crash
	case prev.Ended.Sub(prev.Started) >= restartReset:
		rec.Restarts = 1
	default:
		rec.Restarts = prev.Restarts + 1
	}
	// Without its record on disk a crash would leave a process nobody can
	// find, so no record, no process.
	if err := r.files.write(rec); err != nil {
		r.mu.Unlock()
		return fmt.Errorf("local runtime: start %s: %w", n.name, err)
	}
	cs.nodes[rec.key()] = rec
	r.mu.Unlock()

	pid, st, err := r.launch(rec, env)

	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		rec.exited(-1, "StartError", err.Error(), r.cfg.Now())
		r.cfg.Logger.Error("local runtime: start node", "node", rec.Node, "err", err)
	} else {
		rec.PID, rec.PGID, rec.ProcStart, rec.BootID, rec.Started = pid, st.pgid, st.start, r.bootID, r.cfg.Now()
		r.cfg.Logger.Info("local runtime: started node", "node", rec.Node, "pid", pid)
	}
	r.saveLocked(rec)
	return nil
}

// launch prepares the node's directories and starts its process.
func (r *Runtime) launch(rec *record, env []string) (int, procStat, error) {
	if err := os.MkdirAll(rec.TempDir, 0o700); err != nil {
		return 0, procStat{}, fmt.Errorf("create Ray temp directory: %w", err)
	}
	link := r.files.tempLink(rec.Cluster, rec.Instance, rec.Node)
	_ = os.Remove(link)
	if err := os.Symlink(rec.TempDir, link); err != nil {
		r.cfg.Logger.Warn("local runtime: link Ray temp directory", "node", rec.Node, "err", err)
	}
	dir := r.files.instanceDir(rec.Cluster, rec.Instance)
	return startProcess(rec.Args, env, dir, rec.Log)
}
