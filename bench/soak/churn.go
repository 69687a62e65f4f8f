package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/api"
	"github.com/rayfleet/rayfleet/bench/internal/benchproc"
)

// churn runs the lifecycle of a second cluster over and over, with real
// Ray: create until Running, StopRayCluster until Stopped, StartRayCluster
// until Running, DeleteRayCluster until the local runtime has purged it.
// Each step is a call of its own kind, timed. The cycle under way when the
// run ends is finished (its cluster deleted) but not counted.
func (s *soak) churn(ctx context.Context) {
	for i := 1; ctx.Err() == nil; i++ {
		id, err := s.cycle(ctx, fmt.Sprintf("soak-churn-%d", i))
		if id != "" {
			// Cut short by the end of the run or a failure: the cluster
			// goes, so that the next cycle (or the end) starts from the
			// steady cluster alone.
			end, cancel := context.WithTimeout(context.WithoutCancel(ctx), clusterTimeout)
			if _, err := s.api.DeleteCluster(end, s.ws, id); err == nil || isNotFound(err) {
				_ = s.waitPurged(end, id)
			}
			cancel()
		}
		if err != nil && ctx.Err() == nil {
			// Counted already; give a struggling machine a moment.
			_ = benchproc.Sleep(ctx, 10*time.Second)
		}
	}
}

func isNotFound(err error) bool {
	var e *api.Error
	return errors.As(err, &e) && e.Code == rayfleet.ENOTFOUND
}

// cycle runs one lifecycle; it returns the cluster's id while it exists,
// and the first step that went wrong.
func (s *soak) cycle(ctx context.Context, name string) (id string, err error) {
	// then asks for a change and waits for the state it leads to.
	then := func(change func() error, state string) func() error {
		return func() error {
			if err := change(); err != nil {
				return err
			}
			_, err := s.waitState(ctx, id, state)
			return err
		}
	}
	steps := []struct {
		kind string
		do   func() error
	}{
		{"churn CreateRayCluster → Running", then(func() error {
			res, err := s.api.CreateCluster(ctx, s.ws, headOnly(name))
			if err == nil {
				id = res.ClusterID
			}
			return err
		}, "Running")},
		{"churn StopRayCluster → Stopped", then(func() error {
			_, err := s.api.StopCluster(ctx, s.ws, id, &api.StopRequest{})
			return err
		}, "Stopped")},
		{"churn StartRayCluster → Running", then(func() error {
			_, err := s.api.StartCluster(ctx, s.ws, id, &api.StartRequest{})
			return err
		}, "Running")},
		{"churn DeleteRayCluster → purged", func() error {
			if _, err := s.api.DeleteCluster(ctx, s.ws, id); err != nil {
				return err
			}
			pctx, cancel := context.WithTimeout(ctx, clusterTimeout)
			defer cancel()
			return s.waitPurged(pctx, id)
		}},
	}
	for _, st := range steps {
		start := time.Now()
		err := st.do()
		if ctx.Err() != nil {
			return id, ctx.Err()
		}
		took := time.Since(start)
		if rl := (*rayLost)(nil); errors.As(err, &rl) {
			s.lost(st.kind, rl, 0)
			s.tally.note(st.kind, "Ray's processes ended")
			s.tally.record(st.kind, took, nil)
			return id, err
		}
		s.tally.record(st.kind, took, err)
		if err != nil {
			return id, err
		}
	}
	return "", nil
}
