package gateway

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// countingLookup counts the calls to the Lookup the test env fills in.
type countingLookup struct {
	inner                               Lookup
	authorizations, upstream, rayTokens atomic.Int64
}

func (c *countingLookup) Authorize(ctx context.Context, r Request) (Grant, Verdict, error) {
	c.authorizations.Add(1)
	return c.inner.Authorize(ctx, r)
}

func (c *countingLookup) Upstream(ctx context.Context, ws, id string) (string, string, bool) {
	c.upstream.Add(1)
	return c.inner.Upstream(ctx, ws, id)
}

func (c *countingLookup) UpstreamToken(ctx context.Context, ws, id string) (string, error) {
	c.rayTokens.Add(1)
	return c.inner.UpstreamToken(ctx, ws, id)
}

// With a cache, a credential's requests cost one lookup per TTL; another
// credential is looked up at once, so a restarted cluster's new token
// works; a wrong token never passes, and is never remembered.
func TestLookupCache(t *testing.T) {
	lookups := &countingLookup{}
	rev := NewRevocations()
	e := newEnv(t, Config{Lookup: lookups, LookupCacheTTL: time.Hour, Revocations: rev})
	base := e.jobURL(e.a)
	for range 20 {
		if res := e.do(t, "GET", base+"/api/version", tokenA, nil); res.StatusCode != http.StatusOK {
			t.Fatalf("version: %d", res.StatusCode)
		}
	}
	if n, u, r := lookups.authorizations.Load(), lookups.upstream.Load(), lookups.rayTokens.Load(); n != 1 || u != 1 || r != 1 {
		t.Fatalf("20 requests cost %d authorizations, %d upstream and %d Ray token lookups, want 1 each", n, u, r)
	}
	// Another cluster's token on A's path: refused, though A is cached.
	for range 2 {
		if res := e.do(t, "GET", base+"/api/version", tokenB, nil); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("B's token on A: %d", res.StatusCode)
		}
	}
	// A wrong token is asked about each time.
	before := lookups.authorizations.Load()
	for range 2 {
		if res := e.do(t, "GET", base+"/api/version", "0123456789abcdef0123456789abcdee", nil); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("a wrong token: %d", res.StatusCode)
		}
	}
	if n := lookups.authorizations.Load() - before; n != 2 {
		t.Fatalf("two requests with a wrong token cost %d authorizations, want 2", n)
	}
	// A restart: the new token passes at once; the old one once the
	// revocation says so.
	const newToken = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"
	e.fleet.update(e.a.ws, e.a.id, func(c *fakeCluster) { c.token = newToken })
	if res := e.do(t, "GET", base+"/api/version", newToken, nil); res.StatusCode != http.StatusOK {
		t.Fatalf("the new token: %d", res.StatusCode)
	}
	rev.Revoke(e.a.ws, e.a.id)
	if res := e.do(t, "GET", base+"/api/version", tokenA, nil); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the old token after a restart: %d", res.StatusCode)
	}
	if n := len(e.headA.requests()); n != 21 {
		t.Fatalf("head A saw %d requests, want 21", n)
	}
	if n := len(e.headB.requests()); n != 0 {
		t.Fatalf("head B saw %d requests", n)
	}
}

// A stopped cluster's token stops working once its entry expires.
func TestLookupCacheExpires(t *testing.T) {
	const ttl = 200 * time.Millisecond
	e := newEnv(t, Config{LookupCacheTTL: ttl})
	base := e.jobURL(e.a)
	if res := e.do(t, "GET", base+"/api/version", tokenA, nil); res.StatusCode != http.StatusOK {
		t.Fatalf("version: %d", res.StatusCode)
	}
	stopped := time.Now()
	e.fleet.update(e.a.ws, e.a.id, func(c *fakeCluster) { c.token, c.running = "", false })
	for {
		res := e.do(t, "GET", base+"/api/version", tokenA, nil)
		if res.StatusCode == http.StatusUnauthorized {
			break
		}
		if res.StatusCode != http.StatusOK || time.Since(stopped) > ttl+time.Second {
			t.Fatalf("%s after the stop: %d", time.Since(stopped), res.StatusCode)
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
}

// The Ray client listener caches by token hash: a second call costs no
// lookup; a stopped cluster's token is refused once its entry expires.
func TestGRPCLookupCache(t *testing.T) {
	lookups := &countingLookup{}
	const ttl = 300 * time.Millisecond
	e := newGRPCEnv(t, Config{Lookup: lookups, LookupCacheTTL: ttl})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	call := func(token string) error {
		callCtx := metadata.AppendToOutgoingContext(ctx, "ray-token", token)
		in, out := []byte("ping"), []byte(nil)
		return e.conn.Invoke(callCtx, "/ray.rpc.RayletDriver/ClusterInfo", &in, &out, grpc.ForceCodecV2(rawCodec{}))
	}
	for range 2 {
		if err := call(tokenA); err != nil {
			t.Fatal(err)
		}
	}
	if n := lookups.authorizations.Load(); n != 1 {
		t.Fatalf("2 calls cost %d authorizations, want 1", n)
	}
	if err := call(tokenB); err != nil {
		t.Fatal(err)
	}
	if a, b := len(e.srvA.seen()), len(e.srvB.seen()); a != 2 || b != 1 {
		t.Fatalf("heads saw %d and %d calls, want 2 and 1", a, b)
	}
	stopped := time.Now()
	e.fleet.update(e.a.ws, e.a.id, func(c *fakeCluster) { c.token = "" })
	for {
		err := call(tokenA)
		if status.Code(err) == codes.Unauthenticated {
			break
		}
		// A call still open when the gateway checks open calls again
		// (every TTL) is cut, Unavailable; the next one is refused.
		if err != nil && status.Code(err) != codes.Unavailable || time.Since(stopped) > ttl+time.Second {
			t.Fatalf("%s after the stop: %v", time.Since(stopped), err)
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
}

// With Revocations, a revoked token is refused by the very next request,
// however long the TTL, and that request reaches no head; the cluster's
// new token works once it is running again.
func TestRevocationsHTTP(t *testing.T) {
	rev := NewRevocations()
	e := newEnv(t, Config{LookupCacheTTL: time.Hour, Revocations: rev})
	base := e.jobURL(e.a)
	if res := e.do(t, "GET", base+"/api/version", tokenA, nil); res.StatusCode != http.StatusOK {
		t.Fatalf("version: %d", res.StatusCode)
	}
	e.fleet.update(e.a.ws, e.a.id, func(c *fakeCluster) { c.token, c.running = "", false })
	rev.Revoke(e.a.ws, e.a.id)
	if res := e.do(t, "GET", base+"/api/version", tokenA, nil); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the revoked token: %d, want 401", res.StatusCode)
	}
	if n := len(e.headA.requests()); n != 1 {
		t.Fatalf("head A saw %d requests, want 1 (before the revocation)", n)
	}
	// Another cluster's entry is not touched.
	if res := e.do(t, "GET", e.jobURL(e.b)+"/api/version", tokenB, nil); res.StatusCode != http.StatusOK {
		t.Fatalf("B: %d", res.StatusCode)
	}
}

func TestRevocationsGRPC(t *testing.T) {
	rev := NewRevocations()
	e := newGRPCEnv(t, Config{LookupCacheTTL: time.Hour, Revocations: rev})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	call := func(token string) error {
		callCtx := metadata.AppendToOutgoingContext(ctx, "ray-token", token)
		in, out := []byte("ping"), []byte(nil)
		return e.conn.Invoke(callCtx, "/ray.rpc.RayletDriver/ClusterInfo", &in, &out, grpc.ForceCodecV2(rawCodec{}))
	}
	if err := call(tokenA); err != nil {
		t.Fatal(err)
	}
	e.fleet.update(e.a.ws, e.a.id, func(c *fakeCluster) { c.token = "" })
	rev.Revoke(e.a.ws, e.a.id)
	if err := call(tokenA); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("the revoked token: %v, want Unauthenticated", err)
	}
	if n := len(e.srvA.seen()); n != 1 {
		t.Fatalf("head A saw %d calls, want 1 (before the revocation)", n)
	}
}

// A lookup that began before a revocation may have read what was revoked:
// what it found is served once but not cached.
func TestRevokeDuringLookup(t *testing.T) {
	c := newRouteCache(time.Hour)
	now := time.Now()
	k1, k2 := grantKey{tokenHash: "h1", door: DoorJobAPI}, grantKey{tokenHash: "h2", door: DoorJobAPI}
	g := Grant{Workspace: "w-1", Cluster: "c-1", User: "u"}
	gen := c.generation()
	c.forget(func(g *Grant) bool { return g.User == "u" }) // the revocation lands while the lookup is under way
	c.put(&clusterRoute{key: k1, grant: g}, gen, now)
	if e := c.get(k1, now); e != nil {
		t.Fatalf("an entry looked up before the revocation was cached: %+v", e)
	}
	c.put(&clusterRoute{key: k2, grant: g}, c.generation(), now)
	if e := c.get(k2, now); e == nil {
		t.Fatal("an entry looked up after the revocation was not cached")
	}
	// An entry lasts no longer than its credential.
	g.Expires = now.Add(time.Minute)
	c.put(&clusterRoute{key: k1, grant: g}, c.generation(), now)
	if c.get(k1, now.Add(59*time.Second)) == nil || c.get(k1, now.Add(61*time.Second)) != nil {
		t.Fatal("an entry outlives its credential, or ends before it")
	}
}

// With Revocations, what is open with a revoked token is cut at once: a
// WebSocket and a log stream, while another cluster's stream goes on.
func TestRevocationsCutOpenHTTPStreams(t *testing.T) {
	rev := NewRevocations()
	e := newEnv(t, Config{LookupCacheTTL: time.Hour, Revocations: rev})
	wsURL := "ws" + strings.TrimPrefix(e.jobURL(e.a), "http") + "/api/jobs/raysubmit_1/logs/tail"
	ws, res, err := websocket.DefaultDialer.Dial(wsURL, http.Header{"ray-token": {tokenA}})
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, res)
	}
	defer ws.Close()
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, msg, err := ws.ReadMessage(); err != nil || string(msg) != "A line 1\n" {
		t.Fatalf("first message %q, %v", msg, err)
	}
	// A's log stream, and B's.
	stream := func(c *fakeCluster, h *fakeHead, token string) *bufio.Reader {
		res := e.do(t, "GET", e.jobURL(c)+"/dashboard/api/v0/logs/stream?filename=job.log", token, nil)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("stream: %d", res.StatusCode)
		}
		r := bufio.NewReader(res.Body)
		for _, chunk := range []string{"one\n", "two\n"} {
			h.logChunks <- chunk
			if line, err := r.ReadString('\n'); err != nil || line != chunk {
				t.Fatalf("stream chunk %q %v", line, err)
			}
		}
		return r
	}
	logA, logB := stream(e.a, e.headA, tokenA), stream(e.b, e.headB, tokenB)

	rev.Revoke(e.a.ws, e.a.id)
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	var netErr net.Error
	if _, msg, err := ws.ReadMessage(); err == nil || errors.As(err, &netErr) && netErr.Timeout() {
		t.Fatalf("the WebSocket goes on after the revocation: %q %v", msg, err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(logA)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("A's log stream ended as if whole")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("A's log stream goes on after the revocation")
	}
	e.headB.logChunks <- "three\n"
	if line, err := logB.ReadString('\n'); err != nil || line != "three\n" {
		t.Fatalf("B's stream after A's revocation: %q %v", line, err)
	}
}

// With Revocations, a Ray client stream open with a revoked token ends,
// and another cluster's stream on the same client connection goes on.
func TestRevocationsCutOpenGRPCStreams(t *testing.T) {
	rev := NewRevocations()
	e := newGRPCEnv(t, Config{LookupCacheTTL: time.Hour, Revocations: rev})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	open := func(token string) grpc.ClientStream {
		callCtx := metadata.AppendToOutgoingContext(ctx, "ray-token", token)
		cs, err := e.conn.NewStream(callCtx, bidi, "/ray.rpc.RayletDataStreamer/Datapath", grpc.ForceCodecV2(rawCodec{}))
		if err != nil {
			t.Fatal(err)
		}
		echo(t, cs, "init")
		return cs
	}
	a, b := open(tokenA), open(tokenB)
	rev.Revoke(e.a.ws, e.a.id)
	ended := make(chan error, 1)
	go func() {
		var got []byte
		ended <- a.RecvMsg(&got)
	}()
	select {
	case err := <-ended:
		if err == nil || errors.Is(err, io.EOF) {
			t.Fatalf("A's stream after the revocation: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("A's stream goes on after the revocation")
	}
	echo(t, b, "after")
}

// echo sends m on cs and reads the fake head's echo of it.
func echo(t *testing.T, cs grpc.ClientStream, m string) {
	t.Helper()
	msg := []byte(m)
	if err := cs.SendMsg(&msg); err != nil {
		t.Fatalf("send: %v", err)
	}
	var got []byte
	if err := cs.RecvMsg(&got); err != nil || !strings.HasSuffix(string(got), " echo: "+m) {
		t.Fatalf("recv %q: %v", got, err)
	}
}
