package gateway

import (
	"net"
	"sync"
)

// LimitListener returns l accepting at most cfg.MaxClientConns connections
// at once. Past it, new connections wait in the kernel's accept queue
// until one closes: idle keep-alive connections, WebSockets and Ray
// clients cannot pile up without bound, and nothing is refused that a
// retry would have got.
func LimitListener(cfg Config, l net.Listener) net.Listener {
	cfg = cfg.withDefaults()
	return &limitListener{Listener: l, sem: make(chan struct{}, cfg.MaxClientConns), done: make(chan struct{})}
}

type limitListener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// limitConn gives its slot back when it is closed, once, however often
// Close is called (the server and a hijacking proxy may both close it).
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
