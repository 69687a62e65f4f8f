package gateway

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Hop-by-hop headers (RFC 9110 7.6.1, and those the request's Connection
// header names), every credential meant for the gateway or for Ray, and the
// client's forwarding headers stop at the gateway; other headers and
// cookies go on.
func TestHopByHopAndCredentialHeadersNotForwarded(t *testing.T) {
	e := newEnv(t, Config{})
	req, err := http.NewRequest("GET", e.jobURL(e.a)+"/api/version", nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"Ray-Token":           tokenA,
		"Connection":          "keep-alive, X-Hop-Secret",
		"X-Hop-Secret":        "named by Connection",
		"Keep-Alive":          "timeout=5",
		"Proxy-Authorization": "Basic cHJveHk6c2VjcmV0",
		"Proxy-Connection":    "keep-alive",
		"Te":                  "gzip",
		"Trailer":             "X-Checksum",
		"Authorization":       "Bearer someone-elses",
		"X-Ray-Authorization": "Bearer someone-elses",
		"Cookie":              sessionCookie + "=forged; other=kept; " + rayAuthCookie + "=stolen",
		"X-Request-Kept":      "yes",
		"X-Forwarded-For":     "10.0.0.1",
		"X-Forwarded-Host":    "forged.example",
		"X-Forwarded-Proto":   "https",
		"X-Real-Ip":           "10.0.0.1",
		"Forwarded":           "for=10.0.0.1",
	} {
		req.Header.Set(k, v)
	}
	res, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d", res.StatusCode)
	}
	seen := e.headA.requests()
	if len(seen) != 1 {
		t.Fatalf("head A saw %d requests", len(seen))
	}
	h := seen[0].Header
	for _, k := range []string{"X-Hop-Secret", "Keep-Alive", "Proxy-Authorization", "Proxy-Connection", "Te", "Trailer"} {
		if v := h.Values(k); len(v) > 0 {
			t.Errorf("the head got hop-by-hop header %s: %q", k, v)
		}
	}
	// What a client says of where it is, it could say of anywhere.
	for _, k := range []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-Ip", "Forwarded"} {
		if v := h.Values(k); len(v) > 0 {
			t.Errorf("the head got the client's %s: %q", k, v)
		}
	}
	if v := h.Get("Connection"); strings.Contains(strings.ToLower(v), "x-hop-secret") {
		t.Errorf("the head got Connection %q", v)
	}
	e.headA.assertClean(t, "")
	if got := h.Get("Cookie"); got != "other=kept" {
		t.Errorf("cookies upstream %q, want other=kept", got)
	}
	if got := h.Get("X-Request-Kept"); got != "yes" {
		t.Errorf("X-Request-Kept upstream %q", got)
	}
}

// A limited listener holds at most MaxClientConns connections; the next
// one is served once another closes.
func TestClientConnLimit(t *testing.T) {
	f := newFleet()
	head := newFakeHead(t, "A")
	c := f.add(&fakeCluster{ws: "w-aaaaaaaaaaaaaaaa", id: "ray-aaaaaaaaaaaaaaaa", token: tokenA, dashboard: head.addr()})
	cfg := Config{Lookup: f.lookup(), Logger: testLogger(t), MaxClientConns: 2}
	addr := strings.TrimPrefix(serve(t, cfg), "http://")
	request := "GET /workspace/" + c.ws + "/raycluster/" + c.id + "/api/version HTTP/1.1\r\nHost: gw\r\nRay-Token: " + tokenA + "\r\n\r\n"

	// ask sends the request on conn and reads the status line, waiting at
	// most d.
	ask := func(conn net.Conn, r *bufio.Reader, d time.Duration) (string, error) {
		if err := conn.SetDeadline(time.Now().Add(d)); err != nil {
			return "", err
		}
		if _, err := conn.Write([]byte(request)); err != nil {
			return "", err
		}
		res, err := http.ReadResponse(r, nil)
		if err != nil {
			return "", err
		}
		res.Body.Close()
		return res.Status, nil
	}
	var conns []net.Conn
	for i := range 3 {
		conn, err := net.Dial("tcp", addr) // the kernel accepts; the server may not
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		conns = append(conns, conn)
		r := bufio.NewReader(conn)
		if i < 2 {
			if status, err := ask(conn, r, 30*time.Second); err != nil || status != "200 OK" {
				t.Fatalf("connection %d: %q %v", i, status, err)
			}
			continue
		}
		// The third waits while the first two stay open...
		if status, err := ask(conn, r, 300*time.Millisecond); err == nil {
			t.Fatalf("a third connection was served past the limit of 2: %s", status)
		}
		// ...and is served once one of them closes (its request is
		// already written).
		conns[0].Close()
		if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
			t.Fatal(err)
		}
		res, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatalf("the third connection after one closed: %v", err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("the third connection after one closed: %d", res.StatusCode)
		}
	}
}
