package app

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/api"
)

// TestLogURLsSurviveARestart: the key that signs log URLs is kept in the
// data directory, so a URL handed out before a restart opens its file
// after it; a server with another data directory (another key) refuses it.
func TestLogURLsSurviveARestart(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	env := map[string]string{"RAYFLEET_CONFIG": filepath.Join(dir, "cli.json"), "HOME": dir}
	getenv := func(k string) string { return env[k] }
	ctx := context.Background()
	srv, err := Start(ctx, cfg, getenv, discard{}, discard{})
	if err != nil {
		t.Fatal(err)
	}
	cred := readCredentials(t, cfg.DataDir)
	ws := cred.WorkspaceID
	j := rayfleet.Job{
		ID: "rj-restart00000000", AccountID: cred.UserID, WorkspaceID: ws,
		Spec:      rayfleet.JobSpec{Name: "r", Entrypoint: "true", ClusterID: "ray-0000000000000000"},
		ClusterID: "ray-0000000000000000", Status: rayfleet.JobSucceeded, ClusterState: rayfleet.JobClusterDeleted,
		LogBucket: srv.Service.LogBucket(), LogPath: rayfleet.JobLogPath(ws, "rj-restart00000000"), SubmitTime: time.Now().UTC().Truncate(time.Millisecond),
	}
	if err := srv.Store.CreateJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	if err := srv.Logs.Put(ctx, rayfleet.JobDriverLogKey(&j), strings.NewReader("before the restart\n")); err != nil {
		t.Fatal(err)
	}
	g, err := client(srv, cred).GetLog(ctx, ws, j.ID, api.GetLogOptions{Path: rayfleet.JobDriverLogKey(&j)})
	if err != nil {
		t.Fatal(err)
	}
	shutdown(t, srv)

	// The same data directory: the URL, pointed at the new address, opens
	// the file.
	srv, err = Start(ctx, cfg, getenv, discard{}, discard{})
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, srv)
	u, err := url.Parse(g.Data.AccessURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = srv.Addr
	if code, _, body := download(t, u.String()); code != http.StatusOK || body != "before the restart\n" {
		t.Fatalf("after a restart: %d %s", code, body)
	}

	// Another server, another key.
	other, _ := testServer(t)
	u.Host = other.Addr
	if code, _, body := download(t, u.String()); code != http.StatusForbidden || !strings.Contains(body, rayfleet.EURLSIGNATURE) {
		t.Fatalf("another server's URL: %d %s", code, body)
	}
}
