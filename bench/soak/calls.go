package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/api"
	"github.com/rayfleet/rayfleet/api/signer"
	"github.com/rayfleet/rayfleet/bench/internal/benchproc"
)

// tally counts the calls of each kind and those that did not go as
// expected. A call that must be refused and is refused as it should is as
// expected.
type tally struct {
	mu    sync.Mutex
	kinds map[string]*kindCount
}

type kindCount struct {
	Kind       string
	Calls      int
	Unexpected int
	First      string // the first unexpected outcome
	Total, Max time.Duration
	// Seen counts what the calls got, where more than one answer is as
	// expected (the status a Ray client server gave, say).
	Seen map[string]int
}

func newTally() *tally { return &tally{kinds: map[string]*kindCount{}} }

// note counts one answer of a call of kind, recorded or not.
func (t *tally) note(kind, seen string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := t.kind(kind)
	if k.Seen == nil {
		k.Seen = map[string]int{}
	}
	k.Seen[seen]++
}

// kind is kind's count, made on first use; t.mu is held.
func (t *tally) kind(kind string) *kindCount {
	k := t.kinds[kind]
	if k == nil {
		k = &kindCount{Kind: kind}
		t.kinds[kind] = k
	}
	return k
}

// record counts one call of kind that took d; err says how it did not go
// as expected (nil: it did).
func (t *tally) record(kind string, d time.Duration, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := t.kind(kind)
	k.Calls++
	k.Total += d
	k.Max = max(k.Max, d)
	if err != nil {
		k.Unexpected++
		if k.First == "" {
			k.First = err.Error()
			logf("%s: unexpected: %v", kind, err)
		}
	}
}

// snapshot is every kind, by name.
func (t *tally) snapshot() []kindCount {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]kindCount, 0, len(t.kinds))
	for _, k := range t.kinds {
		c := *k
		c.Seen = maps.Clone(k.Seen)
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Kind < out[j].Kind })
	return out
}

// call is one call of a worker's mix: it returns nil when the outcome was
// the expected one.
type call struct {
	kind string
	do   func(ctx context.Context) error
}

// loop runs the calls in turn, pause apart, until ctx ends. A call cut
// short by the end of the run is not counted. The calls of a loop
// onSteady need the steady cluster Running: their failures while it is
// down are noted, not counted against the server.
func (s *soak) loop(ctx context.Context, pause time.Duration, calls []call, onSteady bool) {
	for i := 0; ctx.Err() == nil; i++ {
		c := calls[i%len(calls)]
		start, gen := time.Now(), s.steady.generation()
		err := c.do(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil && onSteady && s.steadyWasDown(ctx, gen) {
			s.tally.note(c.kind, "failed while the steady cluster was down")
			err = nil
		}
		s.tally.record(c.kind, time.Since(start), err)
		if benchproc.Sleep(ctx, pause) != nil {
			return
		}
	}
}

// workers are the run's concurrent loops. Their pauses keep the mix at a
// few dozen calls a second in all, which a 2-core machine shared with
// others carries without the run measuring only its own load.
func (s *soak) workers() []func(context.Context) {
	apiCalls, httpCalls, grpcCalls, tailCalls := s.apiCalls(), s.httpCalls(), s.grpcCalls(), s.tailCalls()
	return []func(context.Context){
		func(ctx context.Context) { s.loop(ctx, 50*time.Millisecond, apiCalls, false) },
		// The second API loop starts halfway through the mix, so both
		// halves run at once.
		func(ctx context.Context) {
			s.loop(ctx, 50*time.Millisecond, slices.Concat(apiCalls[len(apiCalls)/2:], apiCalls[:len(apiCalls)/2]), false)
		},
		s.churn,
		s.keeper,
		s.watchHead,
		func(ctx context.Context) { s.loop(ctx, 100*time.Millisecond, httpCalls, true) },
		func(ctx context.Context) { s.loop(ctx, 100*time.Millisecond, grpcCalls, true) },
		func(ctx context.Context) { s.loop(ctx, 5*time.Second, tailCalls, true) },
	}
}

// apiCalls is the API's mix: reads that must succeed, and input, ids and
// signatures that must be refused with the right code.
func (s *soak) apiCalls() []call {
	wrongSecret := *s.api
	wrongSecret.Credentials.AccessKeySecret += "x"
	unknownKey := *s.api
	unknownKey.Credentials = signer.Credentials{AccessKeyID: "LTAIsoaknosuchkey0000000", AccessKeySecret: "secret"}
	bad := "soak-bad"
	ok := func(_ any, err error) error { return err }
	return []call{
		{"api ListRayCluster", func(ctx context.Context) error {
			return ok(s.api.ListClusters(ctx, s.ws, api.ListClustersOptions{PageSize: 20}))
		}},
		{"api GetRayCluster", func(ctx context.Context) error {
			steady, _ := s.steady.get()
			gen := s.steady.generation()
			cl, err := s.api.GetCluster(ctx, s.ws, steady.ClusterID)
			if err == nil && cl.State != "Running" {
				if s.steadyWasDown(ctx, gen) {
					s.tally.note("api GetRayCluster", "steady cluster down")
					return nil
				}
				err = fmt.Errorf("steady cluster %s: %s", cl.State, cl.Message)
			}
			return err
		}},
		{"api ListWorkspaces", func(ctx context.Context) error {
			return ok(s.api.ListWorkspaces(ctx, "", 20, ""))
		}},
		{"api ListWorkspaceQueues", func(ctx context.Context) error {
			return ok(s.api.ListQueues(ctx, s.ws))
		}},
		{"api ListReleaseVersions", func(ctx context.Context) error {
			return ok(s.api.ListReleaseVersions(ctx, nil))
		}},
		{"api ListNetworkServices", func(ctx context.Context) error {
			return ok(s.api.ListNetworkServices(ctx, s.ws))
		}},
		{"api GetRayCluster, no such id (refused)", func(ctx context.Context) error {
			return refused(rayfleet.ENOTFOUND)(s.api.GetCluster(ctx, s.ws, "rc-soaknosuchcluster"))
		}},
		{"api ListRayCluster, no such workspace (refused)", func(ctx context.Context) error {
			return refused(rayfleet.ENOTFOUND)(s.api.ListClusters(ctx, "w-soaknosuchworkspace", api.ListClustersOptions{}))
		}},
		{"api CreateRayCluster, bad spec (refused)", func(ctx context.Context) error {
			req := headOnly(bad)
			req.HeadSpec.CPU = "lots"
			return refused(rayfleet.EINVALID)(s.api.CreateCluster(ctx, s.ws, req))
		}},
		{"api unknown operation (refused)", func(ctx context.Context) error {
			return refused(rayfleet.EMETHOD)(nil, s.api.Do(ctx, "SoakNoSuchAction", http.MethodGet, "/api/v1/soakNoSuchThing", nil, nil, nil))
		}},
		{"api wrong signature (refused)", func(ctx context.Context) error {
			return refused(rayfleet.ESIGNATURE)(wrongSecret.ListClusters(ctx, s.ws, api.ListClustersOptions{}))
		}},
		{"api unknown access key (refused)", func(ctx context.Context) error {
			return refused(rayfleet.EAKNOTFOUND)(unknownKey.ListClusters(ctx, s.ws, api.ListClustersOptions{}))
		}},
	}
}

// refused checks that a call failed with the API error code.
func refused(code string) func(any, error) error {
	return func(_ any, err error) error {
		var e *api.Error
		switch {
		case err == nil:
			return fmt.Errorf("answered, want %s", code)
		case !errors.As(err, &e):
			return err
		case e.Code != code:
			return fmt.Errorf("refused with %s (%s), want %s", e.Code, e.Message, code)
		}
		return nil
	}
}
