package cli

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

const createdResp = `{"requestId":"REQ-CREATE","clusterId":"ray-k7nm8ahl5te4tg91"}`

const clusterPath = "/api/v1/workspaces/" + testWS + "/rayCluster"

func TestClusterCreateFromFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{{
		name: "head only, defaults",
		args: []string{"--name", "dev"},
		want: `{"name":"dev","networkServiceName":"vpc",
			"headSpec":{"queueName":"root_queue","cpu":"2","memory":"8Gi","enableAutoScaling":false,"idleTimeoutSeconds":60}}`,
	}, {
		name: "fixed workers",
		args: []string{
			"--name", "train", "--description", "for training",
			"--release-version", "ray-1.0.0 (Ray 2.47.1, Python 3.12)", "--network-service", "private",
			"--head-cpu", "4", "--head-memory", "16Gi", "--queue", "dev_queue",
			"--workers", "3", "--worker-cpu", "8", "--worker-memory", "32Gi", "--worker-group", "cpu",
			"--env", "A=1", "--env", "B=x=y",
		},
		want: `{"name":"train","description":"for training",
			"displayReleaseVersion":"ray-1.0.0 (Ray 2.47.1, Python 3.12)","networkServiceName":"private",
			"headSpec":{"queueName":"dev_queue","cpu":"4","memory":"16Gi","enableAutoScaling":false,
				"idleTimeoutSeconds":60,"env":"A=1\nB=x=y"},
			"workerSpec":[{"groupName":"cpu","workerType":"CPU","replica":3,"minReplica":3,"maxReplica":3,
				"queueName":"dev_queue","cpu":"8","memory":"32Gi","env":"A=1\nB=x=y"}]}`,
	}, {
		name: "autoscaling",
		args: []string{"--name", "elastic", "--autoscale", "--min-workers", "2", "--max-workers", "10", "--idle-timeout", "120"},
		want: `{"name":"elastic","networkServiceName":"vpc",
			"headSpec":{"queueName":"root_queue","cpu":"2","memory":"8Gi","enableAutoScaling":true,"idleTimeoutSeconds":120},
			"workerSpec":[{"groupName":"group-1","workerType":"CPU","replica":2,"minReplica":2,"maxReplica":10,
				"queueName":"root_queue","cpu":"2","memory":"8Gi"}]}`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFakeServer(t, answer(200, createdResp))
			r := runCLI(t, srv.vars(t), "", append([]string{"cluster", "create"}, tt.args...)...)
			r.wantCode(t, 0)
			c := srv.only(t)
			if c.Method != "POST" || c.Path != clusterPath || c.Action != "CreateRayCluster" {
				t.Errorf("got %s %s (%s), want POST %s (CreateRayCluster)", c.Method, c.Path, c.Action, clusterPath)
			}
			jsonEqual(t, c.Body, tt.want)
			if want := "Created cluster ray-k7nm8ahl5te4tg91 (Starting). Follow it with: rayfleet cluster get ray-k7nm8ahl5te4tg91\n"; r.stdout != want {
				t.Errorf("stdout %q, want %q", r.stdout, want)
			}
		})
	}
}

func TestClusterCreateJSONOutput(t *testing.T) {
	srv := newFakeServer(t, answer(200, createdResp))
	r := runCLI(t, srv.vars(t), "", "cluster", "create", "--name", "dev", "-o", "json")
	r.wantCode(t, 0)
	want := "{\n  \"requestId\": \"REQ-CREATE\",\n  \"clusterId\": \"ray-k7nm8ahl5te4tg91\"\n}\n"
	if r.stdout != want {
		t.Errorf("stdout %q, want %q", r.stdout, want)
	}
}

func TestClusterCreateUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no name", nil, "--name is required"},
		{"bad env", []string{"--name", "x", "--env", "NOEQUALS"}, `--env "NOEQUALS": want KEY=VALUE`},
		{"autoscale without max", []string{"--name", "x", "--autoscale", "--workers", "2"}, "--max-workers"},
		{"bounds without autoscale", []string{"--name", "x", "--max-workers", "4"}, "need --autoscale"},
		{"zero workers", []string{"--name", "x", "--workers", "0"}, "at least 1"},
		{"missing file", []string{"-f", "/nonexistent/spec.json"}, "/nonexistent/spec.json"},
		{"positional argument", []string{"extra"}, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFakeServer(t, answer(200, createdResp))
			r := runCLI(t, srv.vars(t), "", append([]string{"cluster", "create"}, tt.args...)...)
			r.wantCode(t, 2)
			oneErrorLine(t, r)
			contains(t, "stderr", r.stderr, tt.want)
			if n := len(srv.recorded()); n != 0 {
				t.Errorf("a usage error sent %d requests", n)
			}
		})
	}
}

const specFile = `{
  "name": "from-file",
  "description": "kept",
  "displayReleaseVersion": "ray-1.2.0 (Ray 2.55.1, Python 3.12)",
  "extraParam": "{}",
  "volumeIds": [],
  "headSpec": {"queueName": "q1", "cpu": "4", "memory": "16Gi", "enableAutoScaling": false,
               "idleTimeoutSeconds": 30, "rayStartParams": "--num-cpus=0"},
  "workerSpec": [{"groupName": "wg", "workerType": "CPU", "replica": 2, "minReplica": 1,
                  "maxReplica": 4, "queueName": "q1", "cpu": "4", "memory": "16Gi"}]
}`

func TestClusterCreateFileMergesFlags(t *testing.T) {
	want := `{"name":"override","description":"kept",
		"displayReleaseVersion":"ray-1.2.0 (Ray 2.55.1, Python 3.12)","networkServiceName":"vpc",
		"extraParam":"{}","volumeIds":[],
		"headSpec":{"queueName":"q2","cpu":"4","memory":"16Gi","enableAutoScaling":false,
			"idleTimeoutSeconds":30,"rayStartParams":"--num-cpus=0"},
		"workerSpec":[{"groupName":"wg","workerType":"CPU","replica":2,"minReplica":1,"maxReplica":4,
			"queueName":"q2","cpu":"8","memory":"16Gi"}]}`
	args := []string{"cluster", "create", "--name", "override", "--worker-cpu", "8", "--queue", "q2"}

	t.Run("file", func(t *testing.T) {
		srv := newFakeServer(t, answer(200, createdResp))
		path := writeFile(t, "spec.json", specFile)
		r := runCLI(t, srv.vars(t), "", append(args, "-f", path)...)
		r.wantCode(t, 0)
		jsonEqual(t, srv.only(t).Body, want)
		if r.stderr != "" {
			t.Errorf("stderr %q, want nothing", r.stderr)
		}
	})
	t.Run("stdin", func(t *testing.T) {
		srv := newFakeServer(t, answer(200, createdResp))
		r := runCLI(t, srv.vars(t), specFile, append(args, "-f", "-")...)
		r.wantCode(t, 0)
		jsonEqual(t, srv.only(t).Body, want)
	})
	t.Run("file alone is sent as written", func(t *testing.T) {
		srv := newFakeServer(t, answer(200, createdResp))
		path := writeFile(t, "spec.json", specFile)
		r := runCLI(t, srv.vars(t), "", "cluster", "create", "-f", path)
		r.wantCode(t, 0)
		var body map[string]any
		json.Unmarshal(srv.only(t).Body, &body)
		if body["name"] != "from-file" || body["networkServiceName"] != "vpc" {
			t.Errorf("body %v: want the file's name and the default network service", body)
		}
	})
	t.Run("new group from flags", func(t *testing.T) {
		srv := newFakeServer(t, answer(200, createdResp))
		path := writeFile(t, "spec.json", specFile)
		r := runCLI(t, srv.vars(t), "", "cluster", "create", "-f", path, "--worker-group", "big", "--workers", "2")
		r.wantCode(t, 0)
		var body struct{ WorkerSpec []map[string]any }
		json.Unmarshal(srv.only(t).Body, &body)
		if len(body.WorkerSpec) != 2 {
			t.Fatalf("workerSpec %v: want the file's group and a new one", body.WorkerSpec)
		}
		g := body.WorkerSpec[1]
		if g["groupName"] != "big" || g["replica"] != 2.0 || g["queueName"] != "q1" {
			t.Errorf("new group %v: want big, 2 replicas, the head's queue q1", g)
		}
	})
	t.Run("unknown fields warn; response fields pass quietly", func(t *testing.T) {
		srv := newFakeServer(t, answer(200, createdResp))
		path := writeFile(t, "spec.json", `{"name":"x","clusterId":"ray-old","state":"Running","workerSpecs":[]}`)
		r := runCLI(t, srv.vars(t), "", "cluster", "create", "-f", path)
		r.wantCode(t, 0)
		contains(t, "stderr", r.stderr, "warning:", "workerSpecs")
		if strings.Contains(r.stderr, "clusterId") {
			t.Errorf("stderr warns about a response field: %q", r.stderr)
		}
	})
	t.Run("invalid JSON", func(t *testing.T) {
		srv := newFakeServer(t, answer(200, createdResp))
		r := runCLI(t, srv.vars(t), "{not json", "cluster", "create", "-f", "-")
		r.wantCode(t, 2)
		oneErrorLine(t, r)
	})
	t.Run("several groups need --worker-group", func(t *testing.T) {
		srv := newFakeServer(t, answer(200, createdResp))
		path := writeFile(t, "spec.json", `{"name":"x","workerSpec":[{"groupName":"a"},{"groupName":"b"}]}`)
		r := runCLI(t, srv.vars(t), "", "cluster", "create", "-f", path, "--workers", "3")
		r.wantCode(t, 2)
		contains(t, "stderr", r.stderr, "--worker-group", "a, b")
	})
}

const currentCluster = `{"requestId":"REQ-GET","clusterId":"ray-k7nm8ahl5te4tg91","name":"dev","state":"Running",
	"headSpec":{"queueName":"root_queue","cpu":"2","memory":"8Gi","enableAutoScaling":false,"idleTimeoutSeconds":60,"replica":1},
	"workerSpec":[{"groupName":"group-1","workerType":"CPU","replica":2,"minReplica":2,"maxReplica":2,
		"queueName":"root_queue","cpu":"2","memory":"8Gi"}]}`

func TestClusterUpdate(t *testing.T) {
	id := "ray-k7nm8ahl5te4tg91"
	handle := func(c call) (int, string) {
		if c.Method == "GET" {
			return 200, currentCluster
		}
		return 200, `{"requestId":"REQ-UPD","clusterId":"` + id + `"}`
	}
	t.Run("scalar flags send only themselves", func(t *testing.T) {
		srv := newFakeServer(t, handle)
		r := runCLI(t, srv.vars(t), "", "cluster", "update", id, "--name", "renamed", "--description", "")
		r.wantCode(t, 0)
		c := srv.only(t)
		if c.Method != "POST" || c.Path != clusterPath+"/"+id || c.Action != "UpdateRayCluster" {
			t.Errorf("got %s %s (%s)", c.Method, c.Path, c.Action)
		}
		jsonEqual(t, c.Body, `{"name":"renamed","description":""}`)
		contains(t, "stdout", r.stdout, "Updated cluster "+id)
	})
	t.Run("worker flag rewrites the current groups", func(t *testing.T) {
		srv := newFakeServer(t, handle)
		r := runCLI(t, srv.vars(t), "", "cluster", "update", id, "--workers", "5")
		r.wantCode(t, 0)
		calls := srv.recorded()
		if len(calls) != 2 || calls[0].Action != "GetRayCluster" || calls[1].Action != "UpdateRayCluster" {
			t.Fatalf("calls %+v, want GetRayCluster then UpdateRayCluster", calls)
		}
		jsonEqual(t, calls[1].Body, `{"workerSpec":[{"groupName":"group-1","workerType":"CPU","replica":5,
			"minReplica":5,"maxReplica":5,"queueName":"root_queue","cpu":"2","memory":"8Gi"}]}`)
	})
	t.Run("head flag rewrites the current head", func(t *testing.T) {
		srv := newFakeServer(t, handle)
		r := runCLI(t, srv.vars(t), "", "cluster", "update", id, "--head-memory", "32Gi")
		r.wantCode(t, 0)
		calls := srv.recorded()
		jsonEqual(t, calls[len(calls)-1].Body, `{"headSpec":{"queueName":"root_queue","cpu":"2","memory":"32Gi",
			"enableAutoScaling":false,"idleTimeoutSeconds":60}}`)
	})
	t.Run("queue and env apply to the head and every group", func(t *testing.T) {
		srv := newFakeServer(t, handle)
		r := runCLI(t, srv.vars(t), "", "cluster", "update", id, "--queue", "q2", "--env", "K=V")
		r.wantCode(t, 0)
		calls := srv.recorded()
		if len(calls) != 2 {
			t.Fatalf("calls %+v, want one GetRayCluster, then UpdateRayCluster", calls)
		}
		jsonEqual(t, calls[1].Body, `{"headSpec":{"queueName":"q2","cpu":"2","memory":"8Gi",
			"enableAutoScaling":false,"idleTimeoutSeconds":60,"env":"K=V"},
			"workerSpec":[{"groupName":"group-1","workerType":"CPU","replica":2,"minReplica":2,"maxReplica":2,
			"queueName":"q2","cpu":"2","memory":"8Gi","env":"K=V"}]}`)
	})
	t.Run("queue on a cluster without workers sends no workerSpec", func(t *testing.T) {
		srv := newFakeServer(t, func(c call) (int, string) {
			if c.Method == "GET" {
				return 200, `{"requestId":"R","clusterId":"` + id + `","headSpec":{"queueName":"root_queue","cpu":"2","memory":"8Gi"},"workerSpec":[]}`
			}
			return 200, `{"requestId":"R","clusterId":"` + id + `"}`
		})
		r := runCLI(t, srv.vars(t), "", "cluster", "update", id, "--queue", "q2")
		r.wantCode(t, 0)
		calls := srv.recorded()
		jsonEqual(t, calls[len(calls)-1].Body, `{"headSpec":{"queueName":"q2","cpu":"2","memory":"8Gi",
			"enableAutoScaling":false,"idleTimeoutSeconds":0}}`)
	})
	t.Run("autoscaling bounds on the current group", func(t *testing.T) {
		srv := newFakeServer(t, handle)
		r := runCLI(t, srv.vars(t), "", "cluster", "update", id, "--autoscale", "--max-workers", "8")
		r.wantCode(t, 0)
		calls := srv.recorded()
		jsonEqual(t, calls[len(calls)-1].Body, `{"headSpec":{"queueName":"root_queue","cpu":"2","memory":"8Gi",
			"enableAutoScaling":true,"idleTimeoutSeconds":60},
			"workerSpec":[{"groupName":"group-1","workerType":"CPU","replica":2,"minReplica":2,"maxReplica":8,
			"queueName":"root_queue","cpu":"2","memory":"8Gi"}]}`)
	})
	t.Run("not found while reading the current spec", func(t *testing.T) {
		srv := newFakeServer(t, answer(404, `{"RequestId":"R404","Code":"ResourceNotFound","Message":"no such cluster"}`))
		r := runCLI(t, srv.vars(t), "", "cluster", "update", id, "--workers", "3")
		r.wantCode(t, 4)
		if len(srv.recorded()) != 1 {
			t.Errorf("sent an update after the read failed")
		}
	})
	t.Run("nothing to update", func(t *testing.T) {
		srv := newFakeServer(t, handle)
		r := runCLI(t, srv.vars(t), "", "cluster", "update", id)
		r.wantCode(t, 2)
		contains(t, "stderr", r.stderr, "nothing to update")
	})
}

func TestClusterStartStopDelete(t *testing.T) {
	id := "ray-k7nm8ahl5te4tg91"
	tests := []struct {
		args                       []string
		method, path, action, body string
		stdout                     string
	}{
		{
			[]string{"start", id, "--client-token", "tok-1"},
			"POST", clusterPath + "/" + id + "/start", "StartRayCluster",
			`{"clientToken":"tok-1"}`, "Starting cluster " + id,
		},
		{[]string{"start", id}, "POST", clusterPath + "/" + id + "/start", "StartRayCluster", `{}`, "Starting cluster"},
		{
			[]string{"stop", id, "--instance-id", id + "-ey7blpbg"},
			"POST", clusterPath + "/" + id + "/stop", "StopRayCluster",
			`{"instanceId":"` + id + `-ey7blpbg"}`, "Stopping cluster " + id,
		},
		{[]string{"delete", id}, "DELETE", clusterPath + "/" + id, "DeleteRayCluster", "", "Deleted cluster " + id},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			srv := newFakeServer(t, answer(200, `{"requestId":"REQ-X"}`))
			r := runCLI(t, srv.vars(t), "", append([]string{"cluster"}, tt.args...)...)
			r.wantCode(t, 0)
			c := srv.only(t)
			if c.Method != tt.method || c.Path != tt.path || c.Action != tt.action {
				t.Errorf("got %s %s (%s), want %s %s (%s)", c.Method, c.Path, c.Action, tt.method, tt.path, tt.action)
			}
			if tt.body == "" {
				if len(c.Body) != 0 {
					t.Errorf("body %q, want none", c.Body)
				}
			} else {
				jsonEqual(t, c.Body, tt.body)
			}
			contains(t, "stdout", r.stdout, tt.stdout)

			srv2 := newFakeServer(t, answer(200, `{"requestId":"REQ-X"}`))
			r = runCLI(t, srv2.vars(t), "", append(append([]string{"cluster"}, tt.args...), "-o", "json")...)
			r.wantCode(t, 0)
			contains(t, "json stdout", r.stdout, `"requestId": "REQ-X"`)
		})
	}
}

var (
	created1 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixMilli()
	created2 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
)

var listResp = fmt.Sprintf(`{"requestId":"REQ-LIST","totalCount":2,"pageNum":1,"pageSize":20,"futureField":{"x":1},
 "rayClusters":[
  {"clusterId":"ray-aaaaaaaaaaaaaaaa","name":"dev","state":"Running","message":"",
   "displayReleaseVersion":"ray-1.0.0 (Ray 2.47.1, Python 3.12)",
   "headSpec":{"cpu":"2","memory":"8Gi","replica":1},
   "workerSpec":[{"groupName":"a","replica":1},{"groupName":"b","replica":2}],"createTime":%d},
  {"clusterId":"ray-bbbbbbbbbbbbbbbb","name":"broken","state":"Error",
   "message":"image pull failed: rayproject/ray:2.47.1-py312 could not be found in any registry configured for this server",
   "headSpec":{"cpu":"4","memory":"16Gi"},"workerSpec":[],"createTime":%d}
 ]}`, created1, created2)

func TestClusterList(t *testing.T) {
	t.Run("table", func(t *testing.T) {
		srv := newFakeServer(t, answer(200, listResp))
		r := runCLI(t, srv.vars(t), "", "cluster", "list")
		r.wantCode(t, 0)
		c := srv.only(t)
		if c.Method != "GET" || c.Path != clusterPath || c.Action != "ListRayCluster" || c.Query != "" {
			t.Errorf("got %s %s?%s (%s)", c.Method, c.Path, c.Query, c.Action)
		}
		lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
		if len(lines) != 3 {
			t.Fatalf("want header and 2 rows:\n%s", r.stdout)
		}
		for _, col := range []string{"ID", "NAME", "STATE", "RELEASE", "HEAD", "WORKERS", "CREATED", "MESSAGE"} {
			contains(t, "header", lines[0], col)
		}
		contains(t, "row 1", lines[1], "ray-aaaaaaaaaaaaaaaa", "dev", "Running", "ray-1.0.0 (Ray 2.47.1, Python 3.12)",
			"2cpu/8Gi", "  3  ", time.UnixMilli(created1).Local().Format(time.RFC3339))
		contains(t, "row 2", lines[2], "ray-bbbbbbbbbbbbbbbb", "Error", "4cpu/16Gi", "image pull failed", "…")
		if strings.Contains(lines[2], "any registry configured") {
			t.Errorf("message not trimmed: %s", lines[2])
		}
		// Columns line up: every row has STATE where the header has it.
		col := strings.Index(lines[0], "STATE")
		if !strings.HasPrefix(lines[1][col:], "Running") || !strings.HasPrefix(lines[2][col:], "Error") {
			t.Errorf("columns not aligned:\n%s", r.stdout)
		}
	})
	t.Run("filters and paging go to the query", func(t *testing.T) {
		srv := newFakeServer(t, answer(200, listResp))
		r := runCLI(t, srv.vars(t), "", "cluster", "list", "--state", "Running", "--name", "de v",
			"--creator", "2020", "--queue", "root_queue", "--page", "2", "--page-size", "5")
		r.wantCode(t, 0)
		q, _ := url.ParseQuery(srv.only(t).Query)
		want := url.Values{
			"state": {"Running"}, "name": {"de v"}, "creator": {"2020"}, "queueName": {"root_queue"},
			"pageNum": {"2"}, "pageSize": {"5"},
		}
		if q.Encode() != want.Encode() {
			t.Errorf("query %s, want %s", q.Encode(), want.Encode())
		}
	})
	t.Run("json is the response as sent", func(t *testing.T) {
		srv := newFakeServer(t, answer(200, listResp))
		r := runCLI(t, srv.vars(t), "", "cluster", "list", "-o", "json")
		r.wantCode(t, 0)
		contains(t, "stdout", r.stdout, `"requestId": "REQ-LIST"`, `"futureField": {`, "\n  \"rayClusters\": [\n")
		jsonEqual(t, []byte(r.stdout), listResp)
		// Order as sent: requestId first, as the server wrote it.
		if !strings.HasPrefix(r.stdout, "{\n  \"requestId\"") {
			t.Errorf("keys reordered:\n%s", r.stdout)
		}
	})
	t.Run("more pages hint", func(t *testing.T) {
		srv := newFakeServer(t, answer(200, strings.Replace(listResp, `"totalCount":2`, `"totalCount":45`, 1)))
		r := runCLI(t, srv.vars(t), "", "cluster", "list")
		r.wantCode(t, 0)
		contains(t, "stderr", r.stderr, "2 of 45", "--page 2", "--all")
	})
	t.Run("empty", func(t *testing.T) {
		srv := newFakeServer(t, answer(200, `{"requestId":"R","rayClusters":[]}`))
		r := runCLI(t, srv.vars(t), "", "cluster", "list")
		r.wantCode(t, 0)
		contains(t, "stdout", r.stdout, "No clusters in workspace "+testWS)
	})
}

func TestClusterListAll(t *testing.T) {
	item := func(i int) string {
		return fmt.Sprintf(`{"clusterId":"ray-%016d","name":"c%d","state":"Running"}`, i, i)
	}
	handle := func(c call) (int, string) {
		q, _ := url.ParseQuery(c.Query)
		var items []string
		switch q.Get("pageNum") {
		case "1":
			items = []string{item(1), item(2)}
		case "2":
			items = []string{item(3)}
		}
		return 200, fmt.Sprintf(`{"requestId":"REQ-%s","totalCount":3,"pageNum":%s,"pageSize":2,"rayClusters":[%s]}`,
			q.Get("pageNum"), q.Get("pageNum"), strings.Join(items, ","))
	}
	t.Run("table", func(t *testing.T) {
		srv := newFakeServer(t, handle)
		r := runCLI(t, srv.vars(t), "", "cluster", "list", "--all", "--page-size", "2", "--state", "Running")
		r.wantCode(t, 0)
		calls := srv.recorded()
		if len(calls) != 2 {
			t.Fatalf("%d calls, want 2", len(calls))
		}
		contains(t, "second query", calls[1].Query, "pageNum=2", "pageSize=2", "state=Running")
		contains(t, "stdout", r.stdout, "ray-0000000000000001", "ray-0000000000000002", "ray-0000000000000003")
	})
	t.Run("json", func(t *testing.T) {
		srv := newFakeServer(t, handle)
		r := runCLI(t, srv.vars(t), "", "cluster", "list", "--all", "--page-size", "2", "-o", "json")
		r.wantCode(t, 0)
		jsonEqual(t, []byte(r.stdout), fmt.Sprintf(`{"requestId":"REQ-1","totalCount":3,"rayClusters":[%s,%s,%s]}`,
			item(1), item(2), item(3)))
	})
	t.Run("--all with --page", func(t *testing.T) {
		srv := newFakeServer(t, handle)
		r := runCLI(t, srv.vars(t), "", "cluster", "list", "--all", "--page", "2")
		r.wantCode(t, 2)
	})
}

var getResp = fmt.Sprintf(`{"requestId":"REQ-GET","clusterId":"ray-k7nm8ahl5te4tg91","name":"myRayCluster",
 "description":"Ray Cluster for dev.","displayReleaseVersion":"ray-1.0.0 (Ray 2.47.1, Python 3.12)",
 "networkServiceName":"vpc","extraParam":"{}","state":"Running","message":"ok",
 "instanceId":"ray-k7nm8ahl5te4tg91-ey7blpbg",
 "headSpec":{"queueName":"root_queue","cpu":"2","memory":"8Gi","enableAutoScaling":true,"idleTimeoutSeconds":90,
  "replica":1,"env":"MY_ENV=hello","rayStartParams":"--num-cpus=0"},
 "workerSpec":[{"groupName":"WorkerGroup1","workerType":"CPU","replica":2,"minReplica":1,"maxReplica":10,
  "queueName":"root_queue","cpu":"4","memory":"16Gi"}],
 "instances":[{"instanceId":"ray-k7nm8ahl5te4tg91-head-7cgta","type":"Head","phase":"Running",
  "containerState":"Running","containerExitCode":0,"startTime":%d}],
 "dashboardUrl":"https://ray.example.com/workspace/w/raycluster/ray-k7nm8ahl5te4tg91/dashboard/?token=tok",
 "jobUrl":"https://ray.example.com/workspace/w/raycluster/ray-k7nm8ahl5te4tg91",
 "jobUrlInner":"http://ray-internal/workspace/w/raycluster/ray-k7nm8ahl5te4tg91",
 "grpcEndpoint":"ray://127.0.0.1:10101","submitToken":"1d06484d3b424f7fa4ab7082a4076da2",
 "modified":true,"createTime":%d,"startTime":%d,"modifiedTime":%d,
 "creator":"202077646755523991","creatorName":"Alice","userId":"1234567890"}`,
	created1, created2, created1, created1)

func TestClusterGet(t *testing.T) {
	srv := newFakeServer(t, answer(200, getResp))
	r := runCLI(t, srv.vars(t), "", "cluster", "get", "ray-k7nm8ahl5te4tg91")
	r.wantCode(t, 0)
	c := srv.only(t)
	if c.Method != "GET" || c.Path != clusterPath+"/ray-k7nm8ahl5te4tg91" || c.Action != "GetRayCluster" {
		t.Errorf("got %s %s (%s)", c.Method, c.Path, c.Action)
	}
	contains(t, "stdout", r.stdout,
		"ID:", "ray-k7nm8ahl5te4tg91", "myRayCluster", "Ray Cluster for dev.", "State:", "Running",
		"Instance:", "ray-k7nm8ahl5te4tg91-ey7blpbg", "Release:", "ray-1.0.0 (Ray 2.47.1, Python 3.12)",
		"Network:", "vpc", "Modified:", "yes", "Alice (202077646755523991)",
		"Head:", "root_queue", "2cpu/8Gi", "on (idle workers leave after 90s)", "MY_ENV=hello", "--num-cpus=0",
		"Worker groups:", "WorkerGroup1", "4cpu/16Gi",
		"Endpoints:", "Dashboard:", "dashboard/?token=tok", "Job URL:", "Job URL (internal):", "gRPC:",
		"ray://127.0.0.1:10101", "Submit token:", "1d06484d3b424f7fa4ab7082a4076da2",
		"Instances:", "ray-k7nm8ahl5te4tg91-head-7cgta", "Head", time.UnixMilli(created1).Local().Format(time.RFC3339))
	// The worker group row: replicas, min, max in order.
	for _, line := range strings.Split(r.stdout, "\n") {
		if strings.Contains(line, "WorkerGroup1") {
			if f := strings.Fields(line); len(f) < 5 || f[2] != "2" || f[3] != "1" || f[4] != "10" {
				t.Errorf("worker row %q: want replicas 2, min 1, max 10", line)
			}
		}
	}

	r = runCLI(t, srv.vars(t), "", "cluster", "get", "ray-k7nm8ahl5te4tg91", "-o", "json")
	r.wantCode(t, 0)
	jsonEqual(t, []byte(r.stdout), getResp)
}

func TestClusterWorkspaceRequired(t *testing.T) {
	srv := newFakeServer(t, answer(200, listResp))
	vars := srv.vars(t)
	delete(vars, "RAYFLEET_WORKSPACE")
	r := runCLI(t, vars, "", "cluster", "list")
	r.wantCode(t, 2)
	oneErrorLine(t, r)
	contains(t, "stderr", r.stderr, "no workspace", "-w")
}

// TestClusterByName: cluster commands take a unique name where they take
// an id; an ambiguous name lists the candidates, an unknown one says how
// to list; cluster env prints the exports Ray's job CLI reads.
func TestClusterByName(t *testing.T) {
	list := `{"requestId":"R","totalCount":3,"pageNum":1,"pageSize":100,"rayClusters":[
		{"clusterId":"ray-aaaaaaaaaaaaaaaa","name":"demo","state":"Running"},
		{"clusterId":"ray-bbbbbbbbbbbbbbbb","name":"twin","state":"Running"},
		{"clusterId":"ray-cccccccccccccccc","name":"twin","state":"Stopped"}]}`
	get := `{"requestId":"R","clusterId":"ray-aaaaaaaaaaaaaaaa","name":"demo","state":"Running",
		"jobUrl":"http://gw:8081/workspace/w/raycluster/ray-aaaaaaaaaaaaaaaa","submitToken":"t0k'en"}`
	srv := newFakeServer(t, func(c call) (int, string) {
		if c.Action == "ListRayCluster" {
			return 200, list
		}
		return 200, get
	})
	r := runCLI(t, srv.vars(t), "", "cluster", "env", "demo")
	r.wantCode(t, 0)
	want := "export RAY_API_SERVER_ADDRESS='http://gw:8081/workspace/w/raycluster/ray-aaaaaaaaaaaaaaaa'\n" +
		`export RAY_JOB_HEADERS='{"ray-token":"t0k'\''en"}'` + "\n"
	if r.stdout != want {
		t.Errorf("env stdout %q, want %q", r.stdout, want)
	}
	calls := srv.recorded()
	if len(calls) != 2 || calls[0].Action != "ListRayCluster" || !strings.Contains(calls[0].Query, "name=demo") ||
		calls[1].Path != clusterPath+"/ray-aaaaaaaaaaaaaaaa" {
		t.Errorf("calls %+v", calls)
	}

	// A running cluster whose caller may not use the job API.
	get = `{"requestId":"R","clusterId":"ray-aaaaaaaaaaaaaaaa","name":"demo","state":"Running",
		"jobUrl":"http://gw:8081/workspace/w/raycluster/ray-aaaaaaaaaaaaaaaa","submitToken":""}`
	r = runCLI(t, srv.vars(t), "", "cluster", "env", "ray-aaaaaaaaaaaaaaaa")
	r.wantCode(t, 1)
	oneErrorLine(t, r)
	contains(t, "stderr", r.stderr, "no submitToken", "emr-serverless-spark:UseRayJobAPI")

	r = runCLI(t, srv.vars(t), "", "cluster", "get", "twin")
	r.wantCode(t, 2)
	if !strings.Contains(r.stderr, `2 clusters are named "twin"`) || !strings.Contains(r.stderr, "ray-bbbbbbbbbbbbbbbb (Running)") ||
		!strings.Contains(r.stderr, "ray-cccccccccccccccc (Stopped)") {
		t.Errorf("ambiguous: %s", r.stderr)
	}
	r = runCLI(t, srv.vars(t), "", "cluster", "stop", "nope")
	r.wantCode(t, 4)
	if !strings.Contains(r.stderr, `no cluster with id or name "nope"`) || !strings.Contains(r.stderr, "rayfleet cluster list") {
		t.Errorf("unknown: %s", r.stderr)
	}
}
