package logcollect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strings"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/keylock"
	"github.com/rayfleet/rayfleet/internal/rayjob"
)

// Putter stores an object whole (logstore.Store does).
type Putter interface {
	Put(ctx context.Context, key string, r io.Reader) error
}

// Defaults of a Collector's bounds.
const (
	DefaultMaxBytes        = 16 << 20
	DefaultMaxLines        = 200_000
	DefaultMaxFilesPerNode = 100
)

// Collector copies jobs' logs into a log store. Its zero bounds are the
// defaults; Store is required.
type Collector struct {
	Store  Putter
	Logger *slog.Logger
	// MaxBytes is how much of a file's end is kept.
	MaxBytes int
	// MaxLines is how many of a file's last lines are asked of a node.
	MaxLines int
	// MaxFilesPerNode bounds the files kept of one node in one collection.
	MaxFilesPerNode int

	// jobs serialises the collections of one job.
	jobs keylock.Set
}

// Collect copies job j's logs from head, the client of its cluster's head,
// into the store: the driver's log and the chosen files of every node
// alive now (see the package's doc). Each file replaces its copy of an
// earlier call; a file that cannot be read now keeps that copy, so logs of
// a node that died since stay as last collected. Collections of one job
// wait for each other, so an older copy never lands over a newer. The
// error joins what failed; everything else was stored.
func (c *Collector) Collect(ctx context.Context, j rayfleet.Job, head rayjob.Client) error {
	defer c.jobs.Lock(j.ID)()
	var errs []error
	info, infoErr := head.Job(ctx, j.ID)
	if err := c.driver(ctx, &j, &head, info, infoErr); err != nil {
		errs = append(errs, err)
	}
	nodes, err := head.Nodes(ctx)
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("job %s: list the cluster's nodes: %w", j.ID, err))...)
	}
	// The workers that ran the job's tasks, by node; without them only
	// the workers started for the job itself are told.
	workers := map[string]map[string]bool{}
	if infoErr == nil && info.JobID != "" {
		tw, err := head.JobWorkers(ctx, info.JobID)
		if err != nil {
			errs = append(errs, fmt.Errorf("job %s: list the workers of its tasks: %w", j.ID, err))
		}
		for _, w := range tw {
			if workers[w.NodeID] == nil {
				workers[w.NodeID] = map[string]bool{}
			}
			workers[w.NodeID][w.WorkerID] = true
		}
	}
	for _, n := range nodes {
		if n.State != rayjob.NodeAlive {
			continue
		}
		if err := c.node(ctx, &j, &head, n, info.JobID, workers[n.NodeID]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// JobEnded is Collect for a job Ray reports ended, the runner's hook: what
// fails is logged, not returned.
func (c *Collector) JobEnded(ctx context.Context, j rayfleet.Job, head rayjob.Client) {
	if err := c.Collect(ctx, j, head); err != nil && c.Logger != nil {
		c.Logger.WarnContext(ctx, "some of the logs of an ended job were not kept", "submissionId", j.ID, "workspaceId", j.WorkspaceID, "err", err.Error())
	}
}

// driver keeps the driver's log: the job API's answer, else (a log too
// long for it, say) the tail of the file on the driver's node.
func (c *Collector) driver(ctx context.Context, j *rayfleet.Job, head *rayjob.Client, info rayjob.JobInfo, infoErr error) error {
	key := rayfleet.JobDriverLogKey(j)
	logs, err := head.Logs(ctx, j.ID)
	if err == nil {
		return c.put(ctx, key, c.tail([]byte(logs), len(logs)))
	}
	if errors.Is(err, rayjob.ErrNotFound) || infoErr != nil || !nodeID.MatchString(info.DriverNodeID) {
		return fmt.Errorf("job %s: read the driver's log: %w", j.ID, err)
	}
	data, ferr := c.file(ctx, head, info.DriverNodeID, "job-driver-"+j.ID+".log")
	if ferr != nil {
		return fmt.Errorf("job %s: read the driver's log: %w (and from its node: %w)", j.ID, err, ferr)
	}
	return c.put(ctx, key, data)
}

// nodeID is what a node id must look like to name a directory: Ray's are
// 56 hex digits.
var nodeID = regexp.MustCompile(`^[0-9a-f]{8,128}$`)

// plainName is a file name of the top of a log directory.
var plainName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$`)

// node keeps the chosen files of one node.
func (c *Collector) node(ctx context.Context, j *rayfleet.Job, head *rayjob.Client, n rayjob.Node, rayJobID string, workers map[string]bool) error {
	if !nodeID.MatchString(n.NodeID) {
		return fmt.Errorf("job %s: the head names a node %q, which is no node id", j.ID, n.NodeID)
	}
	files, err := head.NodeLogFiles(ctx, n.NodeID)
	if err != nil {
		return fmt.Errorf("job %s: list the logs of node %s: %w", j.ID, n.NodeID, err)
	}
	chosen := choose(files, rayJobID, workers)
	if limit := orDefault(c.MaxFilesPerNode, DefaultMaxFilesPerNode); len(chosen) > limit {
		chosen = chosen[:limit]
	}
	var errs []error
	for _, f := range chosen {
		data, err := c.file(ctx, head, n.NodeID, f)
		if err == nil {
			err = c.put(ctx, rayfleet.JobNodeLogKey(j, n.NodeID, n.IsHead, f), data)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("job %s: log %s of node %s: %w", j.ID, f, n.NodeID, err))
		}
	}
	return errors.Join(errs...)
}

// kept are the files kept of every node, by name and extension.
var kept = map[string][]string{
	"raylet": {"out", "err"}, "gcs_server": {"out", "err"}, "monitor": {"log", "out", "err"},
	"dashboard": {"log", "out", "err"}, "dashboard_agent": {"log", "out", "err"}, "dashboard_JobHead": {"log", "out", "err"},
	"runtime_env_agent": {"log"},
}

// choose picks, in name order, the files of a node's log directory kept
// for a job: those of kept, and of the job's own, the setup of its runtime
// environment and the output of its workers: those Ray started for the job
// (named after rayJob, its hex id, "" while Ray has given it none) and
// those its tasks ran on (workers, by worker id).
func choose(files []string, rayJob string, workers map[string]bool) []string {
	var out []string
	for _, f := range files {
		if !plainName.MatchString(f) {
			continue // directories (events/, old/) and anything odd
		}
		dot := strings.LastIndexByte(f, '.')
		if dot < 0 {
			continue
		}
		base, ext := f[:dot], f[dot+1:]
		keep := slices.Contains(kept[base], ext)
		switch {
		case keep:
		case rayJob != "" && f == "runtime_env_setup-"+rayJob+".log":
			keep = true
		case strings.HasPrefix(base, "worker-") && (ext == "out" || ext == "err"):
			// worker-<workerId>-<jobId>-<pid>
			parts := strings.Split(base, "-")
			keep = len(parts) == 4 && (rayJob != "" && parts[2] == rayJob || workers[parts[1]])
		}
		if keep {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// maxRead bounds what is read of one file asked for its last MaxLines
// lines, against a head that would stream for ever.
const maxRead = 256 << 20

// file reads the tail of one file of a node's log directory.
func (c *Collector) file(ctx context.Context, head *rayjob.Client, node, name string) ([]byte, error) {
	t := &tailBuffer{max: orDefault(c.MaxBytes, DefaultMaxBytes), left: maxRead}
	if err := head.NodeLog(ctx, node, name, orDefault(c.MaxLines, DefaultMaxLines), t); err != nil {
		return nil, err
	}
	return c.tail(t.buf, t.total), nil
}

// tail keeps the end of a log of total bytes, of which data is the end:
// its last MaxBytes, from the first whole line (data holds, when it was
// cut, the byte before them too), after a line that says what was left
// out.
func (c *Collector) tail(data []byte, total int) []byte {
	limit := orDefault(c.MaxBytes, DefaultMaxBytes)
	if len(data) <= limit {
		return data
	}
	cut := len(data) - limit
	if data[cut-1] != '\n' {
		if i := bytes.IndexByte(data[cut:], '\n'); i >= 0 && cut+i+1 < len(data) {
			cut += i + 1
		}
	}
	kept := data[cut:]
	note := fmt.Sprintf("[rayfleet kept the last %d bytes of this log; the %d before them were left out]\n", len(kept), total-len(kept))
	return append([]byte(note), kept...)
}

func (c *Collector) put(ctx context.Context, key string, data []byte) error {
	if err := rayfleet.ValidLogKey(key); err != nil {
		return fmt.Errorf("log key %q: %w", key, err)
	}
	return c.Store.Put(ctx, key, bytes.NewReader(data))
}

func orDefault(n, def int) int {
	if n > 0 {
		return n
	}
	return def
}

// tailBuffer is a writer that keeps the end of what is written to it: at
// least the last max+1 bytes (the one before the last max tells tail
// whether they begin a line), at most twice that, and refuses more than
// left bytes in all.
type tailBuffer struct {
	max, left, total int
	buf              []byte
}

var errTooLong = errors.New("the head sent more than its last lines could hold; not kept")

func (t *tailBuffer) Write(p []byte) (int, error) {
	if len(p) > t.left {
		return 0, errTooLong
	}
	t.left -= len(p)
	t.total += len(p)
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*(t.max+1) {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max-1:]...)
	}
	return len(p), nil
}
