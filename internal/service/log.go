package service

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rayfleet/rayfleet"
)

// LogStore is where jobs' logs are kept: one bucket of objects
// (internal/logstore's Store is one).
type LogStore interface {
	Bucket() string
	List(ctx context.Context, o rayfleet.LogListOptions) (rayfleet.LogListing, error)
	Stat(ctx context.Context, key string) (rayfleet.LogObject, error)
	Open(ctx context.Context, key string) (io.ReadCloser, rayfleet.LogObject, error)
}

// LogURLs are how GetRayLog's accessUrl is made: rayfleet's own signed URL
// of one object, served by the API (LogURLPath), which opens that object
// until it expires without any other credential.
type LogURLs struct {
	// Key signs the URLs (HMAC-SHA256); a server keeps one, and servers
	// behind one address share it.
	Key []byte
	// Base is the URL the API is reached at, e.g.
	// https://rayfleet.example.com; empty is the URL the GetRayLog call
	// came in on (GetLogInput.RequestBase).
	Base string
	// TTL is how long a URL opens its object; 0 is DefaultLogURLTTL.
	TTL time.Duration
}

// DefaultLogURLTTL is how long an accessUrl opens its object by default.
const DefaultLogURLTTL = 15 * time.Minute

// LogURLPath is where the API serves log objects:
// GET /logs/<bucket>/<key>?expires=<unix seconds>&signature=<sig>.
const LogURLPath = "/logs/"

// LogBucket is the log store's bucket, the logBucketName of every job.
func (s *Service) LogBucket() string {
	if s.Logs == nil {
		return rayfleet.DefaultLogBucket
	}
	return s.Logs.Bucket()
}

// ListLogsInput is ListRayLogs' request. MaxKeys nil is not given.
type ListLogsInput struct {
	WorkspaceID, JobID string
	BucketName         string
	Prefix             string
	Marker             string
	Delimiter          string
	MaxKeys            *int64
}

// ListLogsOutput is a page of a job's log files, with the options it was
// listed with as they applied (the prefix defaults to the job's log path,
// maxKeys to rayfleet.DefaultLogKeys).
type ListLogsOutput struct {
	Bucket    string
	Prefix    string
	Marker    string
	Delimiter string
	MaxKeys   int64
	Listing   rayfleet.LogListing
}

// maxDelimiter bounds a listing's delimiter.
const maxDelimiter = 64

// ListLogs lists the files of a job's logs: keys under the job's log path,
// with the listing semantics of the log store (logstore.Page). A prefix
// outside the job's log path is refused, not answered with nothing, so a
// caller learns at once where a job's logs are.
func (s *Service) ListLogs(ctx context.Context, p rayfleet.Principal, in ListLogsInput) (*ListLogsOutput, error) {
	if err := s.authorize(ctx, p, "ListRayLogs", s.jobARN(p, in.WorkspaceID, in.JobID)); err != nil {
		return nil, err
	}
	j, err := s.logJob(ctx, p, in.WorkspaceID, in.JobID, in.BucketName)
	if err != nil {
		return nil, err
	}
	out := &ListLogsOutput{
		Bucket: s.Logs.Bucket(), Prefix: strings.TrimPrefix(in.Prefix, "/"), Marker: strings.TrimPrefix(in.Marker, "/"),
		Delimiter: in.Delimiter, MaxKeys: rayfleet.DefaultLogKeys,
	}
	if out.Prefix == "" {
		out.Prefix = j.LogPrefix()
	}
	if !strings.HasPrefix(out.Prefix, j.LogPrefix()) {
		return nil, rayfleet.Errorf(rayfleet.EINVALID, "prefix must begin with the job's logPath %s, got %q", j.LogPrefix(), in.Prefix)
	}
	if in.MaxKeys != nil {
		if *in.MaxKeys < 1 || *in.MaxKeys > rayfleet.MaxLogKeys {
			return nil, rayfleet.Errorf(rayfleet.EINVALID, "maxKeys must be 1 to %d (more than 0 and less than 1000), got %d", rayfleet.MaxLogKeys, *in.MaxKeys)
		}
		out.MaxKeys = *in.MaxKeys
	}
	if len(out.Delimiter) > maxDelimiter {
		return nil, rayfleet.Errorf(rayfleet.EINVALID, "delimiter must be at most %d bytes, such as \"/\"", maxDelimiter)
	}
	if len(out.Marker) > rayfleet.MaxLogKeyLen || len(out.Prefix) > rayfleet.MaxLogKeyLen {
		return nil, rayfleet.Errorf(rayfleet.EINVALID, "prefix and marker must be at most %d bytes", rayfleet.MaxLogKeyLen)
	}
	out.Listing, err = s.Logs.List(ctx, rayfleet.LogListOptions{Prefix: out.Prefix, Marker: out.Marker, Delimiter: out.Delimiter, MaxKeys: int(out.MaxKeys)})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// GetLogInput is GetRayLog's request, and the scheme and host it came in
// on (http://host:port), where the URL points unless LogURLs.Base says.
type GetLogInput struct {
	WorkspaceID, JobID string
	BucketName         string
	Path               string
	RequestBase        string
}

// GetLogURL returns the accessUrl of one file of a job's logs: a URL that
// opens it, and nothing else, until it expires.
func (s *Service) GetLogURL(ctx context.Context, p rayfleet.Principal, in GetLogInput) (string, error) {
	if err := s.authorize(ctx, p, "GetRayLog", s.jobARN(p, in.WorkspaceID, in.JobID)); err != nil {
		return "", err
	}
	j, err := s.logJob(ctx, p, in.WorkspaceID, in.JobID, in.BucketName)
	if err != nil {
		return "", err
	}
	path := in.Path
	key := strings.TrimPrefix(path, "/")
	if key == "" {
		return "", rayfleet.Errorf(rayfleet.EMISSING, "path is required: the path of a file of ListRayLogs, under the job's logPath %s", j.LogPrefix())
	}
	if err := rayfleet.ValidLogKey(key); err != nil {
		return "", err
	}
	if !strings.HasPrefix(key, j.LogPrefix()) {
		return "", rayfleet.Errorf(rayfleet.EINVALID, "path must be a file under the job's logPath %s, got %q", j.LogPrefix(), path)
	}
	if _, err := s.Logs.Stat(ctx, key); err != nil {
		return "", err
	}
	ttl := s.LogURLs.TTL
	if ttl <= 0 {
		ttl = DefaultLogURLTTL
	}
	expires := strconv.FormatInt(s.Now().Add(ttl).Unix(), 10)
	segs := strings.Split(key, "/")
	for i := range segs {
		segs[i] = url.PathEscape(segs[i])
	}
	q := url.Values{"expires": {expires}, "signature": {s.logSignature(s.Logs.Bucket(), key, expires)}}
	base := s.LogURLs.Base
	if base == "" {
		base = in.RequestBase
	}
	return strings.TrimRight(base, "/") + LogURLPath + url.PathEscape(s.Logs.Bucket()) + "/" + strings.Join(segs, "/") + "?" + q.Encode(), nil
}

// OpenLog opens the object a signed log URL names, given the URL's parts:
// the signature is the only credential, so it is checked first, over
// exactly the bucket, key and expiry the URL holds, and then the expiry. A
// URL made for one object opens no other, and one that was changed opens
// nothing.
func (s *Service) OpenLog(ctx context.Context, bucket, key, expires, signature string) (io.ReadCloser, rayfleet.LogObject, error) {
	if s.Logs == nil || len(s.LogURLs.Key) == 0 {
		return nil, rayfleet.LogObject{}, rayfleet.Errorf(rayfleet.ENOTFOUND, "this server keeps no logs")
	}
	want := s.logSignature(bucket, key, expires)
	if signature == "" || !hmac.Equal([]byte(signature), []byte(want)) {
		return nil, rayfleet.LogObject{}, rayfleet.Errorf(rayfleet.EURLSIGNATURE,
			"The signature of this log URL does not match the file and expiry it names: it was changed, or made by another server. Ask GetRayLog for a new accessUrl.")
	}
	sec, err := strconv.ParseInt(expires, 10, 64)
	if err != nil {
		// Signed, so made here: not a caller's mistake.
		return nil, rayfleet.LogObject{}, rayfleet.Errorf(rayfleet.EURLSIGNATURE, "This log URL's expiry %q is not a time.", expires)
	}
	if at := time.Unix(sec, 0); !s.Now().Before(at) {
		return nil, rayfleet.LogObject{}, rayfleet.Errorf(rayfleet.EURLEXPIRED,
			"This log URL expired at %s. Ask GetRayLog for a new accessUrl.", at.UTC().Format(time.RFC3339))
	}
	if bucket != s.Logs.Bucket() {
		return nil, rayfleet.LogObject{}, rayfleet.Errorf(rayfleet.ENOTFOUND, "log bucket %s not found", bucket)
	}
	if err := rayfleet.ValidLogKey(key); err != nil {
		return nil, rayfleet.LogObject{}, err
	}
	return s.Logs.Open(ctx, key)
}

// logSignature signs a URL's bucket, key and expiry, each as given, in an
// encoding no two distinct triples share (a bucket holds no newline; the
// key is last and its length is fixed by the rest).
func (s *Service) logSignature(bucket, key, expires string) string {
	m := hmac.New(sha256.New, s.LogURLs.Key)
	m.Write([]byte("rayfleet log URL v1\n" + bucket + "\n" + expires + "\n" + key))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// logJob loads the job whose logs a call names, after checking the bucket
// is the log store's (empty is taken for it). Another account's job, or a
// job of another workspace, is reported exactly like a missing one.
func (s *Service) logJob(ctx context.Context, p rayfleet.Principal, wsID, id, bucket string) (rayfleet.Job, error) {
	if s.Logs == nil {
		return rayfleet.Job{}, rayfleet.Errorf(rayfleet.EMETHOD, "this server keeps no logs")
	}
	if _, err := s.workspace(ctx, p, wsID); err != nil {
		return rayfleet.Job{}, err
	}
	if id == "" {
		return rayfleet.Job{}, rayfleet.Errorf(rayfleet.EMISSING, "instanceId is required: the job's submissionId")
	}
	j, err := s.Store.GetJob(ctx, p.AccountID, wsID, id)
	if rayfleet.IsNotFound(err) {
		return j, rayfleet.Errorf(rayfleet.ENOTFOUND, "Ray job %s not found in workspace %s", id, wsID)
	}
	if err != nil {
		return j, err
	}
	if bucket != "" && bucket != s.Logs.Bucket() {
		return j, rayfleet.Errorf(rayfleet.EINVALID, "bucketName must be the job's logBucketName %s, got %q", s.Logs.Bucket(), bucket)
	}
	return j, nil
}
