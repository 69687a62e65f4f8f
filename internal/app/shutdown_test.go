package app

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/rayfleet/rayfleet/api/signer"
)

// TestGracefulShutdownFinishesInFlight starts a request, begins shutting
// down while its body is still arriving, and checks that it completes.
func TestGracefulShutdownFinishesInFlight(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	getenv := func(k string) string { return map[string]string{"RAYFLEET_CONFIG": dir + "/cli.json"}[k] }
	// Shutdown must wait for a request the server is serving; a connection
	// still in the kernel's accept queue is not one (closing the listener
	// resets it), so the test waits until the server reads the request.
	active := make(chan struct{}, 16)
	testConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateActive {
			active <- struct{}{}
		}
	}
	defer func() { testConnState = nil }()
	srv, err := Start(context.Background(), cfg, getenv, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cred := readCredentials(t, cfg.DataDir)
	defer killNodes(t)
	// Leading whitespace (valid JSON) larger than the client's write buffer,
	// so the first part really reaches the server before shutdown begins.
	body := append(bytes.Repeat([]byte(" "), 16<<10), `{"name":"in-flight"}`...)
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", "http://"+srv.Addr+"/api/v1/workspaces/"+cred.WorkspaceID+"/rayCluster", pr)
	req.ContentLength = int64(len(body))
	req.Header.Set("content-type", "application/json; charset=utf-8")
	if err := signer.SignACS3(req, body, signer.Credentials{AccessKeyID: cred.AccessKeyID, AccessKeySecret: cred.AccessKeySecret}, time.Now(), signer.NewNonce()); err != nil {
		t.Fatal(err)
	}
	type result struct {
		status int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		resp.Body.Close()
		done <- result{status: resp.StatusCode}
	}()
	if _, err := pw.Write(body[:12<<10]); err != nil {
		t.Fatal(err)
	}
	<-active // the request is now in flight
	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		stopped <- srv.Shutdown(ctx)
	}()
	// Wait until the server no longer accepts connections: shutdown began.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", srv.Addr, 100*time.Millisecond)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("server still accepting connections after Shutdown")
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
	if _, err := pw.Write(body[12<<10:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	r := <-done
	if r.err != nil || r.status != 200 {
		t.Fatalf("in-flight request: %d %v", r.status, r.err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}
