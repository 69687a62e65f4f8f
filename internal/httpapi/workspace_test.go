package httpapi_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/rayfleet/rayfleet/api"
)

func listWorkspaces(t *testing.T, c *api.Client, q url.Values) (*api.ListWorkspacesResponse, error) {
	t.Helper()
	var out api.ListWorkspacesResponse
	err := c.Do(context.Background(), "ListWorkspaces", http.MethodGet, "/api/v1/workspaces", q, nil, &out)
	return &out, err
}

// workspaceNames are the names listed, sorted: workspaces made in the same
// millisecond list in the order of their random ids.
func workspaceNames(l *api.ListWorkspacesResponse) []string {
	var out []string
	for _, w := range l.Workspaces {
		out = append(out, w.WorkspaceName)
	}
	slices.Sort(out)
	return out
}

// ListWorkspaces serves its state and tag filters (tag is JSON text in the
// query, as the SDK sends it), reports each workspace's tags, and refuses
// what it cannot filter on.
func TestListWorkspacesFilters(t *testing.T) {
	c, _ := rootClient(t)
	ctx := context.Background()
	for _, w := range []struct {
		name string
		tags []api.Tag
	}{
		{"team-a", []api.Tag{{Key: "team", Value: "a"}, {Key: "env", Value: "dev"}}},
		{"team-b", []api.Tag{{Key: "team", Value: "b"}}},
	} {
		cu := api.FlexInt(4)
		if _, err := c.CreateWorkspace(ctx, &api.CreateWorkspaceRequest{WorkspaceName: w.name, ResourceSpec: api.ResourceSpec{CU: &cu}, Tag: w.tags}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		query url.Values
		want  string
	}{
		{url.Values{}, "default team-a team-b"},
		{url.Values{"tag": {`[{"key":"team","value":"a"}]`}}, "team-a"},
		{url.Values{"tag": {`[{"key": "team"}]`}}, "team-a team-b"},
		{url.Values{"tag": {`[{"key":"team","value":"b"},{"key":"env","value":"dev"}]`}}, ""},
		{url.Values{"tag": {`[]`}}, "default team-a team-b"},
		{url.Values{"state": {"Running"}}, "default team-a team-b"},
		{url.Values{"state": {"RUNNING"}, "tag": {`[{"key":"env","value":"dev"}]`}}, "team-a"},
		{url.Values{"state": {"Stopped"}}, ""},
		{url.Values{"regionId": {"local"}, "name": {"TEAM"}}, "team-a team-b"},
	} {
		l, err := listWorkspaces(t, c, tc.query)
		if err != nil {
			t.Fatalf("%v: %v", tc.query, err)
		}
		if got := strings.Join(workspaceNames(l), " "); got != tc.want || l.TotalCount != len(l.Workspaces) {
			t.Errorf("%v: %q (total %d), want %q", tc.query, got, l.TotalCount, tc.want)
		}
	}
	l, err := listWorkspaces(t, c, url.Values{"name": {"team-a"}})
	if err != nil {
		t.Fatal(err)
	}
	if tags := l.Workspaces[0].Tags; len(tags) != 2 || tags[0] != (api.WorkspaceTag{TagKey: "team", TagValue: "a"}) || tags[1] != (api.WorkspaceTag{TagKey: "env", TagValue: "dev"}) {
		t.Errorf("team-a's tags: %+v", tags)
	}

	for _, tc := range []struct {
		query url.Values
		code  string
		msg   []string
	}{
		{url.Values{"state": {"Sleeping"}}, "InvalidParameter", []string{"state must be one of"}},
		{url.Values{"tag": {"team=a"}}, "InvalidParameter", []string{"tag must be JSON text"}},
		{url.Values{"tag": {`[{"value":"a"}]`}}, "MissingParameter", []string{"tag[0].key"}},
		{url.Values{"resourceGroupId": {"rg-acfm"}}, "InvalidParameter", []string{"resourceGroupId is not supported", "resource groups"}},
		{url.Values{"maxResults": {"0"}}, "InvalidParameter", []string{"maxResults must be 1 or more, got 0"}},
		{url.Values{"regionId": {"cn-hangzhou"}}, "InvalidParameter", []string{`regionId "cn-hangzhou"`, "serves local"}},
	} {
		_, err := listWorkspaces(t, c, tc.query)
		wantAPIError(t, tc.query.Encode(), err, tc.code, tc.msg...)
	}
}

// CreateWorkspace refuses, naming it, each field that asks for what
// rayfleet has no counterpart for; a body without them is served.
func TestCreateWorkspaceRefusesWhatItCannotKeep(t *testing.T) {
	c, _ := rootClient(t)
	ctx := context.Background()
	for _, tc := range []struct {
		body map[string]any
		msg  string
	}{
		{map[string]any{"ramRoleName": "AliyunEMRSparkJobRunDefaultRole"}, "ramRoleName is not supported"},
		{map[string]any{"dlfCatalogId": "clg-1"}, "dlfCatalogId and dlfType are not supported"},
		{map[string]any{"dlfType": "dlf2.0"}, "dlfCatalogId and dlfType are not supported"},
		{map[string]any{"autoStartSessionCluster": true}, "autoStartSessionCluster is not supported"},
		{map[string]any{"resourceSpec": map[string]any{"cu": "8", "gpu": 1}}, "resourceSpec.gpu and gpuSpec are not supported"},
		{map[string]any{"gpuSpec": []string{"ecs.gn7i-c8g1.2xlarge"}}, "resourceSpec.gpu and gpuSpec are not supported"},
		{map[string]any{"resourceGroupId": "rg-1"}, "resourceGroupId is not supported"},
		{map[string]any{"paymentType": "Pre", "duration": "1", "paymentDurationUnit": "Month"}, "no subscription terms"},
		{map[string]any{"autoRenew": "true"}, "no subscription terms"},
		{map[string]any{"resourceSpec": map[string]any{"maxCu": 8}}, "takes cu alone"},
		{map[string]any{"tag": []map[string]string{{"key": "k", "value": "1"}, {"key": "k", "value": "2"}}}, "tag[1].key \"k\" is used by another tag"},
		{map[string]any{"tag": []map[string]string{{"key": "", "value": "1"}}}, "tag[0].key must be 1 to 128"},
	} {
		tc.body["workspaceName"] = "refused"
		var out api.CreateWorkspaceResponse
		err := c.Do(ctx, "CreateWorkspace", http.MethodPost, "/api/v1/workspaces", nil, tc.body, &out)
		wantAPIError(t, tc.msg, err, "InvalidParameter", tc.msg)
	}
	l, err := listWorkspaces(t, c, url.Values{"name": {"refused"}})
	if err != nil || len(l.Workspaces) != 0 {
		t.Fatalf("a refused CreateWorkspace made a workspace: %+v %v", l.Workspaces, err)
	}
	// What asks for nothing is fine: false, empty.
	var out api.CreateWorkspaceResponse
	if err := c.Do(ctx, "CreateWorkspace", http.MethodPost, "/api/v1/workspaces", nil, map[string]any{
		"workspaceName": "plain", "autoStartSessionCluster": false, "gpuSpec": []string{}, "ramRoleName": "", "resourceSpec": map[string]any{"cu": "8"},
	}, &out); err != nil {
		t.Fatal(err)
	}
}

func updateWorkspace(c *api.Client, body map[string]any) (map[string]any, error) {
	var out map[string]any
	err := c.Do(context.Background(), "UpdateWorkspace", http.MethodPost, "/api/v1/workspaces/update", nil, body, &out)
	return out, err
}

// UpdateWorkspace renames a workspace and changes its quota, answers as
// the SDK reads it, and refuses what it cannot change.
func TestUpdateWorkspace(t *testing.T) {
	c, ws := rootClient(t)
	ctx := context.Background()
	out, err := updateWorkspace(c, map[string]any{"workspaceId": ws, "workspaceName": "renamed"})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := out["data"].(map[string]any)
	if id, _ := out["requestId"].(string); id == "" || out["orderId"] != "" || data == nil || data["orderId"] != "" {
		t.Fatalf("UpdateWorkspace answered %v", out)
	}
	// The root queue holds the whole quota of 64 CU: lower it first.
	_, err = updateWorkspace(c, map[string]any{"workspaceId": ws, "cu": 32})
	wantAPIError(t, "a quota below the queues' limits", err, "OperationDenied", "64 CU together, more than 32 CU", "EditWorkspaceQueue")
	cu := api.FlexInt(16)
	if _, err := c.EditQueue(ctx, &api.QueueRequest{WorkspaceID: ws, WorkspaceQueueName: "root_queue", ResourceSpec: api.ResourceSpec{CU: &cu}}); err != nil {
		t.Fatal(err)
	}
	cu = 32
	if _, err := c.UpdateWorkspace(ctx, &api.UpdateWorkspaceRequest{WorkspaceID: ws, CU: &cu}); err != nil {
		t.Fatal(err)
	}
	l, err := listWorkspaces(t, c, url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	if w := l.Workspaces[0]; w.WorkspaceName != "renamed" || w.ResourceSpec != "32cu" {
		t.Fatalf("after UpdateWorkspace: %+v", w)
	}

	for _, tc := range []struct {
		body map[string]any
		code string
		msg  string
	}{
		{map[string]any{"workspaceId": ws, "gpu": 2}, "InvalidParameter", "gpu, gpuSpec and gpuSubscription are not supported"},
		{map[string]any{"workspaceId": ws, "gpuSpec": []string{"ecs.gn6i-c4g1.xlarge"}}, "InvalidParameter", "gpu, gpuSpec and gpuSubscription are not supported"},
		{map[string]any{"workspaceId": ws, "gpuSubscription": map[string]any{"gpuMachineNum": 1}}, "InvalidParameter", "gpuSubscription are not supported"},
		{map[string]any{"workspaceId": ws, "ipWhiteList": []string{"10.0.0.0/8"}}, "InvalidParameter", "acs:SourceIp"},
		{map[string]any{"workspaceId": ws, "resourceGroupId": "rg-1"}, "InvalidParameter", "resourceGroupId is not supported"},
		{map[string]any{"workspaceId": ws, "subscription": map[string]any{"duration": "1"}}, "InvalidParameter", "subscription is not supported"},
		{map[string]any{"workspaceId": ws, "workspaceName": ""}, "InvalidParameter", "workspaceName must be 1 to 64"},
		{map[string]any{"workspaceId": ws, "cu": 0}, "InvalidParameter", "cu must be between 1 and"},
		{map[string]any{"workspaceId": ws, "cu": "many"}, "InvalidParameter", "cu must be of type integer"},
		{map[string]any{"workspaceName": "x"}, "MissingParameter", "workspaceId is required"},
		{map[string]any{"workspaceId": "w-0000000000000000", "workspaceName": "x"}, "ResourceNotFound", "w-0000000000000000"},
	} {
		_, err := updateWorkspace(c, tc.body)
		wantAPIError(t, tc.msg, err, tc.code, tc.msg)
	}
	// regionId is checked as on every operation.
	var raw map[string]any
	err = c.Do(ctx, "UpdateWorkspace", http.MethodPost, "/api/v1/workspaces/update", url.Values{"regionId": {"cn-beijing"}},
		map[string]any{"workspaceId": ws, "workspaceName": "elsewhere"}, &raw)
	wantAPIError(t, "UpdateWorkspace for another region", err, "InvalidParameter", "cn-beijing")
	if l, _ := listWorkspaces(t, c, url.Values{"name": {"elsewhere"}}); len(l.Workspaces) != 0 {
		t.Fatal("a call for another region acted")
	}
}
