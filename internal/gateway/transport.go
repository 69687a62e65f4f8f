package gateway

import (
	"bufio"
	"context"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"sync"
	"time"
)

// headTransport sends the dashboard's and the job API's reads (GET and
// HEAD without a body, not an upgrade) to a head over kept-alive
// connections, writing the request and reading the response in the
// caller's goroutine. http.Transport runs two goroutines per connection
// and hands each request and response between them; for small proxied
// reads that hand-off is a large part of the gateway's cost. Everything
// else (uploads, WebSockets, requests with a body) goes to fallback.
type headTransport struct {
	fallback      http.RoundTripper
	dial          func(ctx context.Context, network, addr string) (net.Conn, error)
	headerTimeout time.Duration
	idleTimeout   time.Duration
	maxIdle       int // per head

	mu        sync.Mutex
	idle      map[string][]*headConn
	lastSweep time.Time
}

type headConn struct {
	conn     net.Conn
	sys      io.ReadWriter  // conn's reads and writes (sysIO)
	in       *boundedReader // under br: bounds what a response head may take
	br       *bufio.Reader
	bw       *bufio.Writer
	lastUsed time.Time
	deadline time.Time // as last set on conn
}

func (hc *headConn) setDeadline(t time.Time) error {
	if err := hc.conn.SetDeadline(t); err != nil {
		return err
	}
	hc.deadline = t
	return nil
}

// errWouldBlock is what a read made by sysConn.readNow returns when
// nothing has arrived.
var errWouldBlock = errors.New("nothing to read yet")

// peekNow makes n bytes buffered in hc.br if they have arrived, without
// waiting for them: errWouldBlock (or another error) when they have not.
func (hc *headConn) peekNow(n int) error {
	s, ok := hc.sys.(interface{ readNow(func() error) error })
	if !ok {
		return errWouldBlock
	}
	return s.readNow(func() error {
		_, err := hc.br.Peek(n)
		return err
	})
}

// armDeadline makes hc's reads and writes fail after d from now, give or
// take a second: moving a deadline costs a timer update, so one already
// set within a second of the wanted one is kept.
func (hc *headConn) armDeadline(d time.Duration) error {
	want := time.Now().Add(d)
	if delta := want.Sub(hc.deadline); !hc.deadline.IsZero() && delta >= 0 && delta < time.Second {
		return nil
	}
	return hc.setDeadline(want)
}

func (t *headTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if (req.Method != http.MethodGet && req.Method != http.MethodHead) ||
		(req.Body != nil && req.Body != http.NoBody) || req.Header.Get("Upgrade") != "" || req.URL.Scheme != "http" {
		return t.fallback.RoundTrip(req)
	}
	addr := req.URL.Host
	for attempt := 0; ; attempt++ {
		hc, reused, err := t.conn(req.Context(), addr)
		if err != nil {
			return nil, err
		}
		res, err := t.exchange(req, hc)
		if err == nil {
			return res, nil
		}
		hc.conn.Close()
		// A kept-alive connection the head closed while it sat idle fails
		// before any answer: a GET or HEAD is safe to send again, once, on
		// a new connection.
		if !reused || attempt > 0 || req.Context().Err() != nil {
			return nil, err
		}
	}
}

// exchange sends req on hc and reads the response head; the body is read
// by the caller, and hc goes back to the pool when it has all been read.
func (t *headTransport) exchange(req *http.Request, hc *headConn) (*http.Response, error) {
	ctx := req.Context()
	// A client that goes away ends the exchange at once: closing the
	// connection fails the pending read or write.
	stop := context.AfterFunc(ctx, func() { hc.conn.Close() })
	if err := hc.setDeadline(time.Now().Add(t.headerTimeout)); err != nil {
		stop()
		return nil, err
	}
	hc.in.left = maxResponseHeaderBytes
	if err := req.Write(hc.bw); err != nil {
		stop()
		return nil, err
	}
	if err := hc.bw.Flush(); err != nil {
		stop()
		return nil, err
	}
	var res *http.Response
	for {
		var err error
		res, err = http.ReadResponse(hc.br, req)
		if err != nil {
			stop()
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, err
		}
		// 1xx answers (103 Early Hints) come before the real one.
		if res.StatusCode < 100 || res.StatusCode >= 200 || res.StatusCode == http.StatusSwitchingProtocols {
			break
		}
	}
	// The body may be as long and take as long as it takes (a log stream).
	hc.in.left = math.MaxInt64
	if err := hc.setDeadline(time.Time{}); err != nil {
		stop()
		return nil, err
	}
	res.Body = &headBody{rc: res.Body, hc: hc, t: t, stop: stop, reuse: !res.Close && !req.Close && res.StatusCode != http.StatusSwitchingProtocols, addr: req.URL.Host}
	return res, nil
}

// conn takes an idle connection to addr or dials a new one.
func (t *headTransport) conn(ctx context.Context, addr string) (*headConn, bool, error) {
	now := time.Now()
	t.mu.Lock()
	t.sweepLocked(now)
	for {
		list := t.idle[addr]
		if len(list) == 0 {
			delete(t.idle, addr)
			break
		}
		hc := list[len(list)-1]
		list[len(list)-1] = nil
		t.idle[addr] = list[:len(list)-1]
		if now.Sub(hc.lastUsed) < t.idleTimeout {
			t.mu.Unlock()
			return hc, true, nil
		}
		hc.conn.Close()
	}
	t.mu.Unlock()
	c, err := t.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, false, err
	}
	sys := sysIO(c)
	in := &boundedReader{r: sys, left: math.MaxInt64}
	return &headConn{conn: c, sys: sys, in: in, br: bufio.NewReaderSize(in, 32<<10), bw: bufio.NewWriterSize(sys, 4<<10)}, false, nil
}

// sweepLocked closes, at most once per idle timeout, the connections that
// sat idle longer than it, and forgets heads with none left: the heads of
// stopped clusters are gone, and their connections must not stay open.
func (t *headTransport) sweepLocked(now time.Time) {
	if now.Sub(t.lastSweep) < t.idleTimeout {
		return
	}
	t.lastSweep = now
	for addr, list := range t.idle {
		kept := list[:0]
		for _, hc := range list {
			if now.Sub(hc.lastUsed) < t.idleTimeout {
				kept = append(kept, hc)
			} else {
				hc.conn.Close()
			}
		}
		clear(list[len(kept):])
		if len(kept) == 0 {
			delete(t.idle, addr)
		} else {
			t.idle[addr] = kept
		}
	}
}

// put keeps hc for the next request to addr, or closes it when there are
// enough already.
func (t *headTransport) put(addr string, hc *headConn) {
	hc.lastUsed = time.Now()
	t.mu.Lock()
	t.sweepLocked(hc.lastUsed)
	if len(t.idle[addr]) < t.maxIdle {
		t.idle[addr] = append(t.idle[addr], hc)
		t.mu.Unlock()
		return
	}
	t.mu.Unlock()
	hc.conn.Close()
}

// CloseIdleConnections closes the kept connections of both paths.
func (t *headTransport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = map[string][]*headConn{}
	t.mu.Unlock()
	for _, list := range idle {
		for _, hc := range list {
			hc.conn.Close()
		}
	}
	if c, ok := t.fallback.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// maxResponseHeaderBytes bounds a head's response headers (1xx ones
// included), as http.Transport's MaxResponseHeaderBytes does: a head runs
// its owner's code, and must not be able to make the gateway read headers
// without end.
const maxResponseHeaderBytes = 1 << 20

var errHeaderTooLarge = errors.New("the head's response headers are larger than 1 MiB")

// boundedReader reads from r until left bytes have been read, then fails.
type boundedReader struct {
	r    io.Reader
	left int64
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errHeaderTooLarge
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, err
}

// headBody returns its connection to the pool once the body has been
// read to the end, and closes it when the body is closed before that.
type headBody struct {
	rc    io.ReadCloser
	hc    *headConn
	t     *headTransport
	stop  func() bool
	reuse bool
	addr  string
	done  bool
}

func (b *headBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.rc.Read(p)
	if errors.Is(err, io.EOF) {
		b.finish(true)
	}
	return n, err
}

func (b *headBody) Close() error {
	if !b.done {
		b.finish(false)
	}
	return nil
}

// finish releases the connection: back to the pool when the whole body
// was read and nothing closed it meanwhile, closed otherwise.
func (b *headBody) finish(complete bool) {
	b.done = true
	// stop reports false when the request's context already ended and
	// closed the connection.
	if b.stop() && complete && b.reuse {
		b.t.put(b.addr, b.hc)
		return
	}
	b.hc.conn.Close()
}
