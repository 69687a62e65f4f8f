package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// lookupFuncs is a Lookup made of functions, so each test says what it
// needs; it is an Auditor when audit is set.
type lookupFuncs struct {
	authorize     func(ctx context.Context, r Request) (Grant, Verdict, error)
	upstream      func(ctx context.Context, ws, id string) (string, string, bool)
	upstreamToken func(ctx context.Context, ws, id string) (string, error)
	audit         func(ctx context.Context, e Event)
}

func (l *lookupFuncs) Authorize(ctx context.Context, r Request) (Grant, Verdict, error) {
	return l.authorize(ctx, r)
}

func (l *lookupFuncs) Upstream(ctx context.Context, ws, id string) (string, string, bool) {
	return l.upstream(ctx, ws, id)
}

func (l *lookupFuncs) UpstreamToken(ctx context.Context, ws, id string) (string, error) {
	return l.upstreamToken(ctx, ws, id)
}

func (l *lookupFuncs) Audit(ctx context.Context, e Event) {
	if l.audit != nil {
		l.audit(ctx, e)
	}
}

// fakeCluster is a cluster as the fleet below knows it.
type fakeCluster struct {
	ws, id    string
	account   string // "" : the workspace's
	token     string // its owner's credential, every door open; "" once stopped
	dashboard string // host:port of its fake head's dashboard
	client    string // host:port of its Ray client server
	rayToken  string // Ray's own token, when Ray's auth is on
	running   bool
}

// fakeCred is a credential of the fleet's besides the clusters' own.
type fakeCred struct {
	ws, id     string
	user, key  string
	parentKey  string
	doors      []Door // what its user may use
	expires    time.Time
	remoteAddr string // when set, the only source address allowed
}

// fleet is the store and runtime of the tests: clusters by id, tokens that
// change when a test restarts a cluster, credentials, and the audit log.
type fleet struct {
	mu       sync.Mutex
	clusters map[clusterKey]*fakeCluster
	creds    map[string]*fakeCred // by token hash
	events   []Event
}

func newFleet() *fleet {
	return &fleet{clusters: make(map[clusterKey]*fakeCluster), creds: make(map[string]*fakeCred)}
}

func (f *fleet) add(c *fakeCluster) *fakeCluster {
	f.mu.Lock()
	defer f.mu.Unlock()
	c.running = true
	f.clusters[clusterKey{c.ws, c.id}] = c
	return c
}

// update changes a cluster under the fleet's lock.
func (f *fleet) update(ws, id string, change func(c *fakeCluster)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(f.clusters[clusterKey{ws, id}])
}

// credential adds (or, with change, changes) the credential of token.
func (f *fleet) credential(token string, change func(c *fakeCred)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.creds[hashToken(token)]
	if c == nil {
		c = &fakeCred{}
		f.creds[hashToken(token)] = c
	}
	change(c)
}

// audited returns the events audited so far.
func (f *fleet) audited() []Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Event(nil), f.events...)
}

func (f *fleet) lookup() Lookup {
	return &lookupFuncs{
		authorize: func(_ context.Context, r Request) (Grant, Verdict, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			for _, c := range f.clusters {
				if c.token != "" && hashToken(c.token) == r.TokenHash {
					return Grant{Workspace: c.ws, Cluster: c.id, Account: c.account, User: "owner-" + c.id, UserName: "owner", AccessKey: "key-" + c.id}, Granted, nil
				}
			}
			cred := f.creds[r.TokenHash]
			if cred == nil || f.clusters[clusterKey{cred.ws, cred.id}] == nil || f.clusters[clusterKey{cred.ws, cred.id}].token == "" {
				return Grant{}, BadToken, nil
			}
			if !cred.expires.IsZero() && !time.Now().Before(cred.expires) {
				return Grant{}, BadToken, nil
			}
			g := Grant{Workspace: cred.ws, Cluster: cred.id, Account: f.clusters[clusterKey{cred.ws, cred.id}].account,
				User: cred.user, UserName: cred.user, AccessKey: cred.key, ParentKey: cred.parentKey, Expires: cred.expires}
			if !slices.Contains(cred.doors, r.Door) || cred.remoteAddr != "" && cred.remoteAddr != r.SourceIP {
				return g, NotAllowed, nil
			}
			return g, Granted, nil
		},
		upstream: func(_ context.Context, ws, id string) (string, string, bool) {
			f.mu.Lock()
			defer f.mu.Unlock()
			c := f.clusters[clusterKey{ws, id}]
			if c == nil || !c.running {
				return "", "", false
			}
			return c.dashboard, c.client, true
		},
		upstreamToken: func(_ context.Context, ws, id string) (string, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			if c := f.clusters[clusterKey{ws, id}]; c != nil {
				return c.rayToken, nil
			}
			return "", nil
		},
		audit: func(_ context.Context, e Event) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.events = append(f.events, e)
		},
	}
}

// seenRequest is what a fake head received.
type seenRequest struct {
	Method, Path, RawQuery string
	Header                 http.Header
}

// fakeHead stands in for a Ray head's dashboard: the job API, a chunked log
// stream, a WebSocket log tail, package uploads, and a little of the
// dashboard's own pages. It records every request.
type fakeHead struct {
	name string
	srv  *httptest.Server

	mu   sync.Mutex
	seen []seenRequest

	// logChunks feeds /api/v0/logs/stream, one chunk per value, until
	// closed.
	logChunks chan string
	// uploaded receives the byte count of a package upload so far, after
	// each read, so a test can see the body arrive while it is still
	// sending.
	uploaded chan int64
}

func newFakeHead(t *testing.T, name string) *fakeHead {
	t.Helper()
	h := &fakeHead{name: name, logChunks: make(chan string), uploaded: make(chan int64, 1024)}
	mux := http.NewServeMux()
	writeJSON := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("GET /api/version", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]string{"version": "4", "ray_version": "2.47.1", "ray_commit": "c0ffee", "head": name})
	})
	mux.HandleFunc("POST /api/jobs/", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Entrypoint   string `json:"entrypoint"`
			SubmissionID string `json:"submission_id"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Entrypoint == "" {
			http.Error(w, "bad job", http.StatusBadRequest)
			return
		}
		writeJSON(w, map[string]string{"job_id": "02000000", "submission_id": req.SubmissionID})
	})
	mux.HandleFunc("GET /api/jobs/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, []map[string]string{{"submission_id": "raysubmit_1", "status": "RUNNING", "head": name}})
	})
	mux.HandleFunc("GET /api/jobs/{id}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]string{"submission_id": r.PathValue("id"), "status": "RUNNING", "head": name})
	})
	mux.HandleFunc("POST /api/jobs/{id}/stop", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]bool{"stopped": true})
	})
	mux.HandleFunc("GET /api/jobs/{id}/logs", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]string{"logs": "hello from " + name + "\n"})
	})
	upgrader := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	mux.HandleFunc("GET /api/jobs/{id}/logs/tail", func(w http.ResponseWriter, r *http.Request) {
		ws, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		if err := ws.WriteMessage(websocket.TextMessage, []byte(name+" line 1\n")); err != nil {
			return
		}
		for {
			kind, msg, err := ws.ReadMessage()
			if err != nil {
				return
			}
			if err := ws.WriteMessage(kind, append([]byte(name+" echo: "), msg...)); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("GET /api/v0/logs/stream", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		_ = rc.Flush()
		for {
			select {
			case chunk, ok := <-h.logChunks:
				if !ok {
					return
				}
				if _, err := io.WriteString(w, chunk); err != nil {
					return
				}
				if err := rc.Flush(); err != nil {
					return
				}
			case <-r.Context().Done():
				return
			}
		}
	})
	mux.HandleFunc("GET /api/packages/{protocol}/{name}", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no such package", http.StatusNotFound)
	})
	mux.HandleFunc("PUT /api/packages/{protocol}/{name}", func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 64<<10)
		var n int64
		for {
			m, err := r.Body.Read(buf)
			n += int64(m)
			if m > 0 {
				select {
				case h.uploaded <- n:
				default:
				}
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				return
			}
		}
		writeJSON(w, map[string]int64{"bytes": n})
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!doctype html><title>Ray Dashboard %s</title><script src="./static/js/main.js"></script>`, name)
	})
	mux.HandleFunc("GET /redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/static/x?a=1", http.StatusFound)
	})
	mux.HandleFunc("GET /absredirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://"+r.Host+"/static/y", http.StatusFound)
	})
	mux.HandleFunc("GET /elsewhere", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://docs.ray.io/en/latest/", http.StatusFound)
	})
	mux.HandleFunc("GET /setcookie", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "theme", Value: "dark", Path: "/", Domain: "127.0.0.1"})
		http.SetCookie(w, &http.Cookie{Name: "recent", Value: "1"})
		http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "forged", Path: "/"})
		w.WriteHeader(http.StatusNoContent)
	})
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.seen = append(h.seen, seenRequest{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone()})
		h.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *fakeHead) addr() string { return strings.TrimPrefix(h.srv.URL, "http://") }

func (h *fakeHead) requests() []seenRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]seenRequest(nil), h.seen...)
}

// assertClean fails the test if any request the head saw carried a gateway
// credential: the ray-token header, a token query parameter, the gateway's
// cookie, Ray's cookie, or an Authorization other than want.
func (h *fakeHead) assertClean(t *testing.T, wantAuthorization string) {
	t.Helper()
	for _, r := range h.requests() {
		if v := r.Header.Values(tokenHeader); len(v) > 0 {
			t.Errorf("%s got ray-token %q on %s", h.name, v, r.Path)
		}
		if strings.Contains(r.RawQuery, "token") {
			t.Errorf("%s got query %q on %s", h.name, r.RawQuery, r.Path)
		}
		for _, c := range r.Header.Values("Cookie") {
			if strings.Contains(c, sessionCookie) || strings.Contains(c, rayAuthCookie) {
				t.Errorf("%s got cookie %q on %s", h.name, c, r.Path)
			}
		}
		if got := r.Header.Get("Authorization"); got != wantAuthorization {
			t.Errorf("%s got Authorization %q on %s, want %q", h.name, got, r.Path, wantAuthorization)
		}
		if got := r.Header.Get("X-Ray-Authorization"); got != "" {
			t.Errorf("%s got X-Ray-Authorization %q on %s", h.name, got, r.Path)
		}
	}
}

// env is a gateway in front of two clusters, A and B, each with a fake head.
type env struct {
	fleet  *fleet
	headA  *fakeHead
	headB  *fakeHead
	a, b   *fakeCluster
	url    string // the gateway's base URL
	client *http.Client
}

const (
	tokenA = "0123456789abcdef0123456789abcdef"
	tokenB = "fedcba9876543210fedcba9876543210"
)

func testLogger(t *testing.T) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(w.end)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// testWriter logs to t until t ends; a server goroutine that logs after
// that (a handler still unwinding) is dropped, as t must not be used then.
type testWriter struct {
	mu    sync.Mutex
	t     *testing.T
	ended bool
}

func (w *testWriter) end() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ended = true
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.ended {
		w.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

// newEnv starts the gateway's HTTP side, with cfg's limits (Lookup and
// Logger are filled in).
func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	e := &env{fleet: newFleet(), headA: newFakeHead(t, "A"), headB: newFakeHead(t, "B")}
	e.a = e.fleet.add(&fakeCluster{ws: "w-aaaaaaaaaaaaaaaa", id: "ray-aaaaaaaaaaaaaaaa", token: tokenA, dashboard: e.headA.addr()})
	e.b = e.fleet.add(&fakeCluster{ws: "w-bbbbbbbbbbbbbbbb", id: "ray-bbbbbbbbbbbbbbbb", token: tokenB, dashboard: e.headB.addr()})
	if c, ok := cfg.Lookup.(*countingLookup); ok {
		c.inner = e.fleet.lookup()
	} else {
		cfg.Lookup = e.fleet.lookup()
	}
	cfg.Logger = testLogger(t)
	e.url = serve(t, cfg)
	e.client = &http.Client{
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return e
}

// jobURL is the cluster's jobUrl, as the service builds it.
func (e *env) jobURL(c *fakeCluster) string {
	return e.url + "/workspace/" + c.ws + "/raycluster/" + c.id
}

func (e *env) do(t *testing.T, method, url, token string, body io.Reader) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("ray-token", token)
	}
	res, err := e.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return res
}

// decode reads res's JSON body into a new V.
func decode[V any](t *testing.T, res *http.Response) V {
	t.Helper()
	var v V
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

type errorBody struct{ Code, Message string }

// wantError checks an error answer of the gateway.
func wantError(t *testing.T, res *http.Response, status int, code string) {
	t.Helper()
	if res.StatusCode != status {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("status %d (%s), want %d", res.StatusCode, b, status)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want JSON", ct)
	}
	body := decode[errorBody](t, res)
	if body.Code != code || body.Message == "" {
		t.Errorf("body %+v, want Code %q and a message", body, code)
	}
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// serve serves the gateway's HTTP side as rayfleet does (NewHTTPServer on
// a LimitListener) on loopback, and returns its URL.
func serve(t testing.TB, cfg Config) string {
	_, url := startServer(t, cfg)
	return url
}

func startServer(t testing.TB, cfg Config) (*http.Server, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewHTTPServer(cfg)
	// The gateway's goroutines carry side=gateway, so a profile can be
	// narrowed to them: go tool pprof -tagfocus side=gateway.
	pprof.Do(context.Background(), pprof.Labels("side", "gateway"), func(context.Context) {
		go func() { _ = srv.Serve(LimitListener(cfg, l)) }()
	})
	t.Cleanup(func() { srv.Close() })
	return srv, "http://" + l.Addr().String()
}
