package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/rayfleet/rayfleet/api"
)

// gatewayProbe sends the gateway requests whose paths the stand-in head
// logs, so a test sees which ones reached the head.
type gatewayProbe struct {
	t       *testing.T
	dataDir string
	n       int
}

// get asks for /api/jobs/<marker> under jobURL (Ray's job API answers 404
// for a job it does not know) with token, or with the client's cookies
// when token is "", and returns the status, the error code of the
// gateway's refusal and the marker.
func (p *gatewayProbe) get(hc *http.Client, jobURL, prefix, token string) (int, string, string) {
	p.t.Helper()
	p.n++
	marker := fmt.Sprintf("revoke-probe-%d", p.n)
	code, body := gatewayGet(p.t, hc, jobURL+prefix+"/api/jobs/"+marker, token)
	var e struct{ Code string }
	_ = json.Unmarshal([]byte(body), &e)
	return code, e.Code, marker
}

// reached reports whether the request carrying marker reached the head of
// the cluster: Ray's dashboard logs every request it serves in its
// session's dashboard.log (reached through the node's temp dir link) as it
// answers. A deleted cluster's logs may be gone already (gone: true).
func (p *gatewayProbe) reached(clusterID, marker string, gone bool) bool {
	p.t.Helper()
	// The access log line is written once the answer is sent, so look for
	// up to 2 s: a refused request waits that long to be sure.
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		logs, err := filepath.Glob(filepath.Join(p.dataDir, "local", "clusters", clusterID, "*", "*-head.tmp", "session_*", "logs", "dashboard.log"))
		if err != nil || (len(logs) == 0 && !gone) {
			p.t.Fatalf("no dashboard logs of %s: %v", clusterID, err)
		}
		for _, l := range logs {
			data, err := os.ReadFile(l)
			if err != nil {
				p.t.Fatal(err)
			}
			if strings.Contains(string(data), "'GET /api/jobs/"+marker+" HTTP/1.1' 404") {
				return true
			}
		}
	}
	return false
}

// headAnswered reports whether a Ray client call reached the head: the
// call rayClientCall makes is an empty ClusterInfo, which Ray's client
// server answers with NOT_FOUND ("Failed to serialize response!"); the
// gateway refuses a token with UNAUTHENTICATED.
func headAnswered(err error) bool { return status.Code(err) == codes.NotFound }

// TestGatewayRevokesAtOnce: with the gateway in the API's process, the
// request right after StopRayCluster or DeleteRayCluster with the old
// token (header, dashboard session or Ray client) is refused with 401 and
// reaches no head, though the gateway had just cached the token and the
// head may still be up.
func TestGatewayRevokesAtOnce(t *testing.T) {
	srv, cred := testServer(t)
	if srv.Config.Gateway.CacheTTL <= 0 {
		t.Fatalf("the default gateway cache TTL is %s: nothing to revoke from", srv.Config.Gateway.CacheTTL)
	}
	c := client(srv, cred)
	ctx := context.Background()
	ws := cred.WorkspaceID
	a, b := runningCluster(t, c, ws, "a"), runningCluster(t, c, ws, "b")
	p := &gatewayProbe{t: t, dataDir: srv.Config.DataDir}

	passes := func(hc *http.Client, cl *api.Cluster, prefix, token string) {
		t.Helper()
		code, _, marker := p.get(hc, cl.JobURL, prefix, token)
		if code != http.StatusNotFound || !p.reached(cl.ClusterID, marker, false) {
			t.Fatalf("%s%s with its token: %d, reached the head: %v", cl.ClusterID, prefix, code, p.reached(cl.ClusterID, marker, false))
		}
	}
	// Ray answers a request without its token 401 with a text body: a
	// 401 with an error code is the gateway's, and the head's log confirms
	// it saw nothing.
	refused := func(hc *http.Client, cl *api.Cluster, prefix, token, what string, deleted bool) {
		t.Helper()
		code, errCode, marker := p.get(hc, cl.JobURL, prefix, token)
		if code != http.StatusUnauthorized || errCode == "" {
			t.Fatalf("%s, right after: %d %q, want 401 and an error code", what, code, errCode)
		}
		if p.reached(cl.ClusterID, marker, deleted) {
			t.Fatalf("%s reached the head", what)
		}
	}

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	resp, err := browser.Get(a.DashboardURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	call := rayClientCall(ctx, t, srv.GatewayGRPCAddr)

	// The gateway caches a's token and head: header, cookie and Ray client.
	passes(http.DefaultClient, a, "", a.SubmitToken)
	passes(http.DefaultClient, a, "", a.SubmitToken)
	passes(browser, a, "/dashboard", "")
	if err := call(a.SubmitToken, 10*time.Second); !headAnswered(err) {
		t.Fatalf("Ray client with a's token did not reach a's head: %v", err)
	}
	if _, err := c.StopCluster(ctx, ws, a.ClusterID, &api.StopRequest{}); err != nil {
		t.Fatal(err)
	}
	refused(http.DefaultClient, a, "", a.SubmitToken, "the stopped cluster's token", false)
	refused(browser, a, "/dashboard", "", "the stopped cluster's dashboard session", false)
	if err := call(a.SubmitToken, 10*time.Second); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("Ray client with the stopped cluster's token, right after: %v", err)
	}
	passes(http.DefaultClient, b, "", b.SubmitToken) // b is untouched

	// DeleteRayCluster: the same.
	passes(http.DefaultClient, b, "", b.SubmitToken)
	if _, err := c.DeleteCluster(ctx, ws, b.ClusterID); err != nil {
		t.Fatal(err)
	}
	refused(http.DefaultClient, b, "", b.SubmitToken, "the deleted cluster's token", true)

	// Started again: the new instance's token works, the old one does not.
	waitCluster(t, c, ws, a.ClusterID, func(cl *api.Cluster) bool { return cl.State == "Stopped" })
	if _, err := c.StartCluster(ctx, ws, a.ClusterID, &api.StartRequest{}); err != nil {
		t.Fatal(err)
	}
	again := waitCluster(t, c, ws, a.ClusterID, func(cl *api.Cluster) bool { return cl.State == "Running" })
	passes(http.DefaultClient, again, "", again.SubmitToken)
	refused(http.DefaultClient, again, "", a.SubmitToken, "the first instance's token on the second", false)
}

// TestStandaloneGatewayCacheTTLZero: a gateway in a process of its own is
// not told of revocations; with --gateway-cache-ttl 0 it asks the store on
// every request, so a stopped cluster's token is refused at once there too.
func TestStandaloneGatewayCacheTTLZero(t *testing.T) {
	srv, cred := testServer(t)
	c := client(srv, cred)
	ctx := context.Background()
	ws := cred.WorkspaceID
	resp, err := c.CreateCluster(ctx, ws, &api.ClusterRequest{Name: ptr("a"), HeadSpec: &api.HeadSpec{CPU: "1", Memory: "2Gi"}})
	if err != nil {
		t.Fatal(err)
	}
	a := waitCluster(t, c, ws, resp.ClusterID, func(cl *api.Cluster) bool { return cl.State == "Running" })

	cfg, err := LoadConfig([]string{"--data-dir", srv.Config.DataDir, "--gateway-listen", "127.0.0.1:0",
		"--gateway-grpc-listen", "127.0.0.1:0", "--log-level", "error", "--gateway-cache-ttl", "0"}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Gateway.CacheTTL != 0 {
		t.Fatalf("--gateway-cache-ttl 0 gave %s", cfg.Gateway.CacheTTL)
	}
	gw, err := StartGateway(ctx, cfg, discard{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := gw.Shutdown(ctx); err != nil {
			t.Errorf("gateway shutdown: %v", err)
		}
	})
	jobURL := strings.Replace(a.JobURL, srv.GatewayAddr, gw.HTTPAddr, 1)
	p := &gatewayProbe{t: t, dataDir: srv.Config.DataDir}
	for range 2 {
		if code, _, marker := p.get(http.DefaultClient, jobURL, "", a.SubmitToken); code != http.StatusNotFound || !p.reached(a.ClusterID, marker, false) {
			t.Fatalf("a through the standalone gateway: %d", code)
		}
	}
	if _, err := c.StopCluster(ctx, ws, a.ClusterID, &api.StopRequest{}); err != nil {
		t.Fatal(err)
	}
	code, errCode, marker := p.get(http.DefaultClient, jobURL, "", a.SubmitToken)
	if code != http.StatusUnauthorized || errCode != "InvalidToken" {
		t.Fatalf("the stopped cluster's token, right after: %d %q", code, errCode)
	}
	if p.reached(a.ClusterID, marker, false) {
		t.Fatal("the stopped cluster's token reached the head")
	}
}

// TestGatewayCacheTTLFlag: the flag and its environment variable set the
// TTL; a negative one is refused with the flag's name.
func TestGatewayCacheTTLFlag(t *testing.T) {
	none := func(string) string { return "" }
	cfg, err := LoadConfig(nil, none)
	if err != nil || cfg.Gateway.CacheTTL != gatewayCacheTTL {
		t.Fatalf("default: %s %v", cfg.Gateway.CacheTTL, err)
	}
	cfg, err = LoadConfig(nil, func(k string) string {
		if k == "RAYFLEET_GATEWAY_CACHE_TTL" {
			return "250ms"
		}
		return ""
	})
	if err != nil || cfg.Gateway.CacheTTL != 250*time.Millisecond {
		t.Fatalf("RAYFLEET_GATEWAY_CACHE_TTL=250ms: %s %v", cfg.Gateway.CacheTTL, err)
	}
	if _, err := LoadConfig([]string{"--gateway-cache-ttl", "-1s"}, none); err == nil || !strings.Contains(err.Error(), "gateway-cache-ttl") {
		t.Fatalf("--gateway-cache-ttl -1s: %v", err)
	}
}

// rayClientCall returns a function that makes one Ray client call
// (ClusterInfo) through the gateway's gRPC listener at addr with the given
// token, waiting at most d.
func rayClientCall(ctx context.Context, t *testing.T, addr string) func(token string, d time.Duration) error {
	t.Helper()
	return rayClientCallOver(ctx, t, addr, insecure.NewCredentials())
}

// rayClientCallOver is rayClientCall over creds (TLS, say).
func rayClientCallOver(ctx context.Context, t *testing.T, addr string, creds credentials.TransportCredentials) func(token string, d time.Duration) error {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return func(token string, d time.Duration) error {
		ctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		ctx = metadata.AppendToOutgoingContext(ctx, "ray-token", token)
		var out []byte
		in := []byte{}
		return conn.Invoke(ctx, "/ray.rpc.RayletDriver/ClusterInfo", &in, &out, grpc.ForceCodecV2(rawCodecV2{}))
	}
}
