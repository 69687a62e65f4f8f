package gateway

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rayfleet/rayfleet/internal/poll"
)

// rawHead is a head on a bare TCP listener, so a test decides exactly what
// goes on the wire and when connections close. answer writes the response
// to one request and reports whether to keep the connection.
type rawHead struct {
	l      net.Listener
	conns  atomic.Int64
	closed atomic.Int64 // connections the gateway closed
	reqs   atomic.Int64
	mu     sync.Mutex
	open   []net.Conn
}

func newRawHead(t *testing.T, answer func(w *bufio.Writer, req *http.Request, n int64) (keep bool)) *rawHead {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &rawHead{l: l}
	t.Cleanup(func() {
		l.Close()
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, c := range h.open {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			h.conns.Add(1)
			h.mu.Lock()
			h.open = append(h.open, c)
			h.mu.Unlock()
			go func() {
				defer h.closed.Add(1)
				defer c.Close()
				br, bw := bufio.NewReader(c), bufio.NewWriter(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, req.Body)
					keep := answer(bw, req, h.reqs.Add(1))
					if bw.Flush() != nil || !keep {
						return
					}
				}
			}()
		}
	}()
	return h
}

func (h *rawHead) addr() string { return h.l.Addr().String() }

// gatewayTo is a gateway served by serve whose one cluster's head is at
// addr.
func gatewayTo(t *testing.T, addr string, serve func(testing.TB, Config) string) (base string, client *http.Client) {
	t.Helper()
	f := newFleet()
	c := f.add(&fakeCluster{ws: "w-aaaaaaaaaaaaaaaa", id: "ray-aaaaaaaaaaaaaaaa", token: tokenA, dashboard: addr})
	cfg := Config{Lookup: f.lookup(), Logger: testLogger(t)}
	return serve(t, cfg) + "/workspace/" + c.ws + "/raycluster/" + c.id, &http.Client{Timeout: 30 * time.Second}
}

func get(t *testing.T, hc *http.Client, method, url string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	req.Header.Set("ray-token", tokenA)
	res, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read: %v", method, url, err)
	}
	return res, string(b)
}

// Reads reuse one connection to the head: plain, chunked with trailers,
// HEAD, and after an early hint.
func TestHeadConnectionsReused(t *testing.T) {
	head := newRawHead(t, func(w *bufio.Writer, req *http.Request, n int64) bool {
		switch req.URL.Path {
		case "/api/chunked":
			fmt.Fprint(w, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nX-Sum: 5\r\n\r\n")
		case "/api/hint":
			fmt.Fprint(w, "HTTP/1.1 103 Early Hints\r\nLink: </x.js>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhints")
		default:
			body := fmt.Sprintf("answer %d", n)
			if req.Method == http.MethodHead {
				fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(body))
				return true
			}
			fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		}
		return true
	})
	base, hc := gatewayTo(t, head.addr(), serve)
	for i := 1; i <= 3; i++ {
		if res, body := get(t, hc, "GET", base+"/api/version"); res.StatusCode != 200 || body != fmt.Sprintf("answer %d", i) {
			t.Fatalf("GET %d: %d %q", i, res.StatusCode, body)
		}
	}
	if res, body := get(t, hc, "HEAD", base+"/api/version"); res.StatusCode != 200 || body != "" || res.ContentLength != int64(len("answer 4")) {
		t.Fatalf("HEAD: %d %q %d", res.StatusCode, body, res.ContentLength)
	}
	res, body := get(t, hc, "GET", base+"/api/chunked")
	if res.StatusCode != 200 || body != "abcde" || res.Trailer.Get("X-Sum") != "5" {
		t.Fatalf("chunked: %d %q trailer %v", res.StatusCode, body, res.Trailer)
	}
	if res, body := get(t, hc, "GET", base+"/api/hint"); res.StatusCode != 200 || body != "hints" {
		t.Fatalf("after an early hint: %d %q", res.StatusCode, body)
	}
	if res, body := get(t, hc, "GET", base+"/api/version"); res.StatusCode != 200 || body != "answer 7" {
		t.Fatalf("GET after the others: %d %q", res.StatusCode, body)
	}
	if n := head.conns.Load(); n != 1 {
		t.Fatalf("7 sequential reads took %d connections to the head, want 1", n)
	}
}

// A kept connection the head closed while idle is replaced: the read is
// sent again on a new one, and the client never sees the closed one.
func TestHeadClosedIdleConnectionRetried(t *testing.T) {
	head := newRawHead(t, func(w *bufio.Writer, _ *http.Request, n int64) bool {
		fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n%d", n%10)
		return false // closes without saying so
	})
	base, hc := gatewayTo(t, head.addr(), serve)
	for i := 1; i <= 3; i++ {
		if res, body := get(t, hc, "GET", base+"/api/version"); res.StatusCode != 200 || body != fmt.Sprint(i) {
			t.Fatalf("GET %d: %d %q", i, res.StatusCode, body)
		}
	}
	if n := head.conns.Load(); n != 3 {
		t.Fatalf("%d connections, want one per request", n)
	}
}

// A client that leaves in the middle of a body leaves the head's
// connection closed, never back in the pool half read.
func TestHeadConnectionClosedWhenClientLeaves(t *testing.T) {
	release := make(chan struct{})
	head := newRawHead(t, func(w *bufio.Writer, req *http.Request, n int64) bool {
		if req.URL.Path == "/api/slow" {
			fmt.Fprint(w, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello")
			_ = w.Flush()
			<-release
			return false
		}
		fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return true
	})
	t.Cleanup(func() { close(release) })
	base, hc := gatewayTo(t, head.addr(), serve)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/slow", nil)
	req.Header.Set("ray-token", tokenA)
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(res.Body, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("first part: %q %v", buf, err)
	}
	cancel()
	res.Body.Close()
	// The next read gets a connection of its own and a whole answer.
	if res, body := get(t, hc, "GET", base+"/api/version"); res.StatusCode != 200 || body != "ok" {
		t.Fatalf("after a client left: %d %q", res.StatusCode, body)
	}
	if n := head.conns.Load(); n != 2 {
		t.Fatalf("%d connections to the head, want 2", n)
	}
}

// A head that sends headers without end gets 502 after 1 MiB, and the
// gateway goes on serving.
func TestHeadResponseHeadersBounded(t *testing.T) {
	head := newRawHead(t, func(w *bufio.Writer, req *http.Request, _ int64) bool {
		if req.URL.Path == "/api/huge" {
			fmt.Fprint(w, "HTTP/1.1 200 OK\r\n")
			line := "X-Filler: " + strings.Repeat("f", 1000) + "\r\n"
			for range 2048 { // 2 MiB of headers
				if _, err := w.WriteString(line); err != nil {
					return false
				}
			}
			fmt.Fprint(w, "Content-Length: 2\r\n\r\nok")
			return false
		}
		fmt.Fprint(w, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return true
	})
	base, hc := gatewayTo(t, head.addr(), serve)
	if res, body := get(t, hc, "GET", base+"/api/huge"); res.StatusCode != http.StatusBadGateway || !strings.Contains(body, codeBadGateway) {
		t.Fatalf("huge headers: %d %q", res.StatusCode, body)
	}
	if res, body := get(t, hc, "GET", base+"/api/version"); res.StatusCode != 200 || body != "ok" {
		t.Fatalf("after huge headers: %d %q", res.StatusCode, body)
	}
}

// A head that answers each request twice (a bug, or a head that means
// harm) never has its extra answer taken for another request's: every
// client gets the answer to its own request, or an error, never another's.
func TestUnsolicitedHeadBytesReachNoOtherRequest(t *testing.T) {
	head := newRawHead(t, func(w *bufio.Writer, req *http.Request, _ int64) bool {
		body := req.URL.Path
		fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		fmt.Fprint(w, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged")
		return true
	})
	base, _ := gatewayTo(t, head.addr(), serve)
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	var wrong atomic.Int64
	var wg sync.WaitGroup
	for c := range 8 {
		wg.Go(func() {
			for i := range 100 {
				path := fmt.Sprintf("/api/c%d/r%d", c, i)
				req, _ := http.NewRequest("GET", base+path, nil)
				req.Header.Set("ray-token", tokenA)
				res, err := hc.Do(req)
				if err != nil {
					t.Errorf("%s: %v", path, err)
					return
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode == http.StatusOK && string(b) != path {
					if wrong.Add(1) == 1 {
						t.Errorf("%s got %q", path, b)
					}
				}
			}
		})
	}
	wg.Wait()
	if n := wrong.Load(); n > 0 {
		t.Fatalf("%d of 800 requests got an answer that was not theirs", n)
	}
}

// When a head dies, the gateway lets go of its sockets to it at once, with
// no request to find them broken: the kept-alive ones and an upgraded
// (WebSocket) tunnel, whose client is told by its connection closing.
func TestDeadHeadSocketsLetGo(t *testing.T) {
	release := make(chan struct{})
	head := newRawHead(t, func(w *bufio.Writer, req *http.Request, n int64) bool {
		if req.Header.Get("Upgrade") == "websocket" {
			fmt.Fprint(w, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
			_ = w.Flush()
			<-release // a tunnel that stays open until the head dies
			return false
		}
		if req.URL.Path == "/api/slow" {
			time.Sleep(100 * time.Millisecond) // the requests overlap: several kept connections
		}
		fmt.Fprint(w, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return true
	})
	base, _ := gatewayTo(t, head.addr(), serve)
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { get(t, hc, "GET", base+"/api/slow") })
	}
	wg.Wait()
	tunnel, err := net.Dial("tcp", strings.TrimPrefix(strings.SplitN(base, "/workspace/", 2)[0], "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer tunnel.Close()
	path := "/workspace/" + strings.SplitN(base, "/workspace/", 2)[1] + "/api/jobs/x/logs/tail"
	fmt.Fprintf(tunnel, "GET %s HTTP/1.1\r\nHost: gw\r\nray-token: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", path, tokenA)
	br := bufio.NewReader(tunnel)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", res, err)
	}
	if n := socketsTo(t, head.addr()); n < 2 {
		t.Fatalf("%d gateway sockets to the head before it dies, want the kept ones and the tunnel", n)
	}

	// The head dies: every connection of its closes, the listener too.
	head.l.Close()
	close(release)
	head.mu.Lock()
	for _, c := range head.open {
		c.Close()
	}
	head.mu.Unlock()

	poll.Until(t, 10*time.Second, "the gateway to close every socket to the dead head", func() bool { return socketsTo(t, head.addr()) == 0 })
	_ = tunnel.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("the tunnel's client reads %v, want the end of the connection", err)
	}
}

// socketsTo counts this process's TCP sockets connected to addr (an IPv4
// loopback host:port) that are not closed on our side yet: established,
// or closed by the peer and waiting for us (CLOSE_WAIT).
func socketsTo(t *testing.T, addr string) int {
	t.Helper()
	_, port, _ := net.SplitHostPort(addr)
	var p int
	fmt.Sscan(port, &p)
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatalf("no /proc/net/tcp (the gateway tests run on Linux): %v", err)
	}
	want := fmt.Sprintf("0100007F:%04X", p)
	n := 0
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 3 && f[2] == want && (f[3] == "01" || f[3] == "08") {
			n++
		}
	}
	return n
}
