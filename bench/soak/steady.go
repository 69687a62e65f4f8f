package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/rayfleet/rayfleet/api"
	"github.com/rayfleet/rayfleet/bench/internal/benchproc"
)

// steady is the cluster the gateway's traffic goes to, as the API last
// described it, and the job whose log is tailed. When Ray's processes of
// its head die (on a machine shared with others' tests, they are not the
// run's alone to end), the keeper starts it again, with a new instance and
// token, and the gateway's calls go on with those.
type steady struct {
	mu    sync.Mutex
	cl    *api.Cluster
	jobID string
	down  bool // from the moment the keeper saw it in Error until it is Running again
	gen   int  // counts the changes of down
}

func (st *steady) get() (*api.Cluster, string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.cl, st.jobID
}

// generation changes whenever the cluster goes down or comes back.
func (st *steady) generation() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.gen
}

func (st *steady) set(cl *api.Cluster, jobID string, down bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if cl != nil {
		st.cl, st.jobID = cl, jobID
	}
	if st.down != down {
		st.down = down
		st.gen++
	}
}

// changed tells whether the cluster is down or went down since gen.
func (st *steady) changed(gen int) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.down || st.gen != gen
}

// rayLost is a cluster that went to Error because Ray's own processes of
// its head ended: killed from outside the run, or a Ray start that gave up
// on an overloaded machine. rayfleet's part is to notice and say so, which
// it did; the run records the loss, and it does not count against the
// server.
type rayLost struct {
	cluster, message string
}

func (e *rayLost) Error() string {
	return fmt.Sprintf("cluster %s in Error: %s", e.cluster, e.message)
}

// errorState is the error of a cluster found in Error.
func errorState(cl *api.Cluster) error {
	// The local runtime's message when the head's `ray start` exited.
	if strings.HasPrefix(cl.Message, "head node exited") {
		return &rayLost{cluster: cl.ClusterID, message: cl.Message}
	}
	return fmt.Errorf("cluster %s in Error: %s", cl.ClusterID, cl.Message)
}

// loss is one rayLost the run met.
type loss struct {
	at      time.Duration
	what    string // which cluster and step
	message string
	back    time.Duration // steady cluster: how long until Running again
}

// lost records a loss.
func (s *soak) lost(what string, e *rayLost, back time.Duration) {
	s.lossMu.Lock()
	defer s.lossMu.Unlock()
	s.losses = append(s.losses, loss{at: time.Since(s.started), what: what, message: e.message, back: back})
	logf("%s: Ray's processes ended: %s", what, e.message)
}

// keeper looks at the steady cluster every second and starts it again
// when Ray's processes of its head died.
func (s *soak) keeper(ctx context.Context) {
	const kind = "steady cluster restarted after Ray's processes ended"
	for benchproc.Sleep(ctx, time.Second) == nil {
		cl, _ := s.steady.get()
		got, err := s.api.GetCluster(ctx, s.ws, cl.ClusterID)
		if err != nil || got.State != "Error" {
			continue // GetRayCluster's own call judges the answers
		}
		s.steady.set(nil, "", true)
		start := time.Now()
		cause := errorState(got)
		err = s.restartSteady(ctx)
		if ctx.Err() != nil {
			return
		}
		var rl *rayLost
		if !errors.As(cause, &rl) {
			err = errors.Join(cause, err) // not Ray's processes ending: the server's to explain
		} else {
			s.lost("steady cluster", rl, time.Since(start))
		}
		s.tally.record(kind, time.Since(start), err)
	}
}

// restartSteady stops the steady cluster (in Error) and starts it again,
// and submits its job again.
func (s *soak) restartSteady(ctx context.Context) error {
	cl, _ := s.steady.get()
	if _, err := s.api.StopCluster(ctx, s.ws, cl.ClusterID, &api.StopRequest{}); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	if _, err := s.waitState(ctx, cl.ClusterID, "Stopped"); err != nil {
		return err
	}
	if _, err := s.api.StartCluster(ctx, s.ws, cl.ClusterID, &api.StartRequest{}); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	cl, err := s.waitState(ctx, cl.ClusterID, "Running")
	if err != nil {
		return err
	}
	job, err := s.submitJob(ctx, cl)
	if err != nil {
		return fmt.Errorf("job: %w", err)
	}
	s.steady.set(cl, job, false)
	return nil
}

// steadyWasDown tells whether a call on the steady cluster that began at
// generation gen and failed met it down: the keeper is restarting it or
// did since, or the API says it is not Running within 3 s (the runtime
// notices a dead head within about a second, and the gateway may refuse a
// moment before the API says so).
func (s *soak) steadyWasDown(ctx context.Context, gen int) bool {
	deadline := time.Now().Add(3 * time.Second)
	for {
		if s.steady.changed(gen) {
			return true
		}
		cl, _ := s.steady.get()
		if got, err := s.api.GetCluster(ctx, s.ws, cl.ClusterID); err == nil && got.State != "Running" {
			return true
		}
		if time.Now().After(deadline) || benchproc.Sleep(ctx, 250*time.Millisecond) != nil {
			return false
		}
	}
}
