package gateway

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync"
	"time"
)

// headTransport returns the transport to the heads' dashboards: the
// standard library's, keeping connections to a busy head alive, with
// every connection a headConn.
func headTransport(cfg Config) *http.Transport {
	dial := dialer(cfg)
	return &http.Transport{
		Proxy: nil, // heads are reached directly, whatever HTTP_PROXY says
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dial(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &headConn{Conn: c}, nil
		},
		MaxIdleConns: 1024,
		// As many as one cluster may have requests in flight, so that a busy
		// head is not reconnected to on every request.
		MaxIdleConnsPerHost:    cfg.MaxConnsPerCluster,
		IdleConnTimeout:        90 * time.Second,
		ResponseHeaderTimeout:  cfg.UpstreamHeaderTimeout,
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
		ExpectContinueTimeout:  time.Second,
		// Pass Accept-Encoding and compressed bodies through untouched.
		DisableCompression: true,
	}
}

// withHeadTrace is the context to send a request to a head with: one that
// has the transport tell each headConn when it is given to a request.
func withHeadTrace(ctx context.Context) context.Context {
	return httptrace.WithClientTrace(ctx, headTrace)
}

var headTrace = &httptrace.ClientTrace{
	GotConn: func(info httptrace.GotConnInfo) {
		if c, ok := info.Conn.(*headConn); ok && info.Reused {
			c.reassign()
		}
	},
}

// errUnsolicited fails a read of bytes a head sent before it was asked.
var errUnsolicited = errors.New("the head sent bytes before it was sent a request")

// reassignWait bounds how long a kept connection may take to show it is
// clean before it is given up (see reassign); it is microseconds in
// practice.
const reassignWait = time.Second

// headConn is a kept-alive connection to a head that lets no byte the head
// sends unasked reach a request. net/http's transport closes a connection
// on which bytes arrive while it sits idle, but it puts a connection back
// in its pool before it looks for such bytes, so an extra answer sent
// right behind a real one (a bug, or a head that means harm) could be read
// as the answer to the next request on that connection. The transport
// tells headConn, through headTrace, when it gives the connection to a
// request, before that request is written or counted as expecting an
// answer. reassign then waits until the transport's read loop is blocked
// in Read, which it only is with nothing buffered (it peeks one byte), or
// has closed the connection, which it does when it finds bytes with no
// request to read them for. From then until the request is written, bytes
// that arrive are unsolicited: Read closes the connection and fails, and
// the request gets an error (or is retried on a new connection), never
// those bytes.
type headConn struct {
	net.Conn

	mu     sync.Mutex
	parked bool          // a Read is waiting on the head
	asked  bool          // a request has been written since the connection was last given out
	closed bool          // Close was called
	wake   chan struct{} // closed when parked or closed turns true; nil when nobody waits
}

func (c *headConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	c.parked = true
	c.signal()
	c.mu.Unlock()
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.parked = false
	unasked := n > 0 && !c.asked
	c.mu.Unlock()
	if unasked {
		_ = c.Close()
		return 0, errUnsolicited
	}
	return n, err
}

func (c *headConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.asked = true
	c.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *headConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.signal()
	c.mu.Unlock()
	return c.Conn.Close()
}

// signal wakes reassign; c.mu is held.
func (c *headConn) signal() {
	if c.wake != nil {
		close(c.wake)
		c.wake = nil
	}
}

// reassign marks a kept connection given to a new request: from here
// until the request is written, the head has not been asked anything. It
// first waits until nothing is buffered (see headConn); a connection that
// does not show that within reassignWait is closed, so that the request
// goes on a new one.
func (c *headConn) reassign() {
	var timer *time.Timer
	c.mu.Lock()
	for !c.parked && !c.closed {
		if timer == nil {
			timer = time.NewTimer(reassignWait)
		}
		if c.wake == nil {
			c.wake = make(chan struct{})
		}
		wake := c.wake
		c.mu.Unlock()
		select {
		case <-wake:
		case <-timer.C:
			_ = c.Close()
		}
		c.mu.Lock()
	}
	c.asked = false
	c.mu.Unlock()
	if timer != nil {
		timer.Stop()
	}
}
