package signer

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

var (
	testNow   = time.Date(2026, 11, 28, 8, 30, 0, 0, time.UTC)
	testCred  = Credentials{AccessKeyID: "AKID", AccessKeySecret: "s3cret"}
	testBody  = []byte(`{"name":"demo","rayVersion":"ray-2.40"}`)
	testHost  = "127.0.0.1:8443"
	testPath  = "/api/v1/workspaces/w-1/rayCluster"
	testQuery = "regionId=cn-hangzhou&clientToken=a+b%2Ac~"
)

// wire is a request as a server receives it, so tests can tamper with it.
type wire struct {
	method, target, host string
	header               http.Header
	body                 []byte
}

func (w wire) request() *http.Request {
	r := httptest.NewRequest(w.method, w.target, bytes.NewReader(w.body))
	r.Host = w.host
	r.Header = w.header.Clone()
	return r
}

func signed(t testing.TB, scheme string, method string, body []byte, cred Credentials) wire {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+testHost+testPath+"?"+testQuery, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-acs-action", "CreateRayCluster")
	req.Header.Set("x-acs-version", "2023-08-08")
	if len(body) > 0 {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	if scheme == SchemeACS3 {
		err = SignACS3(req, body, cred, testNow, NewNonce())
	} else {
		err = SignROA(req, body, cred, testNow)
	}
	if err != nil {
		t.Fatal(err)
	}
	return wire{method, req.URL.RequestURI(), req.Host, req.Header, body}
}

// verify checks w as the server does (ParseRequest, then Verify).
func verify(w wire, secret string, now time.Time) error {
	r := w.request()
	s, err := ParseRequest(r, w.body)
	if err != nil {
		return err
	}
	return s.Verify(r, w.body, secret, now)
}

func code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if err != nil {
		return "non-*Error: " + err.Error()
	}
	return ""
}

type tamper struct {
	name   string
	change func(w *wire)
	secret string
	now    time.Time
	code   string
}

func runTampers(t *testing.T, base wire, tampers []tamper) {
	t.Helper()
	for _, tc := range tampers {
		t.Run(tc.name, func(t *testing.T) {
			w := base
			w.header = base.header.Clone()
			w.body = bytes.Clone(base.body)
			if tc.change != nil {
				tc.change(&w)
			}
			secret, now := tc.secret, tc.now
			if secret == "" {
				secret = testCred.AccessKeySecret
			}
			if now.IsZero() {
				now = testNow
			}
			if got := code(verify(w, secret, now)); got != tc.code {
				t.Fatalf("code = %q, want %q (err: %v)", got, tc.code, verify(w, secret, now))
			}
		})
	}
}

func flipBody(w *wire) { w.body[3] ^= 1 }

func TestACS3RoundTrip(t *testing.T) {
	base := signed(t, SchemeACS3, "POST", testBody, testCred)
	setAuth := func(v string) func(w *wire) { return func(w *wire) { w.header.Set("Authorization", v) } }
	auth := base.header.Get("Authorization")
	runTampers(t, base, []tamper{
		{name: "untouched"},
		{name: "14 minutes later", now: testNow.Add(14 * time.Minute)},
		{name: "14 minutes earlier", now: testNow.Add(-14 * time.Minute)},
		{name: "body", change: flipBody, code: CodeSignatureDoesNotMatch},
		{name: "body dropped", change: func(w *wire) { w.body = nil }, code: CodeSignatureDoesNotMatch},
		{name: "path", change: func(w *wire) { w.target = strings.Replace(w.target, "w-1", "w-2", 1) }, code: CodeSignatureDoesNotMatch},
		{name: "query", change: func(w *wire) { w.target = strings.Replace(w.target, "hangzhou", "hangzhoU", 1) }, code: CodeSignatureDoesNotMatch},
		{name: "query added", change: func(w *wire) { w.target += "&x=1" }, code: CodeSignatureDoesNotMatch},
		{name: "signed header", change: func(w *wire) { w.header.Set("x-acs-action", "DeleteRayCluster") }, code: CodeSignatureDoesNotMatch},
		{name: "content-type", change: func(w *wire) { w.header.Set("Content-Type", "text/plain") }, code: CodeSignatureDoesNotMatch},
		{name: "host", change: func(w *wire) { w.host = "127.0.0.1:8444" }, code: CodeSignatureDoesNotMatch},
		{name: "method", change: func(w *wire) { w.method = "PUT" }, code: CodeSignatureDoesNotMatch},
		{name: "date moved", change: func(w *wire) { w.header.Set("x-acs-date", "2026-11-28T08:31:00Z") }, code: CodeSignatureDoesNotMatch},
		{name: "secret", secret: "s3creT", code: CodeSignatureDoesNotMatch},
		{name: "16 minutes later", now: testNow.Add(16 * time.Minute), code: CodeTimeStampExpired},
		{name: "16 minutes earlier", now: testNow.Add(-16 * time.Minute), code: CodeTimeStampExpired},
		{name: "unsigned x-acs header added", change: func(w *wire) { w.header.Set("x-acs-resource-group-id", "rg-1") }, code: CodeIncompleteSignature},
		{name: "unsigned header added", change: func(w *wire) { w.header.Set("X-Forwarded-For", "10.0.0.1") }},
		{name: "no Authorization", change: func(w *wire) { w.header.Del("Authorization") }, code: CodeIncompleteSignature},
		{name: "two Authorizations", change: func(w *wire) { w.header.Add("Authorization", auth) }, code: CodeIncompleteSignature},
		{name: "other scheme", change: setAuth("Bearer x"), code: CodeIncompleteSignature},
		{name: "SM3", change: setAuth(strings.Replace(auth, "HMAC-SHA256", "HMAC-SM3", 1)), code: CodeIncompleteSignature},
		{name: "no Signature", change: setAuth(auth[:strings.Index(auth, ",Signature=")]), code: CodeIncompleteSignature},
		{name: "short Signature", change: setAuth(auth[:len(auth)-2]), code: CodeIncompleteSignature},
		{name: "duplicate field", change: setAuth(auth + ",Credential=x"), code: CodeIncompleteSignature},
		{name: "empty signed header name", change: setAuth(strings.Replace(auth, "host;", "host;;", 1)), code: CodeIncompleteSignature},
		{name: "host not signed", change: setAuth(strings.Replace(auth, "host;", "", 1)), code: CodeIncompleteSignature},
		{name: "x-acs-date not signed", change: setAuth(strings.Replace(auth, ";x-acs-date", "", 1)), code: CodeIncompleteSignature},
		{name: "no x-acs-date", change: func(w *wire) { w.header.Del("x-acs-date") }, code: CodeMissingParameter},
		{name: "garbled x-acs-date", change: func(w *wire) { w.header.Set("x-acs-date", "yesterday") }, code: CodeInvalidParameter},
		{name: "no x-acs-content-sha256", change: func(w *wire) { w.header.Del("x-acs-content-sha256") }, code: CodeMissingParameter},
		{name: "no nonce", change: func(w *wire) { w.header.Del("x-acs-signature-nonce") }, code: CodeMissingParameter},
	})
}

func TestACS3SecurityToken(t *testing.T) {
	sts := testCred
	sts.SecurityToken = "CAIS-token"
	base := signed(t, SchemeACS3, "GET", nil, sts)
	s, err := Parse(base.request())
	if err != nil {
		t.Fatal(err)
	}
	if s.SecurityToken != "CAIS-token" || s.AccessKeyID != "AKID" || len(s.Nonce) != 32 || !s.Date.Equal(testNow) {
		t.Fatalf("Parse = %+v", s)
	}
	runTampers(t, base, []tamper{
		{name: "untouched"},
		{name: "token", change: func(w *wire) { w.header.Set("x-acs-security-token", "CAIS-other") }, code: CodeSignatureDoesNotMatch},
		{name: "token dropped", change: func(w *wire) { w.header.Del("x-acs-security-token") }, code: CodeSignatureDoesNotMatch},
		{name: "key id", change: func(w *wire) { w.header.Set("x-acs-accesskey-id", "AKOTHER") }, code: CodeInvalidParameter},
		{name: "body added", change: func(w *wire) { w.body = []byte("{}") }, code: CodeSignatureDoesNotMatch},
	})
}

func TestROARoundTrip(t *testing.T) {
	base := signed(t, SchemeROA, "POST", testBody, testCred)
	runTampers(t, base, []tamper{
		{name: "untouched"},
		{name: "14 minutes later", now: testNow.Add(14 * time.Minute)},
		{name: "body", change: flipBody, code: CodeSignatureDoesNotMatch},
		{name: "Content-MD5 dropped", change: func(w *wire) { w.header.Del("Content-MD5") }, code: CodeSignatureDoesNotMatch},
		{name: "path", change: func(w *wire) { w.target = strings.Replace(w.target, "w-1", "w-2", 1) }, code: CodeSignatureDoesNotMatch},
		{name: "query", change: func(w *wire) { w.target = strings.Replace(w.target, "hangzhou", "hangzhoU", 1) }, code: CodeSignatureDoesNotMatch},
		{name: "signed header", change: func(w *wire) { w.header.Set("x-acs-version", "2023-08-09") }, code: CodeSignatureDoesNotMatch},
		{name: "accept", change: func(w *wire) { w.header.Set("Accept", "application/xml") }, code: CodeSignatureDoesNotMatch},
		{name: "x-acs header added", change: func(w *wire) { w.header.Set("x-acs-resource-group-id", "rg-1") }, code: CodeSignatureDoesNotMatch},
		{name: "secret", secret: "s3creT", code: CodeSignatureDoesNotMatch},
		{name: "16 minutes later", now: testNow.Add(16 * time.Minute), code: CodeTimeStampExpired},
		{name: "16 minutes earlier", now: testNow.Add(-16 * time.Minute), code: CodeTimeStampExpired},
		{name: "no date", change: func(w *wire) { w.header.Del("Date") }, code: CodeMissingParameter},
		{name: "garbled date", change: func(w *wire) { w.header.Set("Date", "tomorrow") }, code: CodeInvalidParameter},
		{name: "garbled Authorization", change: func(w *wire) { w.header.Set("Authorization", "acs AKID") }, code: CodeIncompleteSignature},
		{name: "other method", change: func(w *wire) { w.header.Set("x-acs-signature-method", "HMAC-SHA256") }, code: CodeInvalidParameter},
	})

	empty := signed(t, SchemeROA, "GET", nil, testCred)
	runTampers(t, empty, []tamper{
		{name: "no body"},
		{name: "body without Content-MD5 (legacy clients send none)", change: func(w *wire) { w.body = []byte("{}") }},
	})
}

// The official ROA signers disagree on the resource they sign; see verifyROA.
func TestROAAcceptsEachClientResource(t *testing.T) {
	date := testNow.Format(http.TimeFormat)
	for _, tc := range []struct{ name, target, resource string }{
		{"spec", "/a/w-1?k=a+b*c", "/a/w-1?k=a b*c"},
		{"classic SDK", "/a/w-1?k=a%2Bb*c&e=", "/a/w-1?e&k=a%20b%2Ac"},
		{"darabonba encoded path", "/a/w%201?k=v", "/a/w%201?k=v"},
		{"decoded path", "/a/w%201?k=v", "/a/w 1?k=v"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{"Date": {date}, "Accept": {"application/json"}, "X-Acs-Version": {"2023-08-08"}}
			sts := "GET\napplication/json\n\n\n" + date + "\nx-acs-version:2023-08-08\n" + tc.resource
			h.Set("Authorization", "acs AKID:"+b64(hmacSHA1(testCred.AccessKeySecret, sts)))
			w := wire{"GET", tc.target, testHost, h, nil}
			if err := verify(w, testCred.AccessKeySecret, testNow); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestNeverPanicsOnNil(t *testing.T) {
	if _, err := Parse(nil); code(err) != CodeIncompleteSignature {
		t.Fatal(err)
	}
	var s *Signed
	if err := s.Verify(nil, nil, "", testNow); code(err) != CodeIncompleteSignature {
		t.Fatal(err)
	}
	r := &http.Request{Header: http.Header{"Authorization": {"ACS3-HMAC-SHA256 Credential=a,SignedHeaders=host;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce,Signature=" + strings.Repeat("0", 64)},
		"X-Acs-Date": {"2026-11-28T08:30:00Z"}, "X-Acs-Content-Sha256": {""}, "X-Acs-Signature-Nonce": {"n"}}}
	s, err := Parse(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(r, nil, "x", testNow); code(err) != CodeSignatureDoesNotMatch {
		t.Fatal(err)
	}
	if err := SignACS3(&http.Request{}, nil, testCred, testNow, "n"); err == nil {
		t.Fatal("SignACS3 without URL succeeded")
	}
}

func TestSignatureMismatchMessage(t *testing.T) {
	err := verify(signed(t, SchemeACS3, "GET", nil, testCred), "wrong", testNow)
	var e *Error
	if !errors.As(err, &e) || !strings.Contains(e.Message, `The string to sign the server computed is: ACS3-HMAC-SHA256\n`) {
		t.Fatalf("err = %v", err)
	}
}
