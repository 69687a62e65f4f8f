package reconcile

import (
	"context"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/store"
)

// Runtime turns a cluster's desired state into real nodes and reports what
// it sees. Every method is idempotent and safe to call again after a crash
// at any point. The reconciler knows nothing else of any runtime.
type Runtime interface {
	// Apply makes the nodes of c's current instance (c.InstanceID) match
	// c.RunningSpec: starts what is missing, applies live changes (worker
	// replicas), leaves healthy nodes alone. Nodes of another instance of c
	// are not its business: the reconciler suspends them first.
	Apply(ctx context.Context, c *rayfleet.Cluster) error
	// Suspend ends every node of c (any instance) and keeps nothing
	// running. It may return before the nodes are gone; Observe tells.
	Suspend(ctx context.Context, c *rayfleet.Cluster) error
	// Delete removes every trace of c the runtime keeps (nodes, and any
	// objects or files it created for c).
	Delete(ctx context.Context, c *rayfleet.Cluster) error
	// Observe reports what exists for c now.
	Observe(ctx context.Context, c *rayfleet.Cluster) (Observation, error)
}

// Observation is what a runtime sees of one cluster.
type Observation struct {
	// Exists is true while the runtime still has something of c to end or
	// clean up: any node (running, pending, or exited and not yet cleaned
	// up) and, when c.Deleted, any other object it made for c. A stopped
	// cluster may keep such objects (a suspended RayCluster) and still
	// report Exists=false once its nodes are gone.
	Exists bool
	// InstanceID is the instance the existing nodes belong to ("" if none).
	InstanceID string
	// Nodes are the nodes, head first, as instances[] shows them.
	Nodes []rayfleet.Instance
	// HeadReady is true when the head node answers (Ray is usable).
	HeadReady bool
	// ReadyWorkers and DesiredWorkers count worker nodes.
	ReadyWorkers, DesiredWorkers int
	// Failure, when not empty, says why the current instance cannot come
	// up or has failed for good (missing ray executable, head exited,
	// image cannot be pulled...). It becomes the Error message.
	Failure string
	// Progress says, for people, what is happening while not ready
	// ("waiting for the head's dashboard", "pod unschedulable: ...").
	Progress string
}

// Waker is how runtimes tell the reconciler that something of a cluster
// changed (a process exited, a pod changed), so it looks now.
type Waker interface {
	Wake(ref Ref)
}

// Ref names a cluster.
type Ref = store.ClusterRef
