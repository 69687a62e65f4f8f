package httpapi_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/rayfleet/rayfleet/api/signer"
)

// legacyROA signs a request with the legacy ROA scheme as the official Go
// client's legacy mode does: the nonce header signed with the other
// x-acs-* headers, and no Content-MD5, so the body is not covered.
func legacyROA(t *testing.T, method, target string, body []byte, cred signer.Credentials, nonce string) *http.Request {
	t.Helper()
	req := httptest.NewRequest(method, target, bytes.NewReader(body))
	h := req.Header
	h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	h.Set("Accept", "application/json")
	h.Set("Content-Type", "application/json")
	h.Set("x-acs-signature-method", "HMAC-SHA1")
	h.Set("x-acs-signature-version", "1.0")
	h.Set("x-acs-version", "2023-08-08")
	if nonce != "" {
		h.Set("x-acs-signature-nonce", nonce)
	}
	sts := signer.StringToSignROA(method, h, req.URL.Path, req.URL.Query())
	mac := hmac.New(sha1.New, []byte(cred.AccessKeySecret))
	mac.Write([]byte(sts))
	h.Set("Authorization", "acs "+cred.AccessKeyID+":"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	return req
}

func serveDirect(t *testing.T, srv *httptest.Server, req *http.Request) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	srv.Config.Handler.ServeHTTP(rec, req)
	var m struct{ Code string }
	_ = json.Unmarshal(rec.Body.Bytes(), &m)
	return rec.Code, m.Code
}

// The legacy ROA signature leaves a body it does not cover only where it
// cannot be swapped (over TLS, or from loopback); it needs its nonce, and
// a nonce is good once.
func TestLegacyROABodyAndNonce(t *testing.T) {
	srv, cred := rpcServer(t)
	body := []byte(`{"workspaceName":"legacy","resourceSpec":{"cu":4}}`)
	const path = "/api/v1/workspaces"

	req := legacyROA(t, "POST", path, body, cred, signer.NewNonce())
	req.RemoteAddr = "10.1.2.3:40000"
	if code, ec := serveDirect(t, srv, req); code != 400 || ec != "IncompleteSignature" {
		t.Fatalf("unsigned body from the network: %d %s", code, ec)
	}
	req = legacyROA(t, "POST", path, body, cred, signer.NewNonce())
	req.RemoteAddr, req.TLS = "10.1.2.3:40001", &tls.ConnectionState{}
	if code, ec := serveDirect(t, srv, req); code != 200 {
		t.Fatalf("unsigned body over TLS: %d %s", code, ec)
	}
	nonce := signer.NewNonce()
	req = legacyROA(t, "POST", path, []byte(`{"workspaceName":"legacy2","resourceSpec":{"cu":4}}`), cred, nonce)
	req.RemoteAddr = "127.0.0.1:40002"
	if code, ec := serveDirect(t, srv, req); code != 200 {
		t.Fatalf("unsigned body from loopback: %d %s", code, ec)
	}
	req = legacyROA(t, "POST", path, []byte(`{"workspaceName":"legacy3","resourceSpec":{"cu":4}}`), cred, nonce)
	req.RemoteAddr = "127.0.0.1:40003"
	if code, ec := serveDirect(t, srv, req); code != 400 || ec != "SignatureNonceUsed" {
		t.Fatalf("a nonce used twice: %d %s", code, ec)
	}
	req = legacyROA(t, "GET", path, nil, cred, "")
	req.RemoteAddr = "127.0.0.1:40004"
	if code, ec := serveDirect(t, srv, req); code != 400 || ec != "MissingParameter" {
		t.Fatalf("no nonce: %d %s", code, ec)
	}

	// With Content-MD5 the body is covered, from anywhere (signer.SignROA
	// sends it, as the classic SDKs do).
	r, _ := http.NewRequest("POST", srv.URL+path, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("x-acs-version", "2023-08-08")
	r.Header.Set("x-acs-signature-nonce", signer.NewNonce())
	if err := signer.SignROA(r, body, cred, time.Now()); err != nil {
		t.Fatal(err)
	}
	req = httptest.NewRequest("POST", path, bytes.NewReader(body))
	req.Header = r.Header
	req.RemoteAddr = "10.1.2.3:40005"
	if code, ec := serveDirect(t, srv, req); code != 200 {
		t.Fatalf("a body covered by Content-MD5: %d %s", code, ec)
	}
}

// A parameter given twice is refused: the signature covers both values,
// a handler would read one.
func TestRepeatedParameterRefused(t *testing.T) {
	srv, cred := rpcServer(t)
	for _, q := range []string{"maxResults=10&maxResults=20", "name=a&name%3D=x&name=b"} {
		req, _ := http.NewRequest("GET", srv.URL+"/api/v1/workspaces?"+q, nil)
		if err := signer.SignACS3(req, nil, cred, time.Now(), signer.NewNonce()); err != nil {
			t.Fatal(err)
		}
		code, m := send(t, srv, req)
		if code != 400 || m["Code"] != "InvalidParameter" {
			t.Fatalf("%s: %d %v", q, code, m)
		}
	}
	form := url.Values{"Action": {"ListUsers"}, "Version": {"2015-05-01"}}.Encode() + "&Action=CreateUser"
	req, _ := http.NewRequest("POST", srv.URL+"/", bytes.NewReader([]byte(form)))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if code, m := send(t, srv, req); code != 400 || m["Code"] != "InvalidParameter" {
		t.Fatalf("a repeated form field: %d %v", code, m)
	}
}
