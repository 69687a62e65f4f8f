package storetest

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/store"
)

// createWorkspace stores fixture workspace n of an account with its root
// queue and default network service, and the GPU queue the fixture
// clusters use too.
func createWorkspace(ctx context.Context, t *testing.T, s store.Store, accountID string, n int) rayfleet.Workspace {
	t.Helper()
	w := NewWorkspace(accountID, n)
	must(t, s.CreateWorkspace(ctx, w, NewQueue(w, rayfleet.RootQueue), NewNetworkService(w, rayfleet.DefaultNetworkService)))
	must(t, s.CreateQueue(ctx, NewQueue(w, GPUQueue)))
	return w
}

func testWorkspaces(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	w := NewWorkspace(AccountID(1), 1)
	root, ns := NewQueue(w, rayfleet.RootQueue), NewNetworkService(w, rayfleet.DefaultNetworkService)
	must(t, s.CreateWorkspace(ctx, w, root, ns))

	got, err := s.GetWorkspace(ctx, w.AccountID, w.ID)
	must(t, err)
	wantEqual(t, got, w, "GetWorkspace")
	q, err := s.GetQueue(ctx, w.AccountID, w.ID, rayfleet.RootQueue)
	must(t, err)
	wantEqual(t, q, root, "root queue created with the workspace")
	nss, err := s.ListNetworkServices(ctx, w.AccountID, w.ID)
	must(t, err)
	wantEqual(t, nss, []rayfleet.NetworkService{ns}, "network services created with the workspace")

	wantCode(t, s.CreateWorkspace(ctx, w, root, ns), rayfleet.EDENIED, "CreateWorkspace of an existing id")
	_, err = s.GetWorkspace(ctx, w.AccountID, WorkspaceID(9))
	wantNotFound(t, err, "GetWorkspace of a missing id")

	// UpdateWorkspace writes the name and the quota, and nothing else.
	changed := w
	changed.Name, changed.CU = "Renamed", 40
	changed.Status, changed.OSSBucket, changed.Tags = rayfleet.WorkspaceTerminated, "oss://other", nil
	must(t, s.UpdateWorkspace(ctx, changed))
	want := w
	want.Name, want.CU = "Renamed", 40
	got, err = s.GetWorkspace(ctx, w.AccountID, w.ID)
	must(t, err)
	wantEqual(t, got, want, "GetWorkspace after UpdateWorkspace")
	ws, _, err := s.ListWorkspaces(ctx, store.WorkspaceFilter{AccountID: w.AccountID, Name: "renamed"})
	must(t, err)
	wantEqual(t, ws, []rayfleet.Workspace{want}, "ListWorkspaces by the new name")
	missing := NewWorkspace(w.AccountID, 9)
	wantNotFound(t, s.UpdateWorkspace(ctx, missing), "UpdateWorkspace of a missing id")

	// No tags read back as none.
	bare := NewWorkspace(w.AccountID, 2)
	bare.Tags = nil
	must(t, s.CreateWorkspace(ctx, bare, NewQueue(bare, rayfleet.RootQueue), NewNetworkService(bare, rayfleet.DefaultNetworkService)))
	got, err = s.GetWorkspace(ctx, bare.AccountID, bare.ID)
	must(t, err)
	wantEqual(t, got, bare, "GetWorkspace of a workspace without tags")
}

func testListWorkspaces(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	acc := AccountID(1)
	names := []string{"Alpha", "beta", "Gamma-ALPHA", "delta_1", "epsilon%"}
	var all []rayfleet.Workspace // newest first
	for i, name := range names {
		w := NewWorkspace(acc, i+1)
		w.Name = name
		w.CreateTime = At(10 - i/2) // pairs share a time: ties broken by id
		if i == 1 {
			w.Status = rayfleet.WorkspaceStarting
		}
		if i == 4 {
			w.Tags = nil
		}
		must(t, s.CreateWorkspace(ctx, w, NewQueue(w, rayfleet.RootQueue), NewNetworkService(w, rayfleet.DefaultNetworkService)))
		all = append(all, w)
	}
	createWorkspace(ctx, t, s, AccountID(2), 9) // another account's
	slices.SortFunc(all, func(a, b rayfleet.Workspace) int {
		if c := b.CreateTime.Compare(a.CreateTime); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})

	hasTags := func(w rayfleet.Workspace, tags []store.TagFilter) bool {
		for _, t := range tags {
			if !slices.ContainsFunc(w.Tags, func(wt rayfleet.Tag) bool { return wt.Key == t.Key && (t.AnyValue || wt.Value == t.Value) }) {
				return false
			}
		}
		return true
	}
	match := func(f store.WorkspaceFilter) []rayfleet.Workspace {
		var out []rayfleet.Workspace
		for _, w := range all {
			if strings.Contains(strings.ToLower(w.Name), strings.ToLower(f.Name)) && (f.Status == "" || w.Status == f.Status) && hasTags(w, f.Tags) {
				out = append(out, w)
			}
		}
		return out
	}
	for _, f := range []store.WorkspaceFilter{
		{},
		{Name: "alpha"},
		{Name: "ALPHA"},
		{Name: "_"},
		{Name: "%"},
		{Name: "nope"},
		{Status: rayfleet.WorkspaceStarting},
		{Status: rayfleet.WorkspaceRunning, Name: "a"},
		// Tags: every one must be there; AnyValue matches the key alone.
		{Tags: []store.TagFilter{{Key: "team", Value: "team-1"}}},
		{Tags: []store.TagFilter{{Key: "team", AnyValue: true}}},
		{Tags: []store.TagFilter{{Key: "team", Value: "team-0"}, {Key: "n", Value: "2"}}},
		{Tags: []store.TagFilter{{Key: "team", Value: "team-0"}, {Key: "n", Value: "3"}}},
		{Tags: []store.TagFilter{{Key: "n", AnyValue: true}}, Name: "ALPHA"},
		{Tags: []store.TagFilter{{Key: "Team", AnyValue: true}}},
		{Tags: []store.TagFilter{{Key: "team", Value: ""}}},
		{Tags: []store.TagFilter{{Key: "team%", AnyValue: true}}},
	} {
		f.AccountID = acc
		want := match(f)
		checkPages(t, fmt.Sprintf("ListWorkspaces(%+v)", f), want, func(offset, limit int) ([]rayfleet.Workspace, int, error) {
			f.Offset, f.Limit = offset, limit
			return s.ListWorkspaces(ctx, f)
		})
	}
}

// checkPages checks a paged list against the full list it should page
// through: everything at once, then pages of 1, 2 and 3, and a page past
// the end, each with the total count.
func checkPages[T any](t *testing.T, what string, want []T, list func(offset, limit int) ([]T, int, error)) {
	t.Helper()
	got, total, err := list(0, 0)
	must(t, err)
	if len(got) != len(want) || (len(want) > 0 && !reflect.DeepEqual(got, want)) {
		t.Fatalf("%s without limit:\n got %+v\nwant %+v", what, got, want)
	}
	if total != len(want) {
		t.Fatalf("%s: total %d, want %d", what, total, len(want))
	}
	for _, limit := range []int{1, 2, 3} {
		var paged []T
		for offset := 0; offset < len(want)+limit; offset += limit {
			page, total, err := list(offset, limit)
			must(t, err)
			if total != len(want) {
				t.Fatalf("%s offset %d limit %d: total %d, want %d", what, offset, limit, total, len(want))
			}
			if len(page) > limit {
				t.Fatalf("%s offset %d limit %d: %d items", what, offset, limit, len(page))
			}
			paged = append(paged, page...)
		}
		if len(paged) != len(want) || (len(want) > 0 && !reflect.DeepEqual(paged, want)) {
			t.Fatalf("%s in pages of %d:\n got %+v\nwant %+v", what, limit, paged, want)
		}
	}
	page, total, err := list(len(want)+5, 10)
	must(t, err)
	if len(page) != 0 || total != len(want) {
		t.Fatalf("%s past the end: %d items, total %d; want none, total %d", what, len(page), total, len(want))
	}
}

func testDeleteWorkspace(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	acc := AccountID(1)
	w := createWorkspace(ctx, t, s, acc, 1)
	must(t, s.CreateQueue(ctx, NewQueue(w, "extra")))
	must(t, s.CreateNetworkService(ctx, NewNetworkService(w, "other")))
	c := NewCluster(acc, w.ID, 1)
	must(t, s.CreateCluster(ctx, c))

	wantCode(t, s.DeleteWorkspace(ctx, acc, w.ID), rayfleet.EDENIED, "DeleteWorkspace holding a cluster")
	_, err := s.UpdateCluster(ctx, acc, w.ID, c.ID, func(c *rayfleet.Cluster) error { c.Deleted = true; return nil })
	must(t, err)
	wantCode(t, s.DeleteWorkspace(ctx, acc, w.ID), rayfleet.EDENIED, "DeleteWorkspace holding a deleted cluster row")
	_, err = s.GetWorkspace(ctx, acc, w.ID)
	must(t, err)
	qs, err := s.ListQueues(ctx, acc, w.ID)
	must(t, err)
	if len(qs) != 3 {
		t.Fatalf("a refused DeleteWorkspace left %d queues, want 3", len(qs))
	}

	must(t, s.PurgeCluster(ctx, acc, w.ID, c.ID))
	must(t, s.DeleteWorkspace(ctx, acc, w.ID))
	_, err = s.GetWorkspace(ctx, acc, w.ID)
	wantNotFound(t, err, "GetWorkspace after DeleteWorkspace")
	_, err = s.GetQueue(ctx, acc, w.ID, rayfleet.RootQueue)
	wantNotFound(t, err, "GetQueue after DeleteWorkspace")
	qs, err = s.ListQueues(ctx, acc, w.ID)
	must(t, err)
	nss, err := s.ListNetworkServices(ctx, acc, w.ID)
	must(t, err)
	if len(qs)+len(nss) != 0 {
		t.Fatalf("DeleteWorkspace left %d queues and %d network services", len(qs), len(nss))
	}
	wantNotFound(t, s.DeleteWorkspace(ctx, acc, w.ID), "DeleteWorkspace of a deleted workspace")
	// Nothing of it lingers: the same id can be created again.
	createWorkspace(ctx, t, s, acc, 1)
}

func testQueues(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	acc := AccountID(1)
	w := NewWorkspace(acc, 1)
	root := NewQueue(w, rayfleet.RootQueue)
	must(t, s.CreateWorkspace(ctx, w, root, NewNetworkService(w, rayfleet.DefaultNetworkService)))
	q := NewQueue(w, "gpu.queue-1")
	q.CreateTime = root.CreateTime.Add(time.Minute)
	must(t, s.CreateQueue(ctx, q))

	got, err := s.GetQueue(ctx, acc, w.ID, q.Name)
	must(t, err)
	wantEqual(t, got, q, "GetQueue")
	qs, err := s.ListQueues(ctx, acc, w.ID)
	must(t, err)
	wantEqual(t, qs, []rayfleet.Queue{root, q}, "ListQueues (oldest first)")

	q.MaxCU, q.Category, q.Description = 60, "prod", "changed"
	q.Environments, q.PaymentType = []string{"dev", "production"}, "PayAsYouGo"
	must(t, s.UpdateQueue(ctx, q))
	got, err = s.GetQueue(ctx, acc, w.ID, q.Name)
	must(t, err)
	wantEqual(t, got, q, "GetQueue after UpdateQueue")

	wantCode(t, s.CreateQueue(ctx, q), rayfleet.EDENIED, "CreateQueue of an existing name")
	_, err = s.GetQueue(ctx, acc, w.ID, "missing")
	wantNotFound(t, err, "GetQueue of a missing name")
	missing := NewQueue(w, "missing")
	wantNotFound(t, s.UpdateQueue(ctx, missing), "UpdateQueue of a missing name")
	wantNotFound(t, s.DeleteQueue(ctx, acc, w.ID, "missing"), "DeleteQueue of a missing name")

	must(t, s.DeleteQueue(ctx, acc, w.ID, q.Name))
	_, err = s.GetQueue(ctx, acc, w.ID, q.Name)
	wantNotFound(t, err, "GetQueue after DeleteQueue")
	wantNotFound(t, s.DeleteQueue(ctx, acc, w.ID, q.Name), "DeleteQueue twice")
	qs, err = s.ListQueues(ctx, acc, WorkspaceID(9))
	must(t, err)
	if len(qs) != 0 {
		t.Fatalf("ListQueues of a missing workspace: %+v", qs)
	}
}

func testNetworkServices(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	acc := AccountID(1)
	w := createWorkspace(ctx, t, s, acc, 1)
	n := NewNetworkService(w, "private")
	n.CreateTime = n.CreateTime.Add(time.Minute)
	n.VSwitchIDs = nil
	must(t, s.CreateNetworkService(ctx, n))
	got, err := s.ListNetworkServices(ctx, acc, w.ID)
	must(t, err)
	wantEqual(t, got, []rayfleet.NetworkService{NewNetworkService(w, rayfleet.DefaultNetworkService), n}, "ListNetworkServices (oldest first)")
	wantCode(t, s.CreateNetworkService(ctx, n), rayfleet.EDENIED, "CreateNetworkService of an existing name")
	got, err = s.ListNetworkServices(ctx, acc, WorkspaceID(9))
	must(t, err)
	if len(got) != 0 {
		t.Fatalf("ListNetworkServices of a missing workspace: %+v", got)
	}
}
