package logstore

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rayfleet/rayfleet"
)

// S3 is a Store in a bucket of an S3-compatible server, reached in path
// style (<Endpoint>/<bucket>/<key>) and signed with AWS Signature Version
// 4. The bucket must exist; Check says whether it does.
//
// Listing reads every key under the prefix's job (ListObjects, page by
// page) and cuts the page with Page, so a listing means exactly what it
// means on Dir whatever the server makes of markers and delimiters; a
// job's logs are some dozens of keys. Put sends an object whole, which S3
// makes visible at once or not at all.
type S3 struct {
	// Endpoint is the server's base URL, e.g. https://s3.example.com.
	Endpoint string
	// Region is the signing region (us-east-1 unless the server says).
	Region          string
	BucketName      string
	AccessKeyID     string
	SecretAccessKey string
	// HTTP sends the requests; nil is a client with a 2 minute timeout.
	HTTP *http.Client
	// Now is the signing clock; nil is time.Now.
	Now func() time.Time
}

// maxPut bounds an object Put reads, to hash it before sending: far more
// than the collector's 16 MiB per file.
const maxPut = 256 << 20

// maxListed bounds the keys List reads under one prefix.
const maxListed = 100_000

// Bucket is the bucket's name.
func (s *S3) Bucket() string { return s.BucketName }

// Check asks the server whether the bucket is there and the credentials
// open it.
func (s *S3) Check(ctx context.Context) error {
	resp, err := s.do(ctx, http.MethodHead, "", nil, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return nil
	case http.StatusNotFound:
		return fmt.Errorf("log store: bucket %s does not exist on %s; create it", s.BucketName, s.Endpoint)
	}
	return s.failure(resp, "check bucket "+s.BucketName)
}

// Put stores r's bytes as key.
func (s *S3) Put(ctx context.Context, key string, r io.Reader) error {
	if err := rayfleet.ValidLogKey(key); err != nil {
		return err
	}
	data, err := io.ReadAll(io.LimitReader(r, maxPut+1))
	if err != nil {
		return fmt.Errorf("log store: put %s: %w", key, err)
	}
	if len(data) > maxPut {
		return fmt.Errorf("log store: put %s: more than %d bytes", key, maxPut)
	}
	resp, err := s.do(ctx, http.MethodPut, key, nil, data)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return s.failure(resp, "put "+key)
	}
	return nil
}

// Stat returns what is known of key's object.
func (s *S3) Stat(ctx context.Context, key string) (rayfleet.LogObject, error) {
	if err := rayfleet.ValidLogKey(key); err != nil {
		return rayfleet.LogObject{}, err
	}
	resp, err := s.do(ctx, http.MethodHead, key, nil, nil)
	if err != nil {
		return rayfleet.LogObject{}, err
	}
	defer resp.Body.Close()
	return s.object(key, resp)
}

// Open returns key's object to read.
func (s *S3) Open(ctx context.Context, key string) (io.ReadCloser, rayfleet.LogObject, error) {
	if err := rayfleet.ValidLogKey(key); err != nil {
		return nil, rayfleet.LogObject{}, err
	}
	resp, err := s.do(ctx, http.MethodGet, key, nil, nil)
	if err != nil {
		return nil, rayfleet.LogObject{}, err
	}
	obj, err := s.object(key, resp)
	if err != nil {
		resp.Body.Close()
		return nil, obj, err
	}
	return resp.Body, obj, nil
}

func (s *S3) object(key string, resp *http.Response) (rayfleet.LogObject, error) {
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return rayfleet.LogObject{}, rayfleet.Errorf(rayfleet.ENOTFOUND, "log file %s not found in bucket %s", key, s.BucketName)
	default:
		return rayfleet.LogObject{}, s.failure(resp, "read "+key)
	}
	obj := rayfleet.LogObject{Key: key, Size: resp.ContentLength}
	if t, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		obj.Modified = t.UTC()
	}
	return obj, nil
}

// listResult is the part of ListObjects' answer that List reads.
type listResult struct {
	IsTruncated bool `xml:"IsTruncated"`
	Contents    []struct {
		Key          string    `xml:"Key"`
		LastModified time.Time `xml:"LastModified"`
		Size         int64     `xml:"Size"`
	} `xml:"Contents"`
}

// List returns a page of the keys under o.Prefix.
func (s *S3) List(ctx context.Context, o rayfleet.LogListOptions) (rayfleet.LogListing, error) {
	var objects []rayfleet.LogObject
	marker := ""
	for {
		q := url.Values{"prefix": {o.Prefix}, "max-keys": {"1000"}}
		if marker != "" {
			q.Set("marker", marker)
		}
		resp, err := s.do(ctx, http.MethodGet, "", q, nil)
		if err != nil {
			return rayfleet.LogListing{}, err
		}
		var r listResult
		if resp.StatusCode != http.StatusOK {
			err = s.failure(resp, "list "+o.Prefix)
		} else if derr := xml.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&r); derr != nil {
			err = fmt.Errorf("log store: list %q: the answer: %w", o.Prefix, derr)
		}
		resp.Body.Close()
		if err != nil {
			return rayfleet.LogListing{}, err
		}
		for _, c := range r.Contents {
			// Objects this store could not have written (a key with an
			// empty segment, say) are no log files.
			if rayfleet.ValidLogKey(c.Key) == nil {
				objects = append(objects, rayfleet.LogObject{Key: c.Key, Size: c.Size, Modified: c.LastModified.UTC().Truncate(time.Millisecond)})
			}
		}
		if !r.IsTruncated || len(r.Contents) == 0 {
			break
		}
		if len(objects) > maxListed {
			return rayfleet.LogListing{}, fmt.Errorf("log store: more than %d keys under %q", maxListed, o.Prefix)
		}
		marker = r.Contents[len(r.Contents)-1].Key
	}
	slices.SortFunc(objects, func(a, b rayfleet.LogObject) int { return strings.Compare(a.Key, b.Key) })
	return Page(objects, o), nil
}

// s3Error is an S3 error answer.
type s3Error struct {
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

func (s *S3) failure(resp *http.Response, what string) error {
	var e s3Error
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_ = xml.Unmarshal(b, &e)
	return fmt.Errorf("log store: %s: %s answered HTTP %d %s: %s", what, s.Endpoint, resp.StatusCode, e.Code, e.Message)
}

// do sends one signed request for key (the bucket itself when "").
func (s *S3) do(ctx context.Context, method, key string, q url.Values, body []byte) (*http.Response, error) {
	u := strings.TrimRight(s.Endpoint, "/") + "/" + s.BucketName
	if key != "" {
		u += "/" + key
	}
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("log store: %w", err)
	}
	req.URL.RawPath = escapePath(req.URL.Path)
	req.URL.RawQuery = encodeQuery(q)
	req.ContentLength = int64(len(body))
	if len(body) == 0 {
		// An empty body is no body, so an empty Put says Content-Length: 0
		// rather than going chunked.
		req.Body, req.GetBody = http.NoBody, nil
	}
	if method == http.MethodPut {
		req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	s.sign(req, body, now())
	hc := s.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 2 * time.Minute}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("log store: %s %s: %w", method, u, err)
	}
	return resp, nil
}

// sign adds AWS Signature Version 4 to req: its Host, Range, Content-Type,
// Content-MD5 and x-amz-* headers are signed, with the payload's hash.
func (s *S3) sign(req *http.Request, body []byte, at time.Time) {
	at = at.UTC()
	amzDate, day := at.Format("20060102T150405Z"), at.Format("20060102")
	sum := sha256.Sum256(body)
	payload := hex.EncodeToString(sum[:])
	req.Header.Set("x-amz-date", amzDate)
	req.Header.Set("x-amz-content-sha256", payload)
	region := s.Region
	if region == "" {
		region = "us-east-1"
	}

	headers := map[string]string{"host": req.URL.Host}
	for name, vs := range req.Header {
		l := strings.ToLower(name)
		if strings.HasPrefix(l, "x-amz-") || l == "range" || l == "content-type" || l == "content-md5" {
			headers[l] = strings.Join(vs, ",")
		}
	}
	names := make([]string, 0, len(headers))
	for n := range headers {
		names = append(names, n)
	}
	sort.Strings(names)
	var canonHeaders strings.Builder
	for _, n := range names {
		canonHeaders.WriteString(n + ":" + strings.Join(strings.Fields(headers[n]), " ") + "\n")
	}
	signed := strings.Join(names, ";")
	canonical := strings.Join([]string{req.Method, req.URL.EscapedPath(), req.URL.RawQuery, canonHeaders.String(), signed, payload}, "\n")
	scope := day + "/" + region + "/s3/aws4_request"
	ch := sha256.Sum256([]byte(canonical))
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(ch[:])
	k := hmacSHA256([]byte("AWS4"+s.SecretAccessKey), day)
	for _, part := range []string{region, "s3", "aws4_request"} {
		k = hmacSHA256(k, part)
	}
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+s.AccessKeyID+"/"+scope+
		", SignedHeaders="+signed+", Signature="+hex.EncodeToString(hmacSHA256(k, toSign)))
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// escapePath escapes a path as Signature Version 4 wants it: every byte
// but the unreserved ones and the slashes.
func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = uriEncode(s)
	}
	return strings.Join(segs, "/")
}

// encodeQuery is the canonical query: keys sorted, keys and values
// escaped as uriEncode does (a space is %20, never +).
func encodeQuery(q url.Values) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		vs := append([]string(nil), q[k]...)
		sort.Strings(vs)
		for _, v := range vs {
			parts = append(parts, uriEncode(k)+"="+uriEncode(v))
		}
	}
	return strings.Join(parts, "&")
}

func uriEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
		} else {
			b.WriteString("%" + strings.ToUpper(strconv.FormatInt(int64(c)|0x100, 16)[1:]))
		}
	}
	return b.String()
}

// errS3 is what a Store says of a misconfiguration found before a request.
var errS3 = errors.New("log store: S3 needs an endpoint, a bucket and credentials")

// Validate reports what is missing of the S3 settings.
func (s *S3) Validate() error {
	if s.Endpoint == "" || s.BucketName == "" || s.AccessKeyID == "" || s.SecretAccessKey == "" {
		return errS3
	}
	if u, err := url.Parse(s.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("log store: S3 endpoint %q is not an http(s) URL", s.Endpoint)
	}
	return rayfleet.ValidLogBucket(s.BucketName)
}
