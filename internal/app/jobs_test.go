package app

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rayfleet/rayfleet/internal/poll"
	"github.com/rayfleet/rayfleet/internal/rayjob"
)

// waitJob polls GetRayJob until the job's status is one of want, failing
// when it ends otherwise.
func (s *sdk) waitJob(ws, id string, want ...string) map[string]any {
	s.t.Helper()
	var g map[string]any
	poll.Until(s.t, rayWait, "job "+id+" to be "+strings.Join(want, " or "), func() bool {
		g = s.must("GetRayJob", "GET", wsPath(ws, "rayJob", id), nil, nil)
		st := str(g, "status")
		for _, w := range want {
			if st == w {
				return true
			}
		}
		if st == "Succeeded" || st == "Failed" || st == "Cancelled" || st == "Timeout" {
			s.t.Fatalf("job %s ended %s: %s", id, st, str(g, "message"))
		}
		return false
	})
	return g
}

// fnum reads a JSON number of an answer as the client decoded it.
func fnum(m map[string]any, k string) float64 {
	switch v := m[k].(type) {
	case float64:
		return v
	case interface{ Float64() (float64, error) }:
		f, _ := v.Float64()
		return f
	}
	return -1
}

// headJobs is what the cluster's head itself lists, read through the
// gateway with the cluster's submit token, by submission id.
func headJobs(t *testing.T, jobURL, token string) map[string]int {
	t.Helper()
	c := rayjob.Client{Address: jobURL, Header: http.Header{"Ray-Token": {token}}}
	infos, err := c.Jobs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, j := range infos {
		out[j.SubmissionID]++
	}
	return out
}

// TestOfficialClientJobs drives SubmitRayJob, GetRayJob, ListRayJob and
// CancelRayJob through the unmodified official Go client, with both
// signatures, against real Ray: a trivial job succeeds, a sleeping one is
// cancelled, a failing one ends Failed with Ray's message, and the head
// holds each job once.
func TestOfficialClientJobs(t *testing.T) {
	needRay(t)
	srv, cred := testServer(t)
	c := newSDK(t, srv.Addr, cred.AccessKeyID, cred.AccessKeySecret, false)
	legacy := newSDK(t, srv.Addr, cred.AccessKeyID, cred.AccessKeySecret, true)
	ws := cred.WorkspaceID
	cc := c.must("CreateRayCluster", "POST", wsPath(ws, "rayCluster"), nil, map[string]any{
		"name": "jobs", "headSpec": map[string]any{"cpu": "1", "memory": "2Gi"},
	})
	cluster := str(cc, "clusterId")
	cl := c.waitState(ws, cluster, "Running")
	before := time.Now().Add(-time.Second).UnixMilli()

	submit := func(client *sdk, name, entrypoint string, more map[string]any) string {
		t.Helper()
		body := map[string]any{"name": name, "entrypoint": entrypoint, "clusterId": cluster}
		for k, v := range more {
			body[k] = v
		}
		out := client.must("SubmitRayJob", "POST", wsPath(ws, "rayJob"), nil, body)
		id := str(out, "submissionId")
		if !strings.HasPrefix(id, "rj-") || len(id) != 19 {
			t.Fatalf("SubmitRayJob = %v", out)
		}
		return id
	}

	// A trivial job, with the fields Ray's submission takes.
	hello := submit(c, "hello", `python -c "import os; print('hello ray job', os.environ['GREETING'])"`, map[string]any{
		"runtimeEnvJson": `{"env_vars":{"GREETING":"hi"}}`, "metadataJson": `{"resourceName":"test"}`,
		"entrypointNumCpus": "0.5", "entrypointMemory": "128Mi", "submissionMode": "HTTPMode",
		"tags": []any{map[string]any{"key": "jobname", "value": "test"}},
	})
	g := c.waitJob(ws, hello, "Succeeded")
	for k, want := range map[string]string{
		"submissionId": hello, "name": "hello", "clusterState": "Running", "entrypointNumCpus": "0.5", "entrypointMemory": "128Mi",
		"runtimeEnvJson": `{"env_vars":{"GREETING":"hi"}}`, "metadataJson": `{"resourceName":"test"}`, "submissionMode": "HTTPMode",
		"logBucketName": "rayfleet-logs", "logPath": ws + "/ray/logs/" + hello + "_default/", "creatorName": "root",
	} {
		if got := str(g, k); got != want {
			t.Errorf("GetRayJob.%s = %q, want %q", k, got, want)
		}
	}
	if !strings.Contains(str(g, "message"), "successfully") || num(g, "startTime") < before || num(g, "endTime") < num(g, "startTime") ||
		fnum(g, "cuHours") <= 0 || str(g["headSpec"].(map[string]any), "cpu") != "1" {
		t.Errorf("GetRayJob of the trivial job: %v", g)
	}
	if !strings.HasPrefix(str(g, "dashboardUrl"), str(cl, "dashboardUrl")) {
		t.Errorf("dashboardUrl %q is not the cluster's %q", str(g, "dashboardUrl"), str(cl, "dashboardUrl"))
	}
	hc := rayjob.Client{Address: str(cl, "jobUrl"), Header: http.Header{"Ray-Token": {str(cl, "submitToken")}}}
	logs, err := hc.Logs(context.Background(), hello)
	if err != nil || !strings.Contains(logs, "hello ray job hi") {
		t.Errorf("the job's log on Ray: %q %v", logs, err)
	}

	// A sleeping job, cancelled (with the legacy signature: a POST with no body).
	sleeper := submit(legacy, "sleeper", `python -c "import time; time.sleep(600)"`, nil)
	legacy.waitJob(ws, sleeper, "Running")
	cancel := legacy.must("CancelRayJob", "POST", wsPath(ws, "rayJob", sleeper, "cancel"), nil, nil)
	if cancel["success"] != true {
		t.Fatalf("CancelRayJob = %v", cancel)
	}
	g = c.waitJob(ws, sleeper, "Cancelled")
	if num(g, "endTime") == 0 {
		t.Errorf("a cancelled job without an end: %v", g)
	}
	_, err = c.call("CancelRayJob", "POST", wsPath(ws, "rayJob", hello, "cancel"), nil, nil)
	wantErr(t, err, "OperationDenied", 409, "already ended")

	// A failing job: Failed, with Ray's message.
	failing := submit(c, "failing", `python -c "import sys; sys.exit(3)"`, nil)
	g = c.waitJob(ws, failing, "Failed")
	if !strings.Contains(str(g, "message"), "exit code 3") {
		t.Errorf("the failed job's message: %q", str(g, "message"))
	}

	// ListRayJob: every job, newest first; a submitTime range as JSON text
	// in the query, as the SDKs send it; an exact name.
	after := time.Now().Add(time.Second).UnixMilli()
	list := func(client *sdk, q map[string]string) []string {
		t.Helper()
		l := client.must("ListRayJob", "GET", wsPath(ws, "rayJob"), q, nil)
		var ids []string
		for _, x := range l["rayJobs"].([]any) {
			ids = append(ids, str(x.(map[string]any), "submissionId"))
		}
		if num(l, "totalCount") != int64(len(ids)) {
			t.Fatalf("ListRayJob %v: totalCount %d for %d jobs", q, num(l, "totalCount"), len(ids))
		}
		return ids
	}
	if got := list(c, map[string]string{"pageSize": "10", "pageNum": "1",
		"submitTime": fmt.Sprintf(`{"endTime":%d,"startTime":%d}`, after, before)}); strings.Join(got, ",") != failing+","+sleeper+","+hello {
		t.Errorf("ListRayJob in the range: %v", got)
	}
	if got := list(legacy, map[string]string{"submitTime": fmt.Sprintf(`{"startTime":%d}`, after)}); len(got) != 0 {
		t.Errorf("ListRayJob after the range: %v", got)
	}
	if got := list(c, map[string]string{"name": "sleeper"}); strings.Join(got, ",") != sleeper {
		t.Errorf("ListRayJob by name: %v", got)
	}
	l := c.must("ListRayJob", "GET", wsPath(ws, "rayJob"), map[string]string{"submissionId": hello}, nil)
	item := l["rayJobs"].([]any)[0].(map[string]any)
	if str(item, "status") != "Succeeded" || str(item, "resourceQueue") != "root_queue" || str(item, "clusterState") != "Running" {
		t.Errorf("ListRayJob item: %v", item)
	}

	// Errors in the API's format.
	_, err = c.call("GetRayJob", "GET", wsPath(ws, "rayJob", "rj-0000000000000000"), nil, nil)
	wantErr(t, err, "ResourceNotFound", 404, "rj-0000000000000000")
	_, err = c.call("SubmitRayJob", "POST", wsPath(ws, "rayJob"), nil, map[string]any{"clusterId": cluster})
	wantErr(t, err, "MissingParameter", 400, "entrypoint")
	_, err = c.call("SubmitRayJob", "POST", wsPath(ws, "rayJob"), nil, map[string]any{"entrypoint": "true", "clusterId": cluster, "activeDeadlineSeconds": "soon"})
	wantErr(t, err, "InvalidParameter", 400, "activeDeadlineSeconds")
	_, err = c.call("ListRayJob", "GET", wsPath(ws, "rayJob"), map[string]string{"submitTime": "yesterday"}, nil)
	wantErr(t, err, "InvalidParameter", 400, "submitTime")

	// Ray itself holds each job once.
	on := headJobs(t, str(cl, "jobUrl"), str(cl, "submitToken"))
	for _, id := range []string{hello, sleeper, failing} {
		if on[id] != 1 {
			t.Errorf("the head lists job %s %d times: %v", id, on[id], on)
		}
	}

	// The job's logs were copied when it ended: with its cluster deleted,
	// ListRayLogs lists its driver log and GetRayLog's accessUrl opens it.
	c.must("DeleteRayCluster", "DELETE", wsPath(ws, "rayCluster", cluster), nil, nil)
	poll.Until(t, rayWait, "the cluster to be deleted", func() bool {
		_, err := c.call("GetRayCluster", "GET", wsPath(ws, "rayCluster", cluster), nil, nil)
		return err != nil && strings.Contains(err.Error(), "ResourceNotFound")
	})
	driverKey := ws + "/ray/logs/" + hello + "_default/driver/" + hello + "_driver.log"
	ls := c.must("ListRayLogs", "GET", logsPath(ws, hello, "logs"), map[string]string{"bucketName": "rayfleet-logs", "prefix": "/" + ws + "/ray/logs/" + hello + "_default/driver/"}, nil)
	found := false
	for _, o := range ls["data"].(map[string]any)["objectList"].([]any) {
		found = found || str(o.(map[string]any), "path") == driverKey || strings.HasSuffix(str(o.(map[string]any), "path"), hello+"_driver.log")
	}
	if !found {
		t.Fatalf("ListRayLogs after the cluster went: %v", ls)
	}
	got := c.must("GetRayLog", "GET", logsPath(ws, hello, "log"), map[string]string{"bucketName": "rayfleet-logs", "path": "/" + driverKey}, nil)
	res, err := http.Get(str(got["data"].(map[string]any), "accessUrl"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), "hello ray job hi") {
		t.Fatalf("the driver log through its accessUrl: %d %q", res.StatusCode, body)
	}
}
