package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/store"
)

// Store is what the reconciler needs of storage.
type Store interface {
	GetClusterAny(ctx context.Context, accountID, workspaceID, id string) (rayfleet.Cluster, error)
	UpdateClusterFrom(ctx context.Context, read rayfleet.Cluster, fn func(*rayfleet.Cluster) error) (rayfleet.Cluster, error)
	PurgeCluster(ctx context.Context, accountID, workspaceID, id string) error
	ListClusterRefs(ctx context.Context) ([]store.ClusterRef, error)
}

// Defaults.
const (
	DefaultWorkers      = 8
	DefaultResync       = 30 * time.Second
	DefaultStartTimeout = 10 * time.Minute
)

// Reconciler drives every cluster toward its desired state.
type Reconciler struct {
	Store        Store
	Runtime      Runtime
	Now          func() time.Time
	Logger       *slog.Logger
	Workers      int           // concurrent clusters; DefaultWorkers if 0
	Resync       time.Duration // every cluster is looked at this often; DefaultResync if 0
	StartTimeout time.Duration // Starting longer than this is Error; DefaultStartTimeout if 0
	// Watcher, if not nil, is told of each cluster whose state the
	// reconciler changed or whose row it purged (the job runner, whose
	// jobs wait for their clusters or end with them).
	Watcher Waker

	once sync.Once
	loop *loop
}

func (r *Reconciler) init() {
	r.once.Do(func() {
		r.loop = newLoop("reconcile")
		if r.Workers <= 0 {
			r.Workers = DefaultWorkers
		}
		if r.Resync <= 0 {
			r.Resync = DefaultResync
		}
		if r.StartTimeout <= 0 {
			r.StartTimeout = DefaultStartTimeout
		}
		if r.Now == nil {
			r.Now = time.Now
		}
		if r.Logger == nil {
			r.Logger = slog.New(slog.DiscardHandler)
		}
	})
}

// Wake asks for ref to be reconciled soon. It never blocks.
func (r *Reconciler) Wake(ref Ref) {
	r.init()
	r.loop.queue.add(ref)
}

// Run reconciles until ctx ends: it queues every cluster at start and at
// each resync, and runs the workers. It returns when every worker is done.
func (r *Reconciler) Run(ctx context.Context) error {
	r.init()
	r.loop.run(ctx, r.Workers, r.Resync, r.Logger, r.Store.ListClusterRefs, r.Reconcile)
	return nil
}

// errStale means the row changed (an API call) since it was read: the pass
// is redone on the new row.
var errStale = errors.New("cluster changed while reconciling")

// Reconcile makes one pass over one cluster: observe, plan, act, record. It
// returns when to look again (0: only on events and resync).
func (r *Reconciler) Reconcile(ctx context.Context, ref Ref) (time.Duration, error) {
	r.init()
	c, err := r.Store.GetClusterAny(ctx, ref.AccountID, ref.WorkspaceID, ref.ID)
	if rayfleet.IsNotFound(err) {
		return 0, nil // purged: nothing to do
	}
	if err != nil {
		return 0, fmt.Errorf("load cluster: %w", err)
	}
	obs, err := r.Runtime.Observe(ctx, &c)
	if err != nil {
		return pollInMotion, fmt.Errorf("observe: %w", err)
	}
	normalizeTimes(obs.Nodes)
	d := plan(&c, obs, r.Now(), r.StartTimeout)

	// Ending nodes can erase what the decision was made on: the exited head
	// whose exit is the Error's why is gone once Suspend ends the instance,
	// and a pass that then finds no node would start a new head on a cluster
	// that still reads Running. So the status is recorded before nodes are
	// ended, and a pass whose write fails ends nothing: the next one finds
	// the same evidence and decides again. Apply only adds or reshapes
	// nodes of the current instance, which the next pass observes anew, so
	// its outcome is recorded after it, in one write.
	if (d.Action == Suspend || d.Action == Delete) && !d.Purge {
		recorded, err := r.record(ctx, &c, d)
		if errors.Is(err, errStale) {
			return 0, r.requeueNow(ref)
		}
		if err != nil {
			return pollInMotion, fmt.Errorf("record the status before ending nodes (nothing was ended): %w", err)
		}
		c = recorded
	}

	var actErr error
	switch d.Action {
	case Apply:
		actErr = r.Runtime.Apply(ctx, &c)
	case Suspend:
		actErr = r.Runtime.Suspend(ctx, &c)
	case Delete:
		actErr = r.Runtime.Delete(ctx, &c)
	}
	if actErr != nil && d.State != rayfleet.StateError {
		// Report it on the cluster, so its owner sees why nothing moves.
		// When to retry is the worker's (backoff.go). An Error keeps its
		// why: that the leftover nodes are not ended yet shows in
		// instances[] and in the log.
		d.Message = fmt.Sprintf("%s failed (will retry): %v", d.Action, actErr)
	}
	if d.Purge && actErr == nil {
		if err := r.Store.PurgeCluster(ctx, ref.AccountID, ref.WorkspaceID, ref.ID); err != nil && !rayfleet.IsNotFound(err) {
			return pollInMotion, fmt.Errorf("purge: %w", err)
		}
		r.Logger.Info("cluster deleted and its resources gone", "clusterId", c.ID, "workspaceId", c.WorkspaceID)
		r.watched(ref)
		return 0, nil
	}
	if _, err := r.record(ctx, &c, d); errors.Is(err, errStale) {
		return 0, r.requeueNow(ref)
	} else if err != nil {
		return pollInMotion, err
	}
	return d.Requeue, actErr
}

func (r *Reconciler) requeueNow(ref Ref) error {
	r.loop.queue.add(ref)
	return nil
}

// record writes the status if it changed, and only if nobody wrote the row
// since the pass read it: the decision was made on that row, and a write
// from the pass's own read needs no second read. It returns the row as it
// now is.
func (r *Reconciler) record(ctx context.Context, read *rayfleet.Cluster, d Decision) (rayfleet.Cluster, error) {
	if read.State == d.State && read.Message == d.Message && sameInstances(read.Instances, d.Instances) {
		return *read, nil
	}
	now := r.Now().UTC().Truncate(time.Millisecond)
	c, err := r.Store.UpdateClusterFrom(ctx, *read, func(c *rayfleet.Cluster) error {
		if c.State != d.State {
			c.StateTime = now
			r.Logger.Info("cluster state", "clusterId", c.ID, "workspaceId", c.WorkspaceID, "from", string(c.State), "to", string(d.State), "message", d.Message)
		}
		c.State, c.Message, c.Instances = d.State, d.Message, d.Instances
		return nil
	})
	if errors.Is(err, rayfleet.ErrConflict) {
		return c, errStale
	}
	if err == nil && read.State != c.State {
		r.watched(Ref{AccountID: c.AccountID, WorkspaceID: c.WorkspaceID, ID: c.ID})
	}
	return c, err
}

func (r *Reconciler) watched(ref Ref) {
	if r.Watcher != nil {
		r.Watcher.Wake(ref)
	}
}

// normalizeTimes brings observed times to the precision the store keeps, so
// an unchanged observation compares equal to what was recorded.
func normalizeTimes(nodes []rayfleet.Instance) {
	for i := range nodes {
		if !nodes[i].CreateTime.IsZero() {
			nodes[i].CreateTime = nodes[i].CreateTime.UTC().Truncate(time.Millisecond)
		}
		if !nodes[i].StartTime.IsZero() {
			nodes[i].StartTime = nodes[i].StartTime.UTC().Truncate(time.Millisecond)
		}
	}
}

func sameInstances(a, b []rayfleet.Instance) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}
