package signer

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func FuzzVerify(f *testing.F) {
	seed := signed(f, SchemeACS3, "POST", testBody, testCred)
	roa := signed(f, SchemeROA, "POST", testBody, testCred)
	for _, w := range []wire{seed, roa} {
		f.Add(testPath, testQuery, testBody, w.header.Get("Authorization"), w.header.Get("x-acs-date")+w.header.Get("Date"), w.header.Get("x-acs-content-sha256"))
	}
	f.Add("/a b/%zz", "k=%&=&&x", []byte{}, "acs :", "Mon, 02 Jan 2006 15:04:05 GMT", "")
	f.Add("", "", []byte(nil), "ACS3-HMAC-SHA256 Credential=,SignedHeaders=;,Signature=zz", "2026-11-28T08:30:00Z", "x")
	f.Fuzz(func(t *testing.T, path, query string, body []byte, auth, date, hdr string) {
		// Arbitrary input: Parse and Verify must answer, never panic.
		r := &http.Request{
			Method:     "POST",
			URL:        &url.URL{Path: path, RawQuery: query},
			RequestURI: path + "?" + query,
			Host:       hdr,
			Header: http.Header{
				"Authorization": {auth}, "X-Acs-Date": {date}, "Date": {date}, "x-acs-date": {hdr},
				"X-Acs-Content-Sha256": {hdr}, "X-Acs-Signature-Nonce": {hdr}, "Content-Md5": {hdr}, "X-Acs-" + hdr: {date},
			},
		}
		if s, err := Parse(r); err == nil {
			_ = s.Verify(r, body, "s3cret", testNow)
		}

		// Anything a client can send, signed by SignACS3, verifies both in
		// memory and after a trip through net/http's wire format.
		if !cleanQuery(query) {
			query = url.Values{auth: {date}, "q": {query}}.Encode()
		}
		u := &url.URL{Scheme: "http", Host: testHost, Path: "/" + path, RawQuery: query}
		req := &http.Request{Method: "POST", URL: u, Host: u.Host, Header: http.Header{"X-Acs-Action": {"CreateRayCluster"}}}
		if err := SignACS3(req, body, testCred, testNow, "n-1"); err != nil {
			t.Fatal(err)
		}
		mustVerify(t, req, body)
		srv, got := overTheWire(t, req, body)
		mustVerify(t, srv, got)
		if s, err := Parse(srv); err != nil || s.Verify(srv, got, "s3creT", testNow) == nil {
			t.Fatalf("wrong secret accepted (Parse: %v)", err)
		}
	})
}

// cleanQuery reports whether a client could send q as it is.
func cleanQuery(q string) bool {
	for i := 0; i < len(q); i++ {
		if q[i] <= ' ' || q[i] >= 0x7f || q[i] == '#' {
			return false
		}
	}
	return true
}

func mustVerify(t *testing.T, r *http.Request, body []byte) {
	t.Helper()
	s, err := Parse(r)
	if err == nil {
		err = s.Verify(r, body, testCred.AccessKeySecret, testNow)
	}
	if err != nil {
		t.Fatalf("%s %s: %v", r.Method, r.URL, err)
	}
}

func FuzzCanonicalQuery(f *testing.F) {
	for _, q := range []string{"", vecQuery, "a+b=c%2B&a=%zz&&b", "k=%E4%B8%AD&k=~*!'()", "=&=="} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		got := CanonicalQuery(q)
		ps := canonicalQueryPairs(q)
		var parts []string
		keysEncoded := true
		for i, p := range ps {
			if i > 0 && p.key < ps[i-1].key {
				t.Fatalf("%q: keys out of order: %q after %q", q, p.key, ps[i-1].key)
			}
			if !encodedRFC3986(p.value) {
				t.Fatalf("%q: value %q is not RFC 3986 encoded", q, p.value)
			}
			keysEncoded = keysEncoded && escapeRFC3986(p.key) == p.key
			parts = append(parts, p.key+"="+p.value)
		}
		if want := strings.Join(parts, "&"); got != want {
			t.Fatalf("CanonicalQuery(%q) = %q, want %q", q, got, want)
		}
		// Keys are signed decoded (as the clients do), so only with plain keys
		// is the whole string unreserved characters, %XX, '=' and '&'.
		if keysEncoded && !encodedRFC3986(strings.NewReplacer("=", "", "&", "").Replace(got)) {
			t.Fatalf("CanonicalQuery(%q) = %q has stray characters", q, got)
		}
	})
}

func encodedRFC3986(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case isUnreserved(c):
		case c == '%' && i+2 < len(s) && isUpperHex(s[i+1]) && isUpperHex(s[i+2]):
			i += 2
		default:
			return false
		}
	}
	return true
}

func isUpperHex(c byte) bool { return '0' <= c && c <= '9' || 'A' <= c && c <= 'F' }

// overTheWire sends req with body through net/http's wire format and reads
// it back as a server would, failing t if the body changed.
func overTheWire(t *testing.T, req *http.Request, body []byte) (*http.Request, []byte) {
	t.Helper()
	req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	var buf bytes.Buffer
	if err := req.Write(&buf); err != nil {
		t.Fatal(err)
	}
	srv, err := http.ReadRequest(bufio.NewReader(&buf))
	if err != nil {
		t.Fatalf("net/http cannot read back %q: %v", buf.String(), err)
	}
	got, err := io.ReadAll(srv.Body)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("body changed on the wire: %q, %v", got, err)
	}
	return srv, got
}
