package gateway

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// browserPath finds a Chromium-family browser, or "".
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

// TestDashboardInABrowser opens a dashboardUrl in headless Chromium: the
// token becomes the session cookie, the browser lands on the clean URL,
// and the page's script and its XHR, both asked for by relative URL as
// Ray's dashboard does, load under the cluster's path.
func TestDashboardInABrowser(t *testing.T) {
	browser := browserPath()
	if browser == "" {
		t.Skip("no Chromium found (chromium, chromium-browser, google-chrome or headless-shell on PATH, or RAYFLEET_TEST_BROWSER): apt-get install chromium to run this test")
	}
	var (
		mu   sync.Mutex
		seen []string
	)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>Ray Dashboard</title><p id="state">loading</p><script src="static/js/main.js"></script>`)
	})
	mux.HandleFunc("GET /static/js/main.js", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		fmt.Fprint(w, `fetch("api/version").then(r => r.json()).then(v => {
  const p = document.createElement("p");
  p.id = "version";
  p.textContent = v.ray_version + " " + document.cookie;
  document.body.appendChild(p);
});`)
	})
	mux.HandleFunc("GET /api/version", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"version":"4","ray_version":"2.47.1"}`)
	})
	head := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.RequestURI()+" cookie="+r.Header.Get("Cookie")+" token="+r.Header.Get(tokenHeader))
		mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(head.Close)

	f := newFleet()
	c := f.add(&fakeCluster{ws: "w-aaaaaaaaaaaaaaaa", id: "ray-aaaaaaaaaaaaaaaa", token: tokenA, dashboard: head.Listener.Addr().String()})
	cfg := Config{Lookup: f.lookup(), Logger: testLogger(t)}
	base := serve(t, cfg) + "/workspace/" + c.ws + "/raycluster/" + c.id
	dashboardURL := base + "/dashboard/?token=" + tokenA

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.Flag("disable-gpu", true))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()

	if err := chromedp.Do(bctx, chromedp.Navigate(dashboardURL), chromedp.WaitVisible(chromedp.ID("version"))); err != nil {
		t.Fatalf("browser: %v", err)
	}
	location, err := chromedp.Run(bctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	version, err := chromedp.Run(bctx, chromedp.Text(chromedp.ID("version")))
	if err != nil {
		t.Fatal(err)
	}
	got, err := chromedp.Call(bctx, network.GetCookies, network.GetCookiesParams{URLs: []string{base + "/dashboard/"}})
	if err != nil {
		t.Fatal(err)
	}
	cookies := got.Cookies
	if location != base+"/dashboard/" {
		t.Errorf("the browser ended at %s, want the dashboard URL without its token", location)
	}
	// The XHR's answer, and no cookie the page's script can read.
	if strings.TrimSpace(version) != "2.47.1" {
		t.Errorf("the page shows %q, want the version and no readable cookie", version)
	}
	var session *network.Cookie
	for _, ck := range cookies {
		if ck.Name == sessionCookie {
			session = ck
		}
	}
	switch {
	case session == nil:
		t.Errorf("no session cookie in the browser: %+v", cookies)
	case !session.HTTPOnly || session.Path != "/workspace/"+c.ws+"/raycluster/"+c.id+"/" || session.SameSite != network.CookieSameSiteLax:
		t.Errorf("session cookie %+v, want HttpOnly, SameSite=Lax, path of the cluster", session)
	case strings.Contains(session.Value, tokenA):
		t.Errorf("the session cookie holds the token")
	}

	mu.Lock()
	defer mu.Unlock()
	want := []string{"/ cookie= token=", "/static/js/main.js cookie= token=", "/api/version cookie= token="}
	heard := map[string]bool{}
	for _, s := range seen {
		heard[s] = true
		if strings.Contains(s, tokenA) || strings.Contains(s, sessionCookie) {
			t.Errorf("the head got a credential: %s", s)
		}
	}
	for _, w := range want {
		if !heard[w] {
			t.Errorf("the head never got %q; it got %q", w, seen)
		}
	}
}
