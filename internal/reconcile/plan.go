package reconcile

import (
	"fmt"
	"time"

	"github.com/rayfleet/rayfleet"
)

// Action is what the reconciler asks the runtime to do.
type Action int

// Actions, at most one per pass.
const (
	None    Action = iota
	Apply          // create or update the current instance's nodes
	Suspend        // end every node
	Delete         // end every node and remove everything; purge the row once gone
)

func (a Action) String() string {
	return [...]string{"None", "Apply", "Suspend", "Delete"}[a]
}

// Decision is the outcome of one planning pass.
type Decision struct {
	Action Action
	// Purge removes the cluster's row: it was deleted and nothing is left.
	Purge     bool
	State     rayfleet.State
	Message   string
	Instances []rayfleet.Instance
	// Requeue asks for another pass after this long (0: only on events
	// and at the periodic resync).
	Requeue time.Duration
}

// Polling intervals while something is in motion. Runtimes also wake the
// reconciler on events; these catch what no event reports (a dashboard that
// starts answering, a pod that becomes ready).
const (
	pollInMotion = time.Second
	pollRunning  = 15 * time.Second
)

// plan decides, from what the owner wants (c), what the runtime sees (o)
// and the time, what to do and what state to report. It is pure.
func plan(c *rayfleet.Cluster, o Observation, now time.Time, startTimeout time.Duration) Decision {
	d := Decision{State: c.State, Message: c.Message, Instances: o.Nodes}
	switch {
	case c.Deleted:
		if !o.Exists {
			return Decision{Action: Delete, Purge: true, State: rayfleet.StateStopped}
		}
		d.Action, d.State, d.Requeue = Delete, rayfleet.StateStopping, pollInMotion
		d.Message = fmt.Sprintf("deleting: ending %d node(s)", liveNodes(o))
		return d

	case c.Desired == rayfleet.RunStateStopped:
		if !o.Exists {
			return Decision{State: rayfleet.StateStopped}
		}
		d.Action, d.State, d.Requeue = Suspend, rayfleet.StateStopping, pollInMotion
		d.Message = fmt.Sprintf("stopping: ending %d node(s)", liveNodes(o))
		return d

	case c.State == rayfleet.StateError:
		// A failed instance stays failed until the owner starts or stops the
		// cluster; its leftover nodes are ended so they hold nothing.
		if o.Exists {
			d.Action, d.Requeue = Suspend, pollInMotion
		}
		return d

	case o.Exists && o.InstanceID != "" && o.InstanceID != c.InstanceID:
		d.Action, d.State, d.Requeue = Suspend, rayfleet.StateStarting, pollInMotion
		d.Message = "ending the nodes of the previous instance " + o.InstanceID
		return d

	case o.Failure != "":
		d.Action, d.State, d.Message, d.Requeue = Suspend, rayfleet.StateError, o.Failure, pollInMotion
		return d

	case o.HeadReady:
		d.Action, d.State, d.Requeue = Apply, rayfleet.StateRunning, pollRunning
		d.Message = ""
		if o.ReadyWorkers < o.DesiredWorkers {
			d.Message = fmt.Sprintf("%d/%d workers ready", o.ReadyWorkers, o.DesiredWorkers)
			d.Requeue = pollInMotion
		}
		return d

	case c.State == rayfleet.StateRunning:
		// The head was ready and no longer answers, yet has not failed: keep
		// Running (Ray may be busy) and say so; a dead head is a Failure.
		d.Action, d.Requeue = Apply, pollInMotion
		d.Message = "the head node does not answer its health probe"
		if o.Progress != "" {
			d.Message += ": " + o.Progress
		}
		return d

	case now.Sub(c.StateTime) > startTimeout:
		d.Action, d.State, d.Requeue = Suspend, rayfleet.StateError, pollInMotion
		d.Message = fmt.Sprintf("the cluster did not become ready within %s", startTimeout)
		if o.Progress != "" {
			d.Message += " (last seen: " + o.Progress + ")"
		}
		return d

	default:
		d.Action, d.State, d.Message, d.Requeue = Apply, rayfleet.StateStarting, o.Progress, pollInMotion
		return d
	}
}

func liveNodes(o Observation) int {
	n := 0
	for _, node := range o.Nodes {
		if node.Phase == "Pending" || node.Phase == "Running" {
			n++
		}
	}
	return n
}
