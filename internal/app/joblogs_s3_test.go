package app

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/s3test"
)

// TestJobLogsInS3: with logs.s3 the log bucket is one of a real
// S3-compatible server: what is put there is listed by ListRayLogs and
// opened by GetRayLog's accessUrl through the official client and a plain
// HTTP client, and nothing lands in the data directory. A server whose S3
// key is wrong does not start, and says why.
func TestJobLogsInS3(t *testing.T) {
	s3 := s3test.Start(t, "team-logs")
	withS3 := func(cfg *Config) {
		cfg.Logs.Bucket = s3.Bucket
		cfg.Logs.S3.Endpoint, cfg.Logs.S3.AccessKeyID, cfg.Logs.S3.SecretAccessKey = s3.Endpoint, s3.AccessKeyID, s3.SecretAccessKey
	}
	srv, cred := testServer(t, withS3)
	ctx := context.Background()
	ws := cred.WorkspaceID
	now := time.Now().UTC().Truncate(time.Millisecond)
	j := rayfleet.Job{
		ID: "rj-s3logs00000000a", AccountID: cred.UserID, WorkspaceID: ws,
		Spec:      rayfleet.JobSpec{Name: "s3", Entrypoint: "python -c 'print(1)'", ClusterID: "ray-0000000000000000"},
		ClusterID: "ray-0000000000000000", Status: rayfleet.JobSucceeded, ClusterState: rayfleet.JobClusterDeleted,
		LogBucket: srv.Service.LogBucket(), LogPath: rayfleet.JobLogPath(ws, "rj-s3logs00000000a"), SubmitTime: now,
	}
	if err := srv.Store.CreateJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	key := rayfleet.JobDriverLogKey(&j)
	if err := srv.Logs.Put(ctx, key, strings.NewReader("hello from S3\n")); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(s3.Dir, s3.Bucket, key)); err != nil || string(b) != "hello from S3\n" {
		t.Fatalf("the object on the S3 server: %q %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(srv.Config.DataDir, "logs")); err == nil {
		t.Fatal("the data directory holds logs too")
	}

	sdk := newSDK(t, srv.Addr, cred.AccessKeyID, cred.AccessKeySecret, false)
	objs, data := objects(t, sdk.must("ListRayLogs", "GET", logsPath(ws, j.ID, "logs"), map[string]string{"bucketName": s3.Bucket}, nil))
	if o := objs[key]; o == nil || num(o, "size") != int64(len("hello from S3\n")) || str(data, "bucketName") != "team-logs" {
		t.Fatalf("listing %v %v", objs, data)
	}
	get := sdk.must("GetRayLog", "GET", logsPath(ws, j.ID, "log"), map[string]string{"bucketName": s3.Bucket, "path": key}, nil)
	code, h, body := download(t, str(get["data"].(map[string]any), "accessUrl"))
	if code != http.StatusOK || body != "hello from S3\n" || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
		t.Fatalf("download: %d %v %q", code, h, body)
	}
	// The URLs' key is the server's, made on first start for its owner alone.
	if fi, err := os.Stat(filepath.Join(srv.Config.DataDir, "log-url.key")); err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != 32 {
		t.Fatalf("log-url.key: %v %v", fi, err)
	}
	_, err := sdk.call("GetRayLog", "GET", logsPath(ws, j.ID, "log"), map[string]string{"path": j.LogPath + "none.log"}, nil)
	wantErr(t, err, rayfleet.ENOTFOUND, 404, "not found")

	dir := t.TempDir()
	cfg := testConfig(dir)
	withS3(&cfg)
	cfg.Logs.S3.SecretAccessKey = "wrong"
	if bad, err := Start(ctx, cfg, func(string) string { return "" }, discard{}, discard{}); err == nil {
		_ = bad.Shutdown(ctx)
		t.Fatal("a server with a wrong S3 key started")
	} else if !strings.Contains(err.Error(), "team-logs") || !strings.Contains(err.Error(), "403") {
		t.Fatalf("a wrong S3 key: %v", err)
	}
}
