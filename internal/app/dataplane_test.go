package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/rayfleet/rayfleet/api"
	"github.com/rayfleet/rayfleet/api/signer"
	"github.com/rayfleet/rayfleet/internal/authz"
	"github.com/rayfleet/rayfleet/internal/poll"
)

// ramClient makes RAM user name through the API, with the system policy
// attached (none when ""), and a key; it returns the user's client and the
// key's id.
func ramClient(t *testing.T, srv *Server, root *api.Client, name, policy string) (*api.Client, string) {
	t.Helper()
	ctx := context.Background()
	if _, err := root.CreateUser(ctx, &api.CreateUserRequest{UserName: name}); err != nil {
		t.Fatal(err)
	}
	if policy != "" {
		if _, err := root.AttachPolicyToUser(ctx, "System", policy, name); err != nil {
			t.Fatal(err)
		}
	}
	return keyClient(t, srv, root, name)
}

// keyClient makes a new access key for user name and returns its client.
func keyClient(t *testing.T, srv *Server, root *api.Client, name string) (*api.Client, string) {
	t.Helper()
	k, err := root.CreateAccessKey(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return &api.Client{Endpoint: srv.Addr, Credentials: signer.Credentials{
		AccessKeyID: k.AccessKey.AccessKeyID, AccessKeySecret: k.AccessKey.AccessKeySecret,
	}}, k.AccessKey.AccessKeyID
}

// dashboardSession opens a dashboardUrl as a browser does and returns the
// browser, holding the session cookie.
func dashboardSession(t *testing.T, dashboardURL string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: time.Minute}
	res, err := browser.Get(dashboardURL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || strings.Contains(res.Request.URL.RawQuery, "token=") {
		t.Fatalf("dashboard: %d at %s", res.StatusCode, res.Request.URL)
	}
	return browser
}

// submitJob submits entrypoint through the job API with token and returns
// its submission id.
func submitJob(t *testing.T, jobURL, token, entrypoint string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"entrypoint": entrypoint})
	req, _ := http.NewRequest("POST", jobURL+"/api/jobs/", bytes.NewReader(body))
	req.Header.Set("ray-token", token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		SubmissionID string `json:"submission_id"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != http.StatusOK || out.SubmissionID == "" {
		t.Fatalf("submit a job: %d %+v %v", res.StatusCode, out, err)
	}
	return out.SubmissionID
}

// openLogTail opens the WebSocket log tail of a job through the gateway
// and reads its first message.
func openLogTail(t *testing.T, jobURL, token, jobID string) *websocket.Conn {
	t.Helper()
	u := "ws" + strings.TrimPrefix(jobURL, "http") + "/api/jobs/" + jobID + "/logs/tail"
	ws, res, err := websocket.DefaultDialer.Dial(u, http.Header{"ray-token": {token}})
	if err != nil {
		t.Fatalf("log tail: %v (%v)", err, res)
	}
	t.Cleanup(func() { ws.Close() })
	_ = ws.SetReadDeadline(time.Now().Add(rayWait))
	if _, _, err := ws.ReadMessage(); err != nil {
		t.Fatalf("log tail's first message: %v", err)
	}
	return ws
}

// wantTailEnds reads ws until it ends, failing if it still delivers after
// d (the job behind it prints a line a second).
func wantTailEnds(t *testing.T, ws *websocket.Conn, d time.Duration, what string) {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(d))
	for {
		_, _, err := ws.ReadMessage()
		if err == nil {
			continue
		}
		var netErr net.Error
		if errors.As(err, &netErr) && netErr.Timeout() {
			t.Fatalf("%s: the log tail goes on", what)
		}
		return
	}
}

// rayClientStream is a Ray client's data stream open through the gateway
// on the head: the head's Ray client server, told a client id, logs the
// new connection and waits for the client's first message, which this
// stream never sends.
type rayClientStream struct {
	clientID string
	ended    chan error
}

func openRayClientStream(t *testing.T, srv *Server, clusterID, token string) *rayClientStream {
	t.Helper()
	conn, err := grpc.NewClient(srv.GatewayGRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); conn.Close() })
	var id [8]byte
	_, _ = rand.Read(id[:])
	s := &rayClientStream{clientID: hex.EncodeToString(id[:]), ended: make(chan error, 1)}
	ctx = metadata.AppendToOutgoingContext(ctx, "ray-token", token, "client_id", s.clientID)
	cs, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, "/ray.rpc.RayletDataStreamer/Datapath", grpc.ForceCodecV2(rawCodecV2{}))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		var m []byte
		s.ended <- cs.RecvMsg(&m)
	}()
	logs := filepath.Join(srv.Config.DataDir, "local", "clusters", clusterID, "*", "*-head.tmp", "session_*", "logs", "ray_client_server*")
	poll.Until(t, rayWait, "the head's Ray client server to log client "+s.clientID, func() bool {
		select {
		case err := <-s.ended:
			t.Fatalf("the Ray client stream ended before the head saw it: %v", err)
		default:
		}
		files, _ := filepath.Glob(logs)
		for _, f := range files {
			if data, err := os.ReadFile(f); err == nil && bytes.Contains(data, []byte("New data connection from client "+s.clientID)) {
				return true
			}
		}
		return false
	})
	return s
}

// wantEnds waits up to d for the stream to end.
func (s *rayClientStream) wantEnds(t *testing.T, d time.Duration, what string) {
	t.Helper()
	select {
	case err := <-s.ended:
		if err == nil {
			t.Fatalf("%s: the Ray client stream ended without an error", what)
		}
	case <-time.After(d):
		t.Fatalf("%s: the Ray client stream goes on", what)
	}
}

// auditEvents lists the account's audit events of user name.
func auditEvents(t *testing.T, root *api.Client, name string) []map[string]string {
	t.Helper()
	var out struct {
		Events []map[string]string `json:"events"`
	}
	if err := root.Do(context.Background(), "ListAuditEvents", "GET", "/api/v1/auditEvents", url.Values{"userName": {name}, "maxResults": {"1000"}}, nil, &out); err != nil {
		t.Fatal(err)
	}
	return out.Events
}

// TestDataPlaneCredentialsWithRealRay drives the data plane of a real
// cluster as RAM users made through the API: a read-only user gets no
// credential; a full-access user's opens the dashboard, the job API and
// the Ray client endpoint; disabling its key, detaching its policy,
// deleting its key and stopping the cluster each refuse the next request
// (reaching no head) and cut what is open: a WebSocket log tail and a Ray
// client stream on the head. The audit log has the session, the job and
// the Ray client connection with the user.
func TestDataPlaneCredentialsWithRealRay(t *testing.T) {
	needRay(t)
	srv, cred := testServer(t)
	root := client(srv, cred)
	ctx := context.Background()
	ws := cred.WorkspaceID
	cl := runningCluster(t, root, ws, "dataplane")
	reader, _ := ramClient(t, srv, root, "reader", "AliyunEmrServerlessSparkReadOnlyAccess")
	alice, aliceKey := ramClient(t, srv, root, "alice", "AliyunEMRServerlessSparkFullAccess")

	// The read-only user sees the cluster, and no credential.
	r, err := reader.GetCluster(ctx, ws, cl.ClusterID)
	if err != nil || r.SubmitToken != "" || r.DashboardURL != "" || r.JobURL == "" {
		t.Fatalf("the read-only user's GetRayCluster: submitToken %q dashboardUrl %q jobUrl %q (%v)", r.SubmitToken, r.DashboardURL, r.JobURL, err)
	}
	rl, err := reader.ListClusters(ctx, ws, api.ListClustersOptions{})
	if err != nil || len(rl.RayClusters) != 1 || rl.RayClusters[0].DashboardURL != "" {
		t.Fatalf("the read-only user's ListRayCluster: %+v %v", rl, err)
	}

	// alice's own credential, the same in Get and List.
	get := func(c *api.Client) *api.Cluster {
		t.Helper()
		got, err := c.GetCluster(ctx, ws, cl.ClusterID)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	a := get(alice)
	if a.SubmitToken == "" || a.SubmitToken == cl.SubmitToken || !strings.Contains(a.DashboardURL, "token="+a.SubmitToken) {
		t.Fatalf("alice's GetRayCluster: submitToken %q (root's %q), dashboardUrl %q", a.SubmitToken, cl.SubmitToken, a.DashboardURL)
	}
	if al, err := alice.ListClusters(ctx, ws, api.ListClustersOptions{}); err != nil || al.RayClusters[0].DashboardURL != a.DashboardURL {
		t.Fatalf("alice's ListRayCluster: %+v %v", al, err)
	}

	// Every door with it.
	tok := a.SubmitToken
	browser := dashboardSession(t, a.DashboardURL)
	if code, body := gatewayGet(t, browser, a.JobURL+"/dashboard/api/version", ""); code != http.StatusOK || !strings.Contains(body, "ray_version") {
		t.Fatalf("the dashboard with alice's session: %d %s", code, body)
	}
	ticker := submitJob(t, a.JobURL, tok, `python -c "import time
while True:
    print('tick', flush=True)
    time.sleep(1)"`)
	call := rayClientCall(ctx, t, srv.GatewayGRPCAddr)
	if err := call(tok, 30*time.Second); !headAnswered(err) {
		t.Fatalf("the Ray client with alice's token did not reach the head: %v", err)
	}

	p := &gatewayProbe{t: t, dataDir: srv.Config.DataDir}
	passes := func(token, what string) {
		t.Helper()
		code, _, marker := p.get(http.DefaultClient, a.JobURL, "", token)
		if code != http.StatusNotFound || !p.reached(cl.ClusterID, marker, false) {
			t.Fatalf("%s: %d, reached the head: %v", what, code, p.reached(cl.ClusterID, marker, false))
		}
	}
	// cutBy opens a log tail and a Ray client stream with token, has
	// revoke done, and checks the next requests are refused and reach no
	// head, and both streams end.
	cutBy := func(what, token string, session *http.Client, revoke func()) {
		t.Helper()
		tail := openLogTail(t, a.JobURL, token, ticker)
		stream := openRayClientStream(t, srv, cl.ClusterID, token)
		passes(token, what+", before")
		revoke()
		code, errCode, marker := p.get(http.DefaultClient, a.JobURL, "", token)
		if code != http.StatusUnauthorized || errCode == "" {
			t.Fatalf("%s, the next request: %d %q", what, code, errCode)
		}
		if p.reached(cl.ClusterID, marker, false) {
			t.Fatalf("%s: the refused request reached the head", what)
		}
		if err := call(token, 30*time.Second); status.Code(err) != codes.Unauthenticated {
			t.Fatalf("%s, the next Ray client call: %v", what, err)
		}
		if session != nil {
			if code, _ := gatewayGet(t, session, a.JobURL+"/dashboard/api/version", ""); code != http.StatusUnauthorized {
				t.Fatalf("%s, the dashboard session: %d", what, code)
			}
		}
		wantTailEnds(t, tail, 10*time.Second, what)
		stream.wantEnds(t, 10*time.Second, what)
	}

	cutBy("alice's key disabled", tok, browser, func() {
		if _, err := root.UpdateAccessKey(ctx, "alice", aliceKey, "Inactive"); err != nil {
			t.Fatal(err)
		}
	})
	if _, err := root.UpdateAccessKey(ctx, "alice", aliceKey, "Active"); err != nil {
		t.Fatal(err)
	}
	passes(tok, "alice's token, its key enabled again")

	cutBy("alice's policy detached", tok, browser, func() {
		if _, err := root.DetachPolicyFromUser(ctx, "System", "AliyunEMRServerlessSparkFullAccess", "alice"); err != nil {
			t.Fatal(err)
		}
	})
	if _, err := root.AttachPolicyToUser(ctx, "System", "AliyunEMRServerlessSparkFullAccess", "alice"); err != nil {
		t.Fatal(err)
	}
	passes(tok, "alice's token, her policy attached again")

	cutBy("alice's key deleted", tok, nil, func() {
		if _, err := root.DeleteAccessKey(ctx, "alice", aliceKey); err != nil {
			t.Fatal(err)
		}
	})
	alice2, _ := keyClient(t, srv, root, "alice")
	tok2 := get(alice2).SubmitToken
	if tok2 == "" || tok2 == tok {
		t.Fatalf("alice's new key got %q (the deleted key's was %q)", tok2, tok)
	}
	passes(tok2, "the token of alice's new key")

	cutBy("the cluster stopped", tok2, nil, func() {
		if _, err := root.StopCluster(ctx, ws, cl.ClusterID, &api.StopRequest{}); err != nil {
			t.Fatal(err)
		}
	})

	// The audit log has alice's session, job and Ray client connection.
	arn := authz.ClusterARN(srv.Config.RegionID, cred.UserID, ws, cl.ClusterID)
	want := map[string]string{
		"emr-serverless-spark:AccessRayDashboard": "dashboard session",
		"emr-serverless-spark:UseRayJobAPI":       "submit a job (POST /api/jobs/)",
		"emr-serverless-spark:ConnectRayClient":   "Ray client connection",
	}
	found := map[string]bool{}
	for _, e := range auditEvents(t, root, "alice") {
		if m, ok := want[e["action"]]; ok && e["message"] == m && e["result"] == "OK" {
			if e["resource"] != arn || e["sourceIp"] != "127.0.0.1" || e["userId"] == "" {
				t.Fatalf("audit event %v: want resource %s and source 127.0.0.1", e, arn)
			}
			found[e["action"]] = true
		}
	}
	if len(found) != len(want) {
		t.Fatalf("alice's audit events have %v of %v:\n%v", found, want, auditEvents(t, root, "alice"))
	}
}

// TestDataPlaneTokenExpiresWithRealRay: with a short --data-plane-token-ttl
// a credential is refused once it expires, and what is open with it ends
// then; GetRayCluster hands out a new one that works.
func TestDataPlaneTokenExpiresWithRealRay(t *testing.T) {
	needRay(t)
	const ttl = 6 * time.Second
	srv, cred := testServer(t, func(c *Config) { c.DataPlaneTokenTTL = ttl })
	root := client(srv, cred)
	ctx := context.Background()
	cl := runningCluster(t, root, cred.WorkspaceID, "expiry")
	got, err := root.GetCluster(ctx, cred.WorkspaceID, cl.ClusterID)
	if err != nil {
		t.Fatal(err)
	}
	tok := got.SubmitToken
	minted := time.Now()
	p := &gatewayProbe{t: t, dataDir: srv.Config.DataDir}
	if code, _, marker := p.get(http.DefaultClient, got.JobURL, "", tok); code != http.StatusNotFound || !p.reached(cl.ClusterID, marker, false) {
		t.Fatalf("the fresh token: %d", code)
	}
	stream := openRayClientStream(t, srv, cl.ClusterID, tok)
	stream.wantEnds(t, ttl+5*time.Second, "the token expired")
	if time.Since(minted) < ttl/2 {
		t.Fatalf("the Ray client stream ended %s after the token was handed out, before it could have expired", time.Since(minted))
	}
	code, errCode, marker := p.get(http.DefaultClient, got.JobURL, "", tok)
	if code != http.StatusUnauthorized || errCode != "InvalidToken" || p.reached(cl.ClusterID, marker, false) {
		t.Fatalf("the expired token: %d %q", code, errCode)
	}
	again, err := root.GetCluster(ctx, cred.WorkspaceID, cl.ClusterID)
	if err != nil || again.SubmitToken == tok {
		t.Fatalf("GetRayCluster after the expiry: %q %v", again.SubmitToken, err)
	}
	if code, _, marker := p.get(http.DefaultClient, got.JobURL, "", again.SubmitToken); code != http.StatusNotFound || !p.reached(cl.ClusterID, marker, false) {
		t.Fatalf("the new token: %d", code)
	}
}

// TestDataPlaneTokenTTLFlag: the flag and its environment variable set the
// credentials' lifetime; less than a second is refused with the flag's
// name.
func TestDataPlaneTokenTTLFlag(t *testing.T) {
	none := func(string) string { return "" }
	cfg, err := LoadConfig(nil, none)
	if err != nil || cfg.DataPlaneTokenTTL != 24*time.Hour {
		t.Fatalf("default: %s %v", cfg.DataPlaneTokenTTL, err)
	}
	cfg, err = LoadConfig([]string{"--data-plane-token-ttl", "2h"}, func(k string) string {
		return map[string]string{"RAYFLEET_DATA_PLANE_TOKEN_TTL": "30m"}[k]
	})
	if err != nil || cfg.DataPlaneTokenTTL != 2*time.Hour {
		t.Fatalf("--data-plane-token-ttl 2h over the environment's 30m: %s %v", cfg.DataPlaneTokenTTL, err)
	}
	for _, v := range []string{"0", "500ms", "-1h"} {
		if _, err := LoadConfig([]string{"--data-plane-token-ttl", v}, none); err == nil || !strings.Contains(err.Error(), "data-plane-token-ttl") {
			t.Fatalf("--data-plane-token-ttl %s: %v", v, err)
		}
	}
}
