package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/api"
	"github.com/rayfleet/rayfleet/internal/cli"
	"github.com/rayfleet/rayfleet/internal/poll"
	"github.com/rayfleet/rayfleet/internal/rayjob"
	"github.com/rayfleet/rayfleet/internal/raytest"
)

// logsPath is the path of ListRayLogs (leaf "logs") and GetRayLog ("log").
func logsPath(ws, jobID, leaf string) string {
	return "/api/interactive/v1/workspace/" + url.PathEscape(ws) + "/ray/" + url.PathEscape(jobID) + "/" + leaf
}

// objects returns a ListRayLogs answer's entries by path, and the answer's
// data.
func objects(t *testing.T, b map[string]any) (map[string]map[string]any, map[string]any) {
	t.Helper()
	if b["code"] != api.LogSuccess {
		t.Fatalf("ListRayLogs answered code %v: %v", b["code"], b)
	}
	data, _ := b["data"].(map[string]any)
	list, ok := data["objectList"].([]any)
	if !ok {
		t.Fatalf("no objectList in %v", b)
	}
	out := map[string]map[string]any{}
	for _, o := range list {
		m := o.(map[string]any)
		out[str(m, "path")] = m
	}
	return out, data
}

// download fetches a URL with a plain HTTP client, no credentials.
func download(t *testing.T, u string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// TestJobLogsOutliveTheirCluster: a job on a real one-node cluster has its
// driver log and its node's Ray logs collected while it runs and when it
// ends; after the cluster is stopped and deleted the official Go client
// lists them (ListRayLogs, both signatures) and GetRayLog's accessUrl
// opens the driver's log, with the job's output, and the log of the worker
// that ran its task, to a plain HTTP client, until the URL expires; the
// CLI lists and prints them too.
//
// The job API's operations are another piece of work: the job's row is
// written to the store here as SubmitRayJob would, and the job handed to
// the head through rayjob.Client, as the job runner does.
func TestJobLogsOutliveTheirCluster(t *testing.T) {
	needRay(t)
	const expiry = 20 * time.Second
	srv, cred := testServer(t, func(cfg *Config) { cfg.Logs.URLExpiry = expiry })
	c := client(srv, cred)
	ctx := context.Background()
	ws := cred.WorkspaceID
	cl := runningCluster(t, c, ws, "logs")

	// The head as the control plane reaches it.
	stored, err := srv.Store.GetCluster(ctx, cred.UserID, ws, cl.ClusterID)
	if err != nil {
		t.Fatal(err)
	}
	dash, _, ok := srv.Runtime.HeadEndpoints(&stored)
	if !ok {
		t.Fatal("the running cluster has no head endpoints")
	}
	head := rayjob.Client{Address: "http://" + dash, Token: srv.Runtime.HeadToken(&stored), HTTP: &http.Client{Timeout: time.Minute}}

	id := "rj-" + rand.Text()[:16]
	id = strings.ToLower(id)
	now := time.Now().UTC().Truncate(time.Millisecond)
	j := rayfleet.Job{
		ID: id, AccountID: cred.UserID, WorkspaceID: ws,
		Spec: rayfleet.JobSpec{
			Name: "logs", ClusterID: cl.ClusterID,
			Entrypoint: `python -c "import ray, time; ray.init(); print('first line', flush=True); time.sleep(8); ` +
				`t = ray.remote(lambda: print('from the task', flush=True) or 42); print('answer', ray.get(t.remote()), flush=True)"`,
		},
		ClusterID: cl.ClusterID, InstanceID: cl.InstanceID, Status: rayfleet.JobRunning, ClusterState: rayfleet.JobClusterRunning,
		LogBucket: srv.Service.LogBucket(), LogPath: rayfleet.JobLogPath(ws, id), SubmitTime: now, StartTime: now,
		Creator: "root", CreatorName: "root",
	}
	if err := srv.Store.CreateJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	req, err := rayjob.RequestFor(&j)
	if err != nil {
		t.Fatal(err)
	}
	poll.UntilSeen(t, rayWait, "the head to take the job", func() (bool, string) {
		_, err := head.Submit(ctx, req)
		return err == nil, errString(err)
	}, poll.Every(time.Second))

	// While it runs: what the driver printed so far is kept.
	driverKey := rayfleet.JobDriverLogKey(&j)
	poll.Until(t, rayWait, "the job's first line", func() bool {
		logs, err := head.Logs(ctx, id)
		return err == nil && strings.Contains(logs, "first line")
	}, poll.Every(250*time.Millisecond))
	if err := srv.LogCollector.Collect(ctx, j, head); err != nil {
		t.Fatalf("collect while the job runs: %v", err)
	}
	if got := storedLog(t, srv, driverKey); !strings.Contains(got, "first line") {
		t.Fatalf("the driver's log while it runs: %q", got)
	}

	// When it ends: all of it.
	var info rayjob.JobInfo
	poll.UntilSeen(t, rayWait, "the job to end", func() (bool, string) {
		info, err = head.Job(ctx, id)
		return err == nil && (info.Status == rayfleet.RayJobSucceeded || info.Status == rayfleet.RayJobFailed), info.Status + errString(err)
	}, poll.Every(250*time.Millisecond))
	if info.Status != rayfleet.RayJobSucceeded {
		logs, _ := head.Logs(ctx, id)
		t.Fatalf("the job ended %s: %s\n%s", info.Status, info.Message, logs)
	}
	srv.LogCollector.JobEnded(ctx, j, head)
	nodes, err := head.Nodes(ctx)
	if err != nil || len(nodes) != 1 {
		t.Fatalf("nodes: %+v %v", nodes, err)
	}
	headDir := j.LogPath + "head-" + nodes[0].NodeID + "/"

	// The cluster goes, nodes and all.
	if _, err := c.StopCluster(ctx, ws, cl.ClusterID, &api.StopRequest{}); err != nil {
		t.Fatal(err)
	}
	waitCluster(t, c, ws, cl.ClusterID, func(g *api.Cluster) bool { return g.State == "Stopped" })
	if _, err := c.DeleteCluster(ctx, ws, cl.ClusterID); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, rayWait, "the cluster to be gone", func() bool {
		_, err := c.GetCluster(ctx, ws, cl.ClusterID)
		var e *api.Error
		return errors.As(err, &e) && e.Code == rayfleet.ENOTFOUND
	})
	if left := raytest.Of(raytest.Processes(testRoot), cl.ClusterID); len(left) > 0 {
		t.Fatalf("processes of the deleted cluster:%s", raytest.Names(left))
	}

	for _, legacy := range []bool{false, true} {
		sdk := newSDK(t, srv.Addr, cred.AccessKeyID, cred.AccessKeySecret, legacy)
		top, data := objects(t, sdk.must("ListRayLogs", "GET", logsPath(ws, id, "logs"),
			map[string]string{"bucketName": rayfleet.DefaultLogBucket, "prefix": "/" + j.LogPath, "delimiter": "/", "maxKeys": "100"}, nil))
		if len(top) != 2 || top[j.LogPath+"driver/"]["isDir"] != true || top[headDir]["isDir"] != true ||
			str(data, "bucketName") != rayfleet.DefaultLogBucket || str(data, "prefix") != j.LogPath || num(data, "maxKeys") != 100 || data["isTruncated"] != false {
			t.Fatalf("the job's log directories: %v %v", top, data)
		}
		files, _ := objects(t, sdk.must("ListRayLogs", "GET", logsPath(ws, id, "logs"), map[string]string{"prefix": headDir}, nil))
		var worker string
		for p, o := range files {
			if name := str(o, "name"); strings.HasPrefix(name, "worker-") && strings.HasSuffix(name, ".out") {
				worker = p
			}
			if num(o, "size") < 0 || o["isDir"] != false || time.Since(time.UnixMilli(num(o, "timeModified"))) > 10*time.Minute {
				t.Fatalf("entry %s: %v", p, o)
			}
		}
		for _, f := range []string{"raylet.out", "gcs_server.out", "dashboard.log"} {
			if o := files[headDir+f]; o == nil || str(o, "name") != f {
				t.Fatalf("no %s among the head's logs: %v", f, files)
			}
		}
		if worker == "" {
			t.Fatalf("no worker output among the head's logs: %v", files)
		}

		// Page by page, one entry at a time: the same files.
		seen, marker := 0, ""
		for range len(files) + 1 {
			q := map[string]string{"prefix": headDir, "maxKeys": "1"}
			if marker != "" {
				q["marker"] = marker
			}
			page, data := objects(t, sdk.must("ListRayLogs", "GET", logsPath(ws, id, "logs"), q, nil))
			seen += len(page)
			if data["isTruncated"] != true {
				break
			}
			marker = str(data, "nextMarker")
		}
		if seen != len(files) {
			t.Fatalf("pages of one listed %d files, the whole listing %d", seen, len(files))
		}

		get := sdk.must("GetRayLog", "GET", logsPath(ws, id, "log"), map[string]string{"bucketName": rayfleet.DefaultLogBucket, "path": "/" + driverKey}, nil)
		access := str(get["data"].(map[string]any), "accessUrl")
		if get["code"] != api.LogSuccess || !strings.HasPrefix(access, "http://"+srv.Addr+"/logs/") {
			t.Fatalf("GetRayLog: %v", get)
		}
		code, h, body := download(t, access)
		if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") || !strings.Contains(body, "first line") || !strings.Contains(body, "answer 42") {
			t.Fatalf("the driver's log: %d %v\n%s", code, h, body)
		}
		get = sdk.must("GetRayLog", "GET", logsPath(ws, id, "log"), map[string]string{"path": worker}, nil)
		if code, _, body := download(t, str(get["data"].(map[string]any), "accessUrl")); code != 200 || !strings.Contains(body, "from the task") {
			t.Fatalf("the worker's log %s: %d\n%s", worker, code, body)
		}

		// Refused: maxKeys out of range, a prefix or path outside the
		// job's logs, another bucket.
		_, err := sdk.call("ListRayLogs", "GET", logsPath(ws, id, "logs"), map[string]string{"maxKeys": "1000"}, nil)
		wantErr(t, err, rayfleet.EINVALID, 400, "maxKeys must be 1 to 999")
		_, err = sdk.call("ListRayLogs", "GET", logsPath(ws, id, "logs"), map[string]string{"prefix": ws + "/ray/logs/"}, nil)
		wantErr(t, err, rayfleet.EINVALID, 400, "prefix must begin with the job's logPath "+j.LogPath)
		_, err = sdk.call("GetRayLog", "GET", logsPath(ws, id, "log"), map[string]string{"path": ws + "/ray/logs/rj-other_default/driver/x.log"}, nil)
		wantErr(t, err, rayfleet.EINVALID, 400, "path must be a file under the job's logPath")
		_, err = sdk.call("GetRayLog", "GET", logsPath(ws, id, "log"), map[string]string{"bucketName": "mybucket", "path": driverKey}, nil)
		wantErr(t, err, rayfleet.EINVALID, 400, "bucketName")
		_, err = sdk.call("ListRayLogs", "GET", logsPath(ws, "rj-0000000000000000", "logs"), nil, nil)
		wantErr(t, err, rayfleet.ENOTFOUND, 404, "rj-0000000000000000")

		// The URL opens that file only, and only until it expires.
		other := strings.Replace(access, "/driver/"+id+"_driver.log", "/head-"+nodes[0].NodeID+"/raylet.out", 1)
		if code, _, body := download(t, other); code != http.StatusForbidden || !strings.Contains(body, rayfleet.EURLSIGNATURE) {
			t.Fatalf("the URL pointed at another file: %d %s", code, body)
		}
		exp := strings.Replace(access, "expires=", "expires=1", 1)
		if code, _, body := download(t, exp); code != http.StatusForbidden || !strings.Contains(body, rayfleet.EURLSIGNATURE) {
			t.Fatalf("the URL with a later expiry: %d %s", code, body)
		}
		u, _ := url.Parse(access)
		sec, _ := strconv.ParseInt(u.Query().Get("expires"), 10, 64)
		if left := time.Until(time.Unix(sec, 0)); left <= 0 || left > expiry+time.Second {
			t.Fatalf("the URL expires in %s, want at most %s", left, expiry)
		}
		if !legacy {
			poll.UntilSeen(t, expiry+10*time.Second, "the URL to expire", func() (bool, string) {
				code, _, body := download(t, access)
				return code == http.StatusForbidden && strings.Contains(body, rayfleet.EURLEXPIRED) && strings.Contains(body, "RequestId"), body
			}, poll.Every(time.Second))
		}
	}

	// The CLI lists them and prints the driver's.
	env := map[string]string{
		"RAYFLEET_ENDPOINT": srv.Addr, "RAYFLEET_ACCESS_KEY_ID": cred.AccessKeyID, "RAYFLEET_ACCESS_KEY_SECRET": cred.AccessKeySecret,
		"RAYFLEET_WORKSPACE": ws, "RAYFLEET_CONFIG": filepath.Join(t.TempDir(), "none.json"),
	}
	runCLI := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := cli.Run(ctx, cli.Env{Args: args, Getenv: func(k string) string { return env[k] }, Stdout: &out, Stderr: &errb}, nil)
		return code, out.String(), errb.String()
	}
	if code, out, errs := runCLI("logs", "list", id); code != 0 || !strings.Contains(out, j.LogPath+"driver/") || !strings.Contains(out, headDir) {
		t.Fatalf("rayfleet logs list: %d\n%s%s", code, out, errs)
	}
	if code, out, errs := runCLI("logs", "get", id, driverKey); code != 0 || !strings.Contains(out, "answer 42") {
		t.Fatalf("rayfleet logs get: %d\n%s%s", code, out, errs)
	}
}

// storedLog reads an object of the server's log store.
func storedLog(t *testing.T, srv *Server, key string) string {
	t.Helper()
	rc, _, err := srv.Logs.Open(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
