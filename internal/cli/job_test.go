package cli

import (
	"testing"
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
