package local

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// recordFormat is bumped when a change to record would be misread by an
// older rayfleet.
const recordFormat = 1

// Node types, as rayfleet.Instance.Type shows them.
const (
	typeHead   = "Head"
	typeWorker = "Worker"
)

// Why a node was asked to stop.
const (
	stopSuspend   = "suspend"
	stopScaleDown = "scale-down"
)

// Ports are the ports a node was started with. Head-only ports are zero on
// workers.
type Ports struct {
	GCS          int `json:"gcs,omitempty"`
	Dashboard    int `json:"dashboard,omitempty"`
	ClientServer int `json:"clientServer,omitempty"`

	NodeManager          int `json:"nodeManager"`
	ObjectManager        int `json:"objectManager"`
	DashboardAgentListen int `json:"dashboardAgentListen"`
	DashboardAgentGRPC   int `json:"dashboardAgentGrpc"`
	MetricsExport        int `json:"metricsExport"`
	RuntimeEnvAgent      int `json:"runtimeEnvAgent"`
	MinWorker            int `json:"minWorker"`
	MaxWorker            int `json:"maxWorker"`
}

// list returns every port p holds, the worker range included.
func (p Ports) list() []int {
	out := []int{p.GCS, p.Dashboard, p.ClientServer, p.NodeManager, p.ObjectManager,
		p.DashboardAgentListen, p.DashboardAgentGRPC, p.MetricsExport, p.RuntimeEnvAgent}
	for q := p.MinWorker; q > 0 && q <= p.MaxWorker; q++ {
		out = append(out, q)
	}
	return out
}

// record is what the runtime keeps of one node, in memory and in
// DataDir/local/clusters/<cluster>/<instance>/<node>.json. It is written
// with PID 0 before the process starts and again with the pid right after,
// so a crash in between leaves a record that names the node; the process
// then carries the node's marker in its environment (see markerEnv).
type record struct {
	Format      int    `json:"format"`
	Cluster     string `json:"cluster"`
	AccountID   string `json:"accountId"`
	WorkspaceID string `json:"workspaceId"`
	Instance    string `json:"instance"`
	Node        string `json:"node"`
	Type        string `json:"type"`
	Group       string `json:"group,omitempty"`
	Index       int    `json:"index"`

	Ports    Ports     `json:"ports"`
	TempDir  string    `json:"tempDir"`
	Args     []string  `json:"args"`
	Log      string    `json:"log"`
	Restarts int       `json:"restarts,omitempty"`
	Created  time.Time `json:"createTime"`

	// AuthToken is Ray's token of the instance (every node of it carries
	// the same); RayVersion and PythonVersion are what its executable runs.
	AuthToken     string `json:"authToken,omitempty"`
	RayVersion    string `json:"rayVersion,omitempty"`
	PythonVersion string `json:"pythonVersion,omitempty"`
	// RayStarted is set once the node's log says "Ray runtime started.".
	RayStarted bool `json:"rayStarted,omitempty"`

	PID       int       `json:"pid,omitempty"`
	PGID      int       `json:"pgid,omitempty"`
	BootID    string    `json:"bootId,omitempty"`
	ProcStart uint64    `json:"procStart,omitempty"` // /proc/<pid>/stat starttime: ticks since boot
	Started   time.Time `json:"startTime,omitzero"`

	StopReason string    `json:"stopReason,omitempty"`
	StopTime   time.Time `json:"stopTime,omitzero"`
	KillSent   bool      `json:"killSent,omitempty"`

	Exited   bool      `json:"exited,omitempty"`
	ExitCode int       `json:"exitCode,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	Message  string    `json:"message,omitempty"`
	Ended    time.Time `json:"endTime,omitzero"`
}

// key names a record among those of its cluster.
func (rec *record) key() string { return rec.Instance + "/" + rec.Node }

// live reports whether the record's process may still run: started (or
// starting) and not seen to end.
func (rec *record) live() bool { return !rec.Exited }

// running reports whether the process was started and has not ended.
func (rec *record) running() bool { return rec.PID > 0 && !rec.Exited }

// marker is the value of markerEnv in the node's environment.
func (rec *record) marker() string { return rec.Cluster + "/" + rec.Instance + "/" + rec.Node }

// markerEnv is set in every node's environment so that a node whose pid
// was never recorded (rayfleet died between fork and write) can still be
// found, and so that members of a process group are known to be ours.
const markerEnv = "RAYFLEET_LOCAL_NODE"

// exited marks the record as ended now.
func (rec *record) exited(code int, reason, message string, now time.Time) {
	rec.Exited, rec.ExitCode, rec.Reason, rec.Message, rec.Ended = true, code, reason, message, now
}

// layout knows where things live under DataDir/local.
type layout struct{ root string }

func (l layout) clustersDir() string              { return filepath.Join(l.root, "clusters") }
func (l layout) clusterDir(cluster string) string { return filepath.Join(l.clustersDir(), cluster) }
func (l layout) instanceDir(cluster, instance string) string {
	return filepath.Join(l.clusterDir(cluster), instance)
}

func (l layout) statePath(rec *record) string {
	return filepath.Join(l.instanceDir(rec.Cluster, rec.Instance), rec.Node+".json")
}

func (l layout) logPath(cluster, instance, node string) string {
	return filepath.Join(l.instanceDir(cluster, instance), node+".log")
}

// tempLink is a symlink next to the log that points at the node's Ray temp
// directory: people find Ray's own logs through it, and Delete finds the
// directories to remove after the state files are gone.
func (l layout) tempLink(cluster, instance, node string) string {
	return filepath.Join(l.instanceDir(cluster, instance), node+".tmp")
}

// write stores rec atomically (temp file + rename), so a crash leaves the
// old record or the new one, never half of one. There is no fsync: the
// records must survive rayfleet dying, which the page cache does; after a
// machine crash every process is gone anyway and a torn record is read as
// lost (see load).
func (l layout) write(rec *record) error {
	rec.Format = recordFormat
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state of %s: %w", rec.Node, err)
	}
	path := l.statePath(rec)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	tmp := path + ".new"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write state of %s: %w", rec.Node, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write state of %s: %w", rec.Node, err)
	}
	return nil
}

func (l layout) remove(rec *record) error {
	err := os.Remove(l.statePath(rec))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove state of %s: %w", rec.Node, err)
	}
	return nil
}

// load reads every state file. A file that cannot be read or parsed still
// yields a record (named from its path, marked lost), so the cluster shows
// it and Suspend can clean it up; nothing is ever signalled on its behalf.
func (l layout) load(now time.Time) ([]*record, error) {
	paths, err := filepath.Glob(filepath.Join(l.clustersDir(), "*", "*", "*.json"))
	if err != nil {
		return nil, fmt.Errorf("list state files: %w", err)
	}
	var out []*record
	for _, path := range paths {
		instance := filepath.Base(filepath.Dir(path))
		cluster := filepath.Base(filepath.Dir(filepath.Dir(path)))
		node := strings.TrimSuffix(filepath.Base(path), ".json")
		rec := &record{}
		b, err := os.ReadFile(path)
		if err == nil {
			err = json.Unmarshal(b, rec)
		}
		if err == nil && rec.Format > recordFormat {
			err = fmt.Errorf("written by a newer rayfleet (format %d)", rec.Format)
		}
		if err != nil || rec.Cluster != cluster || rec.Instance != instance || rec.Node != node {
			why := "does not match its path"
			if err != nil {
				why = err.Error()
			}
			typ := typeWorker
			if node == cluster+"-head" {
				typ = typeHead
			}
			rec = &record{Cluster: cluster, Instance: instance, Node: node, Type: typ,
				Log: l.logPath(cluster, instance, node), Created: now}
			rec.exited(-1, "Lost", "lost: unreadable state file "+path+": "+why, now)
		}
		out = append(out, rec)
	}
	return out, nil
}

// safeName reports whether s can be one path component.
func safeName(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, "/\\\x00") && len(s) <= 200
}
