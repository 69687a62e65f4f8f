package gateway

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rayfleet/rayfleet/internal/poll"
)

// A connection that never sends a request is closed after
// ReadHeaderTimeout, which is 10 s unless configured.
func TestSilentConnectionClosed(t *testing.T) {
	if d := NewHTTPServer(Config{Lookup: newFleet().lookup()}).ReadHeaderTimeout; d <= 0 || d > 10*time.Second {
		t.Errorf("default ReadHeaderTimeout %s, want at most 10s", d)
	}
	cfg := Config{Lookup: newFleet().lookup(), Logger: testLogger(t), ReadHeaderTimeout: 200 * time.Millisecond}
	conn, err := net.Dial("tcp", strings.TrimPrefix(serve(t, cfg), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	_, err = conn.Read(make([]byte, 1))
	if !errors.Is(err, io.EOF) || time.Since(start) > 5*time.Second {
		t.Fatalf("a silent connection: %v after %s, want closed by the server after 200ms", err, time.Since(start))
	}
}

// A client that hangs up gives its slot back at once, whether the head
// has not answered yet or is in the middle of a stream and quiet.
func TestClientHangUpFreesSlot(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	head := newRawHead(t, func(w *bufio.Writer, req *http.Request, _ int64) bool {
		switch req.URL.Path {
		case "/api/slow":
			<-release
		case "/api/stream":
			fmt.Fprint(w, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nfirst\n\r\n")
			_ = w.Flush()
			<-release
			return false
		}
		fmt.Fprint(w, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return true
	})
	f := newFleet()
	c := f.add(&fakeCluster{ws: "w-aaaaaaaaaaaaaaaa", id: "ray-aaaaaaaaaaaaaaaa", token: tokenA, dashboard: head.addr()})
	base := serve(t, Config{Lookup: f.lookup(), Logger: testLogger(t), MaxConns: 4, MaxConnsPerCluster: 1}) + "/workspace/" + c.ws + "/raycluster/" + c.id
	hc := &http.Client{Timeout: 30 * time.Second}
	for _, path := range []string{"/api/slow", "/api/stream"} {
		t.Run(path, func(t *testing.T) {
			before := head.reqs.Load()
			ctx, hangUp := context.WithCancel(context.Background())
			defer hangUp()
			req, _ := http.NewRequestWithContext(ctx, "GET", base+path, nil)
			req.Header.Set("ray-token", tokenA)
			answered := make(chan error, 1)
			go func() {
				res, err := hc.Do(req)
				if err == nil {
					_, err = bufio.NewReader(res.Body).ReadString('\n')
					defer res.Body.Close()
				}
				answered <- err
				<-ctx.Done()
			}()
			if path == "/api/stream" {
				if err := <-answered; err != nil {
					t.Fatal(err)
				}
			} else {
				poll.Until(t, 10*time.Second, "the head has the request", func() bool { return head.reqs.Load() == before+1 })
			}
			if res, body := get(t, hc, "GET", base+"/api/version"); res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, codeTooManyConns) {
				t.Fatalf("while %s is open: %d %s, want the cluster's one slot taken", path, res.StatusCode, body)
			}

			hangUp() // closes the client's connection
			deadline := time.Now().Add(time.Second)
			for {
				res, _ := get(t, hc, "GET", base+"/api/version")
				if res.StatusCode == http.StatusOK {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("1s after the client hung up its slot is still held: %d", res.StatusCode)
				}
				time.Sleep(10 * time.Millisecond) // poll interval
			}
		})
	}
}

// One account with many clusters, in more than one workspace, cannot take
// every in-flight slot: another account is still served.
func TestSlotsSharedBetweenAccounts(t *testing.T) {
	f := newFleet()
	head := newFakeHead(t, "shared")
	t.Cleanup(func() { close(head.logChunks) })
	const tokenX2, tokenX3, tokenX4 = "0123456789abcdef0123456789abcde2", "0123456789abcdef0123456789abcde3", "0123456789abcdef0123456789abcde4"
	const heavyAccount, otherAccount = "1000000000000001", "2000000000000002"
	heavy := []*fakeCluster{
		f.add(&fakeCluster{ws: "w-1111111111111111", id: "ray-x1", account: heavyAccount, token: tokenA, dashboard: head.addr()}),
		f.add(&fakeCluster{ws: "w-1111111111111111", id: "ray-x2", account: heavyAccount, token: tokenX2, dashboard: head.addr()}),
		f.add(&fakeCluster{ws: "w-2222222222222222", id: "ray-x3", account: heavyAccount, token: tokenX3, dashboard: head.addr()}),
		f.add(&fakeCluster{ws: "w-2222222222222222", id: "ray-x4", account: heavyAccount, token: tokenX4, dashboard: head.addr()}),
	}
	other := f.add(&fakeCluster{ws: "w-3333333333333333", id: "ray-y1", account: otherAccount, token: tokenB, dashboard: head.addr()})
	base := serve(t, Config{Lookup: f.lookup(), Logger: testLogger(t), MaxConns: 4, MaxConnsPerCluster: 4})
	hc := &http.Client{Timeout: 30 * time.Second}
	get := func(c *fakeCluster, path string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", base+"/workspace/"+c.ws+"/raycluster/"+c.id+path, nil)
		req.Header.Set("ray-token", c.token)
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { res.Body.Close() })
		return res
	}

	// The heavy account opens log streams on its clusters until refused.
	held := 0
	for _, c := range heavy {
		res := get(c, "/dashboard/api/v0/logs/stream")
		if res.StatusCode != http.StatusOK {
			wantError(t, res, http.StatusServiceUnavailable, codeTooManyConns)
			break
		}
		held++
	}
	if held == 0 || held == len(heavy) {
		t.Fatalf("the heavy account holds %d of 4 slots, want some but not all", held)
	}
	// The other account is served, a stream included.
	res := get(other, "/api/version")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("the other account while the first holds %d slots: %d", held, res.StatusCode)
	}
	// That request's slot is given back when its handler returns, which
	// can be a moment after the client has read the answer.
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		res := get(other, "/dashboard/api/v0/logs/stream")
		if res.StatusCode == http.StatusOK {
			break
		}
		res.Body.Close()
		if time.Now().After(deadline) {
			t.Fatalf("the other account's stream: %d", res.StatusCode)
		}
	}
}
