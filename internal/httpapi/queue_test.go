package httpapi_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/rayfleet/rayfleet/api"
)

func listQueues(t *testing.T, c *api.Client, ws string, q url.Values) (map[string]api.Queue, error) {
	t.Helper()
	var out api.ListQueuesResponse
	if err := c.Do(context.Background(), "ListWorkspaceQueues", http.MethodGet, "/api/v1/workspaces/"+ws+"/queues", q, nil, &out); err != nil {
		return nil, err
	}
	byName := map[string]api.Queue{}
	for _, q := range out.Queues {
		byName[q.QueueName] = q
	}
	if out.TotalCount != len(out.Queues) {
		t.Fatalf("totalCount %d for %d queues", out.TotalCount, len(out.Queues))
	}
	return byName, nil
}

// A queue's environments and payment type are kept and reported, the
// environment filter follows them, and the SDK's GPU and preheat fields are
// refused rather than dropped.
func TestQueueFields(t *testing.T) {
	c, ws := rootClient(t)
	ctx := context.Background()
	cu := api.FlexInt(60)
	if _, err := c.EditQueue(ctx, &api.QueueRequest{WorkspaceID: ws, WorkspaceQueueName: "root_queue", ResourceSpec: api.ResourceSpec{CU: &cu}}); err != nil {
		t.Fatal(err)
	}
	cu = 4
	if _, err := c.CreateQueue(ctx, &api.QueueRequest{WorkspaceID: ws, WorkspaceQueueName: "dev_queue", PaymentType: "Pre",
		ResourceSpec: api.ResourceSpec{CU: &cu, MaxCU: &cu}}); err != nil {
		t.Fatal(err)
	}
	qs, err := listQueues(t, c, ws, nil)
	if err != nil {
		t.Fatal(err)
	}
	if q := qs["dev_queue"]; len(q.Environments) != 2 || q.PaymentType != "Pre" || q.MaxResource != `{"cpu":"4","memory":"16Gi"}` {
		t.Fatalf("dev_queue as created: %+v", q)
	}
	if q := qs["root_queue"]; len(q.Environments) != 2 || q.PaymentType != "PayAsYouGo" {
		t.Fatalf("root_queue: %+v", q)
	}
	// An edit of environments alone changes them and nothing else.
	if _, err := c.EditQueue(ctx, &api.QueueRequest{WorkspaceID: ws, WorkspaceQueueName: "dev_queue", Environments: []string{"dev"}}); err != nil {
		t.Fatal(err)
	}
	for env, want := range map[string][]string{"dev": {"dev_queue", "root_queue"}, "production": {"root_queue"}} {
		qs, err := listQueues(t, c, ws, url.Values{"environment": {env}, "regionId": {"local"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(qs) != len(want) {
			t.Fatalf("environment %s: %v, want %v", env, qs, want)
		}
		for _, n := range want {
			if _, ok := qs[n]; !ok {
				t.Fatalf("environment %s: %v, want %v", env, qs, want)
			}
		}
	}
	qs, _ = listQueues(t, c, ws, nil)
	if q := qs["dev_queue"]; len(q.Environments) != 1 || q.Environments[0] != "dev" || q.MaxResource != `{"cpu":"4","memory":"16Gi"}` || q.PaymentType != "Pre" {
		t.Fatalf("dev_queue after an edit of its environments: %+v", q)
	}

	_, err = listQueues(t, c, ws, url.Values{"environment": {"staging"}})
	wantAPIError(t, "environment=staging", err, "InvalidParameter", "environment must be dev or production")
	for _, tc := range []struct {
		action string
		body   map[string]any
		msg    string
	}{
		{"EditWorkspaceQueue", map[string]any{"environments": []string{}}, "environments must name at least one"},
		{"EditWorkspaceQueue", map[string]any{"environments": []string{"qa"}}, `environments[0] must be dev or production, got "qa"`},
		{"CreateWorkspaceQueue", map[string]any{"gpuSpec": []string{"ecs.gn7i-c8g1.2xlarge"}}, "gpuSpec and instanceId are not supported"},
		{"CreateWorkspaceQueue", map[string]any{"instanceId": "gpu-quota-1"}, "gpuSpec and instanceId are not supported"},
		{"EditWorkspaceQueue", map[string]any{"resourceSpec": map[string]any{"gpu": 1}}, "resourceSpec.gpu"},
		{"EditWorkspaceQueue", map[string]any{"resourceSpec": map[string]any{"gpuMachineNum": 2}}, "resourceSpec.gpuMachineNum"},
		{"CreateWorkspaceQueue", map[string]any{"preheat": true}, "preheat is not supported"},
		{"CreateWorkspaceQueue", map[string]any{"paymentType": "Monthly"}, "paymentType must be PayAsYouGo or Pre"},
		{"EditWorkspaceQueue", map[string]any{"resourceSpec": map[string]any{"cu": 2, "maxCu": 3}}, "one limit"},
		{"EditWorkspaceQueue", map[string]any{"resourceSpec": map[string]any{"maxCu": 0.5}}, "resourceSpec.maxCu must be of type integer"},
	} {
		tc.body["workspaceId"], tc.body["workspaceQueueName"] = ws, "dev_queue"
		if tc.action == "CreateWorkspaceQueue" {
			tc.body["workspaceQueueName"] = "new_queue"
			tc.body["resourceSpec"] = map[string]any{"cu": 1}
		}
		path := map[string]string{"CreateWorkspaceQueue": "/api/v1/workspaces/queues", "EditWorkspaceQueue": "/api/v1/workspaces/queues/action/edit"}[tc.action]
		var out map[string]any
		err := c.Do(ctx, tc.action, http.MethodPost, path, nil, tc.body, &out)
		wantAPIError(t, tc.msg, err, "InvalidParameter", tc.msg)
	}
	qs, _ = listQueues(t, c, ws, nil)
	if _, ok := qs["new_queue"]; ok || len(qs["dev_queue"].Environments) != 1 {
		t.Fatalf("a refused call changed the queues: %+v", qs)
	}
	// preheat false and empty GPU fields ask for nothing.
	var out map[string]any
	if err := c.Do(ctx, "EditWorkspaceQueue", http.MethodPost, "/api/v1/workspaces/queues/action/edit", nil, map[string]any{
		"workspaceId": ws, "workspaceQueueName": "dev_queue", "preheat": false, "gpuSpec": []string{}, "instanceId": "",
		"resourceSpec": map[string]any{"gpu": 0, "maxCu": 4},
	}, &out); err != nil {
		t.Fatal(err)
	}
}
