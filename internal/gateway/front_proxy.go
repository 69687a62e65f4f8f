package gateway

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"
)

// serveRequest answers fc.req, whose head is at the front of fc's buffer,
// and reports whether the connection can carry another request.
func (s *HTTPServer) serveRequest(fc *frontConn) bool {
	req, g := &fc.req, s.g
	if !g.lim.acquireTotal() {
		return fc.writeError(req, http.StatusServiceUnavailable, codeTooManyConns, msgTooManyConns)
	}
	defer g.lim.releaseTotal()
	method := http.MethodGet
	if req.head {
		method = http.MethodHead
	}
	v, source, cr, ref := g.admit(s.ctx, &req.rt, credentials{method: method, queryToken: req.queryToken,
		hasQueryToken: req.hasQueryToken, header: req.token, cookies: req.cookies})
	switch {
	case ref != nil:
		return fc.writeError(req, ref.status, ref.code, ref.msg)
	case v == missing:
		return fc.writeError(req, http.StatusUnauthorized, codeInvalidToken, msgMissingToken)
	case v == session:
		return fc.startSession(req, g, cr.tokenHash)
	case v != passed:
		s.log.Debug("token refused", "workspace", req.rt.ws, "cluster", req.rt.id, "source", source, "remote", fc.c.RemoteAddr().String())
		return fc.writeError(req, http.StatusUnauthorized, codeInvalidToken, msgBadToken)
	}
	key := clusterKey{req.rt.ws, req.rt.id}
	if !g.lim.acquireCluster(key) {
		return fc.writeError(req, http.StatusServiceUnavailable, codeTooManyConns, msgTooManyConnsClstr)
	}
	defer g.lim.releaseCluster(key)
	return s.forward(fc, &target{rt: req.rt, addr: cr.dashboard, rayToken: cr.rayToken})
}

// outcome is how an exchange with a head ended.
type outcome uint8

const (
	answered   outcome = iota // the client has the whole answer
	unanswered                // the head sent nothing back: a reused connection may have been closed while idle
	unusable                  // the head's answer could not be passed on; the client has nothing yet
	cut                       // it failed after the client got part of the answer
)

// forward sends the request to the head at t.addr and its answer back,
// and reports whether the client connection can carry another request.
func (s *HTTPServer) forward(fc *frontConn, t *target) bool {
	req := &fc.req
	for attempt := 0; ; attempt++ {
		hc, reused, err := s.g.heads.conn(s.ctx, t.addr)
		if err != nil {
			s.headFailed(req, t, err)
			return fc.writeError(req, http.StatusBadGateway, codeBadGateway, msgBadGateway)
		}
		keep, out, err := s.exchange(fc, hc, t)
		switch out {
		case answered:
			return keep
		case cut:
			hc.conn.Close()
			s.log.Debug("answer cut short", "workspace", t.rt.ws, "cluster", t.rt.id, "upstream", t.addr, "err", err)
			return false
		}
		hc.conn.Close()
		// A GET or HEAD the head never answered is safe to send again,
		// once, on a new connection.
		if out == unanswered && reused && attempt == 0 && s.ctx.Err() == nil {
			continue
		}
		s.headFailed(req, t, err)
		return fc.writeError(req, http.StatusBadGateway, codeBadGateway, msgBadGateway)
	}
}

func (s *HTTPServer) headFailed(req *frontRequest, t *target, err error) {
	s.log.Warn("head did not answer", "path", req.rt.upstream, "workspace", t.rt.ws, "cluster", t.rt.id, "upstream", t.addr, "err", err)
}

// exchange sends fc.req to the head on hc and passes its answer to the
// client. On answered, hc is back in the pool or closed; otherwise the
// caller closes it.
func (s *HTTPServer) exchange(fc *frontConn, hc *headConn, t *target) (keep bool, out outcome, err error) {
	req := &fc.req
	if err := hc.armDeadline(s.cfg.UpstreamHeaderTimeout); err != nil {
		return false, unanswered, err
	}
	hc.in.left = maxResponseHeaderBytes
	// The pool's buffered writer is empty between requests; the head
	// goes out in one write of its own.
	fc.scratch = appendRequestHead(fc.scratch[:0], req, t)
	if _, err := hc.sys.Write(fc.scratch); err != nil {
		return false, unanswered, err
	}

	var res responseHead
	for {
		head, err := readResponseHead(hc, fc.scratch[:0])
		fc.scratch = head
		if err != nil {
			if len(head) == 0 {
				return false, unanswered, err
			}
			return false, unusable, err
		}
		if err := res.parse(head); err != nil {
			return false, unusable, err
		}
		// 1xx answers (103 Early Hints) come before the real one.
		if res.code >= 200 {
			break
		}
		if res.code == http.StatusSwitchingProtocols {
			return false, unusable, errors.New("the head switched protocols unasked")
		}
	}
	hc.in.left = 1<<63 - 1 // the body may be as long as it is

	body := res.framing
	if req.head || res.code == http.StatusNoContent || res.code == http.StatusNotModified {
		body = noBody
	}
	closeClient := req.close || s.isClosing()
	fc.out = appendResponseHead(fc.out[:0], &res, t, body, closeClient)

	// The request head is not needed any more (nothing is sent again
	// once the head has answered); the client's next bytes come after it.
	fc.discardHead()
	bp := &bodyPass{fc: fc, hc: hc, timeout: s.cfg.UpstreamHeaderTimeout, live: s.g.live, key: clusterKey{t.rt.ws, t.rt.id}}
	switch body {
	case noBody:
		err = nil
	case fixed:
		err = bp.copyFixed(res.length)
	case chunked:
		bp.waits = 1 // a stream: watch the client from its first wait on
		err = bp.copyChunked()
	case untilClose:
		bp.waits = 1
		err = bp.copyUntilClose()
	}
	if err == nil {
		err = fc.flush()
	}
	if bp.stop != nil {
		bp.stop()
	}
	if err != nil {
		return false, cut, err
	}
	if res.reusable && (body == noBody || res.framing != untilClose) {
		s.g.heads.put(t.addr, hc)
	} else {
		hc.conn.Close()
	}
	return !closeClient, answered, nil
}

// appendRequestHead appends the request the head gets: the path under
// the cluster's prefix, the query without a token, the client's headers but
// hop-by-hop ones and credentials, and Ray's own token when Ray wants one.
func appendRequestHead(b []byte, req *frontRequest, t *target) []byte {
	if req.head {
		b = append(b, "HEAD "...)
	} else {
		b = append(b, "GET "...)
	}
	b = append(b, req.rt.upstream...)
	if req.query != "" {
		b = append(b, '?')
		b = append(b, req.query...)
	}
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, t.addr...)
	b = append(b, "\r\n"...)
	for _, line := range req.forward {
		b = append(b, line...)
	}
	if len(req.cookies) > 0 {
		kept, _ := keptCookies(req.cookies)
		for _, c := range kept {
			b = append(b, "Cookie: "...)
			b = append(b, c...)
			b = append(b, "\r\n"...)
		}
	}
	if t.rayToken != "" {
		b = append(b, "Authorization: Bearer "...)
		b = append(b, t.rayToken...)
		b = append(b, "\r\n"...)
	}
	return append(b, "\r\n"...)
}

// readResponseHead appends one response head (through its empty line)
// read from hc to buf. The head's size is bounded by hc.in.
func readResponseHead(hc *headConn, buf []byte) ([]byte, error) {
	lineStart := len(buf)
	for {
		line, err := hc.br.ReadSlice('\n')
		buf = append(buf, line...)
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue // a line longer than the buffer: keep reading it
		case err != nil:
			if errors.Is(err, io.EOF) && len(buf) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return buf, err
		}
		if l := buf[lineStart:]; string(l) == "\r\n" || string(l) == "\n" {
			return buf, nil
		}
		lineStart = len(buf)
	}
}

// framing is how a response's body is delimited.
type framing uint8

const (
	noBody     framing = iota
	fixed              // Content-Length
	chunked            // Transfer-Encoding: chunked, passed on as it comes
	untilClose         // neither: the body ends when the head closes; the client gets it chunked
)

// responseHead is a parsed response head; its slices point into the bytes
// it was parsed from.
type responseHead struct {
	status   []byte // "200 OK"
	code     int
	framing  framing
	length   int64
	reusable bool // the head keeps the connection open after this answer (HTTP/1.1 only)
	hasDate  bool
	lines    [][]byte // header lines, without their line ends
	dropped  [][]byte // header names the head's Connection header lists
}

var errBadResponse = errors.New("malformed response head")

// parse parses a response head as net/http's client would take it, and
// refuses what it would refuse.
func (r *responseHead) parse(head []byte) error {
	*r = responseHead{lines: r.lines[:0], dropped: r.dropped[:0], length: -1}
	line, rest, ok := cutHeadLine(head)
	if !ok || len(line) < len("HTTP/1.1 200") || line[len("HTTP/1.1")] != ' ' {
		return errBadResponse
	}
	switch string(line[:len("HTTP/1.1")]) {
	case "HTTP/1.1":
		r.reusable = true
	case "HTTP/1.0":
	default:
		return errBadResponse
	}
	r.status = line[len("HTTP/1.1 "):]
	code, err := strconv.Atoi(string(r.status[:3]))
	if err != nil || code < 100 || code > 999 || (len(r.status) > 3 && r.status[3] != ' ') {
		return errBadResponse
	}
	r.code = code
	hasTE := false
	for len(rest) > 0 {
		if line, rest, ok = cutHeadLine(rest); !ok {
			return errBadResponse
		}
		if len(line) == 0 {
			break
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !isToken(line[:colon]) {
			return errBadResponse
		}
		name, value := line[:colon], trimOWS(line[colon+1:])
		if !validValue(value) {
			return errBadResponse
		}
		switch {
		case equalFold(name, "Content-Length"):
			n, err := strconv.ParseInt(string(value), 10, 64)
			if err != nil || n < 0 || (r.length >= 0 && n != r.length) {
				return errBadResponse
			}
			r.length = n
		case equalFold(name, "Transfer-Encoding"):
			if hasTE || !equalFold(value, "chunked") {
				return errBadResponse // net/http takes chunked alone too
			}
			hasTE = true
		case equalFold(name, "Connection"):
			for opt := range bytes.SplitSeq(value, []byte(",")) {
				switch opt = trimOWS(opt); {
				case equalFold(opt, "close"):
					r.reusable = false
				case len(opt) > 0 && !equalFold(opt, "keep-alive"):
					r.dropped = append(r.dropped, opt)
				}
			}
		case equalFold(name, "Date"):
			r.hasDate = true
		}
		r.lines = append(r.lines, line)
	}
	switch {
	case hasTE:
		r.framing, r.length = chunked, -1
	case r.length >= 0:
		r.framing = fixed
	default:
		r.framing = untilClose
	}
	return nil
}

// cutHeadLine cuts one line off a response head; a bare LF ends a line
// too, as net/http's client allows.
func cutHeadLine(b []byte) (line, rest []byte, ok bool) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return nil, nil, false
	}
	line, rest = b[:i], b[i+1:]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	return line, rest, true
}

// appendResponseHead appends the client's response head: the head's
// status and headers without hop-by-hop ones, redirects and cookies put
// under the cluster's prefix, the framing the body goes with, and a Date
// when the head sent none.
func appendResponseHead(b []byte, r *responseHead, t *target, body framing, closeClient bool) []byte {
	b = append(b, "HTTP/1.1 "...)
	b = append(b, r.status...)
	b = append(b, "\r\n"...)
	for _, line := range r.lines {
		colon := bytes.IndexByte(line, ':')
		name, value := line[:colon], trimOWS(line[colon+1:])
		switch {
		case equalFold(name, "Connection"), equalFold(name, "Keep-Alive"), equalFold(name, "Proxy-Connection"),
			equalFold(name, "Proxy-Authenticate"), equalFold(name, "Transfer-Encoding"), equalFold(name, "Upgrade"),
			equalFold(name, "TE"):
			continue
		case equalFold(name, "Trailer") && r.framing != chunked:
			continue
		case equalFold(name, "Content-Length") && r.framing != fixed:
			continue
		case equalFold(name, "Location"):
			b = append(b, "Location: "...)
			b = append(b, rewriteLocation(string(value), t)...)
			b = append(b, "\r\n"...)
			continue
		case equalFold(name, "Set-Cookie"):
			if c, ok := rewriteSetCookie(string(value), t); ok {
				b = append(b, "Set-Cookie: "...)
				b = append(b, c...)
				b = append(b, "\r\n"...)
			}
			continue
		case listed(r.dropped, name):
			continue
		}
		b = append(b, line...)
		b = append(b, "\r\n"...)
	}
	if body == chunked || body == untilClose {
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	}
	if !r.hasDate {
		b = append(b, "Date: "...)
		b = append(b, httpDate()...)
		b = append(b, "\r\n"...)
	}
	if closeClient {
		b = append(b, "Connection: close\r\n"...)
	}
	return append(b, "\r\n"...)
}

func listed(names [][]byte, name []byte) bool {
	for _, n := range names {
		if len(n) == len(name) && equalFold(name, string(n)) {
			return true
		}
	}
	return false
}

// bodyPass passes one body from a head to a client.
type bodyPass struct {
	fc      *frontConn
	hc      *headConn
	timeout time.Duration
	// waits counts the times the client had to wait for the head; from the
	// second on (the first for a stream), a client that leaves is noticed
	// while waiting (watchClient), so that a body that stalls does not
	// hold the head's connection for a client long gone.
	waits int
	stop  func() // ends watchClient, once started
	// live and key are where a body that waits is tracked, so that a
	// revoked token cuts it.
	live *flights
	key  clusterKey
}

// wait gives the client what it has so far, then waits until the head's
// connection has n bytes buffered. A body is not timed: a deadline that
// passes meanwhile is pushed on.
func (p *bodyPass) wait(n int) error {
	// A head often sends its answer in pieces close together (its
	// headers, then its body). What has come already joins what is
	// gathered for the client, in one write rather than one per piece;
	// only when nothing has come is what is gathered sent before waiting.
	if len(p.fc.out) > 0 && p.hc.peekNow(n) == nil {
		return nil
	}
	if err := p.fc.flush(); err != nil {
		return err
	}
	if p.waits++; p.waits >= 2 && p.stop == nil {
		unwatch := p.fc.watchClient(p.hc)
		forget := p.live.add(p.key, func() { p.hc.conn.Close() })
		p.stop = func() {
			forget()
			unwatch()
		}
	}
	for {
		_, err := p.hc.br.Peek(n)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return err
		}
		if err := p.hc.armDeadline(p.timeout); err != nil {
			return err
		}
	}
}

// copyFixed passes n bytes of body from the head to the client.
func (p *bodyPass) copyFixed(n int64) error {
	br := p.hc.br
	for n > 0 {
		if br.Buffered() == 0 {
			if err := p.wait(1); err != nil {
				if errors.Is(err, io.EOF) {
					err = io.ErrUnexpectedEOF
				}
				return err
			}
		}
		b, _ := br.Peek(int(min(int64(br.Buffered()), n)))
		if err := p.fc.send(b); err != nil {
			return err
		}
		_, _ = br.Discard(len(b))
		n -= int64(len(b))
	}
	return nil
}

// copyChunked passes a chunked body on as it is, chunk by chunk, checking
// its framing to know where it ends.
func (p *bodyPass) copyChunked() error {
	for {
		line, err := p.readLine()
		if err != nil {
			return err
		}
		size, err := chunkSize(line)
		if err != nil {
			return err
		}
		if err := p.fc.send(line); err != nil {
			return err
		}
		if size == 0 {
			break
		}
		if err := p.copyFixed(size); err != nil {
			return err
		}
		end, err := p.readLine()
		if err != nil {
			return err
		}
		if string(end) != "\r\n" {
			return errors.New("malformed chunked body")
		}
		if err := p.fc.send(end); err != nil {
			return err
		}
	}
	for { // trailers, then the empty line
		line, err := p.readLine()
		if err != nil {
			return err
		}
		if err := p.fc.send(line); err != nil {
			return err
		}
		if string(line) == "\r\n" {
			return nil
		}
	}
}

// copyUntilClose passes a body that ends when the head closes the
// connection, as chunks, so the client connection stays open.
func (p *bodyPass) copyUntilClose() error {
	br := p.hc.br
	for {
		if br.Buffered() == 0 {
			if err := p.wait(1); err != nil {
				if errors.Is(err, io.EOF) {
					return p.fc.send([]byte("0\r\n\r\n"))
				}
				return err
			}
		}
		b, _ := br.Peek(br.Buffered())
		var size [20]byte
		if err := p.fc.send(append(strconv.AppendInt(size[:0], int64(len(b)), 16), '\r', '\n')); err != nil {
			return err
		}
		if err := p.fc.send(b); err != nil {
			return err
		}
		if err := p.fc.send([]byte("\r\n")); err != nil {
			return err
		}
		_, _ = br.Discard(len(b))
	}
}

// readLine reads one line of a chunked body (CRLF included, at most the
// read buffer's size) into fc.line.
func (p *bodyPass) readLine() ([]byte, error) {
	br := p.hc.br
	for {
		buf, _ := br.Peek(br.Buffered())
		if i := bytes.IndexByte(buf, '\n'); i >= 0 {
			if i == 0 || buf[i-1] != '\r' {
				return nil, errors.New("malformed chunked body")
			}
			p.fc.line = append(p.fc.line[:0], buf[:i+1]...)
			_, _ = br.Discard(i + 1)
			return p.fc.line, nil
		}
		if len(buf) == br.Size() {
			return nil, errors.New("chunked body line too long")
		}
		if err := p.wait(len(buf) + 1); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
}

// chunkSize parses a chunk-size line (extensions ignored).
func chunkSize(line []byte) (int64, error) {
	line = line[:len(line)-2]
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	line = trimOWS(line)
	if len(line) == 0 || len(line) > 15 {
		return 0, errors.New("malformed chunk size")
	}
	n, err := strconv.ParseInt(string(line), 16, 64)
	if err != nil || n < 0 {
		return 0, errors.New("malformed chunk size")
	}
	return n, nil
}

// send queues p for the client: small pieces are gathered, and a piece
// that would overflow the gathering goes out with it in one write.
func (fc *frontConn) send(p []byte) error {
	if len(fc.out)+len(p) <= frontOutFlush {
		fc.out = append(fc.out, p...)
		return nil
	}
	bufs := net.Buffers{fc.out, p}
	_, err := bufs.WriteTo(fc.w)
	fc.out = fc.out[:0]
	return err
}

// flush writes what is gathered.
func (fc *frontConn) flush() error {
	if len(fc.out) == 0 {
		return nil
	}
	_, err := fc.sys.Write(fc.out)
	fc.out = fc.out[:0]
	return err
}

// writeError answers with the gateway's JSON error, and reports whether
// the connection can carry another request.
func (fc *frontConn) writeError(req *frontRequest, status int, code, msg string) bool {
	body := errorJSON(code, msg)
	b := fc.out[:0]
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(status)...)
	b = append(b, "\r\nContent-Type: application/json; charset=utf-8\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"...)
	if status == http.StatusServiceUnavailable {
		b = append(b, "Retry-After: 1\r\n"...)
	}
	b = append(b, "Content-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\nDate: "...)
	b = append(b, httpDate()...)
	if req.close {
		b = append(b, "\r\nConnection: close"...)
	}
	b = append(b, "\r\n\r\n"...)
	if !req.head {
		b = append(b, body...)
	}
	fc.out = b
	return fc.flush() == nil && !req.close
}

// startSession answers a dashboardUrl (a good ?token= on the dashboard)
// as httpGateway.startSession does: the session cookie, and a redirect to
// the same URL without the token.
func (fc *frontConn) startSession(req *frontRequest, g *httpGateway, tokenHash string) bool {
	loc := req.rt.base + "/dashboard" + req.rt.upstream
	if req.query != "" {
		loc += "?" + req.query
	}
	cookie := (&http.Cookie{
		Name:     sessionCookie,
		Value:    sessionValue(g.cfg.SessionKey, req.rt.ws, req.rt.id, tokenHash),
		Path:     req.rt.base + "/",
		HttpOnly: true,
		Secure:   g.cfg.CookieSecure,
		SameSite: http.SameSiteLaxMode,
	}).String()
	b := fc.out[:0]
	b = append(b, "HTTP/1.1 302 Found\r\nCache-Control: no-store\r\n"...)
	if !req.head { // as net/http, which cannot know a HEAD's length
		b = append(b, "Content-Length: 0\r\n"...)
	}
	b = append(b, "Date: "...)
	b = append(b, httpDate()...)
	b = append(b, "\r\nLocation: "...)
	b = append(b, loc...)
	b = append(b, "\r\nReferrer-Policy: no-referrer\r\nSet-Cookie: "...)
	b = append(b, cookie...)
	if req.close {
		b = append(b, "\r\nConnection: close"...)
	}
	b = append(b, "\r\n\r\n"...)
	fc.out = b
	return fc.flush() == nil && !req.close
}

// watchClient reads from the client while a stream is passed on, and
// closes the head's connection when the client goes away. The returned
// stop ends the watch; the connection's buffer is the caller's again
// after it.
func (fc *frontConn) watchClient(hc *headConn) (stop func()) {
	if fc.c.SetReadDeadline(time.Time{}) != nil {
		return func() {}
	}
	fc.readDeadline = time.Time{}
	var stopping atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, err := fc.br.Peek(1)
		if err != nil && !stopping.Load() {
			hc.conn.Close() // the client left: end the stream
		}
	}()
	return func() {
		stopping.Store(true)
		_ = fc.c.SetReadDeadline(time.Unix(1, 0))
		<-done
		fc.readDeadline = time.Time{}
	}
}

// httpDate is the Date header's value for now, made once a second.
func httpDate() []byte {
	now := time.Now()
	if d := lastDate.Load(); d != nil && d.sec == now.Unix() {
		return d.text
	}
	d := &dateText{sec: now.Unix(), text: now.UTC().AppendFormat(nil, http.TimeFormat)}
	lastDate.Store(d)
	return d.text
}

type dateText struct {
	sec  int64
	text []byte
}

var lastDate atomic.Pointer[dateText]
