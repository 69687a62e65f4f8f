package signer

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The test vector of /work/shared/reference/acs3-signature.md, on which all
// three official signers agree.
const (
	vecAK        = "testAK"
	vecSecret    = "testSecret"
	vecHost      = "emr-serverless-spark.cn-hangzhou.aliyuncs.com"
	vecPath      = "/api/v1/workspaces/w-123/rayCluster"
	vecQuery     = "regionId=cn-hangzhou&clientToken=a%20b%2Ac~"
	vecBody      = `{"name":"demo","rayVersion":"ray-2.40"}`
	vecBodyHash  = "bd299320a079d08ec1f114affd55759d3908640d3e03e9793a49da8a5fa1df93"
	vecNonce     = "3d9a1c2e0b8f4a6d9e7c5b3a1f2e4d6c"
	vecCanonQ    = "clientToken=a%20b%2Ac~&regionId=cn-hangzhou"
	vecSigned    = "content-type;host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version"
	vecCRHash    = "785a19603fdadeb5580112f19173b539fb8567866a49292dff5af629ed19dcf1"
	vecSignature = "b0e681259241bbb2de0bf73dd68a441742699edaf6df394f1fa21f435dbd1dee"
)

var vecDate = time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)

func TestSpecVector(t *testing.T) {
	if got := CanonicalQuery(vecQuery); got != vecCanonQ {
		t.Fatalf("canonical query = %q, want %q", got, vecCanonQ)
	}
	sum := sha256.Sum256([]byte(vecBody))
	if got := hex.EncodeToString(sum[:]); got != vecBodyHash {
		t.Fatalf("body hash = %s, want %s", got, vecBodyHash)
	}
	h := http.Header{}
	h.Set("x-acs-action", "CreateRayCluster")
	h.Set("x-acs-version", "2023-08-08")
	h.Set("x-acs-date", "2026-11-28T00:00:00Z")
	h.Set("x-acs-signature-nonce", vecNonce)
	h.Set("x-acs-content-sha256", vecBodyHash)
	h.Set("content-type", "application/json; charset=utf-8")
	cr := CanonicalRequestACS3("POST", CanonicalURI(vecPath), vecCanonQ, h, vecHost, strings.Split(vecSigned, ";"), vecBodyHash)
	crSum := sha256.Sum256([]byte(cr))
	if got := hex.EncodeToString(crSum[:]); got != vecCRHash {
		t.Fatalf("hash of canonical request = %s, want %s\ncanonical request:\n%s", got, vecCRHash, cr)
	}
	if got := hex.EncodeToString(hmacSHA256(vecSecret, stringToSignACS3(cr))); got != vecSignature {
		t.Fatalf("signature = %s, want %s", got, vecSignature)
	}
}

func TestSignACS3MatchesSpecVector(t *testing.T) {
	req, _ := http.NewRequest("POST", "http://"+vecHost+vecPath+"?"+vecQuery, strings.NewReader(vecBody))
	req.Header.Set("x-acs-action", "CreateRayCluster")
	req.Header.Set("x-acs-version", "2023-08-08")
	req.Header.Set("content-type", "application/json; charset=utf-8")
	if err := SignACS3(req, []byte(vecBody), Credentials{AccessKeyID: vecAK, AccessKeySecret: vecSecret}, vecDate, vecNonce); err != nil {
		t.Fatal(err)
	}
	want := "ACS3-HMAC-SHA256 Credential=testAK,SignedHeaders=" + vecSigned + ",Signature=" + vecSignature
	if got := req.Header.Get("Authorization"); got != want {
		t.Fatalf("Authorization = %q\nwant %q", got, want)
	}
	s, err := Parse(req)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(req, []byte(vecBody), vecSecret, vecDate); err != nil {
		t.Fatal(err)
	}
}

func TestCanonicalQuery(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"a", "a="},
		{"a=", "a="},
		{"b=2&a=1", "a=1&b=2"},
		{"clientToken=a+b*c%7E&regionId=cn-hangzhou", vecCanonQ}, // Go clients: '+' for space
		{"k=%7e%2b", "k=~%2B"},
		{"k=%zz&j=%4", "j=%254&k=%25zz"}, // malformed escapes are literal text
		{"&&x=1&", "x=1"},
		{"k=b&k=a", "k=a&k=b"},
		{"k=%E4%B8%AD", "k=%E4%B8%AD"},
		{"a+b=c", "a b=c"}, // keys are signed decoded, as the official clients do
	} {
		if got := CanonicalQuery(tc.in); got != tc.want {
			t.Errorf("CanonicalQuery(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCanonicalURI(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "/"},
		{"/", "/"},
		{"/a+b", "/a%20b"},
		{"/a*b", "/a%2Ab"},
		{"/a%7Eb", "/a~b"},
		{"/a%7eb", "/a%7eb"}, // the clients patch only the uppercase form
		{"/w%2F1/x%20y", "/w%2F1/x%20y"},
	} {
		if got := CanonicalURI(tc.in); got != tc.want {
			t.Errorf("CanonicalURI(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestStringToSignROA(t *testing.T) {
	h := http.Header{}
	h.Set("Accept", "application/json")
	h.Set("Content-MD5", "md5==")
	h.Set("Content-Type", "application/json")
	h.Set("Date", "Sat, 28 Nov 2026 00:00:00 GMT")
	h["x-acs-version"] = []string{" 2023-08-08 "}
	h.Set("X-Acs-Signature-Method", "HMAC-SHA1")
	h.Set("User-Agent", "not signed")
	q := url.Values{"regionId": {"cn-hangzhou"}, "flag": {""}, "token": {"a b*c"}}
	want := "POST\napplication/json\nmd5==\napplication/json\nSat, 28 Nov 2026 00:00:00 GMT\n" +
		"x-acs-signature-method:HMAC-SHA1\nx-acs-version:2023-08-08\n" +
		"/api/v1/workspaces/w 1?flag&regionId=cn-hangzhou&token=a b*c"
	if got := StringToSignROA("POST", h, "/api/v1/workspaces/w 1", q); got != want {
		t.Fatalf("StringToSignROA =\n%q\nwant\n%q", got, want)
	}
}

func TestNewNonce(t *testing.T) {
	a, b := NewNonce(), NewNonce()
	if len(a) != 32 || strings.Trim(a, "0123456789abcdef") != "" || a == b {
		t.Fatalf("NewNonce() = %q, %q", a, b)
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
