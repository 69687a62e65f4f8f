package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

// echoHead answers every request with what it got: method, target, host
// and headers.
func echoHead(t *testing.T) *httptest.Server {
	t.Helper()
	h := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Head", "echo")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"method": r.Method, "uri": r.RequestURI, "host": r.Host, "header": r.Header, "body": string(body),
		})
	}))
	t.Cleanup(h.Close)
	return h
}

const (
	paritySessionKey = "0123456789abcdef0123456789abcdef"
	parityBase       = "/workspace/w-aaaaaaaaaaaaaaaa/raycluster/ray-aaaaaaaaaaaaaaaa"
)

// rawExchange sends raw on a new connection to addr and reads one response
// (method tells it whether a body follows).
func rawExchange(t *testing.T, addr, raw, method string) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return res, body
}

// The fast path answers every request exactly as net/http with NewHTTP's
// handler does (status, headers but Date, body, and what the head gets),
// and takes the requests it is meant to take.
func TestFastPathAnswersAsNetHTTP(t *testing.T) {
	head := echoHead(t)
	f := newFleet()
	f.add(&fakeCluster{ws: "w-aaaaaaaaaaaaaaaa", id: "ray-aaaaaaaaaaaaaaaa", token: tokenA, dashboard: head.Listener.Addr().String()})
	cfg := Config{Lookup: f.lookup(), Logger: testLogger(t), SessionKey: []byte(paritySessionKey)}
	fast, fastURL := startFast(t, cfg)
	fastAddr := strings.TrimPrefix(fastURL, "http://")
	fullAddr := strings.TrimPrefix(serveFull(t, cfg), "http://")
	session := sessionValue([]byte(paritySessionKey), "w-aaaaaaaaaaaaaaaa", "ray-aaaaaaaaaaaaaaaa", hashToken(tokenA))

	B, T := parityBase, tokenA
	for _, tc := range []struct {
		name string
		raw  string
		fast bool // served by the fast path, not handed over
	}{
		{"GET", "GET " + B + "/api/version HTTP/1.1\r\nHost: gw\r\nRay-Token: " + T + "\r\n\r\n", true},
		{"HEAD", "HEAD " + B + "/api/version HTTP/1.1\r\nHost: gw\r\nRay-Token: " + T + "\r\n\r\n", true},
		{"lower-case names, padded value, query", "GET " + B + "/api/jobs/?limit=5&x=%20y&b=c|d HTTP/1.1\r\nhost: gw\r\nray-token:   " + T + "  \r\nuser-agent: x\r\naccept: */*\r\n\r\n", true},
		{"dashboard asset", "GET " + B + "/dashboard/static/js/main.js HTTP/1.1\r\nHost: gw\r\nRay-Token: " + T + "\r\n\r\n", true},
		{"no token", "GET " + B + "/api/version HTTP/1.1\r\nHost: gw\r\n\r\n", true},
		{"no token, HEAD", "HEAD " + B + "/api/version HTTP/1.1\r\nHost: gw\r\n\r\n", true},
		{"wrong token", "GET " + B + "/api/version HTTP/1.1\r\nHost: gw\r\nRay-Token: " + tokenB + "\r\n\r\n", true},
		{"wrong token first", "GET " + B + "/api/version HTTP/1.1\r\nHost: gw\r\nRay-Token: " + tokenB + "\r\nRay-Token: " + T + "\r\n\r\n", true},
		{"empty token, then the session cookie", "GET " + B + "/dashboard/api/cluster_status HTTP/1.1\r\nHost: gw\r\nRay-Token: \r\nCookie: a=1; " + sessionCookie + "=" + session + "\r\n\r\n", true},
		{"session cookie", "GET " + B + "/dashboard/ HTTP/1.1\r\nHost: gw\r\nCookie: " + sessionCookie + "=" + session + "; b=2\r\nCookie: c=3\r\n\r\n", true},
		{"forged session cookie", "GET " + B + "/dashboard/ HTTP/1.1\r\nHost: gw\r\nCookie: " + sessionCookie + "=forged\r\n\r\n", true},
		{"credentials and hop-by-hop headers", "GET " + B + "/api/version HTTP/1.1\r\nHost: gw\r\nRay-Token: " + T +
			"\r\nKeep-Alive: timeout=5\r\nProxy-Authorization: Basic eDp5\r\nProxy-Connection: keep-alive\r\nTrailer: X-Sum" +
			"\r\nAuthorization: Bearer other\r\nX-Ray-Authorization: Bearer other\r\nX-Forwarded-For: 10.0.0.1\r\nForwarded: for=10.0.0.1" +
			"\r\nX-Forwarded-Host: evil\r\nX-Forwarded-Proto: https\r\nCookie: " + rayAuthCookie + "=stolen; kept=1\r\nX-Kept: yes\r\n\r\n", true},
		{"Connection: close", "GET " + B + "/api/version HTTP/1.1\r\nHost: gw\r\nConnection: keep-alive, close\r\nRay-Token: " + T + "\r\n\r\n", true},
		{"Content-Length: 0", "GET " + B + "/api/version HTTP/1.1\r\nHost: gw\r\nContent-Length: 0\r\nRay-Token: " + T + "\r\n\r\n", true},
		{"head not running", "GET /workspace/w-aaaaaaaaaaaaaaaa/raycluster/ray-unknown/api/version HTTP/1.1\r\nHost: gw\r\nRay-Token: " + T + "\r\n\r\n", true},

		{"token in the query of the job API", "GET " + B + "/api/version?token=" + T + "&a=1 HTTP/1.1\r\nHost: gw\r\nRay-Token: " + T + "\r\n\r\n", true},
		{"token in the query of the job API alone", "GET " + B + "/api/version?token=" + T + " HTTP/1.1\r\nHost: gw\r\n\r\n", true},
		{"dashboardUrl", "GET " + B + "/dashboard/?token=" + T + " HTTP/1.1\r\nHost: gw\r\n\r\n", true},
		{"dashboardUrl deep, with a query", "GET " + B + "/dashboard/jobs/x?a=1&token=" + T + "&b=%20 HTTP/1.1\r\nHost: gw\r\n\r\n", true},
		{"dashboardUrl, HEAD", "HEAD " + B + "/dashboard/?token=" + T + " HTTP/1.1\r\nHost: gw\r\n\r\n", true},
		{"dashboardUrl, HEAD, Connection: close", "HEAD " + B + "/dashboard/?token=" + T + " HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n", true},
		{"dashboardUrl with a wrong token", "GET " + B + "/dashboard/?token=" + tokenB + " HTTP/1.1\r\nHost: gw\r\n\r\n", true},
		{"dashboardUrl with an escaped token", "GET " + B + "/dashboard/?t%6Fken=" + T + " HTTP/1.1\r\nHost: gw\r\n\r\n", true},
		{"percent-escape in the path", "GET " + B + "/api/jobs/raysubmit%5F1 HTTP/1.1\r\nHost: gw\r\nRay-Token: " + T + "\r\n\r\n", false},
		{"HTTP/1.0", "GET " + B + "/api/version HTTP/1.0\r\nHost: gw\r\nRay-Token: " + T + "\r\n\r\n", false},
		{"TE", "GET " + B + "/api/version HTTP/1.1\r\nHost: gw\r\nTE: trailers\r\nRay-Token: " + T + "\r\n\r\n", false},
		{"Connection names a header", "GET " + B + "/api/version HTTP/1.1\r\nHost: gw\r\nConnection: X-Secret\r\nX-Secret: 1\r\nRay-Token: " + T + "\r\n\r\n", false},
		{"Expect", "GET " + B + "/api/version HTTP/1.1\r\nHost: gw\r\nExpect: 100-continue\r\nRay-Token: " + T + "\r\n\r\n", false},
		{"POST with a body", "POST " + B + "/api/jobs/ HTTP/1.1\r\nHost: gw\r\nContent-Length: 7\r\nRay-Token: " + T + "\r\n\r\n{\"a\":1}", false},
		{"GET with a body", "GET " + B + "/api/version HTTP/1.1\r\nHost: gw\r\nContent-Length: 2\r\nRay-Token: " + T + "\r\n\r\nhi", false},
		{"absolute-form target", "GET http://gw" + B + "/api/version HTTP/1.1\r\nHost: gw\r\nRay-Token: " + T + "\r\n\r\n", false},
		{"the cluster's own path", "GET " + B + " HTTP/1.1\r\nHost: gw\r\n\r\n", false},
		{"unknown path", "GET /elsewhere HTTP/1.1\r\nHost: gw\r\n\r\n", false},
		{"no Host", "GET " + B + "/api/version HTTP/1.1\r\nRay-Token: " + T + "\r\n\r\n", false},
		{"two Hosts", "GET " + B + "/api/version HTTP/1.1\r\nHost: a\r\nHost: b\r\nRay-Token: " + T + "\r\n\r\n", false},
		{"odd Host", "GET " + B + "/api/version HTTP/1.1\r\nHost: a b\r\nRay-Token: " + T + "\r\n\r\n", false},
		{"folded header", "GET " + B + "/api/version HTTP/1.1\r\nHost: gw\r\nX-A: 1\r\n 2\r\nRay-Token: " + T + "\r\n\r\n", false},
		{"space before the colon", "GET " + B + "/api/version HTTP/1.1\r\nHost: gw\r\nRay-Token : " + T + "\r\n\r\n", false},
		{"control character in a value", "GET " + B + "/api/version HTTP/1.1\r\nHost: gw\r\nX-A: a\x01b\r\nRay-Token: " + T + "\r\n\r\n", false},
		{"bare LF", "GET " + B + "/api/version HTTP/1.1\nHost: gw\nRay-Token: " + T + "\n\n", false},
		{"head larger than the buffer", "GET " + B + "/api/version HTTP/1.1\r\nHost: gw\r\nX-Big: " + strings.Repeat("b", 9000) + "\r\nRay-Token: " + T + "\r\n\r\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method, _, _ := strings.Cut(tc.raw, " ")
			before := fast.handoffs.Load()
			fres, fbody := rawExchange(t, fastAddr, tc.raw, method)
			if handed := fast.handoffs.Load() != before; handed == tc.fast {
				t.Errorf("handed over to net/http: %v, want %v", handed, !tc.fast)
			}
			nres, nbody := rawExchange(t, fullAddr, tc.raw, method)
			if fres.StatusCode != nres.StatusCode {
				t.Errorf("status %d, net/http %d", fres.StatusCode, nres.StatusCode)
			}
			fres.Header.Del("Date")
			nres.Header.Del("Date")
			if fmt.Sprint(fres.Header) != fmt.Sprint(nres.Header) {
				t.Errorf("headers\n%v\nnet/http\n%v", fres.Header, nres.Header)
			}
			if !bytes.Equal(fbody, nbody) {
				t.Errorf("body\n%s\nnet/http\n%s", fbody, nbody)
			}
			if fres.Close != nres.Close {
				t.Errorf("connection closes: %v, net/http %v", fres.Close, nres.Close)
			}
			if tc.name == "credentials and hop-by-hop headers" {
				// What the head got is in the body; make sure of the
				// point rather than only of the parity.
				for _, bad := range []string{"Keep-Alive", "Proxy-", "Trailer", "Authorization", "Forwarded", "stolen", T} {
					if bytes.Contains(fbody, []byte(bad)) {
						t.Errorf("the head got %q: %s", bad, fbody)
					}
				}
				if !bytes.Contains(fbody, []byte(`"X-Kept":["yes"]`)) || !bytes.Contains(fbody, []byte(`"Cookie":["kept=1"]`)) {
					t.Errorf("the head did not get the kept headers: %s", fbody)
				}
			}
		})
	}
}

// echoConn is a connection to a fast-path gateway in front of an echoHead
// (the cluster at parityBase, token tokenA).
func echoConn(t *testing.T) (*HTTPServer, net.Conn) {
	t.Helper()
	head := echoHead(t)
	f := newFleet()
	f.add(&fakeCluster{ws: "w-aaaaaaaaaaaaaaaa", id: "ray-aaaaaaaaaaaaaaaa", token: tokenA, dashboard: head.Listener.Addr().String()})
	fast, url := startFast(t, Config{Lookup: f.lookup(), Logger: testLogger(t)})
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	return fast, conn
}

// One connection can move from the fast path to net/http in the middle:
// what comes after the handover is answered there, in order.
func TestFastPathHandsOverMidConnection(t *testing.T) {
	fast, conn := echoConn(t)
	get := "GET " + parityBase + "/api/version?n=%d HTTP/1.1\r\nHost: gw\r\nRay-Token: " + tokenA + "\r\n\r\n"
	post := "POST " + parityBase + "/api/jobs/ HTTP/1.1\r\nHost: gw\r\nRay-Token: " + tokenA + "\r\nContent-Length: 4\r\n\r\nbody"
	// All of it in one write: the handover must carry what was read
	// past the request that caused it.
	if _, err := fmt.Fprintf(conn, get+get+post+get, 1, 2, 4); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	for i, want := range []string{`"uri":"/api/version?n=1"`, `"uri":"/api/version?n=2"`, `"body":"body"`, `"uri":"/api/version?n=4"`} {
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i+1, err)
		}
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 || !bytes.Contains(body, []byte(want)) {
			t.Fatalf("response %d: %d %s, want %s", i+1, res.StatusCode, body, want)
		}
	}
	if n := fast.handoffs.Load(); n != 1 {
		t.Fatalf("%d handovers, want 1", n)
	}
}

// Requests sent back to back on one connection (pipelined) are answered in
// order by the fast path, the last one with Connection: close closing it.
func TestFastPathPipelined(t *testing.T) {
	fast, conn := echoConn(t)
	var all strings.Builder
	for i := range 20 {
		fmt.Fprintf(&all, "GET %s/api/version?n=%d HTTP/1.1\r\nHost: gw\r\nRay-Token: %s\r\n", parityBase, i, tokenA)
		if i == 19 {
			all.WriteString("Connection: close\r\n")
		}
		all.WriteString("\r\n")
	}
	if _, err := io.WriteString(conn, all.String()); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	for i := range 20 {
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		body, _ := io.ReadAll(res.Body)
		if !bytes.Contains(body, fmt.Appendf(nil, `"uri":"/api/version?n=%d"`, i)) {
			t.Fatalf("response %d: %s", i, body)
		}
	}
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("after Connection: close the connection is still open: %v", err)
	}
	if n := fast.handoffs.Load(); n != 0 {
		t.Fatalf("%d handovers, want none", n)
	}
}

// A body the head ends by closing its connection reaches the client
// chunked, and the client's connection stays open for the next request.
func TestFastPathBodyUntilClose(t *testing.T) {
	head := newRawHead(t, func(w *bufio.Writer, req *http.Request, _ int64) bool {
		if req.URL.Path == "/api/eof" {
			fmt.Fprint(w, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end")
			return false
		}
		fmt.Fprint(w, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return true
	})
	base, _ := gatewayTo(t, head.addr(), serveFast)
	tr := &http.Transport{MaxConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	res, body := get(t, hc, "GET", base+"/api/eof")
	if res.StatusCode != 200 || body != "until the end" || res.ContentLength != -1 || !slices.Equal(res.TransferEncoding, []string{"chunked"}) {
		t.Fatalf("%d %q length %d encoding %v", res.StatusCode, body, res.ContentLength, res.TransferEncoding)
	}
	if res, body := get(t, hc, "GET", base+"/api/version"); res.StatusCode != 200 || body != "ok" {
		t.Fatalf("next request: %d %q", res.StatusCode, body)
	}
	if n := head.conns.Load(); n != 2 {
		t.Fatalf("%d connections to the head, want 2 (the first one ended with its body)", n)
	}
}

// Answers the fast path cannot pass on get 502 and reach the client as
// nothing else; the gateway goes on serving.
func TestFastPathMalformedAnswers(t *testing.T) {
	answers := map[string]string{
		"/api/two-lengths":   "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
		"/api/gzip-encoding": "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nok",
		"/api/bad-status":    "HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\nok",
		"/api/bad-chunk":     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n",
		"/api/switching":     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
	}
	head := newRawHead(t, func(w *bufio.Writer, req *http.Request, _ int64) bool {
		if a, ok := answers[req.URL.Path]; ok {
			fmt.Fprint(w, a)
			return false
		}
		fmt.Fprint(w, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: X-Drop\r\nX-Drop: 1\r\nX-Kept: 1\r\n\r\nfine!")
		return true
	})
	base, hc := gatewayTo(t, head.addr(), serveFast)
	for path := range answers {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("ray-token", tokenA)
		res, err := hc.Do(req)
		if path == "/api/bad-chunk" {
			// The head's answer started well: the client got its status
			// and then a cut connection.
			if err == nil {
				_, err = io.ReadAll(res.Body)
				res.Body.Close()
			}
			if err == nil {
				t.Errorf("%s: the client read a whole answer", path)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusBadGateway || !bytes.Contains(body, []byte(codeBadGateway)) {
			t.Errorf("%s: %d %s", path, res.StatusCode, body)
		}
	}
	res, body := get(t, hc, "GET", base+"/api/version")
	if res.StatusCode != 200 || body != "fine!" || res.Header.Get("X-Drop") != "" || res.Header.Get("X-Kept") != "1" || res.Header.Get("Connection") != "" {
		t.Fatalf("after them: %d %q %v", res.StatusCode, body, res.Header)
	}
}

// A client that leaves a stream the head has gone quiet on makes the
// gateway close its connection to the head at once, not when the head
// next writes.
func TestFastPathStreamClientLeaves(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	headClosed := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			headClosed <- err
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			headClosed <- err
			return
		}
		fmt.Fprint(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nfirst\n\r\n")
		// Quiet from here on; the read ends when the gateway closes.
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
		_, err = br.ReadByte()
		headClosed <- err
	}()
	base, hc := gatewayTo(t, l.Addr().String(), serveFast)
	req, _ := http.NewRequest("GET", base+"/api/jobs/x/logs/stream", nil)
	req.Header.Set("ray-token", tokenA)
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(res.Body).ReadString('\n')
	if err != nil || line != "first\n" {
		t.Fatalf("first chunk %q %v", line, err)
	}
	res.Body.Close() // closes the client's connection: the body is unread
	select {
	case err := <-headClosed:
		if !errors.Is(err, io.EOF) {
			t.Fatalf("the head's connection: %v, want closed by the gateway", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the gateway kept the head's connection of a client that left")
	}
}

// Shutdown lets a request in flight finish, closes idle connections, and
// makes Serve return.
func TestFastPathShutdown(t *testing.T) {
	release := make(chan struct{})
	head := newRawHead(t, func(w *bufio.Writer, req *http.Request, _ int64) bool {
		if req.URL.Path == "/api/slow" {
			<-release
		}
		fmt.Fprint(w, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return true
	})
	f := newFleet()
	f.add(&fakeCluster{ws: "w-aaaaaaaaaaaaaaaa", id: "ray-aaaaaaaaaaaaaaaa", token: tokenA, dashboard: head.addr()})
	cfg := Config{Lookup: f.lookup(), Logger: testLogger(t)}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewHTTPServer(cfg)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	addr := l.Addr().String()

	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	busy, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	fmt.Fprintf(busy, "GET %s/api/slow HTTP/1.1\r\nHost: gw\r\nRay-Token: %s\r\n\r\n", parityBase, tokenA)
	eventually(t, "the slow request reaches the head", func() bool { return head.reqs.Load() == 1 })

	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- srv.Shutdown(ctx)
	}()
	_ = idle.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := idle.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("idle connection: %v, want it closed", err)
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a request in flight", err)
	case <-time.After(50 * time.Millisecond): // Shutdown has had time to wrongly return
	}
	close(release)
	_ = busy.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(busy)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || string(body) != "ok" || !res.Close {
		t.Fatalf("in flight: %d %q close=%v", res.StatusCode, body, res.Close)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Fatalf("Serve: %v", err)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Fatal("the listener still accepts")
	}
}

// parseHead takes only heads net/http reads the same way: the same
// method, target, Host, token, close and no body.
func FuzzParseHead(f *testing.F) {
	for _, seed := range []string{
		"GET " + parityBase + "/api/version HTTP/1.1\r\nHost: gw\r\nRay-Token: t\r\n\r\n",
		"HEAD " + parityBase + "/dashboard/x?a=b HTTP/1.1\r\nhost: gw:80\r\nConnection: close\r\nCookie: a=b\r\n\r\n",
		"GET " + parityBase + "/api/x HTTP/1.1\r\nHost: gw\r\nContent-Length: 0\r\nray-token: a\r\nRAY-TOKEN: b\r\n\r\n",
		"GET " + parityBase + "/api/x HTTP/1.1\r\nHost: [::1]:8\r\nX: \t y \t\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, head []byte) {
		if headEnd(head) != len(head) {
			return // the fast path parses only a whole head
		}
		var r frontRequest
		if !parseHead(head, &r) {
			return
		}
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
		if err != nil {
			t.Fatalf("parseHead took a head net/http refuses (%v): %q", err, head)
		}
		method := "GET"
		if r.head {
			method = "HEAD"
		}
		rt, ok := parseRoute(req.URL.EscapedPath())
		switch {
		case req.Method != method, req.RequestURI != r.target, req.Host == "",
			!ok || rt != r.rt,
			req.Header.Get(tokenHeader) != r.token,
			!slices.Equal(req.Header["Cookie"], r.cookies) && len(r.cookies)+len(req.Header["Cookie"]) > 0,
			req.Close != r.close, req.ContentLength != 0:
			t.Fatalf("parseHead and net/http differ on %q:\n%+v\n%s %s host %q token %q cookies %q close %v length %d",
				head, r, req.Method, req.RequestURI, req.Host, req.Header.Get(tokenHeader), req.Header["Cookie"], req.Close, req.ContentLength)
		}
	})
}

// A panic while serving a request (here from Lookup) costs its connection,
// not the process: the gateway goes on serving others.
func TestFastPathPanicClosesOnlyItsConnection(t *testing.T) {
	head := echoHead(t)
	f := newFleet()
	f.add(&fakeCluster{ws: "w-aaaaaaaaaaaaaaaa", id: "ray-aaaaaaaaaaaaaaaa", token: tokenA, dashboard: head.Listener.Addr().String()})
	inner := f.lookup().(*lookupFuncs)
	lookup := *inner
	lookup.clusterToken = func(ctx context.Context, ws, id string) (string, bool, error) {
		if id == "ray-panics" {
			panic("a bug in Lookup")
		}
		return inner.clusterToken(ctx, ws, id)
	}
	url := serveFast(t, Config{Lookup: &lookup, Logger: testLogger(t)})
	addr := strings.TrimPrefix(url, "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /workspace/w-aaaaaaaaaaaaaaaa/raycluster/ray-panics/api/version HTTP/1.1\r\nHost: gw\r\nRay-Token: %s\r\n\r\n", tokenA)
	if _, err := bufio.NewReader(conn).ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("the panicking request's connection: %v, want it closed", err)
	}
	res, body := rawExchange(t, addr, "GET "+parityBase+"/api/version HTTP/1.1\r\nHost: gw\r\nRay-Token: "+tokenA+"\r\n\r\n", "GET")
	if res.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"uri":"/api/version"`)) {
		t.Fatalf("after the panic: %d %s", res.StatusCode, body)
	}
}
