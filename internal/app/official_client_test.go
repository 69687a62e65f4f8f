package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	"github.com/alibabacloud-go/tea/dara"
	"github.com/alibabacloud-go/tea/tea"

	"github.com/rayfleet/rayfleet/internal/poll"
)

// sdk drives the server through the unmodified official Go client, with
// Params exactly as the product SDK sets them.
type sdk struct {
	t      *testing.T
	client *openapi.Client
}

func newSDK(t *testing.T, endpoint, ak, secret string, legacy bool, opts ...func(*openapi.Config)) *sdk {
	t.Helper()
	cfg := &openapi.Config{
		AccessKeyId: dara.String(ak), AccessKeySecret: dara.String(secret),
		Endpoint: dara.String(endpoint), Protocol: dara.String("http"),
	}
	for _, o := range opts {
		o(cfg)
	}
	if legacy {
		// The official client signs ROA calls with the legacy HMAC-SHA1
		// scheme when asked for signature algorithm v2.
		cfg.SignatureAlgorithm = dara.String("v2")
	}
	c, err := openapi.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &sdk{t: t, client: c}
}

// call returns the response body and the error the client raised.
func (s *sdk) call(action, method, path string, query map[string]string, body map[string]any) (map[string]any, error) {
	params := &openapi.Params{
		Action: dara.String(action), Version: dara.String("2023-08-08"), Protocol: dara.String("HTTPS"),
		Pathname: dara.String(path), Method: dara.String(method), AuthType: dara.String("AK"),
		Style: dara.String("ROA"), ReqBodyType: dara.String("json"), BodyType: dara.String("json"),
	}
	req := &openapi.OpenApiRequest{}
	if query != nil {
		req.Query = map[string]*string{}
		for k, v := range query {
			req.Query[k] = dara.String(v)
		}
	}
	if body != nil {
		req.Body = body
	}
	resp, err := s.client.CallApi(params, req, &dara.RuntimeOptions{})
	if err != nil {
		return nil, err
	}
	b, _ := resp["body"].(map[string]any)
	if code := fmt.Sprint(resp["statusCode"]); code != "200" {
		s.t.Fatalf("%s: status %v", action, resp["statusCode"])
	}
	return b, nil
}

func (s *sdk) must(action, method, path string, query map[string]string, body map[string]any) map[string]any {
	s.t.Helper()
	b, err := s.call(action, method, path, query, body)
	if err != nil {
		s.t.Fatalf("%s %s %s: %v", action, method, path, err)
	}
	if id, _ := b["requestId"].(string); id == "" {
		if id, _ := b["RequestId"].(string); id == "" {
			s.t.Fatalf("%s: no request id in %v", action, b)
		}
	}
	return b
}

// wantErr checks that the client raised an API error with this code and
// HTTP status, carrying a request id and a message containing msg.
func wantErr(t *testing.T, err error, code string, status int, msg string) {
	t.Helper()
	var ce *openapi.ClientError
	var se *openapi.ServerError
	var te *tea.SDKError
	var gotCode, gotMsg, gotID string
	var gotStatus int
	switch {
	case errors.As(err, &te):
		// The client's ACS3 path raises tea's SDKError, with the error body
		// as Data.
		var body map[string]any
		if e := json.Unmarshal([]byte(dara.StringValue(te.Data)), &body); e != nil {
			t.Fatalf("SDKError data is not the error body: %v", e)
		}
		gotCode, gotMsg, gotID, gotStatus = dara.StringValue(te.Code), dara.StringValue(te.Message), str(body, "RequestId"), dara.IntValue(te.StatusCode)
		if !strings.Contains(gotMsg, gotID) {
			t.Fatalf("request id %s does not reach the message %q", gotID, gotMsg)
		}
	case errors.As(err, &ce):
		gotCode, gotMsg, gotID, gotStatus = dara.StringValue(ce.Code), dara.StringValue(ce.Message), dara.StringValue(ce.RequestId), dara.IntValue(ce.StatusCode)
	case errors.As(err, &se):
		gotCode, gotMsg, gotID, gotStatus = dara.StringValue(se.Code), dara.StringValue(se.Message), dara.StringValue(se.RequestId), dara.IntValue(se.StatusCode)
	default:
		t.Fatalf("want API error %s, got %T %v", code, err, err)
	}
	if gotCode != code || gotStatus != status {
		t.Fatalf("want %s (%d), got %s (%d): %s", code, status, gotCode, gotStatus, gotMsg)
	}
	if len(gotID) != 36 || strings.ToUpper(gotID) != gotID {
		t.Fatalf("request id %q is not an uppercase UUID", gotID)
	}
	if !strings.Contains(gotMsg, msg) {
		t.Fatalf("message %q does not contain %q", gotMsg, msg)
	}
}

func wsPath(ws string, rest ...string) string {
	p := "/api/v1/workspaces/" + url.PathEscape(ws)
	for _, r := range rest {
		p += "/" + url.PathEscape(r)
	}
	return p
}

func str(m map[string]any, k string) string { s, _ := m[k].(string); return s }

func num(m map[string]any, k string) int64 {
	switch v := m[k].(type) {
	case float64:
		return int64(v)
	case int64:
		return v
	case int:
		return int64(v)
	case jsonNumber:
		n, _ := v.Int64()
		return n
	}
	return -1
}

type jsonNumber interface{ Int64() (int64, error) }

func TestOfficialClientEveryOperation(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		t.Run(fmt.Sprintf("legacySignature=%v", legacy), func(t *testing.T) {
			srv, cred := testServer(t)
			c := newSDK(t, srv.Addr, cred.AccessKeyID, cred.AccessKeySecret, legacy)
			testEveryOperation(t, srv, c, cred)
		})
	}
}

func testEveryOperation(t *testing.T, srv *Server, c *sdk, cred Credentials) {
	ws := cred.WorkspaceID

	// Release versions.
	rv := c.must("ListReleaseVersions", "GET", "/api/v1/releaseVersions", nil, nil)
	versions, _ := rv["releaseVersions"].([]any)
	if len(versions) < 3 {
		t.Fatalf("releaseVersions = %v", rv)
	}
	first := versions[0].(map[string]any)
	release := str(first, "displayReleaseVersion")
	if release != "ray-1.3.0 (Ray 2.60.0, Python 3.11)" || str(first, "communityVersion") != "Ray 2.60.0" ||
		str(first, "image") != "rayproject/ray:2.60.0-py311" || str(first, "state") != "ONLINE" {
		t.Fatalf("first release version = %v", first)
	}

	// Workspaces.
	wl := c.must("ListWorkspaces", "GET", "/api/v1/workspaces", nil, nil)
	wss := wl["workspaces"].([]any)
	if len(wss) != 1 || str(wss[0].(map[string]any), "workspaceId") != ws || str(wss[0].(map[string]any), "workspaceName") != "default" ||
		str(wss[0].(map[string]any), "resourceSpec") != "64cu" || str(wss[0].(map[string]any), "workspaceStatus") != "RUNNING" || num(wl, "totalCount") != 1 {
		t.Fatalf("ListWorkspaces = %v", wl)
	}
	cw := c.must("CreateWorkspace", "POST", "/api/v1/workspaces", map[string]string{"regionId": "local"},
		map[string]any{"workspaceName": "team-a", "resourceSpec": map[string]any{"cu": "16"}, "paymentType": "PayAsYouGo"})
	ws2 := str(cw, "workspaceId")
	if !strings.HasPrefix(ws2, "w-") || len(ws2) != 18 {
		t.Fatalf("CreateWorkspace = %v", cw)
	}
	_, err := c.call("CreateWorkspace", "POST", "/api/v1/workspaces", nil, map[string]any{"workspaceName": ""})
	wantErr(t, err, "InvalidParameter", 400, "workspaceName")

	// Queues.
	ql := c.must("ListWorkspaceQueues", "GET", wsPath(ws2, "queues"), nil, nil)
	qs := ql["queues"].([]any)
	if len(qs) != 1 || str(qs[0].(map[string]any), "queueName") != "root_queue" ||
		str(qs[0].(map[string]any), "maxResource") != `{"cpu":"16","memory":"64Gi"}` ||
		str(qs[0].(map[string]any), "usedResource") != `{"cpu":"0","memory":"0Gi"}` {
		t.Fatalf("ListWorkspaceQueues = %v", ql)
	}
	_, err = c.call("CreateWorkspaceQueue", "POST", "/api/v1/workspaces/queues", nil,
		map[string]any{"workspaceId": ws2, "workspaceQueueName": "dev_queue", "resourceSpec": map[string]any{"cu": 4}})
	wantErr(t, err, "QuotaExceeded", 400, "root_queue")
	eq := c.must("EditWorkspaceQueue", "POST", "/api/v1/workspaces/queues/action/edit", nil,
		map[string]any{"workspaceId": ws2, "workspaceQueueName": "root_queue", "resourceSpec": map[string]any{"cu": 12}})
	if str(eq, "RequestId") == "" {
		t.Fatalf("EditWorkspaceQueue must answer RequestId: %v", eq)
	}
	c.must("CreateWorkspaceQueue", "POST", "/api/v1/workspaces/queues", nil,
		map[string]any{"workspaceId": ws2, "workspaceQueueName": "dev_queue", "resourceSpec": map[string]any{"cu": 4}, "description": "dev"})
	ql = c.must("ListWorkspaceQueues", "GET", wsPath(ws2, "queues"), nil, nil)
	if n := len(ql["queues"].([]any)); n != 2 {
		t.Fatalf("want 2 queues, got %d", n)
	}

	// Network services.
	nl := c.must("ListNetworkServices", "GET", wsPath(ws2, "networkServices"), nil, nil)
	nss := nl["networkServices"].([]any)
	if len(nss) != 1 || str(nss[0].(map[string]any), "name") != "vpc" || str(nss[0].(map[string]any), "state") != "running" {
		t.Fatalf("ListNetworkServices = %v", nl)
	}
	cn := c.must("CreateNetworkService", "POST", wsPath(ws2, "networkServices"), nil,
		map[string]any{"name": "vpc_test", "vpcId": "vpc-1", "vswitchIds": []string{"vsw-1"}})
	if !strings.HasPrefix(str(cn, "operationId"), "ns-") {
		t.Fatalf("CreateNetworkService = %v", cn)
	}

	// Clusters.
	body := map[string]any{
		"name": "testRayCluster", "description": "Ray Cluster for dev.", "displayReleaseVersion": release,
		"networkServiceName": "vpc_test", "extraParam": "{}",
		"headSpec": map[string]any{"queueName": "root_queue", "cpu": "2", "memory": "8Gi", "enableAutoScaling": false,
			"idleTimeoutSeconds": 60, "env": "MY_ENV=hello\nMY_ENV2=hello2", "rayStartParams": "--num-cpus=0"},
		"workerSpec": []any{map[string]any{"groupName": "WorkerGroup1", "workerType": "CPU", "replica": 2, "minReplica": 1,
			"maxReplica": 10, "queueName": "dev_queue", "cpu": "1", "memory": "4Gi"}},
	}
	cc := c.must("CreateRayCluster", "POST", wsPath(ws2, "rayCluster"), nil, body)
	id := str(cc, "clusterId")
	if !strings.HasPrefix(id, "ray-") || len(id) != 20 {
		t.Fatalf("CreateRayCluster = %v", cc)
	}
	g := c.must("GetRayCluster", "GET", wsPath(ws2, "rayCluster", id), nil, nil)
	for k, want := range map[string]string{
		"clusterId": id, "name": "testRayCluster", "description": "Ray Cluster for dev.", "displayReleaseVersion": release,
		"networkServiceName": "vpc_test", "extraParam": "{}", "userId": cred.UserID,
		"jobUrl":       "http://" + srv.GatewayAddr + "/workspace/" + ws2 + "/raycluster/" + id,
		"jobUrlInner":  "http://ray-gateway.internal:8081/workspace/" + ws2 + "/raycluster/" + id,
		"grpcEndpoint": "ray://" + srv.GatewayGRPCAddr, "creatorName": "root", "modifierName": "root",
	} {
		if got := str(g, k); got != want {
			t.Errorf("GetRayCluster.%s = %q, want %q", k, got, want)
		}
	}
	token := str(g, "submitToken")
	if len(token) != 32 || str(g, "dashboardUrl") != str(g, "jobUrl")+"/dashboard/?token="+token {
		t.Errorf("token %q / dashboardUrl %q", token, str(g, "dashboardUrl"))
	}
	inst := str(g, "instanceId")
	if !strings.HasPrefix(inst, id+"-") || len(inst) != len(id)+9 {
		t.Errorf("instanceId = %q", inst)
	}
	if g["modified"] != false || num(g, "createTime") <= 0 || num(g, "startTime") != num(g, "createTime") || len(str(g, "creator")) != 18 {
		t.Errorf("GetRayCluster = %v", g)
	}
	head := g["headSpec"].(map[string]any)
	if str(head, "cpu") != "2" || str(head, "memory") != "8Gi" || num(head, "replica") != 1 || num(head, "idleTimeoutSeconds") != 60 ||
		str(head, "env") != "MY_ENV=hello\nMY_ENV2=hello2" || str(head, "rayStartParams") != "--num-cpus=0" || str(head, "queueName") != "root_queue" {
		t.Errorf("headSpec = %v", head)
	}
	workers := g["workerSpec"].([]any)
	w0 := workers[0].(map[string]any)
	if len(workers) != 1 || str(w0, "groupName") != "WorkerGroup1" || num(w0, "replica") != 2 || num(w0, "minReplica") != 1 ||
		num(w0, "maxReplica") != 10 || str(w0, "queueName") != "dev_queue" || str(w0, "workerType") != "CPU" {
		t.Errorf("workerSpec = %v", workers)
	}
	if _, ok := g["instances"].([]any); !ok {
		t.Errorf("instances missing: %v", g)
	}

	// Queue usage follows the cluster: head 2 CPU/8Gi in root_queue, 2 x 1 CPU/4Gi in dev_queue.
	ql = c.must("ListWorkspaceQueues", "GET", wsPath(ws2, "queues"), nil, nil)
	for _, q := range ql["queues"].([]any) {
		q := q.(map[string]any)
		want := map[string]string{"root_queue": `{"cpu":"2","memory":"8Gi"}`, "dev_queue": `{"cpu":"2","memory":"8Gi"}`}[str(q, "queueName")]
		if str(q, "usedResource") != want {
			t.Errorf("queue %s usedResource = %s, want %s", str(q, "queueName"), str(q, "usedResource"), want)
		}
	}

	l := c.must("ListRayCluster", "GET", wsPath(ws2, "rayCluster"), map[string]string{"pageSize": "10", "pageNum": "1"}, nil)
	items := l["rayClusters"].([]any)
	if len(items) != 1 || num(l, "totalCount") != 1 || num(l, "pageSize") != 10 || num(l, "pageNum") != 1 {
		t.Fatalf("ListRayCluster = %v", l)
	}
	it := items[0].(map[string]any)
	if str(it, "clusterId") != id || str(it, "dashboardUrl") != str(g, "dashboardUrl") || it["modified"] != false {
		t.Errorf("list item = %v", it)
	}
	if _, has := it["submitToken"]; has {
		t.Errorf("list items must not carry submitToken")
	}
	if _, has := it["headSpec"].(map[string]any)["env"]; has {
		t.Errorf("list headSpec must not carry env")
	}

	// Update: a live change (replica) and a restart-requiring one (memory).
	up := c.must("UpdateRayCluster", "POST", wsPath(ws2, "rayCluster", id), nil, map[string]any{
		"workerSpec": []any{map[string]any{"groupName": "WorkerGroup1", "replica": 3, "minReplica": 1, "maxReplica": 10, "queueName": "dev_queue", "cpu": "1", "memory": "4Gi"}},
	})
	if str(up, "clusterId") != id {
		t.Fatalf("UpdateRayCluster = %v", up)
	}
	g = c.must("GetRayCluster", "GET", wsPath(ws2, "rayCluster", id), nil, nil)
	if g["modified"] != false || num(g["workerSpec"].([]any)[0].(map[string]any), "replica") != 3 || str(g, "name") != "testRayCluster" {
		t.Fatalf("after live update: modified=%v spec=%v name=%v", g["modified"], g["workerSpec"], g["name"])
	}
	c.must("UpdateRayCluster", "POST", wsPath(ws2, "rayCluster", id), nil, map[string]any{
		"name": "renamed", "headSpec": map[string]any{"queueName": "root_queue", "cpu": "2", "memory": "6Gi"},
	})
	g = c.must("GetRayCluster", "GET", wsPath(ws2, "rayCluster", id), nil, nil)
	if g["modified"] != true || str(g, "name") != "renamed" || str(g["headSpec"].(map[string]any), "memory") != "6Gi" {
		t.Fatalf("after restart-requiring update: %v", g)
	}

	// Quota: 4 CU dev_queue holds 2 CPU already; 3 more 1-CPU workers don't fit.
	big := map[string]any{"name": "big", "workerSpec": []any{map[string]any{"groupName": "g", "replica": 3, "queueName": "dev_queue", "cpu": "1", "memory": "4Gi"}}}
	_, err = c.call("CreateRayCluster", "POST", wsPath(ws2, "rayCluster"), nil, big)
	wantErr(t, err, "QuotaExceeded", 400, `queue "dev_queue"`)

	// Validation.
	_, err = c.call("CreateRayCluster", "POST", wsPath(ws2, "rayCluster"), nil, map[string]any{"name": strings.Repeat("x", 65)})
	wantErr(t, err, "InvalidParameter", 400, "name must be 1 to 64")
	_, err = c.call("CreateRayCluster", "POST", wsPath(ws2, "rayCluster"), nil, map[string]any{"name": "x", "displayReleaseVersion": "ray-9"})
	wantErr(t, err, "InvalidParameter", 400, "displayReleaseVersion")
	_, err = c.call("ListRayCluster", "GET", wsPath(ws2, "rayCluster"), map[string]string{"pageSize": "101"}, nil)
	wantErr(t, err, "InvalidParameter", 400, "pageSize")

	// The cluster comes up (the local runtime runs the stand-in ray).
	c.waitState(ws2, id, "Running")
	// Running once the head is ready; the workers follow (head + 3 workers).
	poll.Until(t, rayWait, "all 4 nodes to run", func() bool {
		g = c.must("GetRayCluster", "GET", wsPath(ws2, "rayCluster", id), nil, nil)
		running := 0
		for _, in := range g["instances"].([]any) {
			if str(in.(map[string]any), "phase") == "Running" {
				running++
			}
		}
		return running == 4 && str(g, "message") == ""
	})

	// Stop: a stale instance id is refused; the current one stops it.
	_, err = c.call("StopRayCluster", "POST", wsPath(ws2, "rayCluster", id, "stop"), nil, map[string]any{"instanceId": id + "-00000000"})
	wantErr(t, err, "OperationDenied", 409, "not the current instance")
	c.must("StopRayCluster", "POST", wsPath(ws2, "rayCluster", id, "stop"), nil, map[string]any{"instanceId": inst})
	g = c.must("GetRayCluster", "GET", wsPath(ws2, "rayCluster", id), nil, nil)
	if st := str(g, "state"); (st != "Stopping" && st != "Stopped") || str(g, "submitToken") != "" || str(g, "dashboardUrl") != "" {
		t.Fatalf("after stop: %v", g)
	}
	g = c.waitState(ws2, id, "Stopped")
	if len(g["instances"].([]any)) != 0 {
		t.Fatalf("a stopped cluster still has instances: %v", g["instances"])
	}

	// Start: a new instance and token; a retried clientToken answers with
	// the first request id; the same token for another call is refused.
	s1 := c.must("StartRayCluster", "POST", wsPath(ws2, "rayCluster", id, "start"), nil, map[string]any{"clientToken": "t-2"})
	g = c.must("GetRayCluster", "GET", wsPath(ws2, "rayCluster", id), nil, nil)
	if str(g, "instanceId") == inst || g["modified"] != false || str(g, "submitToken") == token || str(g, "submitToken") == "" {
		t.Fatalf("after start: %v", g)
	}
	s2 := c.must("StartRayCluster", "POST", wsPath(ws2, "rayCluster", id, "start"), nil, map[string]any{"clientToken": "t-2"})
	if str(s1, "requestId") != str(s2, "requestId") {
		t.Fatalf("a retried clientToken must return the first request id: %v vs %v", s1, s2)
	}
	_, err = c.call("StopRayCluster", "POST", wsPath(ws2, "rayCluster", id, "stop"), nil, map[string]any{"clientToken": "t-2"})
	wantErr(t, err, "IdempotentParameterMismatch", 400, "t-2")
	c.waitState(ws2, id, "Running")

	// A workspace that holds clusters cannot be deleted, nor a queue in use.
	_, err = c.call("DeleteWorkspace", "DELETE", wsPath(ws2), nil, nil)
	wantErr(t, err, "OperationDenied", 409, "")
	_, err = c.call("DeleteWorkspaceQueue", "DELETE", wsPath(ws2, "queues", "dev_queue"), nil, nil)
	wantErr(t, err, "OperationDenied", 409, "dev_queue")

	// Delete: gone from Get and List at once; torn down in the background,
	// after which the queue and the workspace can go.
	c.must("DeleteRayCluster", "DELETE", wsPath(ws2, "rayCluster", id), nil, nil)
	_, err = c.call("GetRayCluster", "GET", wsPath(ws2, "rayCluster", id), nil, nil)
	wantErr(t, err, "ResourceNotFound", 404, id)
	l = c.must("ListRayCluster", "GET", wsPath(ws2, "rayCluster"), nil, nil)
	if len(l["rayClusters"].([]any)) != 0 || num(l, "totalCount") != 0 {
		t.Fatalf("deleted cluster still listed: %v", l)
	}
	poll.Until(t, rayWait, "the deleted cluster's queue to be free", func() bool {
		_, err := c.call("DeleteWorkspaceQueue", "DELETE", wsPath(ws2, "queues", "dev_queue"), nil, nil)
		return err == nil
	})
	c.must("DeleteWorkspace", "DELETE", wsPath(ws2), nil, nil)
	_, err = c.call("ListRayCluster", "GET", wsPath(ws2, "rayCluster"), nil, nil)
	wantErr(t, err, "ResourceNotFound", 404, ws2)
}

// waitState polls GetRayCluster until the cluster is in state, failing on
// Error or after a deadline.
func (s *sdk) waitState(ws, id, state string) map[string]any {
	s.t.Helper()
	var g map[string]any
	poll.Until(s.t, rayWait, "cluster "+id+" to be "+state, func() bool {
		g = s.must("GetRayCluster", "GET", wsPath(ws, "rayCluster", id), nil, nil)
		if str(g, "state") == "Error" && state != "Error" {
			s.t.Fatalf("cluster %s failed: %s", id, str(g, "message"))
		}
		return str(g, "state") == state
	})
	return g
}

// TestOfficialClientDependentOperations drives what the hosted product's
// dependent operations take beyond the basics through the official Go
// client: UpdateWorkspace, ListWorkspaces' state and tag filters (tag as
// JSON text in the query, encoded and signed by the client), queue
// environments and payment type, ListReleaseVersions' filters,
// ListNetworkServices' second list, and the refusals of what rayfleet
// cannot do. It starts no cluster.
func TestOfficialClientDependentOperations(t *testing.T) {
	srv, cred := testServer(t)
	c := newSDK(t, srv.Addr, cred.AccessKeyID, cred.AccessKeySecret, false)

	cw := c.must("CreateWorkspace", "POST", "/api/v1/workspaces", map[string]string{"regionId": "local"},
		map[string]any{"workspaceName": "tagged", "resourceSpec": map[string]any{"cu": "16"},
			"tag": []any{map[string]any{"key": "team", "value": "ray & co"}}})
	ws := str(cw, "workspaceId")
	names := func(query map[string]string) []string {
		t.Helper()
		l := c.must("ListWorkspaces", "GET", "/api/v1/workspaces", query, nil)
		var out []string
		for _, w := range l["workspaces"].([]any) {
			out = append(out, str(w.(map[string]any), "workspaceName"))
		}
		return out
	}
	for _, tc := range []struct {
		query map[string]string
		want  string
	}{
		{map[string]string{"tag": `[{"key":"team","value":"ray & co"}]`}, "tagged"},
		{map[string]string{"tag": `[{"key":"team"}]`, "state": "Running"}, "tagged"},
		{map[string]string{"tag": `[{"key":"team","value":"other"}]`}, ""},
		{map[string]string{"state": "Stopped"}, ""},
	} {
		if got := strings.Join(names(tc.query), ","); got != tc.want {
			t.Errorf("ListWorkspaces %v = %q, want %q", tc.query, got, tc.want)
		}
	}
	l := c.must("ListWorkspaces", "GET", "/api/v1/workspaces", map[string]string{"name": "tagged"}, nil)
	tags := l["workspaces"].([]any)[0].(map[string]any)["tags"].([]any)
	if len(tags) != 1 || str(tags[0].(map[string]any), "tagKey") != "team" || str(tags[0].(map[string]any), "tagValue") != "ray & co" {
		t.Errorf("tags = %v", tags)
	}
	_, err := c.call("ListWorkspaces", "GET", "/api/v1/workspaces", map[string]string{"maxResults": "0"}, nil)
	wantErr(t, err, "InvalidParameter", 400, "maxResults must be 1 or more")
	_, err = c.call("ListWorkspaces", "GET", "/api/v1/workspaces", map[string]string{"resourceGroupId": "rg-1"}, nil)
	wantErr(t, err, "InvalidParameter", 400, "resource groups")
	_, err = c.call("ListWorkspaces", "GET", "/api/v1/workspaces", map[string]string{"regionId": "cn-hangzhou"}, nil)
	wantErr(t, err, "InvalidParameter", 400, "regionId")

	// UpdateWorkspace: rename, and a quota the queues fit in.
	u := c.must("UpdateWorkspace", "POST", "/api/v1/workspaces/update", map[string]string{"regionId": "local"},
		map[string]any{"workspaceId": ws, "workspaceName": "renamed"})
	if d, _ := u["data"].(map[string]any); d == nil || str(u, "orderId") != "" || str(d, "orderId") != "" {
		t.Errorf("UpdateWorkspace = %v", u)
	}
	_, err = c.call("UpdateWorkspace", "POST", "/api/v1/workspaces/update", nil, map[string]any{"workspaceId": ws, "cu": 8})
	wantErr(t, err, "OperationDenied", 409, "EditWorkspaceQueue")
	c.must("EditWorkspaceQueue", "POST", "/api/v1/workspaces/queues/action/edit", nil,
		map[string]any{"workspaceId": ws, "workspaceQueueName": "root_queue", "resourceSpec": map[string]any{"cu": 6}, "environments": []any{"production"}})
	c.must("UpdateWorkspace", "POST", "/api/v1/workspaces/update", nil, map[string]any{"workspaceId": ws, "cu": 8})
	_, err = c.call("UpdateWorkspace", "POST", "/api/v1/workspaces/update", nil, map[string]any{"workspaceId": ws, "ipWhiteList": []any{"10.0.0.0/8"}})
	wantErr(t, err, "InvalidParameter", 400, "ipWhiteList is not supported")
	if got := strings.Join(names(map[string]string{"name": "renamed"}), ","); got != "renamed" {
		t.Fatalf("after UpdateWorkspace: %q", got)
	}

	// Queues: environments kept and filtered on, paymentType kept.
	c.must("CreateWorkspaceQueue", "POST", "/api/v1/workspaces/queues", map[string]string{"regionId": "local"},
		map[string]any{"workspaceId": ws, "workspaceQueueName": "dev_queue", "paymentType": "Pre", "resourceSpec": map[string]any{"cu": 2}})
	c.must("EditWorkspaceQueue", "POST", "/api/v1/workspaces/queues/action/edit", nil,
		map[string]any{"workspaceId": ws, "workspaceQueueName": "dev_queue", "environments": []any{"dev"}})
	ql := c.must("ListWorkspaceQueues", "GET", wsPath(ws, "queues"), map[string]string{"environment": "dev"}, nil)
	qs := ql["queues"].([]any)
	if len(qs) != 1 || str(qs[0].(map[string]any), "queueName") != "dev_queue" || str(qs[0].(map[string]any), "paymentType") != "Pre" ||
		fmt.Sprint(qs[0].(map[string]any)["environments"]) != "[dev]" {
		t.Errorf("ListWorkspaceQueues environment=dev = %v", ql)
	}
	_, err = c.call("CreateWorkspaceQueue", "POST", "/api/v1/workspaces/queues", nil,
		map[string]any{"workspaceId": ws, "workspaceQueueName": "gpu_queue", "gpuSpec": []any{"ecs.gn7i-c8g1.2xlarge"}, "resourceSpec": map[string]any{"cu": 1}})
	wantErr(t, err, "InvalidParameter", 400, "gpuSpec")

	// Release versions and network services.
	rv := c.must("ListReleaseVersions", "GET", "/api/v1/releaseVersions",
		map[string]string{"releaseType": "stable", "serviceFilter": "ray", "workspaceId": ws, "regionId": "local"}, nil)
	if n := len(rv["releaseVersions"].([]any)); n < 3 {
		t.Errorf("ListReleaseVersions with every filter: %d versions", n)
	}
	_, err = c.call("ListReleaseVersions", "GET", "/api/v1/releaseVersions", map[string]string{"releaseType": "beta", "serviceFilter": "spark"}, nil)
	wantErr(t, err, "InvalidParameter", 400, "serviceFilter")
	nl := c.must("ListNetworkServices", "GET", wsPath(ws, "networkServices"), map[string]string{"regionId": "local"}, nil)
	if fmt.Sprint(nl["queues"]) != fmt.Sprint(nl["networkServices"]) || len(nl["queues"].([]any)) != 1 {
		t.Errorf("ListNetworkServices queues = %v, networkServices = %v", nl["queues"], nl["networkServices"])
	}

	// Replica bounds and paging, refused before anything starts.
	_, err = c.call("CreateRayCluster", "POST", wsPath(ws, "rayCluster"), nil, map[string]any{"name": "c",
		"workerSpec": []any{map[string]any{"groupName": "g", "replica": 1, "minReplica": 0, "maxReplica": 1, "cpu": "1", "memory": "2Gi"}}})
	wantErr(t, err, "InvalidParameter", 400, "workerSpec[0].minReplica must be at least 1, got 0")
	_, err = c.call("CreateRayCluster", "POST", wsPath(ws, "rayCluster"), nil, map[string]any{"name": "c",
		"workerSpec": []any{map[string]any{"groupName": "g", "replica": 1, "minReplica": 3, "maxReplica": 2, "cpu": "1", "memory": "2Gi"}}})
	wantErr(t, err, "InvalidParameter", 400, "minReplica <= maxReplica")
	_, err = c.call("ListRayCluster", "GET", wsPath(ws, "rayCluster"), map[string]string{"pageSize": "0"}, nil)
	wantErr(t, err, "InvalidParameter", 400, "pageSize must be 1 or more, got 0")
}
