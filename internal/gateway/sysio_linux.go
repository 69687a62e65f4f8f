package gateway

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// sysIO returns what the fast path reads c with and writes c with: for a
// TCP connection, its file descriptor driven with raw read and write
// system calls; for anything else, c itself.
//
// The descriptor is non-blocking, so a read or write returns at once; Go's
// poller still waits for readiness (syscall.RawConn), and deadlines set on
// c apply. What a raw call saves is the scheduler's bookkeeping around a
// system call that may block: a write to a local socket runs the
// receiver's TCP input too and often outlasts the 20 µs after which the
// runtime's monitor hands the caller's P to another thread, and that
// thread to and fro, costing more than the write (bench/README.md).
func sysIO(c net.Conn) io.ReadWriter {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	s := &sysConn{rc: rc}
	s.readFn, s.writeFn = s.read, s.write
	return s
}

// sysConn holds each call's buffer and result in its fields, and hands
// RawConn method values made once: a closure per call would cost an
// allocation per read and write. The mutexes keep concurrent Reads (or
// Writes) from sharing those fields, as RawConn's own locks are taken
// only inside its Read and Write.
type sysConn struct {
	rc syscall.RawConn

	rmu    sync.Mutex
	rbuf   []byte
	rn     int
	rerrno syscall.Errno
	readFn func(fd uintptr) bool
	noWait bool // set by readNow: a read that finds nothing returns errWouldBlock
	empty  bool

	wmu     sync.Mutex
	wbuf    []byte
	wn      int
	werrno  syscall.Errno
	writeFn func(fd uintptr) bool
}

func (s *sysConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	s.rmu.Lock()
	defer s.rmu.Unlock()
	s.rbuf, s.rn, s.rerrno, s.empty = p, 0, 0, false
	err := s.rc.Read(s.readFn)
	n, errno := s.rn, s.rerrno
	s.rbuf = nil
	switch {
	case err != nil:
		return 0, err
	case s.empty:
		return 0, errWouldBlock
	case errno != 0:
		return 0, os.NewSyscallError("read", errno)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// read is called by RawConn.Read: false asks it to wait until the
// descriptor is readable and call again.
func (s *sysConn) read(fd uintptr) bool {
	p := s.rbuf
	for {
		r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			s.empty = s.noWait
			return s.noWait
		}
		s.rn, s.rerrno = int(r), e
		return true
	}
}

// readNow runs read with Reads that return errWouldBlock rather than wait
// when nothing has arrived.
func (s *sysConn) readNow(read func() error) error {
	s.rmu.Lock()
	s.noWait = true
	s.rmu.Unlock()
	defer func() {
		s.rmu.Lock()
		s.noWait = false
		s.rmu.Unlock()
	}()
	return read()
}

func (s *sysConn) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.wbuf, s.wn, s.werrno = p, 0, 0
	err := s.rc.Write(s.writeFn)
	n, errno := s.wn, s.werrno
	s.wbuf = nil
	if err == nil && errno != 0 {
		err = os.NewSyscallError("write", errno)
	}
	return n, err
}

// write is called by RawConn.Write until it has written all of s.wbuf or
// failed; false asks it to wait until the descriptor is writable.
func (s *sysConn) write(fd uintptr) bool {
	p := s.wbuf
	for s.wn < len(p) {
		r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&p[s.wn])), uintptr(len(p)-s.wn))
		switch e {
		case 0:
			s.wn += int(r)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			s.werrno = e
			return true
		}
	}
	return true
}
