package gateway

import (
	"bytes"
	"strings"
)

// frontRequest is a request head the fast path takes. Its byte slices
// point into the connection's read buffer and live until the request has
// been answered; the strings are copies.
type frontRequest struct {
	head   bool   // HEAD, else GET
	target string // path and query as sent
	rt     route
	query  string // the query to forward (without ?), and without a token
	// queryToken is ?token= (unescaped): on the dashboard, a dashboardUrl
	// that starts a session.
	queryToken    string
	hasQueryToken bool
	token         string // the first ray-token header
	// cookies are the Cookie lines; forwarded without the credential
	// cookies (keptCookies).
	cookies []string
	close   bool // Connection: close
	// forward are the header lines that go to the head as they came,
	// CRLF included.
	forward [][]byte
}

// parseHead parses head (a request head through its empty line) into r if
// it is one the fast path takes: GET or HEAD, HTTP/1.1, an origin-form
// target made of plain characters under a cluster's /api/ or /dashboard/,
// exactly one Host, no body, no Upgrade, Expect,
// TE or Transfer-Encoding, and a Connection header of at most close or
// keep-alive. Everything else, malformed heads included, is left to
// net/http (false), which answers it as it always has: the fast path never
// refuses what net/http would take, nor takes what it would refuse.
func parseHead(head []byte, r *frontRequest) bool {
	*r = frontRequest{forward: r.forward[:0], cookies: r.cookies[:0]}
	line, rest, ok := cutLine(head)
	if !ok {
		return false
	}
	switch {
	case bytes.HasPrefix(line, []byte("GET ")):
		line = line[4:]
	case bytes.HasPrefix(line, []byte("HEAD ")):
		r.head, line = true, line[5:]
	default:
		return false
	}
	sp := bytes.IndexByte(line, ' ')
	if sp < 0 || string(line[sp+1:]) != "HTTP/1.1" || !plainTarget(line[:sp]) {
		return false
	}
	r.target = string(line[:sp])
	path, query, _ := cutString(r.target, '?')
	if r.rt, ok = parseRoute(path); !ok || (r.rt.kind != routeAPI && r.rt.kind != routeDashboard) {
		return false
	}
	r.query, r.queryToken, r.hasQueryToken = takeParam(query, tokenParam)
	hosts, tokens := 0, 0
	for len(rest) > 2 {
		if line, rest, ok = cutLine(rest); !ok {
			return false
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !isToken(line[:colon]) {
			return false // also a folded line, which starts with a space
		}
		name, value := line[:colon], trimOWS(line[colon+1:])
		if !validValue(value) {
			return false
		}
		raw := line[: len(line)+2 : len(line)+2] // the line with its CRLF
		switch {
		case equalFold(name, "Host"):
			if hosts++; hosts > 1 || !validHost(value) {
				return false
			}
		case equalFold(name, "Content-Length"):
			if string(value) != "0" {
				return false
			}
		case equalFold(name, "Transfer-Encoding"), equalFold(name, "Upgrade"), equalFold(name, "Expect"), equalFold(name, "TE"):
			return false
		case equalFold(name, "Connection"):
			for opt := range bytes.SplitSeq(value, []byte(",")) {
				switch opt = trimOWS(opt); {
				case equalFold(opt, "close"):
					r.close = true
				case len(opt) == 0, equalFold(opt, "keep-alive"):
				default:
					return false // it names headers to drop, or asks to upgrade
				}
			}
		case equalFold(name, tokenHeader):
			if tokens++; tokens == 1 {
				r.token = string(value)
			}
		case equalFold(name, "Cookie"):
			r.cookies = append(r.cookies, string(value))
		case equalFold(name, "Keep-Alive"), equalFold(name, "Proxy-Connection"), equalFold(name, "Proxy-Authorization"),
			equalFold(name, "Proxy-Authenticate"), equalFold(name, "Trailer"), equalFold(name, "Authorization"), equalFold(name, "X-Ray-Authorization"),
			equalFold(name, "Forwarded"), equalFold(name, "X-Forwarded-For"), equalFold(name, "X-Forwarded-Host"),
			equalFold(name, "X-Forwarded-Proto"):
			// Hop-by-hop, a credential, or what net/http's reverse proxy
			// also drops: none of it goes to the head.
		default:
			r.forward = append(r.forward, raw)
		}
	}
	return hosts == 1 && string(rest) == "\r\n"
}

// cutLine cuts one CRLF-ended line off b.
func cutLine(b []byte) (line, rest []byte, ok bool) {
	i := bytes.IndexByte(b, '\n')
	if i < 1 || b[i-1] != '\r' {
		return nil, nil, false
	}
	return b[:i-1], b[i+1:], true
}

func cutString(s string, sep byte) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// plainTarget reports whether t is an origin-form target whose path needs
// no decoding (RFC 3986 pchar and "/", no percent-escapes), so that the
// path as sent is the escaped path net/http would route by, and whose
// query holds only visible ASCII.
func plainTarget(t []byte) bool {
	if len(t) == 0 || t[0] != '/' {
		return false
	}
	i := 0
	for ; i < len(t) && t[i] != '?'; i++ {
		if !alnumOr(t[i], "/-._~!$&'()*+,;=:@") {
			return false
		}
	}
	for ; i < len(t); i++ {
		if c := t[i]; c <= ' ' || c >= 0x7f || c == '#' {
			return false
		}
	}
	return true
}

// isToken reports whether b is an RFC 9110 token (a header name).
func isToken(b []byte) bool {
	return allAlnumOr(b, "!#$%&'*+-.^_`|~")
}

// validValue reports whether b is a header value net/http accepts: no
// control characters but tab.
func validValue(b []byte) bool {
	for _, c := range b {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// validHost accepts the Host values of plain names and addresses; others
// go to net/http.
func validHost(b []byte) bool {
	return allAlnumOr(b, "-.:[]_")
}

// allAlnumOr reports whether b is not empty and each of its bytes is an
// ASCII letter or digit or one of extra.
func allAlnumOr(b []byte, extra string) bool {
	for _, c := range b {
		if !alnumOr(c, extra) {
			return false
		}
	}
	return len(b) > 0
}

// alnumOr reports whether c is an ASCII letter or digit or one of extra.
func alnumOr(c byte, extra string) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(extra, c) >= 0
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// equalFold reports whether b is s in ASCII, ignoring case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c, d := b[i], s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'A' <= d && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}
