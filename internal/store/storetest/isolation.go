package storetest

import (
	"context"
	"testing"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/store"
)

// testAccountIsolation has account B use account A's ids: every answer must
// be exactly what B would get for ids that exist nowhere, which a second,
// empty store tells.
func testAccountIsolation(t *testing.T, newStore NewStore) {
	s, empty, ctx := newStore(t), newStore(t), t.Context()
	a, b := AccountID(1), AccountID(2)
	wA := createWorkspace(ctx, t, s, a, 1)
	createWorkspace(ctx, t, s, b, 2)
	cA := NewCluster(a, wA.ID, 1)
	must(t, s.CreateCluster(ctx, cA))
	jA := NewJob(a, wA.ID, cA.ID, 1)
	must(t, s.CreateJob(ctx, jA))
	uA := NewUser(a, 1)
	must(t, s.CreateUser(ctx, uA))
	tA := NewDataPlaneToken(cA, uA, 1)
	must(t, s.CreateDataPlaneTokens(ctx, []rayfleet.DataPlaneToken{tA}))
	root := NewQueue(wA, rayfleet.RootQueue)
	asB := root
	asB.AccountID = b

	for _, op := range []struct {
		name string
		do   func(store.Store) error
	}{
		{"GetWorkspace", func(s store.Store) error { _, err := s.GetWorkspace(ctx, b, wA.ID); return err }},
		{"DeleteWorkspace", func(s store.Store) error { return s.DeleteWorkspace(ctx, b, wA.ID) }},
		{"UpdateWorkspace", func(s store.Store) error {
			w := wA
			w.AccountID, w.Name = b, "taken"
			return s.UpdateWorkspace(ctx, w)
		}},
		{"GetQueue", func(s store.Store) error { _, err := s.GetQueue(ctx, b, wA.ID, root.Name); return err }},
		{"UpdateQueue", func(s store.Store) error { return s.UpdateQueue(ctx, asB) }},
		{"DeleteQueue", func(s store.Store) error { return s.DeleteQueue(ctx, b, wA.ID, root.Name) }},
		{"GetCluster", func(s store.Store) error { _, err := s.GetCluster(ctx, b, wA.ID, cA.ID); return err }},
		{"UpdateCluster", func(s store.Store) error {
			_, err := s.UpdateCluster(ctx, b, wA.ID, cA.ID, func(c *rayfleet.Cluster) error {
				t.Errorf("UpdateCluster gave account %s the cluster %s of account %s", b, c.ID, c.AccountID)
				return nil
			})
			return err
		}},
		{"PurgeCluster", func(s store.Store) error { return s.PurgeCluster(ctx, b, wA.ID, cA.ID) }},
		{"GetUser", func(s store.Store) error { _, err := s.GetUser(ctx, b, uA.UID); return err }},
		{"GetJob", func(s store.Store) error { _, err := s.GetJob(ctx, b, wA.ID, jA.ID); return err }},
		{"UpdateJob", func(s store.Store) error {
			_, err := s.UpdateJob(ctx, b, wA.ID, jA.ID, func(j *rayfleet.Job) error {
				t.Errorf("UpdateJob gave account %s the job %s of account %s", b, j.ID, j.AccountID)
				return nil
			})
			return err
		}},
		{"SetJobStatus", func(s store.Store) error {
			_, _, err := s.SetJobStatus(ctx, b, wA.ID, jA.ID, store.JobStatusUpdate{Status: rayfleet.JobFailed, Message: "by another account"})
			return err
		}},
		{"CreateJob", func(s store.Store) error { return s.CreateJob(ctx, NewJob(b, wA.ID, cA.ID, 2)) }},
	} {
		err := op.do(s)
		wantNotFound(t, err, op.name+" by another account")
		want := op.do(empty)
		wantNotFound(t, want, op.name+" on an empty store")
		if rayfleet.ErrorMessage(err) != rayfleet.ErrorMessage(want) {
			t.Errorf("%s by another account says %q; for a missing object it says %q", op.name, rayfleet.ErrorMessage(err), rayfleet.ErrorMessage(want))
		}
	}

	ws, total, err := s.ListWorkspaces(ctx, store.WorkspaceFilter{AccountID: b})
	must(t, err)
	if total != 1 || len(ws) != 1 || ws[0].AccountID != b {
		t.Errorf("ListWorkspaces of account %s: %+v (total %d), want only its own", b, ws, total)
	}
	qs, err := s.ListQueues(ctx, b, wA.ID)
	must(t, err)
	nss, err := s.ListNetworkServices(ctx, b, wA.ID)
	must(t, err)
	cs, total, err := s.ListClusters(ctx, store.ClusterFilter{AccountID: b, WorkspaceID: wA.ID})
	must(t, err)
	holding, err := s.ClustersHoldingCapacity(ctx, b, wA.ID)
	must(t, err)
	used, err := s.CapacityInUse(ctx, b, wA.ID)
	must(t, err)
	js, jobTotal, err := s.ListJobs(ctx, store.JobFilter{AccountID: b, WorkspaceID: wA.ID, ID: jA.ID})
	must(t, err)
	unfinished, err := s.ListUnfinishedJobs(ctx, store.ClusterRef{AccountID: b, WorkspaceID: wA.ID, ID: cA.ID})
	must(t, err)
	toks, err := s.ListDataPlaneTokens(ctx, store.DataPlaneTokenFilter{AccountID: b, UserUID: uA.UID, AccessKeyID: tA.AccessKeyID, WorkspaceID: wA.ID, ClusterIDs: []string{cA.ID}})
	must(t, err)
	if len(qs)+len(nss)+len(cs)+total+len(holding)+len(used)+len(js)+jobTotal+len(unfinished)+len(toks) != 0 {
		t.Errorf("lists of account %s in workspace %s of account %s: %d queues, %d network services, %d clusters (total %d), %d holding capacity, capacity in use %v, %d jobs (total %d), %d unfinished jobs, %d data-plane tokens; want none",
			b, wA.ID, a, len(qs), len(nss), len(cs), total, len(holding), used, len(js), jobTotal, len(unfinished), len(toks))
	}

	// A's things are untouched by B's attempts.
	assertIntact(ctx, t, s, wA, cA)
	gotJ, err := s.GetJob(ctx, a, wA.ID, jA.ID)
	must(t, err)
	wantEqual(t, gotJ, storedJob(jA), "job after another account's attempts")
}

func assertIntact(ctx context.Context, t *testing.T, s store.Store, w rayfleet.Workspace, c rayfleet.Cluster) {
	t.Helper()
	gotW, err := s.GetWorkspace(ctx, w.AccountID, w.ID)
	must(t, err)
	wantEqual(t, gotW, w, "workspace after another account's attempts")
	q, err := s.GetQueue(ctx, w.AccountID, w.ID, rayfleet.RootQueue)
	must(t, err)
	wantEqual(t, q, NewQueue(w, rayfleet.RootQueue), "root queue after another account's attempts")
	gotC, err := s.GetCluster(ctx, c.AccountID, c.WorkspaceID, c.ID)
	must(t, err)
	wantEqual(t, gotC, stored(c), "cluster after another account's attempts")
}
