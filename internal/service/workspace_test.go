package service_test

import (
	"context"
	"errors"
	"testing"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/service"
)

// workspaceRuntime is a fake service.WorkspaceRuntime that records calls.
type workspaceRuntime struct {
	calls []string
	err   error
}

func (w *workspaceRuntime) DeleteWorkspace(_ context.Context, accountID, workspaceID string) error {
	w.calls = append(w.calls, accountID+"/"+workspaceID)
	return w.err
}

func TestDeleteWorkspaceTellsTheRuntime(t *testing.T) {
	s, p, _ := newService(t)
	ctx := context.Background()
	rt := &workspaceRuntime{}
	s.WorkspaceRuntime = rt
	o, err := s.CreateWorkspace(ctx, p, service.CreateWorkspaceInput{Name: "second"})
	if err != nil {
		t.Fatal(err)
	}
	ws := o.WorkspaceID

	// A workspace holding a cluster, even a deleted one not yet purged, is
	// refused and its runtime resources left alone.
	c, err := s.CreateCluster(ctx, p, ws, rayfleet.ClusterPatch{Name: ptr("c")}, "")
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.DeleteWorkspace(ctx, p, ws), rayfleet.EDENIED)
	if _, err := s.DeleteCluster(ctx, p, ws, c.ClusterID, ""); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.DeleteWorkspace(ctx, p, ws), rayfleet.EDENIED)
	if len(rt.calls) != 0 {
		t.Fatalf("the runtime was told to delete a workspace that holds clusters: %v", rt.calls)
	}
	if err := s.Store.PurgeCluster(ctx, p.AccountID, ws, c.ClusterID); err != nil {
		t.Fatal(err)
	}

	// A runtime that fails: the workspace stays, to be deleted again.
	rt.err = errors.New("API server unreachable")
	if err := s.DeleteWorkspace(ctx, p, ws); err == nil || rayfleet.ErrorCode(err) != rayfleet.EINTERNAL {
		t.Fatalf("a failed runtime deletion: %v", err)
	}
	if _, err := s.Store.GetWorkspace(ctx, p.AccountID, ws); err != nil {
		t.Fatalf("the workspace went although the runtime failed: %v", err)
	}

	rt.err = nil
	if err := s.DeleteWorkspace(ctx, p, ws); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Store.GetWorkspace(ctx, p.AccountID, ws); !rayfleet.IsNotFound(err) {
		t.Fatalf("the workspace is still there: %v", err)
	}
	want := p.AccountID + "/" + ws
	if len(rt.calls) != 2 || rt.calls[0] != want || rt.calls[1] != want {
		t.Fatalf("runtime calls %v, want two of %s", rt.calls, want)
	}
	wantCode(t, s.DeleteWorkspace(ctx, p, ws), rayfleet.ENOTFOUND)
	if len(rt.calls) != 2 {
		t.Fatalf("a missing workspace reached the runtime: %v", rt.calls)
	}
}

// UpdateWorkspace renames and resizes; a quota below what the queues'
// limits add up to is refused until they are lowered, and a raised one is
// left for the queues to take.
func TestUpdateWorkspace(t *testing.T) {
	s, p, ws := newService(t)
	ctx := context.Background()
	get := func() rayfleet.Workspace {
		t.Helper()
		w, err := s.Store.GetWorkspace(ctx, p.AccountID, ws)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	if err := s.UpdateWorkspace(ctx, p, service.UpdateWorkspaceInput{WorkspaceID: ws, Name: ptr("renamed")}); err != nil {
		t.Fatal(err)
	}
	if w := get(); w.Name != "renamed" || w.CU != service.DefaultWorkspaceCU {
		t.Fatalf("after a rename: %+v", w)
	}
	// The root queue holds the whole quota.
	wantCode(t, s.UpdateWorkspace(ctx, p, service.UpdateWorkspaceInput{WorkspaceID: ws, CU: ptr[int64](32)}), rayfleet.EDENIED)
	if _, err := s.EditQueue(ctx, p, service.QueueInput{WorkspaceID: ws, Name: rayfleet.RootQueue, CU: 32}); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateWorkspace(ctx, p, service.UpdateWorkspaceInput{WorkspaceID: ws, CU: ptr[int64](32)}); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateWorkspace(ctx, p, service.UpdateWorkspaceInput{WorkspaceID: ws, CU: ptr[int64](100)}); err != nil {
		t.Fatal(err)
	}
	if w := get(); w.Name != "renamed" || w.CU != 100 {
		t.Fatalf("after the resizes: %+v", w)
	}
	if _, err := s.CreateQueue(ctx, p, service.QueueInput{WorkspaceID: ws, Name: "more", CU: 68}); err != nil {
		t.Fatalf("the raised quota is not free for a queue: %v", err)
	}
	for _, in := range []service.UpdateWorkspaceInput{
		{WorkspaceID: ws, Name: ptr("")},
		{WorkspaceID: ws, CU: ptr[int64](0)},
		{WorkspaceID: ws, CU: ptr[int64](service.MaxWorkspaceCU + 1)},
	} {
		wantCode(t, s.UpdateWorkspace(ctx, p, in), rayfleet.EINVALID)
	}
	wantCode(t, s.UpdateWorkspace(ctx, p, service.UpdateWorkspaceInput{}), rayfleet.EMISSING)
	wantCode(t, s.UpdateWorkspace(ctx, p, service.UpdateWorkspaceInput{WorkspaceID: "w-0000000000000000", Name: ptr("x")}), rayfleet.ENOTFOUND)
}
