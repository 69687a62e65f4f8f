package signer

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"
)

var rpcCall = map[string]string{
	"Action": "CreateUser", "Version": "2015-05-01", "RegionId": "cn-hangzhou",
	"UserName": "alice", "Comments": "a b*c~ d+e/f 中", "SignatureType": "",
}

// signedRPC signs rpcCall as a client would send it: parameters in the
// query (a POST with an empty form body, as the classic SDK sends) or all
// in a form body.
func signedRPC(t testing.TB, method string, form bool, cred Credentials) wire {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+testHost+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-acs-action", "CreateUser")
	req.Header.Set("x-acs-version", "2015-05-01")
	body, err := SignRPC(req, rpcCall, form, cred, testNow, NewNonce())
	if err != nil {
		t.Fatal(err)
	}
	if method == http.MethodPost && !form {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return wire{method, req.URL.RequestURI(), req.Host, req.Header, body}
}

// setParam replaces (or with value "" and del, removes) one parameter in the
// query or the form body, keeping everything else as sent.
func setParam(name, value string, del bool) func(w *wire) {
	edit := func(raw string) string {
		q, _ := url.ParseQuery(raw)
		if del {
			q.Del(name)
		} else {
			q.Set(name, value)
		}
		return q.Encode()
	}
	return func(w *wire) {
		if len(w.body) > 0 {
			w.body = []byte(edit(string(w.body)))
			return
		}
		_, raw, _ := strings.Cut(w.target, "?")
		w.target = "/?" + edit(raw)
	}
}

func rpcTampers(t *testing.T, base wire) {
	t.Helper()
	runTampers(t, base, []tamper{
		{name: "untouched"},
		{name: "14 minutes later", now: testNow.Add(14 * time.Minute)},
		{name: "14 minutes earlier", now: testNow.Add(-14 * time.Minute)},
		{name: "16 minutes later", now: testNow.Add(16 * time.Minute), code: CodeTimeStampExpired},
		{name: "16 minutes earlier", now: testNow.Add(-16 * time.Minute), code: CodeTimeStampExpired},
		{name: "secret", secret: "s3creT", code: CodeSignatureDoesNotMatch},
		{name: "parameter changed", change: setParam("UserName", "mallory", false), code: CodeSignatureDoesNotMatch},
		{name: "parameter added", change: setParam("DisplayName", "x", false), code: CodeSignatureDoesNotMatch},
		{name: "empty parameter added", change: setParam("Email", "", false), code: CodeSignatureDoesNotMatch},
		{name: "parameter removed", change: setParam("Comments", "", true), code: CodeSignatureDoesNotMatch},
		{name: "empty parameter removed", change: setParam("SignatureType", "", true), code: CodeSignatureDoesNotMatch},
		{name: "timestamp moved", change: setParam("Timestamp", "2026-11-28T08:31:00Z", false), code: CodeSignatureDoesNotMatch},
		{name: "nonce changed", change: setParam("SignatureNonce", "other", false), code: CodeSignatureDoesNotMatch},
		{name: "action changed with its header", change: func(w *wire) {
			setParam("Action", "DeleteUser", false)(w)
			w.header.Set("x-acs-action", "DeleteUser")
		}, code: CodeSignatureDoesNotMatch},
		{name: "x-acs-action header redirects the call", change: func(w *wire) { w.header.Set("x-acs-action", "DeleteUser") }, code: CodeInvalidParameter},
		{name: "x-acs-version header redirects the call", change: func(w *wire) { w.header.Set("x-acs-version", "2015-04-01") }, code: CodeInvalidParameter},
		{name: "headers dropped (they are not signed)", change: func(w *wire) { w.header.Del("x-acs-action"); w.header.Del("x-acs-version") }},
		{name: "method", change: func(w *wire) {
			w.method = map[string]string{"GET": "POST", "POST": "GET"}[w.method]
		}, code: CodeSignatureDoesNotMatch},
		{name: "ROA path", change: func(w *wire) { w.target = "/api/v1/workspaces" + w.target[1:] }, code: CodeIncompleteSignature},
		{name: "path /?", change: func(w *wire) { w.target = "/x" + w.target[1:] }, code: CodeIncompleteSignature},
		{name: "no AccessKeyId", change: setParam("AccessKeyId", "", true), code: CodeIncompleteSignature},
		{name: "no Signature", change: setParam("Signature", "", true), code: CodeIncompleteSignature},
		{name: "short Signature", change: setParam("Signature", "AAAA", false), code: CodeIncompleteSignature},
		{name: "Signature not base64", change: setParam("Signature", "not base64!", false), code: CodeIncompleteSignature},
		{name: "no SignatureNonce", change: setParam("SignatureNonce", "", true), code: CodeMissingParameter},
		{name: "no Timestamp", change: setParam("Timestamp", "", true), code: CodeMissingParameter},
		{name: "no SignatureMethod", change: setParam("SignatureMethod", "", true), code: CodeMissingParameter},
		{name: "no SignatureVersion", change: setParam("SignatureVersion", "", true), code: CodeMissingParameter},
		{name: "no Action", change: func(w *wire) { setParam("Action", "", true)(w); w.header.Del("x-acs-action") }, code: CodeMissingParameter},
		{name: "no Version", change: setParam("Version", "", true), code: CodeMissingParameter},
		{name: "garbled Timestamp", change: setParam("Timestamp", "yesterday", false), code: CodeInvalidParameter},
		{name: "local Timestamp", change: setParam("Timestamp", "2026-11-28T16:30:00+08:00", false), code: CodeInvalidParameter},
		{name: "HMAC-SHA256", change: setParam("SignatureMethod", "HMAC-SHA256", false), code: CodeInvalidParameter},
		{name: "SignatureVersion 2.0", change: setParam("SignatureVersion", "2.0", false), code: CodeInvalidParameter},
		{name: "bearer token", change: setParam("SignatureType", "BEARERTOKEN", false), code: CodeInvalidParameter},
		{name: "AccessKeyId twice", change: func(w *wire) {
			if len(w.body) > 0 {
				w.body = append(w.body, "&AccessKeyId=AKID"...)
			} else {
				w.target += "&AccessKeyId=AKID"
			}
		}, code: CodeInvalidParameter},
		{name: "JSON body", change: func(w *wire) {
			w.body = []byte(`{"UserName":"mallory"}`)
			w.header.Set("Content-Type", "application/json")
		}, code: CodeIncompleteSignature},
		{name: "form body added", change: func(w *wire) {
			if len(w.body) == 0 {
				w.body = []byte("UserName=mallory")
				w.header.Set("Content-Type", "application/x-www-form-urlencoded")
			} else {
				w.body = append(w.body, "&UserName=mallory"...)
			}
		}, code: CodeSignatureDoesNotMatch},
		{name: "Authorization added", change: func(w *wire) { w.header.Set("Authorization", "acs AKID:x") }, code: CodeIncompleteSignature},
	})
}

func TestRPCRoundTrip(t *testing.T) {
	t.Run("GET query", func(t *testing.T) { rpcTampers(t, signedRPC(t, "GET", false, testCred)) })
	t.Run("POST query", func(t *testing.T) { rpcTampers(t, signedRPC(t, "POST", false, testCred)) })
	t.Run("POST form", func(t *testing.T) { rpcTampers(t, signedRPC(t, "POST", true, testCred)) })
}

func TestRPCParse(t *testing.T) {
	sts := testCred
	sts.SecurityToken = "CAIS-token"
	for _, form := range []bool{false, true} {
		w := signedRPC(t, "POST", form, sts)
		r := w.request()
		s, err := ParseRequest(r, w.body)
		if err != nil {
			t.Fatal(err)
		}
		if s.Scheme != SchemeRPC || s.AccessKeyID != "AKID" || s.SecurityToken != "CAIS-token" || len(s.Nonce) != 32 ||
			!s.Date.Equal(testNow) || s.Action != "CreateUser" || s.Version != "2015-05-01" {
			t.Fatalf("ParseRequest = %+v", s)
		}
		if err := s.Verify(r, w.body, sts.AccessKeySecret, testNow); err != nil {
			t.Fatal(err)
		}
		// The token is signed like every parameter.
		setParam("SecurityToken", "CAIS-other", false)(&w)
		if err := verify(w, sts.AccessKeySecret, testNow); code(err) != CodeSignatureDoesNotMatch {
			t.Fatalf("altered token: %v", err)
		}
		// Parse, which has no body, sees only a query signature.
		_, err = Parse(r)
		if form && code(err) != CodeIncompleteSignature {
			t.Fatalf("Parse of a form-signed call: %v", err)
		}
	}
	// A request with nothing at all.
	r := wire{"GET", "/?Action=ListUsers", testHost, http.Header{}, nil}.request()
	if _, err := Parse(r); code(err) != CodeIncompleteSignature || !strings.Contains(err.Error(), "neither an Authorization header nor the Signature") {
		t.Fatalf("unsigned: %v", err)
	}
}

// The example in Alibaba Cloud's description of the RPC signature (ECS
// DescribeRegions, AccessKey testid/testsecret), as it is on the wire.
func TestRPCPublishedVector(t *testing.T) {
	const target = "/?AccessKeyId=testid&Action=DescribeRegions&Format=XML&SignatureMethod=HMAC-SHA1" +
		"&SignatureNonce=3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf&SignatureVersion=1.0" +
		"&Timestamp=2016-02-23T12%3A46%3A24Z&Version=2014-05-26&Signature=OLeaidS1JvxuMvnyHOwuJ%2BuX5qY%3D"
	now := time.Date(2016, 2, 23, 12, 50, 0, 0, time.UTC)
	w := wire{"GET", target, "ecs.aliyuncs.com", http.Header{}, nil}
	if err := verify(w, "testsecret", now); err != nil {
		t.Fatal(err)
	}
	err := verify(w, "testsecreT", now)
	want := "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1" +
		"%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0" +
		"%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26"
	if code(err) != CodeSignatureDoesNotMatch || !strings.HasSuffix(err.Error(), "The string to sign the server computed is: "+want) {
		t.Fatalf("wrong secret: %v", err)
	}
}

// docSign is the documented algorithm written out plainly from the
// description, with the standard library's query escaping and the three
// replacements the description prescribes, to check SignRPC against.
func docSign(method string, params map[string]string, secret string) string {
	enc := func(s string) string {
		return strings.NewReplacer("+", "%20", "*", "%2A", "%7E", "~").Replace(url.QueryEscape(s))
	}
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, enc(k)+"="+enc(params[k]))
	}
	sts := method + "&" + enc("/") + "&" + enc(strings.Join(parts, "&"))
	h := hmac.New(sha1.New, []byte(secret+"&"))
	h.Write([]byte(sts))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

func TestRPCKnownVector(t *testing.T) {
	req, err := http.NewRequest("GET", "http://"+testHost+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := SignRPC(req, rpcCall, false, testCred, testNow, "n-1"); err != nil {
		t.Fatal(err)
	}
	q, err := url.ParseQuery(req.URL.RawQuery)
	if err != nil {
		t.Fatal(err)
	}
	params := map[string]string{}
	for k, v := range rpcCall {
		params[k] = v
	}
	for k, v := range map[string]string{
		"AccessKeyId": "AKID", "Format": "JSON", "SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0",
		"SignatureNonce": "n-1", "Timestamp": "2026-11-28T08:30:00Z",
	} {
		params[k] = v
	}
	for k := range params {
		if q.Get(k) != params[k] {
			t.Fatalf("%s = %q, want %q", k, q.Get(k), params[k])
		}
	}
	if want := docSign("GET", params, testCred.AccessKeySecret); q.Get("Signature") != want {
		t.Fatalf("Signature = %q, want %q", q.Get("Signature"), want)
	}
	if len(q) != len(params)+1 {
		t.Fatalf("query has %d parameters, want %d: %v", len(q), len(params)+1, q)
	}
}

func TestSignRPCRefuses(t *testing.T) {
	req := func() *http.Request { return &http.Request{Method: "GET", URL: &url.URL{Path: "/"}} }
	if _, err := SignRPC(req(), rpcCall, false, testCred, testNow, ""); err == nil {
		t.Fatal("no nonce accepted")
	}
	if _, err := SignRPC(req(), map[string]string{"Action": "ListUsers"}, false, testCred, testNow, "n"); err == nil {
		t.Fatal("no Version accepted")
	}
	if _, err := SignRPC(req(), rpcCall, false, Credentials{AccessKeyID: "AKID"}, testNow, "n"); err == nil {
		t.Fatal("no secret accepted")
	}
	if _, err := SignRPC(&http.Request{}, rpcCall, false, testCred, testNow, "n"); err == nil {
		t.Fatal("no URL accepted")
	}
}

func TestIsRPCProtocolParameter(t *testing.T) {
	for _, name := range []string{"AccessKeyId", "Signature", "SignatureNonce", "SignatureMethod", "SignatureVersion", "Timestamp", "SecurityToken", "Action", "Version", "Format"} {
		if !IsRPCProtocolParameter(name) {
			t.Errorf("%s is not a protocol parameter", name)
		}
	}
	for _, name := range []string{"UserName", "accesskeyid", "Policy", ""} {
		if IsRPCProtocolParameter(name) {
			t.Errorf("%s is a protocol parameter", name)
		}
	}
}

// FuzzRPC: any parameters a client can send, signed by SignRPC in the query
// or a form, verify in memory and after a trip through net/http's wire
// format; a wrong secret never does; arbitrary input never panics.
func FuzzRPC(f *testing.F) {
	f.Add("UserName", "alice", "Comments", "a b*c~ d+e/f 中", false, "GET")
	f.Add("", "", "=&", "%zz", true, "POST")
	f.Add("Signature", "x", "AccessKeyId", "", false, "POST")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string, form bool, method string) {
		raw := &http.Request{Method: method, URL: &url.URL{Path: "/", RawQuery: k1 + "=" + v1 + "&" + k2 + "=" + v2},
			Header: http.Header{"Content-Type": {v2}}}
		if s, err := ParseRequest(raw, []byte(k2+"="+v1)); err == nil {
			_ = s.Verify(raw, []byte(k2+"="+v1), "s3cret", testNow)
		}

		if method != http.MethodGet {
			method = http.MethodPost
		}
		params := map[string]string{"Action": "CreateUser", "Version": "2015-05-01", k1: v1, k2: v2}
		for k := range params {
			if k == "" || IsRPCProtocolParameter(k) && k != "Action" && k != "Version" {
				delete(params, k)
			}
		}
		if params["Action"] == "" || params["Version"] == "" {
			return
		}
		req, err := http.NewRequest(method, "http://"+testHost+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		body, err := SignRPC(req, params, form, testCred, testNow, "n-1")
		if err != nil {
			t.Fatal(err)
		}
		check := func(r *http.Request, body []byte) {
			t.Helper()
			s, err := ParseRequest(r, body)
			if err == nil {
				err = s.Verify(r, body, testCred.AccessKeySecret, testNow)
			}
			if err != nil {
				t.Fatalf("%s %s %q: %v", r.Method, r.URL, body, err)
			}
			if s.Action != params["Action"] || s.Version != params["Version"] {
				t.Fatalf("Action, Version = %q, %q", s.Action, s.Version)
			}
			if s.Verify(r, body, "s3creT", testNow) == nil {
				t.Fatal("wrong secret accepted")
			}
		}
		check(req, body)
		srv, got := overTheWire(t, req, body)
		check(srv, got)
	})
}
