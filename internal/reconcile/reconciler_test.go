package reconcile

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/keyring"
	"github.com/rayfleet/rayfleet/internal/poll"
	"github.com/rayfleet/rayfleet/internal/service"
	"github.com/rayfleet/rayfleet/internal/store/sqlstore"
)

// fakeRuntime is a runtime in memory: Apply makes nodes, Suspend and Delete
// end them. Fields steer what Observe reports.
type fakeRuntime struct {
	mu       sync.Mutex
	nodes    map[string]*fakeNodes // by cluster id
	ready    bool                  // heads become ready at once
	failure  string                // reported for every current instance
	applyErr error
	// suspendErr fails Suspend (and Delete) without ending anything.
	suspendErr error
	applies    int
	active     map[string]int // concurrent calls per cluster, to catch overlap
	overlap    bool
	// onObserve, when set, runs (once) at the start of the next Observe.
	onObserve func()
}

type fakeNodes struct {
	instance string
	workers  int
	// headExit, when set, is the exit of the instance's head: reported as
	// the Failure until the nodes are ended, never undone by Apply.
	headExit string
}

// headDies makes the head of id's nodes exit with why.
func (f *fakeRuntime) headDies(id, why string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nodes[id].headExit = why
}

func newFake() *fakeRuntime {
	return &fakeRuntime{nodes: map[string]*fakeNodes{}, ready: true, active: map[string]int{}}
}

func (f *fakeRuntime) enter(id string) func() {
	f.mu.Lock()
	f.active[id]++
	if f.active[id] > 1 {
		f.overlap = true
	}
	f.mu.Unlock()
	time.Sleep(time.Millisecond) // widen the window in which overlap would show
	return func() { f.mu.Lock(); f.active[id]--; f.mu.Unlock() }
}

func (f *fakeRuntime) Apply(_ context.Context, c *rayfleet.Cluster) error {
	defer f.enter(c.ID)()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applies++
	if f.applyErr != nil {
		return f.applyErr
	}
	n := f.nodes[c.ID]
	if n != nil && n.instance != c.InstanceID {
		return fmt.Errorf("apply over instance %s", n.instance)
	}
	workers := 0
	for _, w := range c.RunningSpec.Workers {
		workers += int(w.Replica)
	}
	f.nodes[c.ID] = &fakeNodes{instance: c.InstanceID, workers: workers}
	if n != nil {
		f.nodes[c.ID].headExit = n.headExit // a dead head is not restarted
	}
	return nil
}

func (f *fakeRuntime) Suspend(_ context.Context, c *rayfleet.Cluster) error {
	defer f.enter(c.ID)()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.suspendErr != nil {
		return f.suspendErr
	}
	delete(f.nodes, c.ID)
	return nil
}

func (f *fakeRuntime) Delete(ctx context.Context, c *rayfleet.Cluster) error {
	return f.Suspend(ctx, c)
}

func (f *fakeRuntime) Observe(_ context.Context, c *rayfleet.Cluster) (Observation, error) {
	defer f.enter(c.ID)()
	f.mu.Lock()
	hook := f.onObserve
	f.onObserve = nil
	f.mu.Unlock()
	if hook != nil {
		hook()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.nodes[c.ID]
	if n == nil {
		return Observation{}, nil
	}
	o := Observation{Exists: true, InstanceID: n.instance, HeadReady: f.ready, DesiredWorkers: n.workers, Failure: f.failure, Progress: "booting"}
	if n.headExit != "" {
		o.HeadReady, o.Failure = false, n.headExit
	}
	o.Nodes = append(o.Nodes, rayfleet.Instance{InstanceID: c.ID + "-head", Type: "Head", Phase: "Running"})
	for i := range n.workers {
		o.Nodes = append(o.Nodes, rayfleet.Instance{InstanceID: fmt.Sprintf("%s-worker-%d", c.ID, i), Type: "Worker", Phase: "Running"})
	}
	if f.ready {
		o.ReadyWorkers = n.workers
	}
	return o, nil
}

func (f *fakeRuntime) has(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.nodes[id] != nil
}

type env struct {
	svc   *service.Service
	st    *sqlstore.Store
	rt    *fakeRuntime
	rec   *Reconciler
	p     rayfleet.Principal
	ws    string
	clock *clock
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(dir, "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keys, err := keyring.LoadOrCreate(filepath.Join(dir, "key"))
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Now()}
	e := &env{st: st, rt: newFake(), clock: clk}
	e.rec = &Reconciler{Store: st, Runtime: e.rt, Now: clk.now, Resync: time.Hour, Workers: 4}
	e.svc = &service.Service{Store: st, Sealer: keys, Now: clk.now, Random: rand.Reader, Releases: rayfleet.BuiltinReleaseVersions(), Waker: e.rec}
	boot, err := e.svc.Bootstrap(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	e.p, _, err = e.svc.Authenticate(context.Background(), boot.AccessKeyID)
	if err != nil {
		t.Fatal(err)
	}
	e.ws = boot.WorkspaceID
	return e
}

func (e *env) create(t *testing.T, workers int32) string {
	t.Helper()
	patch := rayfleet.ClusterPatch{Name: ptr("c")}
	if workers > 0 {
		patch.Workers = &[]rayfleet.WorkerSpec{{GroupName: "g", Replica: workers, CPU: "1", Memory: "1Gi"}}
	}
	o, err := e.svc.CreateCluster(context.Background(), e.p, e.ws, patch, "")
	if err != nil {
		t.Fatal(err)
	}
	return o.ClusterID
}

// settle reconciles a cluster until two passes in a row change nothing.
func (e *env) settle(t *testing.T, id string) rayfleet.Cluster {
	t.Helper()
	ref := Ref{AccountID: e.p.AccountID, WorkspaceID: e.ws, ID: id}
	quiet := 0
	for range 20 {
		before, _ := e.st.GetClusterAny(context.Background(), ref.AccountID, ref.WorkspaceID, ref.ID)
		if _, err := e.rec.Reconcile(context.Background(), ref); err != nil {
			t.Fatalf("reconcile: %v", err)
		}
		after, err := e.st.GetClusterAny(context.Background(), ref.AccountID, ref.WorkspaceID, ref.ID)
		if rayfleet.IsNotFound(err) {
			return rayfleet.Cluster{}
		}
		if err != nil {
			t.Fatal(err)
		}
		if after.Version == before.Version {
			if quiet++; quiet == 2 {
				return after
			}
		} else {
			quiet = 0
		}
	}
	t.Fatal("did not settle")
	return rayfleet.Cluster{}
}

func ptr[T any](v T) *T { return &v }

func TestLifecycle(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id := e.create(t, 2)

	c := e.settle(t, id)
	if c.State != rayfleet.StateRunning || len(c.Instances) != 3 || c.Instances[0].Type != "Head" {
		t.Fatalf("after create: %s %q %+v", c.State, c.Message, c.Instances)
	}
	first := c.InstanceID

	// Live scale: the runtime gets the new replica count.
	if _, err := e.svc.UpdateCluster(ctx, e.p, e.ws, id, rayfleet.ClusterPatch{Workers: &[]rayfleet.WorkerSpec{{GroupName: "g", Replica: 3, CPU: "1", Memory: "1Gi"}}}, ""); err != nil {
		t.Fatal(err)
	}
	if c = e.settle(t, id); len(c.Instances) != 4 || c.Modified {
		t.Fatalf("after live scale: %d nodes, modified=%v", len(c.Instances), c.Modified)
	}

	if _, err := e.svc.StopCluster(ctx, e.p, e.ws, id, "", ""); err != nil {
		t.Fatal(err)
	}
	if c = e.settle(t, id); c.State != rayfleet.StateStopped || e.rt.has(id) || len(c.Instances) != 0 {
		t.Fatalf("after stop: %s, nodes=%v", c.State, e.rt.has(id))
	}
	qs, _ := e.svc.ListQueues(ctx, e.p, e.ws, "")
	if qs[0].Used != (rayfleet.Resources{}) {
		t.Fatalf("a stopped cluster still holds %v", qs[0].Used)
	}

	if _, err := e.svc.StartCluster(ctx, e.p, e.ws, id, ""); err != nil {
		t.Fatal(err)
	}
	if c = e.settle(t, id); c.State != rayfleet.StateRunning || c.InstanceID == first {
		t.Fatalf("after start: %s instance %s (first %s)", c.State, c.InstanceID, first)
	}

	if _, err := e.svc.DeleteCluster(ctx, e.p, e.ws, id, ""); err != nil {
		t.Fatal(err)
	}
	e.settle(t, id)
	if _, err := e.st.GetClusterAny(ctx, e.p.AccountID, e.ws, id); !rayfleet.IsNotFound(err) {
		t.Fatalf("deleted cluster not purged: %v", err)
	}
	if e.rt.has(id) {
		t.Fatal("deleted cluster still has nodes")
	}
	qs, _ = e.svc.ListQueues(ctx, e.p, e.ws, "")
	if qs[0].Used != (rayfleet.Resources{}) {
		t.Fatalf("a deleted cluster still holds %v", qs[0].Used)
	}
}

// TestWriteDuringPass: an API call that lands between a pass's read and its
// status write wins; the pass writes nothing and queues the cluster again.
func TestWriteDuringPass(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id := e.create(t, 1)
	if c := e.settle(t, id); c.State != rayfleet.StateRunning {
		t.Fatalf("after create: %s %q", c.State, c.Message)
	}
	// The next pass would report the head not answering, but the owner
	// stops the cluster while it observes.
	e.rt.mu.Lock()
	e.rt.ready = false
	e.rt.onObserve = func() {
		if _, err := e.svc.StopCluster(ctx, e.p, e.ws, id, "", ""); err != nil {
			t.Error(err)
		}
	}
	e.rt.mu.Unlock()
	ref := Ref{AccountID: e.p.AccountID, WorkspaceID: e.ws, ID: id}
	if _, err := e.rec.Reconcile(ctx, ref); err != nil {
		t.Fatal(err)
	}
	c, err := e.st.GetClusterAny(ctx, ref.AccountID, ref.WorkspaceID, ref.ID)
	if err != nil {
		t.Fatal(err)
	}
	if c.Desired != rayfleet.RunStateStopped || c.State != rayfleet.StateStopping || c.Message != "" {
		t.Fatalf("after the pass: desired %s, state %s %q; want the stop's Stopping untouched", c.Desired, c.State, c.Message)
	}
	if n := e.rec.loop.queue.len(); n != 1 {
		t.Fatalf("%d clusters queued after the stale pass, want it queued again", n)
	}
	if c = e.settle(t, id); c.State != rayfleet.StateStopped || e.rt.has(id) {
		t.Fatalf("after settling: %s, nodes=%v", c.State, e.rt.has(id))
	}
}

func TestStartTimeout(t *testing.T) {
	e := newEnv(t)
	e.rt.ready = false
	id := e.create(t, 0)
	if c := e.settle(t, id); c.State != rayfleet.StateStarting || c.Message != "booting" {
		t.Fatalf("while starting: %s %q", c.State, c.Message)
	}
	e.clock.add(DefaultStartTimeout + time.Second)
	c := e.settle(t, id)
	if c.State != rayfleet.StateError || c.Message != "the cluster did not become ready within 10m0s (last seen: booting)" || e.rt.has(id) {
		t.Fatalf("after the timeout: %s %q nodes=%v", c.State, c.Message, e.rt.has(id))
	}
}

func TestHeadFailure(t *testing.T) {
	e := newEnv(t)
	id := e.create(t, 1)
	e.settle(t, id)
	e.rt.mu.Lock()
	e.rt.failure = "head node exited with code 3"
	e.rt.mu.Unlock()
	c := e.settle(t, id)
	if c.State != rayfleet.StateError || c.Message != "head node exited with code 3" || e.rt.has(id) {
		t.Fatalf("after head failure: %s %q", c.State, c.Message)
	}
	// The owner starts it again: a new instance comes up.
	e.rt.mu.Lock()
	e.rt.failure = ""
	e.rt.mu.Unlock()
	if _, err := e.svc.StartCluster(context.Background(), e.p, e.ws, id, ""); err != nil {
		t.Fatal(err)
	}
	if c = e.settle(t, id); c.State != rayfleet.StateRunning || c.Message != "" {
		t.Fatalf("after restart: %s %q", c.State, c.Message)
	}
}

// failingWrites is the store with status writes that fail while fail is
// set, as a full disk or a database gone read-only does.
type failingWrites struct {
	Store
	fail atomic.Bool
}

func (s *failingWrites) UpdateClusterFrom(ctx context.Context, read rayfleet.Cluster, fn func(*rayfleet.Cluster) error) (rayfleet.Cluster, error) {
	if s.fail.Load() {
		return rayfleet.Cluster{}, errors.New("database or disk is full")
	}
	return s.Store.UpdateClusterFrom(ctx, read, fn)
}

// TestHeadDeathWhileWritesFail: a head that dies while status writes fail
// is still reported once they work again: the cluster reads Error with the
// head's exit, and no new head was started in between.
func TestHeadDeathWhileWritesFail(t *testing.T) {
	e := newEnv(t)
	st := &failingWrites{Store: e.st}
	e.rec.Store = st
	id := e.create(t, 1)
	if c := e.settle(t, id); c.State != rayfleet.StateRunning {
		t.Fatalf("after create: %s %q", c.State, c.Message)
	}
	ref := Ref{AccountID: e.p.AccountID, WorkspaceID: e.ws, ID: id}
	const why = "head node exited with code 1: gcs_server [exit code=-9]"
	e.rt.headDies(id, why)
	st.fail.Store(true)
	for range 3 {
		_, _ = e.rec.Reconcile(context.Background(), ref) // fails, or finds nothing to write
	}
	st.fail.Store(false)
	applies := e.rt.applies
	c := e.settle(t, id)
	if c.State != rayfleet.StateError || c.Message != why {
		t.Fatalf("after writes work again: %s %q, want Error %q", c.State, c.Message, why)
	}
	if e.rt.has(id) || e.rt.applies != applies {
		t.Fatalf("nodes=%v, %d Apply calls after the head died; want the nodes ended and no new head", e.rt.has(id), e.rt.applies-applies)
	}
}

// TestErrorKeepsWhyWhenEndingFails: an Error's message stays the reason it
// failed while its leftover nodes cannot be ended yet.
func TestErrorKeepsWhyWhenEndingFails(t *testing.T) {
	e := newEnv(t)
	id := e.create(t, 0)
	e.settle(t, id)
	e.rt.headDies(id, "head node exited with code 3")
	e.rt.suspendErr = errors.New("permission denied")
	ref := Ref{AccountID: e.p.AccountID, WorkspaceID: e.ws, ID: id}
	for range 2 {
		if _, err := e.rec.Reconcile(context.Background(), ref); err == nil {
			t.Fatal("a failed Suspend reported success")
		}
	}
	c, _ := e.st.GetCluster(context.Background(), e.p.AccountID, e.ws, id)
	if c.State != rayfleet.StateError || c.Message != "head node exited with code 3" || !e.rt.has(id) {
		t.Fatalf("state %s message %q nodes=%v", c.State, c.Message, e.rt.has(id))
	}
	e.rt.suspendErr = nil
	if c = e.settle(t, id); c.State != rayfleet.StateError || c.Message != "head node exited with code 3" || e.rt.has(id) {
		t.Fatalf("after Suspend works: state %s message %q nodes=%v", c.State, c.Message, e.rt.has(id))
	}
}

func TestRuntimeErrorIsShownAndRetried(t *testing.T) {
	e := newEnv(t)
	e.rt.applyErr = errors.New("disk full")
	id := e.create(t, 0)
	ref := Ref{AccountID: e.p.AccountID, WorkspaceID: e.ws, ID: id}
	after, err := e.rec.Reconcile(context.Background(), ref)
	if err == nil || after == 0 {
		t.Fatalf("apply error: after=%v err=%v", after, err)
	}
	c, _ := e.st.GetCluster(context.Background(), e.p.AccountID, e.ws, id)
	if c.State != rayfleet.StateStarting || c.Message != "Apply failed (will retry): disk full" {
		t.Fatalf("state %s message %q", c.State, c.Message)
	}
}

// TestConcurrentCallsConverge runs the reconciler for real while API calls
// race on one cluster, and checks one worker at a time touched it and that
// the final intent wins.
func TestConcurrentCallsConverge(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = e.rec.Run(ctx) }()
	defer func() { cancel(); <-done }()

	id := e.create(t, 1)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 15 {
				var err error
				switch (g + i) % 3 {
				case 0:
					_, err = e.svc.StopCluster(ctx, e.p, e.ws, id, "", "")
				case 1:
					_, err = e.svc.StartCluster(ctx, e.p, e.ws, id, "")
				default:
					_, err = e.svc.UpdateCluster(ctx, e.p, e.ws, id, rayfleet.ClusterPatch{Workers: &[]rayfleet.WorkerSpec{{GroupName: "g", Replica: int32(1 + i%3), CPU: "1", Memory: "1Gi"}}}, "")
				}
				if err != nil && rayfleet.ErrorCode(err) != rayfleet.EDENIED {
					t.Errorf("call: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	// Whatever state the race left, a final Stop converges to Stopped.
	poll.UntilSeen(t, 20*time.Second, "a final Stop to converge to Stopped", func() (bool, string) {
		_, err := e.svc.StopCluster(ctx, e.p, e.ws, id, "", "")
		if err != nil && rayfleet.ErrorCode(err) != rayfleet.EDENIED {
			t.Fatal(err)
		}
		c, _ := e.st.GetCluster(ctx, e.p.AccountID, e.ws, id)
		return c.State == rayfleet.StateStopped && !e.rt.has(id), fmt.Sprintf("%s %q", c.State, c.Message)
	})
	e.rt.mu.Lock()
	defer e.rt.mu.Unlock()
	if e.rt.overlap {
		t.Fatal("two workers worked on one cluster at once")
	}
}
