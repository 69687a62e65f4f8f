package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/rayfleet/rayfleet/api"
)

// TestGatewayReachesClusters opens the endpoints GetRayCluster hands out,
// through the gateway, to the heads the local runtime runs (the stand-in
// ray serves the dashboard's /api/version and the job API's /api/jobs/).
func TestGatewayReachesClusters(t *testing.T) {
	srv, cred := testServer(t)
	c := client(srv, cred)
	ctx := context.Background()
	ws := cred.WorkspaceID
	a, b := runningCluster(t, c, ws, "a"), runningCluster(t, c, ws, "b")
	if !strings.HasPrefix(a.JobURL, "http://"+srv.GatewayAddr+"/workspace/") || a.GrpcEndpoint != "ray://"+srv.GatewayGRPCAddr {
		t.Fatalf("endpoints: %s %s", a.JobURL, a.GrpcEndpoint)
	}

	get := func(hc *http.Client, url, token string) (int, string) {
		t.Helper()
		return gatewayGet(t, hc, url, token)
	}

	// Job API with the submit token, as JobSubmissionClient(jobUrl, headers={"ray-token": ...}) sends it.
	if code, body := get(http.DefaultClient, a.JobURL+"/api/version", a.SubmitToken); code != 200 || !strings.Contains(body, `"ray_version"`) {
		t.Fatalf("job API version: %d %s", code, body)
	}
	if code, body := get(http.DefaultClient, a.JobURL+"/api/jobs/", a.SubmitToken); code != 200 || strings.TrimSpace(body) != "[]" {
		t.Fatalf("job list: %d %s", code, body)
	}
	// No token, a wrong one, or another cluster's: 401 with a JSON error.
	for _, tok := range []string{"", strings.Repeat("0", 32), b.SubmitToken} {
		code, body := get(http.DefaultClient, a.JobURL+"/api/version", tok)
		var e struct{ Code, Message string }
		if code != 401 || json.Unmarshal([]byte(body), &e) != nil || e.Code == "" {
			t.Fatalf("token %q: %d %s", tok, code, body)
		}
	}

	// The dashboard: the token in the URL becomes a cookie, later requests pass with it.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	resp, err := browser.Get(a.DashboardURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if strings.Contains(resp.Request.URL.RawQuery, "token=") {
		t.Fatalf("the dashboard URL was not cleaned of its token: %s", resp.Request.URL)
	}
	if code, body := get(browser, a.JobURL+"/dashboard/api/version", ""); code != 200 || !strings.Contains(body, `"ray_version"`) {
		t.Fatalf("dashboard API with the session cookie: %d %s", code, body)
	}
	if code, _ := get(browser, b.JobURL+"/dashboard/api/version", ""); code != 401 {
		t.Fatalf("cluster a's cookie opened cluster b: %d", code)
	}

	// Stopping the cluster revokes its token.
	if _, err := c.StopCluster(ctx, ws, a.ClusterID, &api.StopRequest{}); err != nil {
		t.Fatal(err)
	}
	revokedWithin(t, gatewayCacheTTL+time.Second, "a stopped cluster's token", func() int {
		code, _ := get(http.DefaultClient, a.JobURL+"/api/version", a.SubmitToken)
		return code
	})
}

// revokedWithin polls status until it is 401, failing the test if that
// takes longer than d (the gateway's cache TTL and a margin).
func revokedWithin(t *testing.T, d time.Duration, what string, status func() int) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		code := status()
		if code == http.StatusUnauthorized {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still opens the cluster %s after it stopped: %d", what, d, code)
		}
		time.Sleep(50 * time.Millisecond) // poll interval
	}
}

// gatewayGet sends GET url through hc, with token in the ray-token header
// (or only hc's cookies when token is ""), and returns the status and body.
func gatewayGet(t *testing.T, hc *http.Client, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("ray-token", token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}
