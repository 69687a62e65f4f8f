package gateway

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"sync"
	"sync/atomic"
)

// A gRPC stream through the gateway is two copies: the client's messages
// to the head (the transport reads the client's request body) and the
// head's to the client (the handler reads the head's response body). When
// the head's connection dies, net/http's HTTP/2 transport ends the second
// only once the first returns, and the first waits for the client's next
// message, which on a Ray client's quiet data stream may be hours away: the
// stream, its slot and its goroutines would outlive the head that long.
// So each connection to a head is a watchedConn, which knows when it dies,
// and a stream whose head connection died ends at once with UNAVAILABLE.

// watchedConn is a connection to a head that tells, through dead, when it
// has broken (a read failed: the head closed it or went away) or was
// closed.
type watchedConn struct {
	net.Conn
	once sync.Once
	dead chan struct{}
}

func watch(c net.Conn) *watchedConn { return &watchedConn{Conn: c, dead: make(chan struct{})} }

func (c *watchedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil {
		c.once.Do(func() { close(c.dead) })
	}
	return n, err
}

func (c *watchedConn) Close() error {
	c.once.Do(func() { close(c.dead) })
	return c.Conn.Close()
}

// watchedDialer dials as dial does, each connection a watchedConn.
func watchedDialer(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return watch(c), nil
	}
}

// headStream follows one stream's head connection: the transport tells it
// (through its trace) which connection the stream goes on, and once the
// head's response has come, a death of that connection ends the response.
type headStream struct {
	conn  atomic.Pointer[watchedConn]
	ended chan struct{} // closed when the handler returns
	gone  atomic.Bool   // the head's connection died under the stream
}

func newHeadStream() *headStream { return &headStream{ended: make(chan struct{})} }

// trace is ctx with the transport telling hs which connection it got.
func (hs *headStream) trace(ctx context.Context) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			if c, ok := info.Conn.(*watchedConn); ok {
				hs.conn.Store(c)
			}
		},
	})
}

// follow makes res end when the head's connection dies: its body is
// closed, which ends the handler's read, and the read's error becomes the
// end of the body with trailers saying UNAVAILABLE.
func (hs *headStream) follow(res *http.Response) {
	c := hs.conn.Load()
	if c == nil {
		return
	}
	body := res.Body
	res.Body = &headStreamBody{ReadCloser: body, hs: hs, res: res}
	go func() {
		select {
		case <-c.dead:
			hs.gone.Store(true)
			_ = body.Close()
		case <-hs.ended:
		}
	}()
}

// headStreamBody is a head's response body that ends cleanly, with an
// UNAVAILABLE status in its trailers, if the head's connection died.
type headStreamBody struct {
	io.ReadCloser
	hs  *headStream
	res *http.Response
}

func (b *headStreamBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && !errors.Is(err, io.EOF) && b.hs.gone.Load() {
		if b.res.Trailer == nil {
			b.res.Trailer = http.Header{}
		}
		b.res.Trailer.Set("Grpc-Status", strconv.Itoa(grpcUnavailable))
		b.res.Trailer.Set("Grpc-Message", grpcPercentEncode(msgHeadGone))
		return n, io.EOF
	}
	return n, err
}

// Close closes the body, unless the head's connection died: then it was
// closed already, and closing it again would wait for the client's next
// message (see the top of this file).
func (b *headStreamBody) Close() error {
	if b.hs.gone.Load() {
		return nil
	}
	return b.ReadCloser.Close()
}

const msgHeadGone = "The connection to the cluster's head broke (the head stopped or restarted). Check the cluster with GetRayCluster and connect again."
