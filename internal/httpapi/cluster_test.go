package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/rayfleet/rayfleet/api"
	"github.com/rayfleet/rayfleet/api/signer"
)

// rootClient is a client of a fresh server as its first account's root
// user, with that account's first workspace.
func rootClient(t *testing.T) (*api.Client, string) {
	t.Helper()
	srv, svc, _ := testAPI(t, t.TempDir())
	boot, err := svc.Bootstrap(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c := &api.Client{Endpoint: srv.URL, HTTP: srv.Client(), Credentials: signer.Credentials{AccessKeyID: boot.AccessKeyID, AccessKeySecret: boot.AccessKeySecret}}
	return c, boot.WorkspaceID
}

// wantAPIError fails unless err is the API's error with this code and a
// message holding each of msgs.
func wantAPIError(t *testing.T, what string, err error, code string, msgs ...string) {
	t.Helper()
	var e *api.Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("%s: %v, want %s", what, err, code)
	}
	for _, m := range msgs {
		if !strings.Contains(e.Message, m) {
			t.Fatalf("%s: message %q does not say %q", what, e.Message, m)
		}
	}
}

// Worker groups' minReplica and maxReplica: given, 1 or more and min <=
// max, autoscaling or not; left out, the replica of a group of fixed size.
func TestReplicaBounds(t *testing.T) {
	c, ws := rootClient(t)
	ctx := context.Background()
	create := func(head map[string]any, group map[string]any) (string, error) {
		group["groupName"], group["cpu"], group["memory"] = "g", "1", "2Gi"
		body := map[string]any{"name": "c", "workerSpec": []any{group}}
		if head != nil {
			body["headSpec"] = head
		}
		var out api.ClusterIDResponse
		err := c.Do(ctx, "CreateRayCluster", http.MethodPost, "/api/v1/workspaces/"+ws+"/rayCluster", nil, body, &out)
		return out.ClusterID, err
	}
	scaling := map[string]any{"cpu": "1", "memory": "2Gi", "enableAutoScaling": true}
	for _, tc := range []struct {
		head  map[string]any
		group map[string]any
		msg   string
	}{
		{nil, map[string]any{"replica": 2, "minReplica": 0}, "workerSpec[0].minReplica must be at least 1, got 0"},
		{nil, map[string]any{"replica": 2, "minReplica": 1, "maxReplica": 0}, "workerSpec[0].maxReplica must be at least 1, got 0"},
		{nil, map[string]any{"replica": 2, "minReplica": 3, "maxReplica": 2}, "minReplica <= maxReplica, got 3 > 2"},
		{scaling, map[string]any{"replica": 2, "minReplica": 0, "maxReplica": 4}, "minReplica must be at least 1, got 0"},
		{scaling, map[string]any{"replica": 2}, "minReplica must be at least 1 when autoscaling is on"},
		{scaling, map[string]any{"replica": 5, "minReplica": 1, "maxReplica": 4}, "minReplica <= replica <= maxReplica"},
	} {
		_, err := create(tc.head, tc.group)
		wantAPIError(t, tc.msg, err, "InvalidParameter", tc.msg)
	}
	id, err := create(nil, map[string]any{"replica": 2})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.GetCluster(ctx, ws, id)
	if err != nil {
		t.Fatal(err)
	}
	if w := got.WorkerSpec[0]; w.MinReplica != 2 || w.MaxReplica != 2 {
		t.Fatalf("bounds left out read %d..%d, want 2..2", w.MinReplica, w.MaxReplica)
	}
	// An update is held to the same rule.
	var out api.ClusterIDResponse
	err = c.Do(ctx, "UpdateRayCluster", http.MethodPost, "/api/v1/workspaces/"+ws+"/rayCluster/"+id, nil,
		map[string]any{"workerSpec": []any{map[string]any{"groupName": "g", "replica": 1, "maxReplica": -1, "cpu": "1", "memory": "2Gi"}}}, &out)
	wantAPIError(t, "an update with maxReplica -1", err, "InvalidParameter", "workerSpec[0].maxReplica must be at least 1, got -1")
}

// ListRayCluster's pageSize and pageNum, given, are 1 or more: 0 is not
// the default.
func TestListClustersPageZero(t *testing.T) {
	c, ws := rootClient(t)
	ctx := context.Background()
	for _, name := range []string{"pageSize", "pageNum"} {
		var out api.ListClustersResponse
		err := c.Do(ctx, "ListRayCluster", http.MethodGet, "/api/v1/workspaces/"+ws+"/rayCluster", url.Values{name: {"0"}}, nil, &out)
		wantAPIError(t, name+"=0", err, "InvalidParameter", name+" must be 1 or more, got 0")
	}
	l, err := c.ListClusters(ctx, ws, api.ListClustersOptions{})
	if err != nil || l.PageSize != 20 || l.PageNum != 1 {
		t.Fatalf("the defaults: %+v %v", l, err)
	}
}
