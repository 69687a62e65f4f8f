package gateway

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// HTTPServer serves the gateway's HTTP listener. Most of what crosses it
// is one kind of request: a GET or HEAD without a body on a kept-alive
// HTTP/1.1 connection (the job API's reads, the dashboard's pages, assets
// and API calls, and a dashboardUrl's session start). Those it answers
// itself, reading the request head from
// the connection's buffer and writing the head's answer back as it comes,
// with no per-request goroutine, context, header map or copy of the body
// (front_head.go, front_proxy.go). net/http with NewHTTP's handler spends
// two to three times its CPU on the same request (bench/README.md).
//
// Everything else (other methods, bodies, upgrades to WebSocket, HTTP/1.0,
// Expect, unusual encodings of the path, heads larger than the fast path's
// buffer, the redirects of a cluster's bare path) goes to net/http:
// the connection, with the bytes read from it so far, is handed to an
// http.Server serving NewHTTP's handler, which keeps it to the end. Both
// share the lookup cache, the limits and the keep-alive pool to the heads,
// and decide who may pass through the same code (httpGateway.admit).
type HTTPServer struct {
	g    *httpGateway
	cfg  Config
	log  *slog.Logger
	full *http.Server
	hand *handoffListener

	ctx    context.Context // for Lookup calls; ends with Close
	cancel context.CancelFunc

	fullOnce sync.Once
	fullDone chan struct{}
	fullErr  error

	closed   atomic.Bool  // closing, for the connections' loops
	handoffs atomic.Int64 // connections given to net/http

	mu        sync.Mutex
	closing   bool
	listeners map[*net.Listener]struct{}
	conns     map[*frontConn]struct{}
	connsDone chan struct{} // closed when conns empties after closing
}

// NewHTTPServer returns the gateway's HTTP server for cfg: headers must
// arrive within ReadHeaderTimeout, idle keep-alive connections close after
// IdleTimeout, and nothing else is timed, since uploads, log tails and
// WebSockets last as long as they last. Serve it on a LimitListener.
func NewHTTPServer(cfg Config) *HTTPServer {
	g := newHTTPGateway(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	s := &HTTPServer{
		g: g, cfg: g.cfg, log: g.log, full: fullServer(g.cfg, g),
		hand: newHandoffListener(), ctx: ctx, cancel: cancel, fullDone: make(chan struct{}),
		listeners: map[*net.Listener]struct{}{}, conns: map[*frontConn]struct{}{},
	}
	return s
}

// Handler is the net/http handler that answers what the fast path hands
// over; it serves every request the same way, only at net/http's cost.
func (s *HTTPServer) Handler() http.Handler { return s.g }

// Serve accepts connections on l until Shutdown or Close, and returns
// http.ErrServerClosed then.
func (s *HTTPServer) Serve(l net.Listener) error {
	s.fullOnce.Do(func() {
		go func() {
			s.fullErr = s.full.Serve(s.hand)
			close(s.fullDone)
		}()
	})
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return http.ErrServerClosed
	}
	s.listeners[&l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, &l)
		s.mu.Unlock()
	}()
	var delay time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if s.isClosing() {
				return http.ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Out of file descriptors and the like: wait a little, as
			// net/http does, rather than spin or give up.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed; retrying", "err", err, "in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		fc := s.track(c)
		if fc == nil {
			c.Close()
			return http.ErrServerClosed
		}
		go s.serveConn(fc)
	}
}

func (s *HTTPServer) isClosing() bool { return s.closed.Load() }

// Handoffs is how many connections the fast path has handed to net/http
// (other methods, bodies, WebSockets, HTTP/1.0 and the like).
func (s *HTTPServer) Handoffs() int64 { return s.handoffs.Load() }

func (s *HTTPServer) track(c net.Conn) *frontConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil
	}
	w := rawConn(c)
	fc := &frontConn{c: c, w: w, sys: sysIO(w)}
	fc.state.Store(connActive)
	s.conns[fc] = struct{}{}
	return fc
}

func (s *HTTPServer) untrack(fc *frontConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, fc)
	if s.closing && len(s.conns) == 0 && s.connsDone != nil {
		close(s.connsDone)
		s.connsDone = nil
	}
}

// Shutdown stops accepting, closes idle connections and those that finish
// their request, and waits for the rest (and the connections net/http
// holds) until ctx ends; then it closes what is left and returns ctx's
// error.
func (s *HTTPServer) Shutdown(ctx context.Context) error {
	done := s.startClosing()
	fullErr := make(chan error, 1)
	go func() { fullErr <- s.full.Shutdown(ctx) }()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		s.closeIdle()
		select {
		case <-done:
			err := <-fullErr
			s.cancel()
			return err
		case <-ctx.Done():
			s.closeAll()
			_ = s.full.Close()
			s.cancel()
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// Close closes the listeners and every connection at once.
func (s *HTTPServer) Close() error {
	s.startClosing()
	s.closeAll()
	err := s.full.Close()
	s.cancel()
	return err
}

// startClosing marks the server closing, closes its listeners and returns
// a channel closed once no fast-path connection is left.
func (s *HTTPServer) startClosing() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing = true
	s.closed.Store(true)
	for l := range s.listeners {
		(*l).Close()
	}
	_ = s.hand.Close()
	done := make(chan struct{})
	if len(s.conns) == 0 {
		close(done)
	} else if s.connsDone == nil {
		s.connsDone = done
	} else {
		done = s.connsDone
	}
	return done
}

// closeIdle closes the connections waiting for a request; one that is
// serving one closes itself when it is done.
func (s *HTTPServer) closeIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for fc := range s.conns {
		if fc.state.CompareAndSwap(connIdle, connClosed) {
			fc.c.Close()
		}
	}
}

func (s *HTTPServer) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for fc := range s.conns {
		fc.state.Store(connClosed)
		fc.c.Close()
	}
}

// A fast-path connection is idle (waiting for a request; Shutdown may
// close it), active (reading or serving one) or closed.
const (
	connIdle int32 = iota
	connActive
	connClosed
)

// frontConn is one client connection on the fast path.
type frontConn struct {
	c     net.Conn      // the accepted connection; Close releases its LimitListener slot
	w     net.Conn      // c unwrapped, so that net.Buffers can use writev
	sys   io.ReadWriter // what requests are read from and responses written to (sysIO of w)
	br    *bufio.Reader
	state atomic.Int32

	readDeadline time.Time // as last set on c
	req          frontRequest
	headLen      int    // the length of req's head, still at the front of br
	line         []byte // a line of a chunked body
	out          []byte // response bytes not yet written
	scratch      []byte // the request head sent to the head, then the head's response head
	outBuf       *[]byte
	scratchBuf   *[]byte // where out and scratch go back to the pool
}

const (
	// frontReadBuffer is the most of a request head the fast path reads;
	// a larger head goes to net/http, which takes up to 64 KiB.
	frontReadBuffer = 8 << 10
	// frontOutFlush is how much of a response the fast path gathers
	// before writing it.
	frontOutFlush = 32 << 10
)

var frontReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, frontReadBuffer) }}

// serveConn serves fc's requests until one is not for the fast path (then
// net/http gets the connection), the client closes it or goes quiet, or
// the server shuts down.
func (s *HTTPServer) serveConn(fc *frontConn) {
	fc.br = frontReaders.Get().(*bufio.Reader)
	fc.br.Reset(fc.sys)
	handed := false
	defer func() {
		if v := recover(); v != nil {
			// A bug must cost one connection, not the process (net/http
			// does the same for its handlers).
			s.log.Error("panic serving a connection; closing it", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			handed = false
		}
		fc.br.Reset(nil)
		frontReaders.Put(fc.br)
		if !handed {
			fc.c.Close()
		}
		s.untrack(fc)
	}()
	for {
		if !fc.state.CompareAndSwap(connActive, connIdle) || s.isClosing() {
			return
		}
		fc.setReadDeadline(s.cfg.IdleTimeout)
		if _, err := fc.br.Peek(1); err != nil {
			return
		}
		if !fc.state.CompareAndSwap(connIdle, connActive) {
			return // Shutdown closed it
		}
		n, ok, err := fc.readHead(s.cfg.ReadHeaderTimeout)
		if err != nil {
			return
		}
		if ok {
			ok = parseHead(fc.peeked(n), &fc.req)
		}
		if !ok {
			handed = s.handOff(fc)
			return
		}
		fc.headLen = n
		fc.takeBuffers()
		keep := s.serveRequest(fc)
		fc.discardHead()
		fc.giveBuffers()
		if !keep {
			return
		}
	}
}

// Response bytes and a head's response head are gathered in buffers lent
// for one request, so that idle connections hold only their read buffer.
var frontBuffers = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledBuffer bounds what goes back to the pool: a head that sent
// large headers does not leave its buffer to every later request.
const maxPooledBuffer = 64 << 10

func (fc *frontConn) takeBuffers() {
	fc.outBuf, fc.scratchBuf = frontBuffers.Get().(*[]byte), frontBuffers.Get().(*[]byte)
	fc.out, fc.scratch = (*fc.outBuf)[:0], (*fc.scratchBuf)[:0]
}

func (fc *frontConn) giveBuffers() {
	giveBuffer(fc.outBuf, fc.out)
	giveBuffer(fc.scratchBuf, fc.scratch)
	fc.out, fc.scratch, fc.outBuf, fc.scratchBuf = nil, nil, nil, nil
}

func giveBuffer(p *[]byte, b []byte) {
	if cap(b) <= maxPooledBuffer {
		*p = b[:0]
		frontBuffers.Put(p)
	}
}

// handOff gives fc, with what has been read from it, to net/http.
func (s *HTTPServer) handOff(fc *frontConn) bool {
	s.handoffs.Add(1)
	pending := append([]byte(nil), fc.peeked(fc.br.Buffered())...)
	if err := fc.c.SetReadDeadline(time.Time{}); err != nil {
		return false
	}
	return s.hand.give(&replayConn{Conn: fc.c, pending: pending})
}

// discardHead drops the request head from the buffer, once.
func (fc *frontConn) discardHead() {
	_, _ = fc.br.Discard(fc.headLen)
	fc.headLen = 0
}

// peeked returns the first n buffered bytes, which must be buffered.
func (fc *frontConn) peeked(n int) []byte {
	b, _ := fc.br.Peek(n)
	return b
}

// setReadDeadline makes reads fail after d from now, give or take a
// second: moving a deadline costs a timer update, so one already set
// within a second of the wanted one is kept.
func (fc *frontConn) setReadDeadline(d time.Duration) {
	want := time.Now().Add(d)
	if delta := want.Sub(fc.readDeadline); delta >= 0 && delta < time.Second {
		return
	}
	if fc.c.SetReadDeadline(want) == nil {
		fc.readDeadline = want
	}
}

// readHead waits until the buffer holds a whole request head, and returns
// its length. ok is false when the head does not fit the buffer or uses
// bare LF line ends; net/http takes those.
func (fc *frontConn) readHead(headerTimeout time.Duration) (n int, ok bool, err error) {
	timed := false
	for {
		buf := fc.peeked(fc.br.Buffered())
		if i := headEnd(buf); i != 0 {
			return i, i > 0, nil
		}
		if len(buf) == fc.br.Size() {
			return 0, false, nil
		}
		if !timed {
			// The rest of the head must come within ReadHeaderTimeout.
			fc.readDeadline = time.Time{}
			fc.setReadDeadline(headerTimeout)
			timed = true
		}
		if _, err := fc.br.Peek(len(buf) + 1); err != nil {
			return 0, false, err
		}
	}
}

// headEnd returns the length of the request head at the start of buf
// through its empty line, 0 when buf does not hold all of it yet, and -1
// when a line ends in a bare LF (which the fast path leaves to net/http).
func headEnd(buf []byte) int {
	for i := 0; i < len(buf); i++ {
		if buf[i] != '\n' {
			continue
		}
		if i == 0 || buf[i-1] != '\r' {
			return -1
		}
		if i >= 3 && buf[i-2] == '\n' && buf[i-3] == '\r' {
			return i + 1
		}
	}
	return 0
}

// rawConn returns the *net.TCPConn under a LimitListener's connection,
// or c.
func rawConn(c net.Conn) net.Conn {
	if lc, ok := c.(*limitConn); ok {
		return lc.Conn
	}
	return c
}

// handoffListener is the listener the full server accepts handed-over
// connections from.
type handoffListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newHandoffListener() *handoffListener {
	return &handoffListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *handoffListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *handoffListener) Addr() net.Addr { return handoffAddr{} }

// give hands c to the full server; false when it is closed.
func (l *handoffListener) give(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}

type handoffAddr struct{}

func (handoffAddr) Network() string { return "handoff" }
func (handoffAddr) String() string  { return "gateway-handoff" }

// replayConn reads pending before what is still to come on Conn.
type replayConn struct {
	net.Conn
	pending []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
