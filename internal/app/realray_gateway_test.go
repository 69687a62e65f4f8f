package app

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/rayfleet/rayfleet/api"
	"github.com/rayfleet/rayfleet/internal/poll"
	"github.com/rayfleet/rayfleet/internal/promtest"
	"github.com/rayfleet/rayfleet/internal/raytest"
)

// rayCLI runs the test environment's `ray` with args, as a user would on
// their own machine (no Ray token of any cluster in the environment).
func rayCLI(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, raytest.Ray(t), args...)
	cmd.Dir = dir
	cmd.Env = append(cleanRayEnv(), "HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// jobsClient drives Ray's JobSubmissionClient against the jobUrl with the
// ray-token header: one call per run, its answer as JSON on stdout.
const jobsClient = `
import json, sys
from ray.job_submission import JobSubmissionClient
url, token, op = sys.argv[1:4]
c = JobSubmissionClient(url, headers={"ray-token": token})
if op == "submit":
    print(json.dumps(c.submit_job(entrypoint=sys.argv[4])))
elif op == "status":
    print(json.dumps(str(c.get_job_status(sys.argv[4]))))
elif op == "stop":
    print(json.dumps(c.stop_job(sys.argv[4])))
elif op == "list":
    print(json.dumps([j.submission_id for j in c.list_jobs()]))
`

// TestGatewayWithRealRay uses a cluster's endpoints the way users do: the
// Ray job CLI (with a working dir uploaded through the gateway, and a log
// tail over its WebSocket), JobSubmissionClient, and the real dashboard in
// a browser, whose metrics source is a real Prometheus scraping the nodes
// from the runtime's targets file.
func TestGatewayWithRealRay(t *testing.T) {
	needRay(t)
	var prom *promtest.Server
	srv, cred := testServer(t, func(cfg *Config) {
		prom = promtest.Start(t, filepath.Join(cfg.DataDir, "local", "prometheus", "targets.json"))
		cfg.PrometheusURL = prom.URL
	})
	c := client(srv, cred)
	cl := runningCluster(t, c, cred.WorkspaceID, "jobs")
	headers := fmt.Sprintf(`{"ray-token": %q}`, cl.SubmitToken)

	// ray job submit --working-dir: the directory is zipped and uploaded
	// through the gateway, and the job reads a file of it.
	wd := t.TempDir()
	if err := os.WriteFile(filepath.Join(wd, "data.txt"), []byte("from the working dir\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(wd, "script.py"), []byte(`
import ray
ray.init()
@ray.remote
def square(x):
    return x * x
print(open("data.txt").read().strip(), sum(ray.get([square.remote(i) for i in range(10)])))
`), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := rayCLI(t, wd, "job", "submit", "--address", cl.JobURL, "--headers", headers, "--working-dir", wd, "--", "python", "script.py")
	if err != nil || !strings.Contains(out, "from the working dir 285") || !strings.Contains(out, "succeeded") {
		t.Fatalf("ray job submit: %v\n%s", err, out)
	}

	// ray job logs --follow streams the log while the job runs.
	out, err = rayCLI(t, wd, "job", "submit", "--no-wait", "--address", cl.JobURL, "--headers", headers, "--",
		"python", "-c", "import time\nfor i in range(4):\n    print('tick', i, flush=True)\n    time.sleep(2)")
	if err != nil {
		t.Fatalf("ray job submit --no-wait: %v\n%s", err, out)
	}
	m := submittedID.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no submission id in %s", out)
	}
	ticker := m[1]
	status := func(id string) string {
		return strings.Trim(strings.TrimSpace(runPython(t, jobsClient, cl.JobURL, cl.SubmitToken, "status", id)), `"`)
	}
	follow := exec.Command(raytest.Ray(t), "job", "logs", ticker, "--address", cl.JobURL, "--headers", headers, "--follow")
	follow.Env = append(cleanRayEnv(), "HOME="+t.TempDir())
	stdout, err := follow.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	follow.Stderr = follow.Stdout
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	var lines []string
	var firstWhile string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if strings.HasPrefix(sc.Text(), "tick 0") {
			firstWhile = status(ticker) // the job still runs when its first line arrives
		}
	}
	if err := follow.Wait(); err != nil {
		t.Fatalf("ray job logs --follow: %v\n%s", err, strings.Join(lines, "\n"))
	}
	got := strings.Join(lines, "\n")
	for i := range 4 {
		if !strings.Contains(got, fmt.Sprintf("tick %d", i)) {
			t.Fatalf("ray job logs --follow missed tick %d:\n%s", i, got)
		}
	}
	if firstWhile != "RUNNING" {
		t.Fatalf("the first line arrived when the job was %q, not while it ran: not streamed", firstWhile)
	}

	// JobSubmissionClient: submit, status, stop, list.
	var long string
	if err := json.Unmarshal([]byte(runPython(t, jobsClient, cl.JobURL, cl.SubmitToken, "submit", "sleep 600")), &long); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, rayWait, "the long job to run", func() bool { return status(long) == "RUNNING" })
	if strings.TrimSpace(runPython(t, jobsClient, cl.JobURL, cl.SubmitToken, "stop", long)) != "true" {
		t.Fatal("stop_job did not stop the job")
	}
	poll.Until(t, rayWait, "the long job to stop", func() bool { return status(long) == "STOPPED" })
	var ids []string
	if err := json.Unmarshal([]byte(runPython(t, jobsClient, cl.JobURL, cl.SubmitToken, "list")), &ids); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{ticker, long} {
		if !strings.Contains(strings.Join(ids, " "), id) {
			t.Errorf("list_jobs %v lacks %s", ids, id)
		}
	}

	// A wrong token is refused by the gateway and reaches no head.
	if out, err := rayCLI(t, wd, "job", "list", "--address", cl.JobURL, "--headers", `{"ray-token": "0000"}`); err == nil {
		t.Fatalf("ray job list with a wrong token worked:\n%s", out)
	}

	nodesScraped(t, prom, c, cred.WorkspaceID, cl)
	dashboardInBrowser(t, cl, ticker, "dashboard")
}

// nodesScraped checks that Prometheus scrapes every node of cl, as
// GetRayCluster lists them, from the runtime's targets file (up is 1 with
// the labels that name the node) and has Ray's own metrics of each, and
// that the head's dashboard finds it healthy.
func nodesScraped(t *testing.T, prom *promtest.Server, c *api.Client, ws string, cl *api.Cluster) {
	t.Helper()
	cl, err := c.GetCluster(context.Background(), ws, cl.ClusterID)
	if err != nil {
		t.Fatal(err)
	}
	if len(cl.Instances) == 0 {
		t.Fatal("GetRayCluster lists no nodes")
	}
	query := func(expr string) map[string]string {
		t.Helper()
		samples, err := prom.Query(context.Background(), expr)
		if err != nil {
			t.Fatal(err)
		}
		byNode := map[string]string{}
		for _, s := range samples {
			byNode[s.Metric["node"]] = s.Value
		}
		return byNode
	}
	allOne := func(byNode map[string]string) bool {
		for _, in := range cl.Instances {
			if byNode[in.InstanceID] != "1" {
				return false
			}
		}
		return len(byNode) == len(cl.Instances)
	}
	up := fmt.Sprintf(`up{job="ray", clusterId=%q, instanceId=%q, workspaceId=%q}`, cl.ClusterID, cl.InstanceID, ws)
	var last map[string]string
	poll.Until(t, rayWait, "Prometheus to scrape every node of "+cl.ClusterID, func() bool {
		last = query(up)
		return allOne(last)
	})
	// Ray's metrics, not only a scrape that answered: the node's own
	// gauges, labelled by the targets file.
	poll.Until(t, rayWait, "Ray's node metrics in Prometheus", func() bool {
		return allOne(query(fmt.Sprintf(`count by (node) (ray_node_cpu_count{clusterId=%q}) > bool 0`, cl.ClusterID)))
	})
	if code, body := gatewayGet(t, http.DefaultClient, cl.JobURL+"/api/prometheus_health", cl.SubmitToken); code != 200 || !strings.Contains(body, "prometheus running") {
		t.Fatalf("the dashboard's Prometheus health: %d %s", code, body)
	}
	t.Logf("Prometheus scrapes %v", last)
}

var submittedID = regexp.MustCompile(`Job '([^']+)' submitted successfully`)

// dashboardInBrowser opens the cluster's dashboardUrl in headless Chromium,
// visits the overview, cluster and jobs pages, waits for live data on each
// (the head's node, the job submitted), keeps a screenshot of each with the
// test output, and fails on any failed request in the page's network log.
//
// The screenshots are named <shots>-<page>.png; extra adds browser flags.
// Without a jobID the jobs page is not visited.
func dashboardInBrowser(t *testing.T, cl *api.Cluster, jobID, shots string, extra ...chromedp.ExecAllocatorOption) {
	t.Helper()
	browser := browserPath()
	if browser == "" {
		if os.Getenv(raytest.RequireEnv) != "" {
			t.Fatal("no Chromium: apt-get install chromium (make test does)")
		}
		t.Skip("no Chromium: apt-get install chromium")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-quic", true), chromedp.WindowSize(1280, 900),
		chromedp.UserDataDir(t.TempDir()))
	opts = append(opts, extra...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()

	var mu sync.Mutex
	var failed []string
	urls := map[network.RequestID]string{}
	if err := chromedp.Listen(bctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			urls[e.RequestID] = e.Request.URL
		case *network.EventResponseReceived:
			// Every answer counts, Ray's check of its Prometheus server
			// (/api/prometheus_health) too: the test's server runs one.
			if e.Response.Status >= 400 {
				failed = append(failed, fmt.Sprintf("%d %s", e.Response.Status, e.Response.URL))
			}
		case *network.EventLoadingFailed:
			if !e.Canceled {
				failed = append(failed, fmt.Sprintf("%s %s", e.ErrorText, urls[e.RequestID]))
			}
		}
	}); err != nil {
		t.Fatal(err)
	}

	outDir := screenshotDir(t)
	base := strings.SplitN(cl.DashboardURL, "?", 2)[0]
	pages := []struct {
		name, url, want string
	}{
		{"overview", cl.DashboardURL, "Cluster status"},
		{"cluster", base + "#/cluster", "ALIVE"},
		{"jobs", base + "#/jobs", jobID},
	}
	if jobID == "" {
		pages = pages[:2]
	}
	for _, p := range pages {
		err := chromedp.Do(bctx, chromedp.Navigate(p.url))
		if err == nil {
			_, err = chromedp.Run(bctx, chromedp.Poll[bool](fmt.Sprintf(`document.body && document.body.innerText.includes(%q)`, p.want),
				chromedp.WithPollingTimeout(90*time.Second)))
		}
		if shot, serr := chromedp.Run(bctx, chromedp.FullScreenshot(100)); serr == nil {
			_ = os.WriteFile(filepath.Join(outDir, shots+"-"+p.name+".png"), shot, 0o644)
		}
		if err != nil {
			text, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
			t.Fatalf("dashboard %s page (%s) never showed %q: %v\npage text: %.2000s", p.name, p.url, p.want, err, text)
		}
	}
	// Let the pages' periodic requests come in, then read the log.
	time.Sleep(3 * time.Second) // the dashboard refreshes every few seconds
	mu.Lock()
	defer mu.Unlock()
	if len(failed) > 0 {
		t.Fatalf("failed requests in the dashboard:\n%s", strings.Join(failed, "\n"))
	}
	if len(urls) < 10 {
		t.Fatalf("only %d requests seen: the network log is not being read", len(urls))
	}
	t.Logf("dashboard screenshots in %s", outDir)
}

// screenshotDir is where browser tests keep their screenshots:
// $RAYFLEET_TEST_OUTPUT, or test-output/ at the top of the work tree.
func screenshotDir(t *testing.T) string {
	dir := os.Getenv("RAYFLEET_TEST_OUTPUT")
	if dir == "" {
		dir = filepath.Join("..", "..", "test-output")
	}
	dir = filepath.Join(dir, "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browserPath finds Chromium: $RAYFLEET_TEST_BROWSER or on PATH.
func browserPath() string {
	if p := os.Getenv("RAYFLEET_TEST_BROWSER"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestClusterOwnHostWithRealRay: with --gateway-cluster-domain each
// cluster's dashboardUrl is on a host of its own, where the real dashboard
// renders in Chromium (the wildcard name resolved to this machine, as DNS
// would); another cluster's host does not serve it.
func TestClusterOwnHostWithRealRay(t *testing.T) {
	needRay(t)
	const domain = "clusters.test"
	srv, cred := testServer(t, func(cfg *Config) {
		prom := promtest.Start(t, filepath.Join(cfg.DataDir, "local", "prometheus", "targets.json"))
		cfg.PrometheusURL = prom.URL
		cfg.Gateway.ClusterDomain = domain
	})
	c := client(srv, cred)
	cl := runningCluster(t, c, cred.WorkspaceID, "own-host")
	_, port, _ := net.SplitHostPort(srv.GatewayAddr)
	wantHost := cl.ClusterID + "." + domain + ":" + port
	for _, u := range []string{cl.DashboardURL, cl.JobURL} {
		pu, err := url.Parse(u)
		if err != nil || pu.Host != wantHost {
			t.Fatalf("%s is not on the cluster's own host %s", u, wantHost)
		}
	}
	dashboardInBrowser(t, cl, "", "own-host", chromedp.Flag("host-resolver-rules", "MAP *."+domain+" 127.0.0.1"))

	// The same paths on another cluster's host, or on the gateway's own
	// address, serve no dashboard.
	other := strings.Replace(cl.DashboardURL, cl.ClusterID+"."+domain, "ray-0000000000000000."+domain, 1)
	shared := strings.Replace(cl.DashboardURL, cl.ClusterID+"."+domain, "127.0.0.1", 1)
	for _, u := range []string{other, shared} {
		pu, _ := url.Parse(u)
		req, _ := http.NewRequest("GET", "http://"+srv.GatewayAddr+pu.RequestURI(), nil)
		req.Host = pu.Host
		res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusNotFound {
			t.Fatalf("the dashboard on host %s: %d, want 404", pu.Host, res.StatusCode)
		}
	}
}
