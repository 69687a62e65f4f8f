package gateway

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Credentials of users besides the clusters' owners.
const (
	tokenDash  = "d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0"
	tokenJobs  = "10b510b510b510b510b510b510b510b5"
	tokenAll   = "a11a11a11a11a11a11a11a11a11a11a1"
	tokenOther = "07e007e007e007e007e007e007e007e0"
)

var everyDoor = []Door{DoorDashboard, DoorJobAPI, DoorRayClient}

// TestDoorsByPolicy: a credential opens the doors its user may use and no
// other, on its own cluster only: the dashboard's path for the dashboard,
// the job API's path (and the job API's writes through the dashboard's
// path) for the job API, whatever the spelling of the path.
func TestDoorsByPolicy(t *testing.T) {
	e := newEnv(t, Config{LookupCacheTTL: time.Hour})
	e.fleet.credential(tokenDash, func(c *fakeCred) { c.ws, c.id, c.user, c.doors = e.a.ws, e.a.id, "dana", []Door{DoorDashboard} })
	e.fleet.credential(tokenJobs, func(c *fakeCred) { c.ws, c.id, c.user, c.doors = e.a.ws, e.a.id, "joe", []Door{DoorJobAPI} })
	base := e.jobURL(e.a)
	submit := func() io.Reader { return strings.NewReader(`{"entrypoint":"echo hi"}`) }
	for _, tt := range []struct {
		name, method, path, token string
		body                      func() io.Reader
		want                      int
		code                      string
	}{
		{"dashboard with the dashboard's credential", "GET", "/dashboard/", tokenDash, nil, 200, ""},
		{"the dashboard's reads of jobs", "GET", "/dashboard/api/jobs/", tokenDash, nil, 200, ""},
		{"the job API with the dashboard's credential", "GET", "/api/version", tokenDash, nil, 401, codeNotAllowed},
		{"a job submitted through the dashboard's path", "POST", "/dashboard/api/jobs/", tokenDash, submit, 401, codeNotAllowed},
		{"a job stopped through the dashboard's path", "POST", "/dashboard/api/jobs/raysubmit_1/stop", tokenDash, nil, 401, codeNotAllowed},
		{"a job submitted through a dashboard path spelt otherwise", "POST", "/dashboard//api/./jobs/", tokenDash, submit, 401, codeNotAllowed},
		{"a job submitted through an escaped dashboard path", "POST", "/dashboard/api%2Fjobs/", tokenDash, submit, 401, codeNotAllowed},
		{"a package uploaded through the dashboard's path", "PUT", "/dashboard/api/packages/gcs/_ray_pkg_1.zip", tokenDash, submit, 401, codeNotAllowed},
		{"the job API with the job API's credential", "GET", "/api/version", tokenJobs, nil, 200, ""},
		{"a job submitted with the job API's credential", "POST", "/api/jobs/", tokenJobs, submit, 200, ""},
		{"the job API's writes through the dashboard's path", "POST", "/dashboard/api/jobs/", tokenJobs, submit, 200, ""},
		{"the dashboard with the job API's credential", "GET", "/dashboard/", tokenJobs, nil, 401, codeNotAllowed},
		{"the dashboard's reads with the job API's credential", "GET", "/dashboard/api/jobs/", tokenJobs, nil, 401, codeNotAllowed},
		{"another cluster's path", "GET", "", tokenJobs, nil, 401, codeInvalidToken},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u := base + tt.path
			if tt.path == "" {
				u = e.jobURL(e.b) + "/api/version"
			}
			var body io.Reader
			if tt.body != nil {
				body = tt.body()
			}
			before := len(e.headA.requests()) + len(e.headB.requests())
			res := e.do(t, tt.method, u, tt.token, body)
			if tt.want != 200 {
				wantError(t, res, tt.want, tt.code)
				if n := len(e.headA.requests()) + len(e.headB.requests()); n != before {
					t.Fatal("the refused request reached a head")
				}
				return
			}
			if res.StatusCode != http.StatusOK {
				b, _ := io.ReadAll(res.Body)
				t.Fatalf("%d %s", res.StatusCode, b)
			}
		})
	}

	// The Ray client endpoint is a door of its own.
	g := newGRPCEnv(t, Config{})
	g.fleet.credential(tokenDash, func(c *fakeCred) {
		c.ws, c.id, c.user, c.doors = g.a.ws, g.a.id, "dana", []Door{DoorDashboard, DoorJobAPI}
	})
	g.fleet.credential(tokenAll, func(c *fakeCred) { c.ws, c.id, c.user, c.doors = g.a.ws, g.a.id, "al", everyDoor })
	if err := clientCall(t, g.conn, tokenDash); status.Code(err) != codes.Unauthenticated || !strings.Contains(status.Convert(err).Message(), "may not use") {
		t.Fatalf("the Ray client without its door: %v", err)
	}
	if err := clientCall(t, g.conn, tokenAll); err != nil {
		t.Fatalf("the Ray client with its door: %v", err)
	}
	if n := len(g.srvA.seen()); n != 1 {
		t.Fatalf("head A saw %d calls, want 1", n)
	}
}

// clientCall makes one Ray client call with token.
func clientCall(t *testing.T, conn *grpc.ClientConn, token string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "ray-token", token)
	in, out := []byte("ping"), []byte(nil)
	return conn.Invoke(ctx, "/ray.rpc.RayletDriver/ClusterInfo", &in, &out, grpc.ForceCodecV2(rawCodec{}))
}

// A dashboard session is bound to its credential: it works while the
// credential does and ends with it, and the cookie holds the credential's
// hash, never the token.
func TestSessionBoundToCredential(t *testing.T) {
	rev := NewRevocations()
	e := newEnv(t, Config{LookupCacheTTL: time.Hour, Revocations: rev})
	e.fleet.credential(tokenDash, func(c *fakeCred) {
		c.ws, c.id, c.user, c.key, c.doors = e.a.ws, e.a.id, "dana", "key-dana", []Door{DoorDashboard}
	})
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	res, err := browser.Get(e.jobURL(e.a) + "/dashboard/?token=" + tokenDash)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("dashboard with its token: %d", res.StatusCode)
	}
	for _, c := range jar.Cookies(res.Request.URL) {
		if c.Name == sessionCookie && (strings.Contains(c.Value, tokenDash) || !strings.HasPrefix(c.Value, hashToken(tokenDash)+".")) {
			t.Fatalf("session cookie %q", c.Value)
		}
	}
	get := func() int {
		t.Helper()
		res, err := browser.Get(e.jobURL(e.a) + "/dashboard/api/version")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := get(); code != http.StatusOK {
		t.Fatalf("with the session: %d", code)
	}
	// The user's policies change: the session ends with the credential's
	// door.
	e.fleet.credential(tokenDash, func(c *fakeCred) { c.doors = nil })
	rev.RevokeUser("", "dana")
	if code := get(); code != http.StatusUnauthorized {
		t.Fatalf("with the session, the user's door gone: %d", code)
	}
	e.fleet.credential(tokenDash, func(c *fakeCred) { c.doors = []Door{DoorDashboard} })
	rev.RevokeUser("", "dana")
	if code := get(); code != http.StatusOK {
		t.Fatalf("with the session, the door back: %d", code)
	}
	// The credential's key disabled: the same.
	e.fleet.credential(tokenDash, func(c *fakeCred) { c.ws = "gone" })
	rev.RevokeKey("", "key-dana")
	if code := get(); code != http.StatusUnauthorized {
		t.Fatalf("with the session, the key gone: %d", code)
	}
}

// openTail opens the WebSocket log tail of c with token and reads its
// first line.
func openTail(t *testing.T, e *env, c *fakeCluster, token string) *websocket.Conn {
	t.Helper()
	wsURL := "ws" + strings.TrimPrefix(e.jobURL(c), "http") + "/api/jobs/raysubmit_1/logs/tail"
	ws, res, err := websocket.DefaultDialer.Dial(wsURL, http.Header{"ray-token": {token}})
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, res)
	}
	t.Cleanup(func() { ws.Close() })
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, _, err := ws.ReadMessage(); err != nil {
		t.Fatalf("first message: %v", err)
	}
	return ws
}

// wantCut waits up to d for ws to end (not merely time out).
func wantCut(t *testing.T, ws *websocket.Conn, d time.Duration, what string) {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(d))
	var netErr net.Error
	if _, msg, err := ws.ReadMessage(); err == nil || errors.As(err, &netErr) && netErr.Timeout() {
		t.Fatalf("%s goes on: %q %v", what, msg, err)
	}
}

// wantOpen checks ws still echoes.
func wantOpen(t *testing.T, ws *websocket.Conn, what string) {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := ws.WriteMessage(websocket.TextMessage, []byte("still there?")); err != nil {
		t.Fatalf("%s: write: %v", what, err)
	}
	if _, msg, err := ws.ReadMessage(); err != nil || !strings.HasSuffix(string(msg), "echo: still there?") {
		t.Fatalf("%s: %q %v", what, msg, err)
	}
}

// With Revocations, a user's or a key's revocation checks what is open
// with their credentials again at once, and cuts only what no longer
// passes: another user's stream on the same cluster goes on, and so does
// the user's own while its policies still let it through.
func TestRevokeUserAndKeyCutOpenStreams(t *testing.T) {
	rev := NewRevocations()
	e := newEnv(t, Config{LookupCacheTTL: time.Hour, Revocations: rev})
	e.fleet.credential(tokenAll, func(c *fakeCred) { c.ws, c.id, c.user, c.key, c.doors = e.a.ws, e.a.id, "al", "key-al", everyDoor })
	e.fleet.credential(tokenOther, func(c *fakeCred) {
		c.ws, c.id, c.user, c.key, c.parentKey, c.doors = e.a.ws, e.a.id, "ola", "STS.ola", "key-ola", everyDoor
	})
	al, ola := openTail(t, e, e.a, tokenAll), openTail(t, e, e.a, tokenOther)

	rev.RevokeUser("", "al") // nothing changed: it still passes
	wantOpen(t, al, "al's stream after a revocation that changed nothing")
	e.fleet.credential(tokenAll, func(c *fakeCred) { c.doors = []Door{DoorDashboard} })
	rev.RevokeUser("", "al")
	wantCut(t, al, 10*time.Second, "al's stream after its job API door went")
	wantOpen(t, ola, "ola's stream after al's revocation")
	// The next request with al's credential is refused, and reaches no head.
	before := len(e.headA.requests())
	wantError(t, e.do(t, "GET", e.jobURL(e.a)+"/api/version", tokenAll, nil), http.StatusUnauthorized, codeNotAllowed)
	if len(e.headA.requests()) != before {
		t.Fatal("the refused request reached the head")
	}

	// A temporary key's credential ends with the key that asked for it.
	e.fleet.credential(tokenOther, func(c *fakeCred) { c.ws = "gone" })
	rev.RevokeKey("", "key-ola")
	wantCut(t, ola, 10*time.Second, "ola's stream after its parent key went")
}

// Without Revocations (a gateway in a process of its own), what is open is
// checked again every TTL and cut once Lookup refuses it; a credential's
// expiry cuts what is open with it then.
func TestOpenStreamsCheckedEveryTTL(t *testing.T) {
	const ttl = 200 * time.Millisecond
	e := newEnv(t, Config{LookupCacheTTL: ttl})
	e.fleet.credential(tokenAll, func(c *fakeCred) { c.ws, c.id, c.user, c.doors = e.a.ws, e.a.id, "al", everyDoor })
	e.fleet.credential(tokenOther, func(c *fakeCred) {
		c.ws, c.id, c.user, c.doors, c.expires = e.a.ws, e.a.id, "ola", everyDoor, time.Now().Add(1500*time.Millisecond)
	})
	al, ola := openTail(t, e, e.a, tokenAll), openTail(t, e, e.a, tokenOther)
	owner := openTail(t, e, e.a, tokenA)

	changed := time.Now()
	e.fleet.credential(tokenAll, func(c *fakeCred) { c.doors = nil })
	wantCut(t, al, 10*time.Second, "al's stream after its doors went")
	if d := time.Since(changed); d > ttl+time.Second {
		t.Fatalf("al's stream was cut %s after its doors went, TTL %s", d, ttl)
	}
	wantCut(t, ola, 10*time.Second, "ola's stream past its credential's expiry")
	if time.Now().Before(changed.Add(time.Second)) {
		t.Fatal("ola's stream was cut before its credential expired")
	}
	wantOpen(t, owner, "the owner's stream")
	if res := e.do(t, "GET", e.jobURL(e.a)+"/api/version", tokenOther, nil); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("an expired credential: %d", res.StatusCode)
	}
}

// The audit log gets what the Auditor is for, once each: dashboard
// sessions, jobs submitted, stopped and deleted (through either path),
// Ray client connections (once per credential per connection), and those
// refused by policy; other requests are not audited.
func TestAuditedRequests(t *testing.T) {
	e := newEnv(t, Config{LookupCacheTTL: time.Hour})
	e.fleet.credential(tokenDash, func(c *fakeCred) { c.ws, c.id, c.user, c.doors = e.a.ws, e.a.id, "dana", []Door{DoorDashboard} })
	e.fleet.credential(tokenJobs, func(c *fakeCred) { c.ws, c.id, c.user, c.doors = e.a.ws, e.a.id, "joe", []Door{DoorJobAPI} })
	base := e.jobURL(e.a)
	jobs := func() io.Reader { return strings.NewReader(`{"entrypoint":"echo hi"}`) }
	e.do(t, "GET", base+"/dashboard/?token="+tokenDash, "", nil)
	e.do(t, "GET", base+"/dashboard/?token="+tokenJobs, "", nil) // refused
	e.do(t, "GET", base+"/api/version", tokenJobs, nil)
	e.do(t, "GET", base+"/api/jobs/", tokenJobs, nil)
	e.do(t, "POST", base+"/api/jobs/", tokenJobs, jobs())
	e.do(t, "POST", base+"/dashboard/api/jobs/", tokenJobs, jobs())
	e.do(t, "POST", base+"/api/jobs/raysubmit_1/stop", tokenJobs, nil)
	e.do(t, "DELETE", base+"/api/jobs/raysubmit_1", tokenJobs, nil)
	e.do(t, "POST", base+"/dashboard/api/jobs/", tokenDash, jobs()) // refused
	var got []string
	for _, ev := range e.fleet.audited() {
		s := ev.Grant.User + " " + ev.Door.String() + " " + ev.What
		if ev.Refused {
			s += " refused"
		}
		if ev.Grant.Workspace != e.a.ws || ev.Grant.Cluster != e.a.id || ev.SourceIP != "127.0.0.1" {
			t.Errorf("event %+v", ev)
		}
		got = append(got, s)
	}
	want := []string{
		"dana dashboard dashboard session",
		"joe dashboard dashboard session refused",
		"joe job API submit a job (POST /api/jobs/)",
		"joe job API submit a job (POST /api/jobs/)",
		"joe job API stop a job (POST /api/jobs/raysubmit_1/stop)",
		"joe job API delete a job (DELETE /api/jobs/raysubmit_1)",
		"dana job API submit a job (POST /api/jobs/) refused",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("audited\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	g := newGRPCEnv(t, Config{LookupCacheTTL: time.Hour})
	g.fleet.credential(tokenAll, func(c *fakeCred) { c.ws, c.id, c.user, c.doors = g.a.ws, g.a.id, "al", everyDoor })
	g.fleet.credential(tokenDash, func(c *fakeCred) { c.ws, c.id, c.user, c.doors = g.a.ws, g.a.id, "dana", []Door{DoorDashboard} })
	for range 3 {
		if err := clientCall(t, g.conn, tokenAll); err != nil {
			t.Fatal(err)
		}
	}
	_ = clientCall(t, g.conn, tokenDash)
	_ = clientCall(t, g.conn, tokenDash)
	second, err := grpc.NewClient(g.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if err := clientCall(t, second, tokenAll); err != nil {
		t.Fatal(err)
	}
	got = nil
	for _, ev := range g.fleet.audited() {
		s := ev.Grant.User + " " + ev.Door.String() + " " + ev.What
		if ev.Refused {
			s += " refused"
		}
		got = append(got, s)
	}
	want = []string{
		"al Ray client endpoint Ray client connection",
		"dana Ray client endpoint Ray client connection refused",
		"al Ray client endpoint Ray client connection",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("audited\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// doorOf and auditedRequest classify every spelling of a path as the head
// would route it.
func TestDoorAndAuditOfPaths(t *testing.T) {
	for _, tt := range []struct {
		method, path string
		door         Door
		audited      string
	}{
		{"GET", "/workspace/w/raycluster/r/dashboard/", DoorDashboard, ""},
		{"GET", "/workspace/w/raycluster/r/dashboard/api/jobs/", DoorDashboard, ""},
		{"POST", "/workspace/w/raycluster/r/dashboard/api/actors/kill", DoorDashboard, ""},
		{"POST", "/workspace/w/raycluster/r/dashboard/api/jobs/", DoorJobAPI, "submit a job (POST /api/jobs/)"},
		{"POST", "/workspace/w/raycluster/r/dashboard/api/jobs", DoorJobAPI, "submit a job (POST /api/jobs)"},
		{"POST", "/workspace/w/raycluster/r/dashboard//api//jobs/", DoorJobAPI, "submit a job (POST //api//jobs/)"},
		{"POST", "/workspace/w/raycluster/r/dashboard/x/../api/jobs/", DoorJobAPI, "submit a job (POST /x/../api/jobs/)"},
		{"POST", "/workspace/w/raycluster/r/dashboard/api%2Fjobs%2F", DoorJobAPI, "submit a job (POST /api%2Fjobs%2F)"},
		{"PUT", "/workspace/w/raycluster/r/dashboard/api/packages/gcs/x.zip", DoorJobAPI, ""},
		{"POST", "/workspace/w/raycluster/r/dashboard/api/jobsx", DoorDashboard, ""},
		{"GET", "/workspace/w/raycluster/r/api/version", DoorJobAPI, ""},
		{"GET", "/workspace/w/raycluster/r/api/jobs/", DoorJobAPI, ""},
		{"POST", "/workspace/w/raycluster/r/api/jobs/raysubmit_1/stop", DoorJobAPI, "stop a job (POST /api/jobs/raysubmit_1/stop)"},
		{"POST", "/workspace/w/raycluster/r/api/jobs/raysubmit_1/logs", DoorJobAPI, ""},
		{"DELETE", "/workspace/w/raycluster/r/api/jobs/raysubmit_1", DoorJobAPI, "delete a job (DELETE /api/jobs/raysubmit_1)"},
		{"DELETE", "/workspace/w/raycluster/r/api/jobs/", DoorJobAPI, ""},
	} {
		rt, ok := parseRoute(tt.path)
		if !ok {
			t.Fatalf("%s: not a route", tt.path)
		}
		if d := doorOf(&rt, tt.method); d != tt.door {
			t.Errorf("%s %s: door %s, want %s", tt.method, tt.path, d, tt.door)
		}
		if a := auditedRequest(tt.method, &rt); a != tt.audited {
			t.Errorf("%s %s: audited %q, want %q", tt.method, tt.path, a, tt.audited)
		}
	}
}
