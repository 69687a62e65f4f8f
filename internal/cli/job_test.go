package cli

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/gorilla/websocket"
)

const submittedResp = `{"requestId":"REQ-SUBMIT","submissionId":"rj-k7nm8ahl5te4tg91"}`

// job submit builds SubmitRayJob's body: the entrypoint after "--" as one
// shell command line, and without --cluster a head and worker group from
// cluster create's flags and defaults.
func TestJobSubmitBody(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"own cluster, defaults", []string{"--", "python", "script.py"},
			`{"entrypoint":"python script.py","headSpec":{"cpu":"2","memory":"8Gi","queueName":"root_queue","enableAutoScaling":false,"idleTimeoutSeconds":60}}`},
		{"own cluster with workers", []string{"--name", "n", "--head-cpu", "4", "--workers", "2", "--worker-memory", "4Gi",
			"--no-shutdown", "--active-deadline", "1h", "--working-dir", "gcs://_ray_pkg_abc.zip", "--", "python", "-c", "print(1 + 2)"},
			`{"name":"n","entrypoint":"python -c 'print(1 + 2)'","workingDir":"gcs://_ray_pkg_abc.zip",
			"headSpec":{"cpu":"4","memory":"8Gi","queueName":"root_queue","enableAutoScaling":false,"idleTimeoutSeconds":60},
			"workerSpec":[{"cpu":"2","memory":"4Gi","queueName":"root_queue","groupName":"group-1","workerType":"CPU","replica":2,"minReplica":2,"maxReplica":2}],
			"activeDeadlineSeconds":3600,"shutdownAfterJobFinishes":false}`},
		{"existing cluster, one-word command line", []string{"--cluster", "ray-k7nm8ahl5te4tg91", "--entrypoint-num-cpus", "0.5",
			"--runtime-env-json", `{"env_vars":{"A":"1"}}`, "--", "python x.py --n 3"},
			`{"entrypoint":"python x.py --n 3","clusterId":"ray-k7nm8ahl5te4tg91","runtimeEnvJson":"{\"env_vars\":{\"A\":\"1\"}}","entrypointNumCpus":"0.5"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFakeServer(t, answer(200, submittedResp))
			r := runCLI(t, srv.vars(t), "", append([]string{"job", "submit"}, tt.args...)...)
			r.wantCode(t, 0)
			c := srv.only(t)
			if c.Action != "SubmitRayJob" || c.Path != "/api/v1/workspaces/"+testWS+"/rayJob" {
				t.Errorf("got %s %s", c.Action, c.Path)
			}
			jsonEqual(t, c.Body, tt.want)
			contains(t, "stdout", r.stdout, "Submitted job rj-k7nm8ahl5te4tg91.")
		})
	}
}

// Flags that do not go together are usage errors before any request.
func TestJobSubmitUsage(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--cluster", "dev"}, "give the entrypoint after"},
		{[]string{"--cluster", "dev", "--head-cpu", "4", "--", "true"}, "--head-cpu describe a cluster of the job's own"},
		{[]string{"--cluster", "dev", "--no-shutdown", "--", "true"}, "--no-shutdown"},
		{[]string{"--working-dir", dir, "--", "true"}, "does not exist before the job is submitted"},
		{[]string{"--active-deadline", "10ms", "--", "true"}, "--active-deadline must be"},
		{[]string{"extra", "--", "true"}, `unexpected argument "extra"`},
	} {
		srv := newFakeServer(t, answer(200, submittedResp))
		r := runCLI(t, srv.vars(t), "", append([]string{"job", "submit"}, tt.args...)...)
		r.wantCode(t, exitUsage)
		oneErrorLine(t, r)
		contains(t, "stderr", r.stderr, tt.want)
		if n := len(srv.recorded()); n != 0 {
			t.Errorf("%v: %d requests sent", tt.args, n)
		}
	}
}

// job list escapes what other users wrote, and sends the time range as
// the SDKs do.
func TestJobListTable(t *testing.T) {
	srv := newFakeServer(t, answer(200, `{"requestId":"R","totalCount":1,"rayJobs":[
		{"submissionId":"rj-k7nm8ahl5te4tg91","name":"evil\u001b[2Jname","status":"Running","clusterState":"Running","resourceQueue":"root_queue"}]}`))
	r := runCLI(t, srv.vars(t), "", "job", "list", "--since", "2026-01-02T00:00:00Z")
	r.wantCode(t, 0)
	contains(t, "stdout", r.stdout, "rj-k7nm8ahl5te4tg91", `evil\x1b[2Jname`, "Running")
	if q := srv.only(t).Query; q != "submitTime=%7B%22startTime%22%3A1767312000000%7D" {
		t.Errorf("query %q", q)
	}
}

// job get shows a job's own cluster and what becomes of it, and escapes
// the message.
func TestJobGet(t *testing.T) {
	srv := newFakeServer(t, answer(200, `{"requestId":"R","submissionId":"rj-k7nm8ahl5te4tg91","name":"n","status":"Failed",
		"message":"Job entrypoint command failed with exit code 3\u001b[31m","entrypoint":"python x.py","clusterId":"ray-k7nm8ahl5te4tg91",
		"clusterState":"Deleted","shutdownAfterJobFinishes":true,"ttlSecondsAfterFinished":60,"logBucketName":"rayfleet-logs","logPath":"w/ray/logs/rj-k7nm8ahl5te4tg91_default/"}`))
	r := runCLI(t, srv.vars(t), "", "job", "get", "rj-k7nm8ahl5te4tg91")
	r.wantCode(t, 0)
	contains(t, "stdout", r.stdout, "Failed", `exit code 3\x1b[31m`, "ray-k7nm8ahl5te4tg91 (Deleted)", "deleted 1m0s after the job ends",
		"rayfleet-logs/w/ray/logs/rj-k7nm8ahl5te4tg91_default/")
}

// job logs --follow waits while the job has not reached Ray, then tails
// its log through the gateway with the cluster's submit token.
func TestJobLogsFollow(t *testing.T) {
	var mu sync.Mutex
	onRay := false
	upgrader := websocket.Upgrader{}
	head := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		known := onRay
		mu.Unlock()
		switch {
		case r.Header.Get("ray-token") != "tok":
			http.Error(w, "no token", http.StatusUnauthorized)
		case !known:
			http.Error(w, "Job does not exist", http.StatusNotFound)
		case r.URL.Path == "/api/jobs/rj-k7nm8ahl5te4tg91":
			_, _ = io.WriteString(w, `{"submission_id":"rj-k7nm8ahl5te4tg91","status":"RUNNING"}`)
		case r.URL.Path == "/api/jobs/rj-k7nm8ahl5te4tg91/logs/tail":
			conn, err := upgrader.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer conn.Close()
			_ = conn.WriteMessage(websocket.TextMessage, []byte("line 1\n"))
			_ = conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
		default:
			http.NotFound(w, r)
		}
	}))
	defer head.Close()
	looks := 0
	srv := newFakeServer(t, func(c call) (int, string) {
		switch c.Action {
		case "GetRayJob":
			looks++
			if looks == 3 {
				mu.Lock()
				onRay = true
				mu.Unlock()
			}
			return 200, `{"submissionId":"rj-k7nm8ahl5te4tg91","status":"Pending","clusterState":"Running","clusterId":"ray-0123456789abcdef","message":"waiting for a slot"}`
		case "GetRayCluster":
			return 200, `{"clusterId":"ray-0123456789abcdef","state":"Running","jobUrl":"` + head.URL + `","submitToken":"tok"}`
		}
		return 404, `{"code":"ResourceNotFound","message":"no"}`
	})
	r := runCLI(t, srv.vars(t), "", "job", "logs", "rj-k7nm8ahl5te4tg91", "--follow", "--wait-interval", "10ms")
	r.wantCode(t, 0)
	if r.stdout != "line 1\n" {
		t.Errorf("stdout %q", r.stdout)
	}
	contains(t, "stderr", r.stderr, "waiting for the job to reach Ray: rj-k7nm8ahl5te4tg91 Pending (cluster Running): waiting for a slot")
}
