package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/reconcile"
)

// Config configures a Runtime. Zero values take the defaults noted.
type Config struct {
	// DataDir is rayfleet's data directory; the runtime keeps its state
	// and the nodes' logs under DataDir/local/.
	DataDir string
	// RayPath is the ray executable; "" looks "ray" up on PATH at each
	// Apply, so installing Ray later works without a restart.
	RayPath string
	// Host is the address nodes use and announce; default 127.0.0.1.
	Host string
	// GPUs returns the GPU count of a gpuSpec (from the configured table);
	// nil means 0.
	GPUs func(gpuSpec string) int
	// Release returns the Ray and Python (major.minor) versions a release
	// version names; nil checks no versions. ReleaseFor returns the display
	// name of a release that names the given versions, "" if none does,
	// for the message that says what to do instead.
	Release    func(display string) (ray, python string, ok bool)
	ReleaseFor func(ray, python string) string
	// ReleaseEnvs, when true, makes the environment of a release whose Ray
	// or Python version the ray executable does not run (one per version,
	// under DataDir/ray-envs, with python<X.Y> -m venv and pip) instead of
	// refusing to start it.
	ReleaseEnvs bool
	// PrometheusURL, if set, is the Prometheus server the heads' dashboards
	// query (RAY_PROMETHEUS_HOST). Set or not, the runtime keeps a file_sd
	// list of every running node's metrics port for one to scrape
	// (DataDir/local/prometheus/targets.json).
	PrometheusURL string
	// Versions tells which Ray and Python versions a ray executable runs;
	// nil asks its Python interpreter (probeVersions).
	Versions func(ctx context.Context, rayPath string) (Versions, error)
	// Grace is how long a node has between SIGTERM and SIGKILL; default 10s.
	Grace time.Duration
	// ProbeTimeout bounds the head's dashboard probe; default 2s.
	ProbeTimeout time.Duration
	// TempRoot is where the nodes' Ray temp directories go; default /tmp.
	// Keep it short: Ray's unix socket paths live under it.
	TempRoot string
	Logger   *slog.Logger
	// Waker, if not nil, is told when a node's process ends. Wake must not
	// block.
	Waker reconcile.Waker
	Now   func() time.Time
}

// pollInterval is how often the watcher looks at the nodes' processes.
const pollInterval = 250 * time.Millisecond

// Runtime runs clusters as local ray processes. It implements
// reconcile.Runtime.
type Runtime struct {
	cfg    Config
	files  layout
	bootID string
	homeID string // see Home
	probe  *http.Client

	versions versionCache
	envs     *releaseEnvs // nil unless Config.ReleaseEnvs

	// targets is the watcher's once New has written it.
	targets targetsWriter

	mu       sync.Mutex
	clusters map[string]*clusterState // by cluster id
	closed   bool

	stop chan struct{}
	done chan struct{}
}

var _ reconcile.Runtime = (*Runtime)(nil)

// clusterState is what the runtime holds for one cluster.
type clusterState struct {
	// op serializes Apply, Suspend and Delete of the cluster (taken before
	// Runtime.mu, never while holding it): two Applies must not both see
	// the head missing and start two.
	op sync.Mutex

	// The fields below are guarded by Runtime.mu.
	nodes map[string]*record // by record.key()
	// rayProblem and specFailure say why the instance failureInstance
	// cannot start: no ray executable, or one of another Ray version than
	// its release, or a spec Ray cannot take. They are not
	// persisted: Apply finds them again after a restart.
	rayProblem, specFailure, failureInstance string
	// waiting is what the current instance waits for before its head can
	// start (a release environment being made); not persisted either.
	waiting string
	// gcsWait is the head's GCS address when an Apply found it refusing
	// connections with workers to start: the watcher wakes the reconciler
	// (gcsRef) once it accepts them and clears it, rather than leaving the
	// workers to the next pass, up to a second later.
	gcsWait string
	gcsRef  reconcile.Ref
}

// New reads the state left by earlier runtimes on cfg.DataDir, adopts the
// nodes that still run, records the others as lost, and starts watching.
func New(cfg Config) (*Runtime, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("local runtime: DataDir is required")
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.Grace <= 0 {
		cfg.Grace = 10 * time.Second
	}
	if cfg.ProbeTimeout <= 0 {
		cfg.ProbeTimeout = 2 * time.Second
	}
	if cfg.TempRoot == "" {
		cfg.TempRoot = "/tmp"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Versions == nil {
		cfg.Versions = probeVersions
	}
	r := &Runtime{
		cfg:      cfg,
		versions: versionCache{probe: cfg.Versions},
		files:    layout{root: filepath.Join(cfg.DataDir, "local")},
		bootID:   readBootID(),
		// No keep-alive: probes are seconds apart and each head is probed
		// alone; idle connections would only pile up.
		probe:    &http.Client{Timeout: cfg.ProbeTimeout, Transport: &http.Transport{DisableKeepAlives: true}},
		clusters: map[string]*clusterState{},
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	if cfg.ReleaseEnvs {
		r.envs = &releaseEnvs{root: filepath.Join(cfg.DataDir, "ray-envs"), now: cfg.Now, waker: cfg.Waker, logger: cfg.Logger, make: pipEnv}
	}
	if err := os.MkdirAll(r.files.clustersDir(), 0o700); err != nil {
		return nil, fmt.Errorf("local runtime: %w", err)
	}
	var err error
	if r.homeID, err = readHome(r.files.root); err != nil {
		return nil, fmt.Errorf("local runtime: %w", err)
	}
	if err := r.adopt(); err != nil {
		return nil, fmt.Errorf("local runtime: %w", err)
	}
	r.targets = targetsWriter{path: r.files.targetsPath(), logger: cfg.Logger}
	r.targets.update(r.scrapeTargets())
	go r.watch()
	return r, nil
}

// Close stops watching the nodes. It does not end them: they must survive
// a server restart, and the next Runtime adopts them.
func (r *Runtime) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	close(r.stop)
	<-r.done
	r.probe.CloseIdleConnections()
	return nil
}

var errClosed = errors.New("local runtime: closed")

// cluster returns the state of cluster id, creating it; nil once closed.
func (r *Runtime) cluster(id string) *clusterState {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	return r.clusterLocked(id)
}

func (r *Runtime) clusterLocked(id string) *clusterState {
	cs := r.clusters[id]
	if cs == nil {
		cs = &clusterState{nodes: map[string]*record{}}
		r.clusters[id] = cs
	}
	return cs
}

// snapshot returns copies of the records of cluster id, current instance
// first, then head first, then by group and index.
func (r *Runtime) snapshot(id, current string) []record {
	r.mu.Lock()
	defer r.mu.Unlock()
	cs := r.clusters[id]
	if cs == nil {
		return nil
	}
	out := make([]record, 0, len(cs.nodes))
	for _, rec := range cs.nodes {
		out = append(out, *rec)
	}
	sortRecords(out, current)
	return out
}

func sortRecords(recs []record, current string) {
	sort.Slice(recs, func(i, j int) bool {
		a, b := &recs[i], &recs[j]
		if (a.Instance == current) != (b.Instance == current) {
			return a.Instance == current
		}
		if a.Instance != b.Instance {
			return a.Created.Before(b.Created)
		}
		if (a.Type == typeHead) != (b.Type == typeHead) {
			return a.Type == typeHead
		}
		if a.Group != b.Group {
			return a.Group < b.Group
		}
		return a.Index < b.Index
	})
}

// ref names the cluster of rec for the Waker.
func (rec *record) ref() reconcile.Ref {
	return reconcile.Ref{AccountID: rec.AccountID, WorkspaceID: rec.WorkspaceID, ID: rec.Cluster}
}

// saveLocked writes rec, logging a failure: the in-memory record stays
// right, and the next write retries.
func (r *Runtime) saveLocked(rec *record) {
	if err := r.files.write(rec); err != nil {
		r.cfg.Logger.Error("local runtime: save node state", "node", rec.Node, "err", err)
	}
}

// checkIDs refuses ids that cannot name a directory.
func checkIDs(c *rayfleet.Cluster, needInstance bool) error {
	if !safeName(c.ID) {
		return fmt.Errorf("local runtime: cluster id %q cannot name a directory", c.ID)
	}
	if needInstance && !safeName(c.InstanceID) {
		return fmt.Errorf("local runtime: cluster %s: instance id %q cannot name a directory", c.ID, c.InstanceID)
	}
	return nil
}
