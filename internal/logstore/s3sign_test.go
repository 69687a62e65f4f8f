package logstore

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestS3Signature: Signature Version 4 as the examples of Amazon S3's
// documentation sign a GET of an object with a range and a listing with
// a query ("Examples: Signature Calculations in AWS Signature Version 4").
func TestS3Signature(t *testing.T) {
	s := &S3{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", Region: "us-east-1"}
	at := time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name, method, path string
		query              url.Values
		header             http.Header
		signed, signature  string
	}{
		{"GET an object", "GET", "/test.txt", nil, http.Header{"Range": {"bytes=0-9"}},
			"host;range;x-amz-content-sha256;x-amz-date", "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"},
		{"list objects", "GET", "/", url.Values{"max-keys": {"2"}, "prefix": {"J"}}, http.Header{},
			"host;x-amz-content-sha256;x-amz-date", "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"},
	} {
		req, err := http.NewRequest(c.method, "https://examplebucket.s3.amazonaws.com"+c.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.URL.RawQuery = encodeQuery(c.query)
		req.Header = c.header
		s.sign(req, nil, at)
		want := "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=" + c.signed + ", Signature=" + c.signature
		if got := req.Header.Get("Authorization"); got != want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, want)
		}
	}
	if got := escapePath("/b/w-1/ray/logs/a b+c~d_e.f/ü"); got != "/b/w-1/ray/logs/a%20b%2Bc~d_e.f/%C3%BC" {
		t.Errorf("escapePath: %s", got)
	}
	if got := encodeQuery(url.Values{"prefix": {"a b/"}, "marker": {""}}); got != "marker=&prefix=a%20b%2F" {
		t.Errorf("encodeQuery: %s", got)
	}
	if !strings.Contains(uriEncode("\x00"), "%00") {
		t.Errorf("uriEncode of a NUL: %q", uriEncode("\x00"))
	}
}
