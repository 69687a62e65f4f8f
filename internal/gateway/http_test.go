package gateway

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rayfleet/rayfleet/internal/poll"
)

// The job API as Ray's JobSubmissionClient uses it: address + endpoint by
// plain concatenation, header ray-token on every request.
func TestJobAPIThroughGateway(t *testing.T) {
	e := newEnv(t, Config{})
	base := e.jobURL(e.a)

	version := decode[map[string]string](t, e.do(t, "GET", base+"/api/version", tokenA, nil))
	if version["ray_version"] != "2.47.1" || version["head"] != "A" {
		t.Fatalf("version %v", version)
	}
	res := e.do(t, "POST", base+"/api/jobs/", tokenA, strings.NewReader(`{"entrypoint":"python main.py","submission_id":"raysubmit_1","runtime_env":{}}`))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("submit: %d", res.StatusCode)
	}
	if got := decode[map[string]string](t, res)["submission_id"]; got != "raysubmit_1" {
		t.Fatalf("submission_id %q", got)
	}
	for _, path := range []string{"/api/jobs/", "/api/jobs/raysubmit_1", "/api/jobs/raysubmit_1/logs"} {
		if res := e.do(t, "GET", base+path, tokenA, nil); res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", path, res.StatusCode)
		}
	}
	if got := decode[map[string]bool](t, e.do(t, "POST", base+"/api/jobs/raysubmit_1/stop", tokenA, nil)); !got["stopped"] {
		t.Fatalf("stop: %v", got)
	}
	if res := e.do(t, "GET", base+"/api/packages/gcs/_ray_pkg_0123.zip", tokenA, nil); res.StatusCode != http.StatusNotFound {
		t.Fatalf("package check: %d, want the head's 404", res.StatusCode)
	}
	// A token in the query as well goes nowhere; other parameters do.
	if res := e.do(t, "GET", base+"/api/jobs/?token="+tokenA+"&limit=5", tokenA, nil); res.StatusCode != http.StatusOK {
		t.Fatalf("list with query: %d", res.StatusCode)
	}
	// A dashboard form post with a good ?token= passes, without it.
	if res := e.do(t, "POST", base+"/dashboard/api/jobs/?token="+tokenA, "", strings.NewReader(`{"entrypoint":"echo hi"}`)); res.StatusCode != http.StatusOK {
		t.Fatalf("dashboard post with query token: %d", res.StatusCode)
	}

	var paths []string
	for _, r := range e.headA.requests() {
		paths = append(paths, r.Method+" "+r.Path)
	}
	want := "GET /api/version,POST /api/jobs/,GET /api/jobs/,GET /api/jobs/raysubmit_1,GET /api/jobs/raysubmit_1/logs,POST /api/jobs/raysubmit_1/stop,GET /api/packages/gcs/_ray_pkg_0123.zip,GET /api/jobs/,POST /api/jobs/"
	if got := strings.Join(paths, ","); got != want {
		t.Errorf("head A saw\n%s\nwant\n%s", got, want)
	}
	e.headA.assertClean(t, "")
	if got := e.headA.requests()[7].RawQuery; got != "limit=5" {
		t.Errorf("query upstream %q, want limit=5", got)
	}
	if n := len(e.headB.requests()); n != 0 {
		t.Errorf("head B saw %d requests", n)
	}
}

// Nothing without the right, current token reaches any head.
func TestTokenRefused(t *testing.T) {
	e := newEnv(t, Config{})
	c := &fakeCluster{ws: "w-cccccccccccccccc", id: "ray-cccccccccccccccc", token: "cccccccccccccccccccccccccccccccc", dashboard: e.headA.addr()}
	e.fleet.add(c)
	e.fleet.update(c.ws, c.id, func(c *fakeCluster) { c.token = "" }) // stopped: token revoked

	sessionB := sessionValue([]byte("not the gateway's key, 32 bytes!"), e.b.ws, e.b.id, hashToken(tokenB))
	tests := []struct {
		name, method, url, token, cookie string
	}{
		{name: "no token", method: "GET", url: e.jobURL(e.a) + "/api/version"},
		{name: "wrong token", method: "GET", url: e.jobURL(e.a) + "/api/version", token: "0123456789abcdef0123456789abcdee"},
		{name: "B's token on A", method: "POST", url: e.jobURL(e.a) + "/api/jobs/", token: tokenB},
		{name: "revoked token", method: "GET", url: e.jobURL(c) + "/api/jobs/", token: "cccccccccccccccccccccccccccccccc"},
		{name: "unknown cluster", method: "GET", url: e.url + "/workspace/" + e.a.ws + "/raycluster/ray-zzzzzzzzzzzzzzzz/api/version", token: tokenA},
		{name: "A's token, A's id, B's workspace", method: "GET", url: e.url + "/workspace/" + e.b.ws + "/raycluster/" + e.a.id + "/api/version", token: tokenA},
		{name: "query token on the job API", method: "GET", url: e.jobURL(e.a) + "/api/version?token=" + tokenA},
		{name: "wrong query token", method: "GET", url: e.jobURL(e.a) + "/dashboard/?token=nope"},
		{name: "B's query token on A's dashboard", method: "GET", url: e.jobURL(e.a) + "/dashboard/?token=" + tokenB},
		{name: "forged cookie", method: "GET", url: e.jobURL(e.a) + "/dashboard/", cookie: sessionCookie + "=" + sessionB},
		{name: "garbage cookie", method: "GET", url: e.jobURL(e.a) + "/dashboard/api/jobs/", cookie: sessionCookie + "=x"},
		{name: "upload without token", method: "PUT", url: e.jobURL(e.a) + "/api/packages/gcs/_ray_pkg_1.zip"},
		{name: "WebSocket tail without token", method: "GET", url: e.jobURL(e.a) + "/api/jobs/raysubmit_1/logs/tail"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, tt.url, strings.NewReader("{}"))
			if err != nil {
				t.Fatal(err)
			}
			if tt.token != "" {
				req.Header.Set("ray-token", tt.token)
			}
			if tt.cookie != "" {
				req.Header.Set("Cookie", tt.cookie)
			}
			if strings.HasSuffix(tt.url, "/tail") {
				req.Header.Set("Connection", "Upgrade")
				req.Header.Set("Upgrade", "websocket")
				req.Header.Set("Sec-WebSocket-Version", "13")
				req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
			}
			res, err := e.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			wantError(t, res, http.StatusUnauthorized, codeInvalidToken)
		})
	}
	if n := len(e.headA.requests()) + len(e.headB.requests()); n != 0 {
		t.Errorf("heads saw %d requests", n)
	}
}

// A browser opens dashboardUrl, the gateway trades the token for a session
// cookie, and the dashboard (pages and its own API calls, which are
// relative) works under the prefix.
func TestDashboardSession(t *testing.T) {
	e := newEnv(t, Config{})
	dashboardURL := e.jobURL(e.a) + "/dashboard/?token=" + url.QueryEscape(tokenA)
	prefix := "/workspace/" + e.a.ws + "/raycluster/" + e.a.id

	// The exchange itself, without following the redirect.
	res := e.do(t, "GET", dashboardURL, "", nil)
	if res.StatusCode != http.StatusFound {
		t.Fatalf("status %d, want 302", res.StatusCode)
	}
	if loc := res.Header.Get("Location"); loc != prefix+"/dashboard/" {
		t.Errorf("Location %q", loc)
	}
	cookies := res.Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies %v", cookies)
	}
	c := cookies[0]
	if c.Name != sessionCookie || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != prefix+"/" || c.Secure {
		t.Errorf("cookie %s", c)
	}
	if c.Value == "" || strings.Contains(c.Value, tokenA) {
		t.Errorf("cookie value %q carries the token", c.Value)
	}
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("redirect is cacheable")
	}

	// Other query parameters stay, in order.
	res = e.do(t, "GET", e.jobURL(e.a)+"/dashboard/jobs?b=2&token="+tokenA+"&a=1", "", nil)
	if loc := res.Header.Get("Location"); loc != prefix+"/dashboard/jobs?b=2&a=1" {
		t.Errorf("Location %q", loc)
	}

	// A browser with a cookie jar.
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	browser := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	get := func(u string) (int, string) {
		t.Helper()
		res, err := browser.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	// The cluster's own URL, without the slash the dashboard needs, gets
	// there too.
	if status, body := get(e.jobURL(e.a) + "?token=" + tokenA); status != http.StatusOK || !strings.Contains(body, "Ray Dashboard A") {
		t.Fatalf("dashboard: %d %s", status, body)
	}
	// The dashboard's own API calls: relative to .../dashboard/.
	if status, body := get(e.jobURL(e.a) + "/dashboard/api/jobs/"); status != http.StatusOK || !strings.Contains(body, "raysubmit_1") {
		t.Fatalf("dashboard API: %d %s", status, body)
	}
	// The cookie also opens the job API of the same cluster.
	if status, _ := get(e.jobURL(e.a) + "/api/version"); status != http.StatusOK {
		t.Fatalf("job API with the cookie: %d", status)
	}
	// Cookies of the head's own stay the head's, under the cluster's path.
	if status, _ := get(e.jobURL(e.a) + "/dashboard/setcookie"); status != http.StatusNoContent {
		t.Fatalf("setcookie: %d", status)
	}
	if status, _ := get(e.jobURL(e.a) + "/dashboard/api/version"); status != http.StatusOK {
		t.Fatalf("after setcookie: %d", status)
	}
	last := e.headA.requests()[len(e.headA.requests())-1]
	if c := last.Header.Get("Cookie"); !strings.Contains(c, "theme=dark") {
		t.Errorf("head's own cookie lost: %q", c)
	}
	// The jar sends nothing of A's to B's path.
	if status, _ := get(e.jobURL(e.b) + "/dashboard/"); status != http.StatusUnauthorized {
		t.Errorf("B's dashboard with A's session: %d, want 401", status)
	}

	// A's cookie, copied onto B's path by hand, does not open B.
	res = e.doWithCookie(t, e.jobURL(e.b)+"/dashboard/", sessionCookie+"="+c.Value)
	wantError(t, res, http.StatusUnauthorized, codeInvalidToken)

	// A cookie of the same name that a page added with a longer path (and
	// so comes first) does not shadow the session.
	if res := e.doWithCookie(t, e.jobURL(e.a)+"/dashboard/", sessionCookie+"=junk; "+sessionCookie+"="+c.Value); res.StatusCode != http.StatusOK {
		t.Errorf("shadowed session: %d", res.StatusCode)
	}

	// The cluster restarts with a new token: the old session ends.
	e.fleet.update(e.a.ws, e.a.id, func(c *fakeCluster) { c.token = "11111111111111111111111111111111" })
	if status, _ := get(e.jobURL(e.a) + "/dashboard/api/jobs/"); status != http.StatusUnauthorized {
		t.Errorf("old session after restart: %d, want 401", status)
	}

	e.headA.assertClean(t, "")
	for _, r := range e.headA.requests() {
		if strings.HasPrefix(r.Path, "/workspace") || strings.HasPrefix(r.Path, "/dashboard") {
			t.Errorf("head A got the gateway's prefix: %s", r.Path)
		}
	}
	if n := len(e.headB.requests()); n != 0 {
		t.Errorf("head B saw %d requests", n)
	}
}

func (e *env) doWithCookie(t *testing.T, u, cookie string) *http.Response {
	t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Cookie", cookie)
	res, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return res
}

func TestRedirectsToDashboard(t *testing.T) {
	e := newEnv(t, Config{})
	prefix := "/workspace/" + e.a.ws + "/raycluster/" + e.a.id
	for in, want := range map[string]string{
		prefix:                          prefix + "/dashboard/",
		prefix + "/":                    prefix + "/dashboard/",
		prefix + "/dashboard":           prefix + "/dashboard/",
		prefix + "/dashboard?token=abc": prefix + "/dashboard/?token=abc",
		prefix + "?token=abc&x=1":       prefix + "/dashboard/?token=abc&x=1",
	} {
		res := e.do(t, "GET", e.url+in, "", nil)
		if res.StatusCode != http.StatusFound || res.Header.Get("Location") != want {
			t.Errorf("%s: %d %q, want 302 %q", in, res.StatusCode, res.Header.Get("Location"), want)
		}
	}
	for _, p := range []string{
		"/", "/workspace/", "/workspace/" + e.a.ws, "/workspace/" + e.a.ws + "/raycluster/",
		prefix + "/other", prefix + "/apix", prefix + "/dashboardx",
		"/workspace/w%2Fa/raycluster/" + e.a.id + "/api/version",
		"/workspace/../raycluster/" + e.a.id + "/api/version",
	} {
		wantError(t, e.do(t, "GET", e.url+p, tokenA, nil), http.StatusNotFound, codeNotFound)
	}
}

// The head's redirects and cookies are put under the cluster's prefix.
func TestHeadRedirectsAndCookiesRewritten(t *testing.T) {
	e := newEnv(t, Config{})
	prefix := "/workspace/" + e.a.ws + "/raycluster/" + e.a.id
	for path, want := range map[string]string{
		"/dashboard/redirect":    prefix + "/dashboard/static/x?a=1",
		"/dashboard/absredirect": prefix + "/dashboard/static/y",
		"/dashboard/elsewhere":   "https://docs.ray.io/en/latest/",
	} {
		res := e.do(t, "GET", e.url+prefix+path, tokenA, nil)
		if res.StatusCode != http.StatusFound || res.Header.Get("Location") != want {
			t.Errorf("%s: %d Location %q, want %q", path, res.StatusCode, res.Header.Get("Location"), want)
		}
	}
	res := e.do(t, "GET", e.url+prefix+"/dashboard/setcookie", tokenA, nil)
	got := map[string]string{}
	for _, c := range res.Cookies() {
		got[c.Name] = c.Path + "|" + c.Domain
	}
	want := map[string]string{"theme": prefix + "/dashboard/|", "recent": "|"}
	if len(got) != len(want) || got["theme"] != want["theme"] || got["recent"] != want["recent"] {
		t.Errorf("cookies %v, want %v (and never %s)", got, want, sessionCookie)
	}
}

// A chunked stream (Ray's log stream) reaches the client chunk by chunk.
func TestStreamingResponseFlushes(t *testing.T) {
	e := newEnv(t, Config{})
	res := e.do(t, "GET", e.jobURL(e.a)+"/dashboard/api/v0/logs/stream?node_id=n1&filename=job.log", tokenA, nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d", res.StatusCode)
	}
	r := bufio.NewReader(res.Body)
	for i, chunk := range []string{"line one\n", "line two\n", "line three\n"} {
		select {
		case e.headA.logChunks <- chunk:
		case <-time.After(10 * time.Second):
			t.Fatalf("head not streaming")
		}
		// Read this chunk before the head writes the next one: it must have
		// been flushed through.
		done := make(chan string, 1)
		go func() {
			line, _ := r.ReadString('\n')
			done <- line
		}()
		select {
		case line := <-done:
			if line != chunk {
				t.Fatalf("chunk %d: %q, want %q", i, line, chunk)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("chunk %d held back by the gateway", i)
		}
	}
	close(e.headA.logChunks)
	if rest, _ := io.ReadAll(r); len(rest) != 0 {
		t.Errorf("trailing %q", rest)
	}
	if got := e.headA.requests()[0].RawQuery; got != "node_id=n1&filename=job.log" {
		t.Errorf("query %q", got)
	}
}

// ray job logs --follow: a WebSocket on /api/jobs/<id>/logs/tail with the
// token header on the handshake.
func TestWebSocketLogTail(t *testing.T) {
	e := newEnv(t, Config{})
	wsURL := "ws" + strings.TrimPrefix(e.jobURL(e.a), "http") + "/api/jobs/raysubmit_1/logs/tail"
	conn, res, err := websocket.DefaultDialer.Dial(wsURL, http.Header{"ray-token": {tokenA}})
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, res)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, msg, err := conn.ReadMessage(); err != nil || string(msg) != "A line 1\n" {
		t.Fatalf("first message %q, %v", msg, err)
	}
	for _, m := range []string{"one", "two", "three"} {
		if err := conn.WriteMessage(websocket.TextMessage, []byte(m)); err != nil {
			t.Fatal(err)
		}
		if _, msg, err := conn.ReadMessage(); err != nil || string(msg) != "A echo: "+m {
			t.Fatalf("echo %q, %v", msg, err)
		}
	}
	_ = conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	e.headA.assertClean(t, "")

	// Without a token the handshake is refused and the head sees nothing.
	before := len(e.headA.requests())
	_, res, err = websocket.DefaultDialer.Dial(wsURL, nil)
	if err == nil || res == nil || res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("dial without token: %v, %v", err, res)
	}
	if len(e.headA.requests()) != before {
		t.Errorf("head saw the refused handshake")
	}
}

// A working_dir upload streams to the head as it is sent, and bodies over
// the limit get 413.
func TestUploadBodies(t *testing.T) {
	e := newEnv(t, Config{MaxBodyBytes: 1 << 20})
	u := e.jobURL(e.a) + "/api/packages/gcs/_ray_pkg_0123.zip"

	// Streamed, not buffered: the head has the first part before the client
	// sends the rest.
	pr, pw := io.Pipe()
	type result struct {
		res *http.Response
		err error
	}
	done := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest("PUT", u, pr)
		req.Header.Set("ray-token", tokenA)
		res, err := e.client.Do(req)
		done <- result{res, err}
	}()
	part := bytes.Repeat([]byte("z"), 100<<10)
	if _, err := pw.Write(part); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for got := int64(0); got < int64(len(part)); {
		select {
		case got = <-e.headA.uploaded:
		case <-deadline:
			t.Fatalf("head has %d bytes of the first %d; the gateway holds the body", got, len(part))
		}
	}
	if _, err := pw.Write(part); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	defer r.res.Body.Close()
	if got := decode[map[string]int64](t, r.res)["bytes"]; got != 2*int64(len(part)) {
		t.Fatalf("head got %d bytes, want %d", got, 2*len(part))
	}

	// Declared too large: refused before anything is sent on.
	before := len(e.headA.requests())
	big := bytes.Repeat([]byte("z"), 1<<20+1)
	wantError(t, e.do(t, "PUT", u, tokenA, bytes.NewReader(big)), http.StatusRequestEntityTooLarge, codeTooLarge)
	if len(e.headA.requests()) != before {
		t.Errorf("head saw the refused upload")
	}
	// Undeclared (chunked) and too large: cut off at the limit.
	req, _ := http.NewRequest("PUT", u, io.MultiReader(bytes.NewReader(big)))
	req.Header.Set("ray-token", tokenA)
	req.ContentLength = -1
	res, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	wantError(t, res, http.StatusRequestEntityTooLarge, codeTooLarge)
	// Exactly the limit passes.
	res = e.do(t, "PUT", u, tokenA, bytes.NewReader(big[:1<<20]))
	if got := decode[map[string]int64](t, res)["bytes"]; got != 1<<20 {
		t.Errorf("limit-sized upload: head got %d", got)
	}
}

func TestConnectionLimits(t *testing.T) {
	t.Run("per cluster", func(t *testing.T) {
		e := newEnv(t, Config{MaxConns: 2, MaxConnsPerCluster: 1})
		// A log stream holds A's one slot.
		stream := e.do(t, "GET", e.jobURL(e.a)+"/dashboard/api/v0/logs/stream", tokenA, nil)
		if stream.StatusCode != http.StatusOK {
			t.Fatalf("stream: %d", stream.StatusCode)
		}
		wantError(t, e.do(t, "GET", e.jobURL(e.a)+"/api/version", tokenA, nil), http.StatusServiceUnavailable, codeTooManyConns)
		if res := e.do(t, "GET", e.jobURL(e.b)+"/api/version", tokenB, nil); res.StatusCode != http.StatusOK {
			t.Fatalf("B while A is full: %d", res.StatusCode)
		}
		close(e.headA.logChunks)
		_, _ = io.Copy(io.Discard, stream.Body)
		poll.Until(t, 10*time.Second, "A's slot freed", func() bool {
			res := e.do(t, "GET", e.jobURL(e.a)+"/api/version", tokenA, nil)
			return res.StatusCode == http.StatusOK
		})
	})
	t.Run("total", func(t *testing.T) {
		e := newEnv(t, Config{MaxConns: 1, MaxConnsPerCluster: 1})
		stream := e.do(t, "GET", e.jobURL(e.a)+"/dashboard/api/v0/logs/stream", tokenA, nil)
		if stream.StatusCode != http.StatusOK {
			t.Fatalf("stream: %d", stream.StatusCode)
		}
		res := e.do(t, "GET", e.jobURL(e.b)+"/api/version", tokenB, nil)
		wantError(t, res, http.StatusServiceUnavailable, codeTooManyConns)
		if res.Header.Get("Retry-After") == "" {
			t.Errorf("no Retry-After")
		}
		close(e.headA.logChunks)
		_, _ = io.Copy(io.Discard, stream.Body)
		poll.Until(t, 10*time.Second, "the slot freed", func() bool {
			return e.do(t, "GET", e.jobURL(e.b)+"/api/version", tokenB, nil).StatusCode == http.StatusOK
		})
	})
}

// Ray's own token goes upstream the way Ray reads it; whatever the client
// sent as credentials does not.
func TestRayTokenInjected(t *testing.T) {
	e := newEnv(t, Config{})
	e.fleet.update(e.a.ws, e.a.id, func(c *fakeCluster) { c.rayToken = "ray-internal-secret" })
	req, _ := http.NewRequest("GET", e.jobURL(e.a)+"/api/version", nil)
	req.Header.Set("ray-token", tokenA)
	req.Header.Set("Authorization", "Bearer something-else")
	req.Header.Set("X-Ray-Authorization", "Bearer something-else")
	req.Header.Set("Cookie", "a=1; "+rayAuthCookie+"=stolen; b=2")
	res, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d", res.StatusCode)
	}
	e.headA.assertClean(t, "Bearer ray-internal-secret")
	if c := e.headA.requests()[0].Header.Get("Cookie"); c != "a=1; b=2" {
		t.Errorf("Cookie upstream %q", c)
	}

	req, _ = http.NewRequest("GET", e.jobURL(e.b)+"/api/version", nil)
	req.Header.Set("ray-token", tokenB)
	req.Header.Set("Authorization", "Basic Zm9vOmJhcg==")
	res, err = e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	e.headB.assertClean(t, "")
}

func TestHeadNotRunning(t *testing.T) {
	e := newEnv(t, Config{})
	e.fleet.update(e.a.ws, e.a.id, func(c *fakeCluster) { c.running = false })
	wantError(t, e.do(t, "GET", e.jobURL(e.a)+"/api/version", tokenA, nil), http.StatusServiceUnavailable, codeClusterNotReady)

	// Running by the runtime's account, but nothing listens: 502.
	e.fleet.update(e.a.ws, e.a.id, func(c *fakeCluster) { c.running, c.dashboard = true, freeAddr(t) })
	wantError(t, e.do(t, "GET", e.jobURL(e.a)+"/api/version", tokenA, nil), http.StatusBadGateway, codeBadGateway)
}

// A client that never finishes its headers is cut off.
func TestReadHeaderTimeout(t *testing.T) {
	cfg := Config{Lookup: newFleet().lookup(), ReadHeaderTimeout: 100 * time.Millisecond}
	conn, err := net.Dial("tcp", strings.TrimPrefix(serve(t, cfg), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /workspace/w/raycluster/r/api/version HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	_, err = io.ReadAll(conn)
	if err != nil || time.Since(start) > 5*time.Second {
		t.Fatalf("connection not closed by the server: %v after %s", err, time.Since(start))
	}
}

// With ClusterDomain each cluster's dashboard has an origin of its own:
// <clusterId>.<domain> serves that cluster alone, with a cookie of that
// host only; another host answers the job API (with a token) and nothing
// of a dashboard.
func TestClusterOwnHost(t *testing.T) {
	e := newEnv(t, Config{ClusterDomain: "clusters.test"})
	hostA, hostB := e.a.id+".clusters.test", e.b.id+".clusters.test:8443"
	do := func(host, method, u, token string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, u, nil)
		req.Host = host
		if token != "" {
			req.Header.Set("ray-token", token)
		}
		res, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	res := do(hostA, "GET", e.jobURL(e.a)+"/dashboard/?token="+url.QueryEscape(tokenA), "")
	if res.StatusCode != http.StatusFound || len(res.Cookies()) != 1 || res.Cookies()[0].Domain != "" {
		t.Fatalf("session on A's host: %d %v", res.StatusCode, res.Cookies())
	}
	cookie := res.Cookies()[0]
	req, _ := http.NewRequest("GET", e.jobURL(e.a)+"/dashboard/api/version", nil)
	req.Host = hostA
	req.AddCookie(cookie)
	if res, err := e.client.Do(req); err != nil || res.StatusCode != 200 {
		t.Fatalf("A's dashboard on A's host with its cookie: %v %v", res, err)
	}
	// B's host never serves A, even with A's token or cookie.
	req, _ = http.NewRequest("GET", e.jobURL(e.a)+"/dashboard/api/version", nil)
	req.Host = hostB
	req.AddCookie(cookie)
	if res, err := e.client.Do(req); err != nil || res.StatusCode != http.StatusNotFound {
		t.Fatalf("A's dashboard on B's host: %v %v", res, err)
	}
	if res := do(hostB, "GET", e.jobURL(e.a)+"/api/version", tokenA); res.StatusCode != http.StatusNotFound {
		t.Fatalf("A's job API on B's host: %d", res.StatusCode)
	}
	// The shared host: the job API with a token, no dashboard.
	if res := do("gateway.test", "GET", e.jobURL(e.a)+"/api/version", tokenA); res.StatusCode != 200 {
		t.Fatalf("job API on the shared host: %d", res.StatusCode)
	}
	if res := do("gateway.test", "GET", e.jobURL(e.a)+"/dashboard/?token="+url.QueryEscape(tokenA), ""); res.StatusCode != http.StatusNotFound {
		t.Fatalf("a dashboard session on the shared host: %d", res.StatusCode)
	}
	if len(e.headA.requests())+len(e.headB.requests()) != 2 {
		t.Fatalf("the heads saw %d and %d requests, want the 2 allowed", len(e.headA.requests()), len(e.headB.requests()))
	}
}
