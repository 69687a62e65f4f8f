package gateway

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	client, err = net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// sysIO must behave as the net.Conn it stands for in everything the fast
// path relies on: data in order, EOF, deadlines, Close from another
// goroutine, and writes larger than the socket's buffers.
func TestSysIOAsTheConn(t *testing.T) {
	a, b := tcpPair(t)
	sa, sb := sysIO(a), sysIO(b)
	if runtime.GOOS == "linux" {
		if _, ok := sa.(interface{ readNow(func() error) error }); !ok {
			t.Fatalf("sysIO of a TCP connection is %T, want the raw one on Linux", sa)
		}
	}

	t.Run("data both ways", func(t *testing.T) {
		if _, err := sa.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 16)
		n, err := io.ReadAtLeast(sb, buf, 4)
		if err != nil || string(buf[:n]) != "ping" {
			t.Fatalf("read %q, %v", buf[:n], err)
		}
		if n, err := sb.Read(nil); n != 0 || err != nil {
			t.Fatalf("empty read: %d, %v", n, err)
		}
	})

	t.Run("large write waits for the reader", func(t *testing.T) {
		// Far more than the socket buffers hold: the write must wait for
		// room (EAGAIN, then the poller) and still deliver every byte.
		want := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB
		done := make(chan error, 1)
		go func() {
			n, err := sa.Write(want)
			if err == nil && n != len(want) {
				err = io.ErrShortWrite
			}
			done <- err
		}()
		got := make([]byte, len(want))
		time.Sleep(50 * time.Millisecond) // let the writer fill the buffers first
		if err := b.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(sb, got); err != nil {
			t.Fatalf("read back %v (writer: %v)", err, <-done)
		}
		if err := b.SetReadDeadline(time.Time{}); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatal("the bytes read differ from those written")
		}
	})

	t.Run("readNow", func(t *testing.T) {
		rn, ok := sb.(interface{ readNow(func() error) error })
		if !ok {
			t.Skip("raw reads are Linux only")
		}
		buf := make([]byte, 8)
		start := time.Now()
		err := rn.readNow(func() error { _, err := sb.Read(buf); return err })
		if !errors.Is(err, errWouldBlock) || time.Since(start) > time.Second {
			t.Fatalf("readNow with nothing sent: %v after %s, want errWouldBlock at once", err, time.Since(start))
		}
		if _, err := sa.Write([]byte("now")); err != nil {
			t.Fatal(err)
		}
		var n int
		deadline := time.Now().Add(5 * time.Second)
		for err = errWouldBlock; errors.Is(err, errWouldBlock) && time.Now().Before(deadline); {
			err = rn.readNow(func() error { var e error; n, e = sb.Read(buf); return e })
		}
		if err != nil || string(buf[:n]) != "now" {
			t.Fatalf("readNow after a write: %q, %v", buf[:n], err)
		}
		// Outside readNow, reads wait again.
		go func() { time.Sleep(30 * time.Millisecond); _, _ = sa.Write([]byte("later")) }()
		n, err = io.ReadAtLeast(sb, buf, 5)
		if err != nil || string(buf[:n]) != "later" {
			t.Fatalf("a read after readNow: %q, %v", buf[:n], err)
		}
	})

	t.Run("deadline", func(t *testing.T) {
		if err := b.SetReadDeadline(time.Now().Add(30 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		_, err := sb.Read(make([]byte, 8))
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read past the deadline: %v, want os.ErrDeadlineExceeded", err)
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("read past the deadline: %v is not a timeout net.Error", err)
		}
		if err := b.SetReadDeadline(time.Time{}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("EOF", func(t *testing.T) {
		if err := a.(*net.TCPConn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
		//nolint:errorlint // io.Reader's contract: io.EOF itself, which callers compare with ==
		if _, err := sb.Read(make([]byte, 8)); err != io.EOF {
			t.Fatalf("read after the peer's FIN: %v, want io.EOF", err)
		}
	})

	t.Run("closed while waiting", func(t *testing.T) {
		c, d := tcpPair(t)
		sc := sysIO(c)
		errc := make(chan error, 1)
		go func() {
			_, err := sc.Read(make([]byte, 8))
			errc <- err
		}()
		time.Sleep(20 * time.Millisecond)
		c.Close()
		select {
		case err := <-errc:
			if !errors.Is(err, net.ErrClosed) {
				t.Fatalf("read on a connection closed meanwhile: %v, want net.ErrClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a read stayed blocked after its connection was closed")
		}
		if _, err := sc.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("write on a closed connection: %v, want net.ErrClosed", err)
		}
		_ = d
	})

	t.Run("write to a peer that is gone", func(t *testing.T) {
		c, d := tcpPair(t)
		sc := sysIO(c)
		d.(*net.TCPConn).SetLinger(0) // a reset, not a FIN
		d.Close()
		var err error
		deadline := time.Now().Add(5 * time.Second)
		for err == nil && time.Now().Before(deadline) {
			_, err = sc.Write([]byte("after the reset"))
			time.Sleep(5 * time.Millisecond)
		}
		if err == nil {
			t.Fatal("writes to a reset connection kept succeeding")
		}
	})
}
