package reconcile

import (
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/rayfleet/rayfleet"
)

var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// cluster returns a valid cluster to tweak: running instance "i-1", Starting since t0.
func cluster(tweak ...func(*rayfleet.Cluster)) *rayfleet.Cluster {
	c := &rayfleet.Cluster{
		ID: "ray-aaaaaaaaaaaaaaaa", AccountID: "1", WorkspaceID: "w-1", InstanceID: "i-1",
		Desired: rayfleet.RunStateRunning, State: rayfleet.StateStarting, StateTime: t0,
	}
	for _, f := range tweak {
		f(c)
	}
	return c
}

func node(phase string) rayfleet.Instance {
	return rayfleet.Instance{InstanceID: "n", Type: "Head", Phase: phase}
}

func TestPlanTransitions(t *testing.T) {
	const timeout = 10 * time.Minute
	running := func(c *rayfleet.Cluster) { c.State = rayfleet.StateRunning }
	stopped := func(c *rayfleet.Cluster) { c.Desired = rayfleet.RunStateStopped; c.State = rayfleet.StateStopping }
	deleted := func(c *rayfleet.Cluster) {
		c.Deleted = true
		c.Desired = rayfleet.RunStateStopped
		c.State = rayfleet.StateStopping
	}
	failed := func(c *rayfleet.Cluster) { c.State = rayfleet.StateError; c.Message = "boom" }
	nodes := []rayfleet.Instance{node("Running")}
	for _, tc := range []struct {
		name    string
		c       *rayfleet.Cluster
		o       Observation
		now     time.Time
		action  Action
		purge   bool
		state   rayfleet.State
		message string
	}{
		{"starting, nothing yet: apply", cluster(), Observation{}, t0, Apply, false, rayfleet.StateStarting, ""},
		{"starting, head not ready: apply, progress shown", cluster(), Observation{Exists: true, InstanceID: "i-1", Nodes: nodes, Progress: "waiting for the dashboard"}, t0.Add(time.Minute), Apply, false, rayfleet.StateStarting, "waiting for the dashboard"},
		{"head ready: Running", cluster(), Observation{Exists: true, InstanceID: "i-1", Nodes: nodes, HeadReady: true}, t0, Apply, false, rayfleet.StateRunning, ""},
		{"head ready, workers coming: Running with message", cluster(), Observation{Exists: true, InstanceID: "i-1", Nodes: nodes, HeadReady: true, ReadyWorkers: 1, DesiredWorkers: 3}, t0, Apply, false, rayfleet.StateRunning, "1/3 workers ready"},
		{"start timeout: Error", cluster(), Observation{Exists: true, InstanceID: "i-1", Nodes: nodes, Progress: "pulling image"}, t0.Add(11 * time.Minute), Suspend, false, rayfleet.StateError, "did not become ready within 10m0s (last seen: pulling image)"},
		{"failure while starting: Error", cluster(), Observation{Exists: true, InstanceID: "i-1", Nodes: nodes, Failure: "ray not found"}, t0, Suspend, false, rayfleet.StateError, "ray not found"},
		{"head died while running: Error", cluster(running), Observation{Exists: true, InstanceID: "i-1", Nodes: nodes, Failure: "head exited with code 3"}, t0, Suspend, false, rayfleet.StateError, "head exited with code 3"},
		{"running head stops answering: stays Running, says so", cluster(running), Observation{Exists: true, InstanceID: "i-1", Nodes: nodes}, t0.Add(time.Hour), Apply, false, rayfleet.StateRunning, "does not answer"},
		{"nodes of an old instance: suspend them first", cluster(), Observation{Exists: true, InstanceID: "i-0", Nodes: nodes}, t0, Suspend, false, rayfleet.StateStarting, "previous instance i-0"},
		{"stop with nodes: Stopping", cluster(stopped), Observation{Exists: true, InstanceID: "i-1", Nodes: nodes}, t0, Suspend, false, rayfleet.StateStopping, "ending 1 node"},
		{"stop, nodes gone: Stopped", cluster(stopped), Observation{}, t0, None, false, rayfleet.StateStopped, ""},
		{"delete with nodes: delete", cluster(deleted), Observation{Exists: true, Nodes: nodes}, t0, Delete, false, rayfleet.StateStopping, "deleting"},
		{"delete, gone: purge", cluster(deleted), Observation{}, t0, Delete, true, rayfleet.StateStopped, ""},
		{"error with leftovers: suspend, stay Error", cluster(failed), Observation{Exists: true, Nodes: nodes}, t0, Suspend, false, rayfleet.StateError, "boom"},
		{"error, nothing left: nothing", cluster(failed), Observation{}, t0, None, false, rayfleet.StateError, "boom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := plan(tc.c, tc.o, tc.now, timeout)
			if d.Action != tc.action || d.Purge != tc.purge || d.State != tc.state || !strings.Contains(d.Message, tc.message) {
				t.Fatalf("got action=%v purge=%v state=%s message=%q", d.Action, d.Purge, d.State, d.Message)
			}
			if tc.message == "" && d.Message != "" && d.State != rayfleet.StateError {
				t.Fatalf("unexpected message %q", d.Message)
			}
		})
	}
}

func genCluster() *rapid.Generator[*rayfleet.Cluster] {
	return rapid.Custom(func(t *rapid.T) *rayfleet.Cluster {
		return cluster(func(c *rayfleet.Cluster) {
			c.Deleted = rapid.Bool().Draw(t, "deleted")
			c.Desired = rapid.SampledFrom([]rayfleet.RunState{rayfleet.RunStateRunning, rayfleet.RunStateStopped}).Draw(t, "desired")
			c.State = rapid.SampledFrom([]rayfleet.State{rayfleet.StateStarting, rayfleet.StateRunning, rayfleet.StateStopping, rayfleet.StateStopped, rayfleet.StateError}).Draw(t, "state")
			c.InstanceID = rapid.SampledFrom([]string{"i-1", "i-2"}).Draw(t, "instance")
			c.StateTime = t0.Add(-time.Duration(rapid.IntRange(0, 3600).Draw(t, "age")) * time.Second)
		})
	})
}

func genObservation() *rapid.Generator[Observation] {
	return rapid.Custom(func(t *rapid.T) Observation {
		o := Observation{Exists: rapid.Bool().Draw(t, "exists")}
		if o.Exists {
			o.InstanceID = rapid.SampledFrom([]string{"", "i-1", "i-2"}).Draw(t, "obsInstance")
			for range rapid.IntRange(0, 3).Draw(t, "nodes") {
				o.Nodes = append(o.Nodes, node(rapid.SampledFrom([]string{"Pending", "Running", "Failed", "Succeeded"}).Draw(t, "phase")))
			}
			o.HeadReady = rapid.Bool().Draw(t, "headReady")
			o.DesiredWorkers = rapid.IntRange(0, 3).Draw(t, "desiredWorkers")
			o.ReadyWorkers = rapid.IntRange(0, o.DesiredWorkers).Draw(t, "readyWorkers")
		}
		if rapid.Bool().Draw(t, "failed") {
			o.Failure = "failure"
		}
		return o
	})
}

// TestPlanProperties checks the rules that must hold whatever the inputs.
func TestPlanProperties(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		c := genCluster().Draw(rt, "cluster")
		o := genObservation().Draw(rt, "observation")
		now := t0
		d := plan(c, o, now, 10*time.Minute)
		if c.Deleted && d.Action == Apply {
			rt.Fatalf("a deleted cluster got nodes: %+v", d)
		}
		if c.Desired == rayfleet.RunStateStopped && d.Action == Apply {
			rt.Fatalf("a stopped cluster got nodes: %+v", d)
		}
		if c.Desired == rayfleet.RunStateStopped && !c.Deleted && !o.Exists && d.State != rayfleet.StateStopped {
			rt.Fatalf("a stopped cluster with no nodes is %s, not Stopped", d.State)
		}
		if d.State == rayfleet.StateRunning && !(o.HeadReady || c.State == rayfleet.StateRunning) {
			rt.Fatalf("Running reported without a ready head: %+v / %+v", c, o)
		}
		if d.State == rayfleet.StateRunning && c.State != rayfleet.StateRunning && !o.HeadReady {
			rt.Fatalf("became Running without a ready head")
		}
		if (d.State == rayfleet.StateStopped) && o.Exists {
			rt.Fatalf("Stopped reported while nodes exist")
		}
		if d.Purge && (o.Exists || !c.Deleted) {
			rt.Fatalf("purged a cluster that is not deleted or not gone")
		}
		if d.Action == Apply && o.Exists && o.InstanceID != "" && o.InstanceID != c.InstanceID {
			rt.Fatalf("applied over another instance's nodes")
		}
		if d.State == rayfleet.StateError && d.Message == "" && c.State != rayfleet.StateError {
			rt.Fatalf("Error without a message")
		}
		if d.Action != None && !d.Purge && d.Requeue == 0 {
			rt.Fatalf("acted without looking again: %+v", d)
		}
	})
}

// TestConvergesToStopped simulates a runtime that removes nodes when
// suspended, and checks a stopped cluster always ends Stopped.
func TestConvergesToStopped(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		c := genCluster().Draw(rt, "cluster")
		c.Desired, c.Deleted = rayfleet.RunStateStopped, false
		o := genObservation().Draw(rt, "observation")
		for step := 0; step < 5; step++ {
			d := plan(c, o, t0, 10*time.Minute)
			c.State = d.State
			if d.Action == Suspend {
				o = Observation{}
			}
			if c.State == rayfleet.StateStopped {
				return
			}
		}
		rt.Fatalf("did not converge to Stopped: %+v", c)
	})
}
