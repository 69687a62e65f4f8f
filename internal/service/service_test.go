package service_test

import (
	"context"
	"crypto/rand"
	"path/filepath"
	"testing"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/keyring"
	"github.com/rayfleet/rayfleet/internal/service"
	"github.com/rayfleet/rayfleet/internal/store/sqlstore"
)

// newService returns a service on a real SQLite store with no reconciler:
// states move only as far as the API moves them.
func newService(t *testing.T) (*service.Service, rayfleet.Principal, string) {
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
	s := &service.Service{Store: st, Sealer: keys, Now: time.Now, Random: rand.Reader, Releases: rayfleet.BuiltinReleaseVersions()}
	boot, err := s.Bootstrap(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := s.Authenticate(context.Background(), boot.AccessKeyID)
	if err != nil {
		t.Fatal(err)
	}
	return s, p, boot.WorkspaceID
}

func ptr[T any](v T) *T { return &v }

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if rayfleet.ErrorCode(err) != code {
		t.Fatalf("want %s, got %v", code, err)
	}
}

func TestStateMachineWithoutRuntime(t *testing.T) {
	s, p, ws := newService(t)
	ctx := context.Background()
	o, err := s.CreateCluster(ctx, p, ws, rayfleet.ClusterPatch{Name: ptr("c")}, "")
	if err != nil {
		t.Fatal(err)
	}
	id := o.ClusterID
	c, _ := s.GetCluster(ctx, p, ws, id)
	if c.State != rayfleet.StateStarting || c.Token == "" || c.InstanceID == "" {
		t.Fatalf("after create: %+v", c.Cluster)
	}
	// Start on a starting cluster succeeds without acting.
	if _, err := s.StartCluster(ctx, p, ws, id, ""); err != nil {
		t.Fatal(err)
	}
	if c2, _ := s.GetCluster(ctx, p, ws, id); c2.InstanceID != c.InstanceID {
		t.Fatal("start on a starting cluster made a new instance")
	}
	if _, err := s.StopCluster(ctx, p, ws, id, "", ""); err != nil {
		t.Fatal(err)
	}
	_, err = s.StartCluster(ctx, p, ws, id, "")
	wantCode(t, err, rayfleet.EDENIED)
	_, err = s.StopCluster(ctx, p, ws, id, "", "")
	wantCode(t, err, rayfleet.EDENIED)
	// Updates are stored while stopping; modified only concerns a running instance.
	if _, err := s.UpdateCluster(ctx, p, ws, id, rayfleet.ClusterPatch{Head: &rayfleet.HeadSpec{CPU: "4", Memory: "16Gi"}}, ""); err != nil {
		t.Fatal(err)
	}
	c, _ = s.GetCluster(ctx, p, ws, id)
	if c.Modified || c.Spec.Head.CPU != "4" || c.Token != "" {
		t.Fatalf("after update while stopping: %+v", c.Cluster)
	}
}

func TestQuotaAdmissionAndQueueRules(t *testing.T) {
	s, p, ws := newService(t)
	ctx := context.Background()
	// 64 CU workspace: a head of 60 CPU fits, a second of 8 does not.
	if _, err := s.CreateCluster(ctx, p, ws, rayfleet.ClusterPatch{Name: ptr("a"), Head: &rayfleet.HeadSpec{CPU: "60", Memory: "8Gi"}}, ""); err != nil {
		t.Fatal(err)
	}
	_, err := s.CreateCluster(ctx, p, ws, rayfleet.ClusterPatch{Name: ptr("b"), Head: &rayfleet.HeadSpec{CPU: "8", Memory: "8Gi"}}, "")
	wantCode(t, err, rayfleet.EQUOTA)
	// Autoscaling counts maxReplica.
	_, err = s.CreateCluster(ctx, p, ws, rayfleet.ClusterPatch{Name: ptr("c"), Head: &rayfleet.HeadSpec{CPU: "1", Memory: "1Gi", EnableAutoScaling: true},
		Workers: &[]rayfleet.WorkerSpec{{GroupName: "g", Replica: 1, MinReplica: 1, MaxReplica: 10, CPU: "1", Memory: "1Gi"}}}, "")
	wantCode(t, err, rayfleet.EQUOTA)
	// Queue limits never exceed the workspace quota, nor drop below use.
	_, err = s.CreateQueue(ctx, p, service.QueueInput{WorkspaceID: ws, Name: "q", CU: 1})
	wantCode(t, err, rayfleet.EQUOTA)
	_, err = s.EditQueue(ctx, p, service.QueueInput{WorkspaceID: ws, Name: rayfleet.RootQueue, CU: 10})
	wantCode(t, err, rayfleet.EDENIED)
}

func TestClientTokens(t *testing.T) {
	s, p, ws := newService(t)
	ctx := service.WithRequestID(context.Background(), "REQ-1")
	a, err := s.CreateCluster(ctx, p, ws, rayfleet.ClusterPatch{Name: ptr("x")}, "tok")
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.CreateCluster(service.WithRequestID(context.Background(), "REQ-2"), p, ws, rayfleet.ClusterPatch{Name: ptr("x")}, "tok")
	if err != nil || b.ClusterID != a.ClusterID || b.RequestID != "REQ-1" {
		t.Fatalf("retry: %+v %v", b, err)
	}
	_, err = s.CreateCluster(ctx, p, ws, rayfleet.ClusterPatch{Name: ptr("y")}, "tok")
	wantCode(t, err, rayfleet.EIDEMPOTENT)
	out, _ := s.ListClusters(ctx, p, service.ListClustersInput{WorkspaceID: ws})
	if out.TotalCount != 1 {
		t.Fatalf("a retried create acted twice: %d clusters", out.TotalCount)
	}
}

func TestAnotherAccountLooksMissing(t *testing.T) {
	s, p, ws := newService(t)
	ctx := context.Background()
	o, err := s.CreateCluster(ctx, p, ws, rayfleet.ClusterPatch{Name: ptr("mine")}, "")
	if err != nil {
		t.Fatal(err)
	}
	other := rayfleet.Principal{AccountID: "9999999999999999", UserUID: "1", Root: true}
	_, errWs := s.GetCluster(ctx, other, ws, o.ClusterID)
	_, errMissing := s.GetCluster(ctx, other, "w-0000000000000000", o.ClusterID)
	if rayfleet.ErrorCode(errWs) != rayfleet.ENOTFOUND || rayfleet.ErrorMessage(errWs) != "workspace "+ws+" not found" ||
		rayfleet.ErrorCode(errMissing) != rayfleet.ENOTFOUND {
		t.Fatalf("foreign workspace: %v / missing: %v", errWs, errMissing)
	}
	_, err = s.DeleteCluster(ctx, other, ws, o.ClusterID, "")
	wantCode(t, err, rayfleet.ENOTFOUND)
	if c, err := s.GetCluster(ctx, p, ws, o.ClusterID); err != nil || c.Deleted {
		t.Fatalf("another account changed my cluster: %v", err)
	}
}

// TestAdmissionCountsWhatHoldsCapacity: admission counts the spec of every
// other cluster that holds capacity (deleted ones until they stop), never
// the cluster being updated itself, and frees a stopped cluster's share;
// ListQueues reports the same use.
func TestAdmissionCountsWhatHoldsCapacity(t *testing.T) {
	s, p, ws := newService(t)
	ctx := context.Background()
	create := func(name, cpu string) (string, error) {
		o, err := s.CreateCluster(ctx, p, ws, rayfleet.ClusterPatch{Name: ptr(name), Head: &rayfleet.HeadSpec{CPU: cpu, Memory: "8Gi"}}, "")
		return o.ClusterID, err
	}
	used := func(wantCPU int64) {
		t.Helper()
		qs, err := s.ListQueues(ctx, p, ws, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range qs {
			if q.Name == rayfleet.RootQueue {
				if q.Used.MilliCPU != wantCPU {
					t.Fatalf("root queue uses %d mCPU, want %d", q.Used.MilliCPU, wantCPU)
				}
				return
			}
		}
		t.Fatalf("no root queue in %+v", qs)
	}
	// A 64 CU workspace.
	a, err := create("a", "60")
	if err != nil {
		t.Fatal(err)
	}
	used(60000)
	_, err = create("b", "8")
	wantCode(t, err, rayfleet.EQUOTA)
	// A's own share does not count against its new spec.
	if _, err := s.UpdateCluster(ctx, p, ws, a, rayfleet.ClusterPatch{Head: &rayfleet.HeadSpec{CPU: "56", Memory: "8Gi"}}, ""); err != nil {
		t.Fatal(err)
	}
	used(56000)
	b, err := create("b", "8")
	if err != nil {
		t.Fatal(err)
	}
	_, err = create("c", "1")
	wantCode(t, err, rayfleet.EQUOTA)
	_, err = s.UpdateCluster(ctx, p, ws, a, rayfleet.ClusterPatch{Head: &rayfleet.HeadSpec{CPU: "57", Memory: "8Gi"}}, "")
	wantCode(t, err, rayfleet.EQUOTA)

	// Deleted, b holds its share until its resources are gone.
	if _, err := s.DeleteCluster(ctx, p, ws, b, ""); err != nil {
		t.Fatal(err)
	}
	_, err = create("c", "1")
	wantCode(t, err, rayfleet.EQUOTA)
	used(64000)
	// The reconciler records it stopped: its share is free.
	if _, err := s.Store.UpdateCluster(ctx, p.AccountID, ws, b, func(c *rayfleet.Cluster) error {
		c.State = rayfleet.StateStopped
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	used(56000)
	if _, err := create("c", "8"); err != nil {
		t.Fatal(err)
	}
	used(64000)
}
