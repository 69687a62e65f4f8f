package kuberay

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/poll"
	"github.com/rayfleet/rayfleet/internal/reconcile"
)

// env is one integration test's world: its own workspace (namespace), a
// Runtime, and a plain API client for looking and for playing the other
// actors (a user deleting a pod, the Ray autoscaler).
type env struct {
	t       *testing.T
	cfg     *rest.Config
	api     client.Client
	rt      *Runtime
	wakes   *wakeLog
	account string
	ws      string
}

// newEnv starts a Runtime on the test stack, in a new workspace whose
// namespace is deleted when the test ends. Integration tests run in
// parallel, each in its own namespace.
func newEnv(t *testing.T) *env {
	t.Helper()
	cfg := needKube(t)
	t.Parallel()
	scheme, err := newScheme()
	if err != nil {
		t.Fatal(err)
	}
	api, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, cfg: cfg, api: api, wakes: &wakeLog{}, account: "1234567890123456", ws: "w-" + randHex(t, 8)}
	e.rt = e.newRuntime(e.wakes)
	t.Cleanup(func() {
		if t.Failed() && os.Getenv("RAYFLEET_TEST_KEEP_FAILED") != "" {
			t.Logf("kept namespace %s for a look", e.ns())
			return
		}
		// Not waited for: the next test has its own namespace.
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: e.ns()}}
		_ = api.Delete(context.Background(), ns)
	})
	return e
}

// newRuntime starts another Runtime on the same stack (a restarted
// rayfleet), closed when the test ends.
func (e *env) newRuntime(w reconcile.Waker) *Runtime {
	e.t.Helper()
	return e.newRuntimeWith(w, func(*Config) {})
}

// newRuntimeWith is newRuntime with the config changed by edit first.
func (e *env) newRuntimeWith(w reconcile.Waker, edit func(*Config)) *Runtime {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := Config{
		RestConfig: e.cfg,
		Image:      testImages,
		GPUTypes:   testGPUTypes,
		// Not the test's log: informer goroutines may log after it ended.
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Waker:  w,
	}
	edit(&cfg)
	rt, err := New(ctx, cfg)
	if err != nil {
		e.t.Fatalf("New: %v", err)
	}
	e.t.Cleanup(func() { rt.Close() })
	return rt
}

func (e *env) ns() string { return DefaultNamespacePrefix + "-" + e.ws }

// cluster returns a small cluster in the test's workspace: a 250m head and
// one worker group "group-a" of workers replicas.
func (e *env) cluster(workers int32) *rayfleet.Cluster {
	id := "ray-" + randHex(e.t, 8)
	spec := rayfleet.ClusterSpec{
		Name:           "it " + e.t.Name(),
		ReleaseVersion: testRelease,
		Head:           rayfleet.HeadSpec{QueueName: "root_queue", CPU: "250m", Memory: "512Mi"},
		Workers: []rayfleet.WorkerSpec{{
			GroupName: "group-a", Replica: workers, QueueName: "root_queue", CPU: "250m", Memory: "256Mi",
		}},
	}
	return &rayfleet.Cluster{
		ID: id, AccountID: e.account, WorkspaceID: e.ws,
		Spec: spec, RunningSpec: spec, Desired: rayfleet.RunStateRunning,
		InstanceID: id + "-" + randHex(e.t, 4), State: rayfleet.StateStarting,
	}
}

func (e *env) apply(rt *Runtime, c *rayfleet.Cluster) {
	e.t.Helper()
	if err := rt.Apply(context.Background(), c); err != nil {
		e.t.Fatalf("Apply: %v", err)
	}
}

// waitObs polls rt.Observe until cond holds, for at most a minute, and
// returns the observation that satisfied it.
func (e *env) waitObs(rt *Runtime, c *rayfleet.Cluster, what string, cond func(reconcile.Observation) bool) reconcile.Observation {
	e.t.Helper()
	return e.observeUntil(rt, c, time.Minute, what, cond, func() {})
}

// applyUntil does what the reconciler does while a cluster starts: Apply
// about every second until the observation satisfies cond (at most 90 s).
func (e *env) applyUntil(rt *Runtime, c *rayfleet.Cluster, what string, cond func(reconcile.Observation) bool) reconcile.Observation {
	e.t.Helper()
	var next time.Time
	return e.observeUntil(rt, c, 90*time.Second, what, cond, func() {
		if !time.Now().Before(next) {
			e.apply(rt, c)
			next = time.Now().Add(time.Second)
		}
	})
}

// observeUntil calls before, then rt.Observe, until the observation
// satisfies cond, and returns it; a timeout shows the last one.
func (e *env) observeUntil(rt *Runtime, c *rayfleet.Cluster, timeout time.Duration, what string, cond func(reconcile.Observation) bool, before func()) reconcile.Observation {
	e.t.Helper()
	var last reconcile.Observation
	poll.UntilSeen(e.t, timeout, what, func() (bool, string) {
		before()
		o, err := rt.Observe(context.Background(), c)
		if err != nil {
			e.t.Fatalf("Observe: %v", err)
		}
		last = o
		return cond(o), "the observation\n" + describe(o)
	})
	return last
}

// ready is the observation of a running cluster with every worker ready.
func ready(c *rayfleet.Cluster) func(reconcile.Observation) bool {
	return func(o reconcile.Observation) bool {
		return o.HeadReady && o.InstanceID == c.InstanceID && o.ReadyWorkers == o.DesiredWorkers &&
			len(o.Nodes) == 1+o.DesiredWorkers && o.Failure == ""
	}
}

// pods returns the pods of c the API server has now.
func (e *env) pods(c *rayfleet.Cluster) []corev1.Pod {
	e.t.Helper()
	var l corev1.PodList
	if err := e.api.List(context.Background(), &l, client.InNamespace(e.ns()), client.MatchingLabels{labelCluster: c.ID}); err != nil {
		e.t.Fatal(err)
	}
	return l.Items
}

func describe(o reconcile.Observation) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  exists=%v instance=%q headReady=%v workers=%d/%d\n  failure=%q\n  progress=%q\n",
		o.Exists, o.InstanceID, o.HeadReady, o.ReadyWorkers, o.DesiredWorkers, o.Failure, o.Progress)
	for _, n := range o.Nodes {
		fmt.Fprintf(&b, "  %s %s %s %s/%s %s %s\n", n.Type, n.InstanceID, n.Phase, n.Reason, n.Message, n.ContainerState, n.ContainerStateReason)
	}
	return b.String()
}

func randHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// wakeLog records the refs a Runtime woke.
type wakeLog struct {
	mu   sync.Mutex
	refs map[reconcile.Ref]int
}

func (w *wakeLog) Wake(ref reconcile.Ref) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.refs == nil {
		w.refs = map[reconcile.Ref]int{}
	}
	w.refs[ref]++
}

func (w *wakeLog) count(ref reconcile.Ref) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.refs[ref]
}

func refOfCluster(c *rayfleet.Cluster) reconcile.Ref {
	return reconcile.Ref{AccountID: c.AccountID, WorkspaceID: c.WorkspaceID, ID: c.ID}
}
