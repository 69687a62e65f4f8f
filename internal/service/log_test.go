package service_test

import (
	"context"
	"io"
	"net/url"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/authz"
	"github.com/rayfleet/rayfleet/internal/logstore"
	"github.com/rayfleet/rayfleet/internal/service"
	"github.com/rayfleet/rayfleet/internal/store/storetest"
)

// withLogs gives s a log store and URL key, and a job of ws whose logs
// hold a driver log and two files of a head node.
func withLogs(t *testing.T, s *service.Service, p rayfleet.Principal, ws string) rayfleet.Job {
	t.Helper()
	ctx := context.Background()
	d, err := logstore.OpenDir(t.TempDir(), rayfleet.DefaultLogBucket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	s.Logs = d
	s.LogURLs = service.LogURLs{Key: []byte("0123456789abcdef0123456789abcdef"), Base: "https://rayfleet.example.com/"}
	j := storetest.NewJob(p.AccountID, ws, "ray-0000000000000001", 1)
	j.LogBucket = s.LogBucket()
	if err := s.Store.CreateJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	for key, data := range map[string]string{
		rayfleet.JobDriverLogKey(&j):                               "hello ray job\n",
		rayfleet.JobNodeLogKey(&j, "abcd0123", true, "raylet.out"): "raylet\n",
		rayfleet.JobNodeLogKey(&j, "abcd0123", true, "raylet.err"): "",
	} {
		if err := d.Put(ctx, key, strings.NewReader(data)); err != nil {
			t.Fatal(err)
		}
	}
	return j
}

func listKeys(out *service.ListLogsOutput) []string {
	var keys []string
	for _, e := range out.Listing.Entries {
		keys = append(keys, e.Key)
	}
	return keys
}

// TestListLogs: a job's log files, listed under its log path; what lies
// outside it, or a bucket not the store's, is refused; maxKeys is 1 to 999.
func TestListLogs(t *testing.T) {
	ctx := context.Background()
	s, p, ws := newService(t)
	j := withLogs(t, s, p, ws)
	lp := j.LogPath

	out, err := s.ListLogs(ctx, p, service.ListLogsInput{WorkspaceID: ws, JobID: j.ID})
	if err != nil {
		t.Fatal(err)
	}
	if out.Bucket != "rayfleet-logs" || out.Prefix != lp || out.MaxKeys != 100 || len(out.Listing.Entries) != 3 || out.Listing.IsTruncated {
		t.Fatalf("default listing: %+v", out)
	}
	one := int64(1)
	out, err = s.ListLogs(ctx, p, service.ListLogsInput{WorkspaceID: ws, JobID: j.ID, BucketName: "rayfleet-logs", Prefix: "/" + lp, Delimiter: "/", MaxKeys: &one})
	if err != nil {
		t.Fatal(err)
	}
	if got := listKeys(out); len(got) != 1 || got[0] != lp+"driver/" || !out.Listing.IsTruncated || out.Listing.NextMarker != lp+"driver/" || out.Prefix != lp {
		t.Fatalf("first page with a delimiter: %v %+v", got, out)
	}
	out, err = s.ListLogs(ctx, p, service.ListLogsInput{WorkspaceID: ws, JobID: j.ID, Prefix: lp, Delimiter: "/", Marker: out.Listing.NextMarker, MaxKeys: &one})
	if err != nil {
		t.Fatal(err)
	}
	if got := listKeys(out); len(got) != 1 || got[0] != lp+"head-abcd0123/" || out.Listing.IsTruncated || !out.Listing.Entries[0].IsPrefix {
		t.Fatalf("second page: %v %+v", got, out)
	}

	for _, c := range []struct {
		in   service.ListLogsInput
		code string
		msg  string
	}{
		{service.ListLogsInput{WorkspaceID: ws, JobID: j.ID, Prefix: ws + "/ray/logs/"}, rayfleet.EINVALID, "prefix must begin with the job's logPath"},
		{service.ListLogsInput{WorkspaceID: ws, JobID: j.ID, Prefix: "../" + lp}, rayfleet.EINVALID, "prefix"},
		{service.ListLogsInput{WorkspaceID: ws, JobID: j.ID, BucketName: "another-bucket"}, rayfleet.EINVALID, "bucketName must be the job's logBucketName rayfleet-logs"},
		{service.ListLogsInput{WorkspaceID: ws, JobID: j.ID, MaxKeys: ptr(int64(0))}, rayfleet.EINVALID, "maxKeys must be 1 to 999"},
		{service.ListLogsInput{WorkspaceID: ws, JobID: j.ID, MaxKeys: ptr(int64(1000))}, rayfleet.EINVALID, "maxKeys must be 1 to 999"},
		{service.ListLogsInput{WorkspaceID: ws, JobID: j.ID, MaxKeys: ptr(int64(-1))}, rayfleet.EINVALID, "got -1"},
		{service.ListLogsInput{WorkspaceID: ws, JobID: "rj-nosuchjob"}, rayfleet.ENOTFOUND, "Ray job rj-nosuchjob not found"},
		{service.ListLogsInput{WorkspaceID: "w-0000000000000000", JobID: j.ID}, rayfleet.ENOTFOUND, "workspace"},
		{service.ListLogsInput{WorkspaceID: ws}, rayfleet.EMISSING, "instanceId"},
	} {
		_, err := s.ListLogs(ctx, p, c.in)
		if rayfleet.ErrorCode(err) != c.code || !strings.Contains(rayfleet.ErrorMessage(err), c.msg) {
			t.Errorf("%+v: %v, want %s with %q", c.in, err, c.code, c.msg)
		}
	}
	nine := int64(999)
	if _, err := s.ListLogs(ctx, p, service.ListLogsInput{WorkspaceID: ws, JobID: j.ID, MaxKeys: &nine}); err != nil {
		t.Fatalf("maxKeys 999: %v", err)
	}
}

// urlParts takes a log URL apart as the API's route does.
func urlParts(t *testing.T, raw string) (bucket, key, expires, sig string) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	rest, ok := strings.CutPrefix(u.Path, service.LogURLPath)
	if !ok {
		t.Fatalf("URL %s is not under %s", raw, service.LogURLPath)
	}
	bucket, key, _ = strings.Cut(rest, "/")
	return bucket, key, u.Query().Get("expires"), u.Query().Get("signature")
}

func readAll(t *testing.T, rc io.ReadCloser) string {
	t.Helper()
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestLogURLs: GetRayLog's URL opens its one file until it expires; a URL
// changed in any part, or past its expiry, opens nothing.
func TestLogURLs(t *testing.T) {
	ctx := context.Background()
	s, p, ws := newService(t)
	j := withLogs(t, s, p, ws)
	now := time.Date(2026, 6, 30, 12, 0, 0, 0, time.UTC)
	s.Now = func() time.Time { return now }
	driver := rayfleet.JobDriverLogKey(&j)

	raw, err := s.GetLogURL(ctx, p, service.GetLogInput{WorkspaceID: ws, JobID: j.ID, BucketName: "rayfleet-logs", Path: "/" + driver, RequestBase: "http://ignored"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(raw, "https://rayfleet.example.com/logs/rayfleet-logs/"+driver+"?") {
		t.Fatalf("URL %s", raw)
	}
	bucket, key, expires, sig := urlParts(t, raw)
	if expires != "1782821700" { // 15 minutes on
		t.Fatalf("expires %s", expires)
	}
	rc, obj, err := s.OpenLog(ctx, bucket, key, expires, sig)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, rc); got != "hello ray job\n" || obj.Size != int64(len(got)) {
		t.Fatalf("opened %q %+v", got, obj)
	}

	other := rayfleet.JobNodeLogKey(&j, "abcd0123", true, "raylet.out")
	for name, parts := range map[string][4]string{
		"another file":        {bucket, other, expires, sig},
		"a later expiry":      {bucket, key, "1782825300", sig},
		"another bucket":      {"other-bucket", key, expires, sig},
		"no signature":        {bucket, key, expires, ""},
		"a changed signature": {bucket, key, expires, strings.ToUpper(sig)},
		"a path trick":        {bucket, path.Dir(key) + "/../" + path.Base(key), expires, sig},
	} {
		_, _, err := s.OpenLog(ctx, parts[0], parts[1], parts[2], parts[3])
		if rayfleet.ErrorCode(err) != rayfleet.EURLSIGNATURE || !strings.Contains(rayfleet.ErrorMessage(err), "Ask GetRayLog for a new accessUrl") {
			t.Errorf("%s: %v, want %s", name, err, rayfleet.EURLSIGNATURE)
		}
	}
	now = now.Add(15 * time.Minute)
	_, _, err = s.OpenLog(ctx, bucket, key, expires, sig)
	if rayfleet.ErrorCode(err) != rayfleet.EURLEXPIRED || !strings.Contains(rayfleet.ErrorMessage(err), "expired at 2026-06-30T12:15:00Z") {
		t.Fatalf("past its expiry: %v", err)
	}
	// A server with another key does not take this one's URLs.
	now = now.Add(-time.Minute)
	s.LogURLs.Key = []byte("another key, another server.....")
	if _, _, err := s.OpenLog(ctx, bucket, key, expires, sig); rayfleet.ErrorCode(err) != rayfleet.EURLSIGNATURE {
		t.Fatalf("another server's URL: %v", err)
	}

	// Without a configured base, the URL names where the call came in; the
	// expiry is the configured one.
	s.LogURLs.Base, s.LogURLs.TTL = "", time.Hour
	raw, err = s.GetLogURL(ctx, p, service.GetLogInput{WorkspaceID: ws, JobID: j.ID, Path: driver, RequestBase: "http://127.0.0.1:8080"})
	if err != nil || !strings.HasPrefix(raw, "http://127.0.0.1:8080/logs/rayfleet-logs/") {
		t.Fatalf("URL %s, %v", raw, err)
	}
	if _, _, exp, _ := urlParts(t, raw); exp != "1782825240" {
		t.Fatalf("an hour on: %s", exp)
	}

	for _, c := range []struct {
		in   service.GetLogInput
		code string
		msg  string
	}{
		{service.GetLogInput{WorkspaceID: ws, JobID: j.ID}, rayfleet.EMISSING, "path is required"},
		{service.GetLogInput{WorkspaceID: ws, JobID: j.ID, Path: ws + "/ray/logs/rj-other_default/driver/x.log"}, rayfleet.EINVALID, "under the job's logPath"},
		{service.GetLogInput{WorkspaceID: ws, JobID: j.ID, Path: j.LogPath + "../rj-other_default/x"}, rayfleet.EINVALID, "segment"},
		{service.GetLogInput{WorkspaceID: ws, JobID: j.ID, Path: j.LogPath + "driver/"}, rayfleet.EINVALID, "segment"},
		{service.GetLogInput{WorkspaceID: ws, JobID: j.ID, Path: j.LogPath + "driver"}, rayfleet.ENOTFOUND, "not found"},
		{service.GetLogInput{WorkspaceID: ws, JobID: j.ID, Path: j.LogPath + "none.log"}, rayfleet.ENOTFOUND, "not found"},
		{service.GetLogInput{WorkspaceID: ws, JobID: j.ID, Path: driver, BucketName: "mybucket"}, rayfleet.EINVALID, "bucketName"},
		{service.GetLogInput{WorkspaceID: ws, JobID: "rj-nosuchjob", Path: driver}, rayfleet.ENOTFOUND, "Ray job rj-nosuchjob not found"},
	} {
		_, err := s.GetLogURL(ctx, p, c.in)
		if rayfleet.ErrorCode(err) != c.code || !strings.Contains(rayfleet.ErrorMessage(err), c.msg) {
			t.Errorf("%+v: %v, want %s with %q", c.in, err, c.code, c.msg)
		}
	}
}

// TestLogsRAM: ListRayLogs and GetRayLog are authorized on the job's ARN;
// the read-only policy allows them.
func TestLogsRAM(t *testing.T) {
	ctx := context.Background()
	s, root, ws := newService(t)
	j := withLogs(t, s, root, ws)
	u := ramUser(t, s, root, "reader")
	arn := authz.JobARN(s.RegionID, root.AccountID, ws, j.ID)
	_, err := s.ListLogs(ctx, u, service.ListLogsInput{WorkspaceID: ws, JobID: j.ID})
	wantDenied(t, err, "emr-serverless-spark:ListRayLogs", arn, authz.ImplicitDeny)
	_, err = s.GetLogURL(ctx, u, service.GetLogInput{WorkspaceID: ws, JobID: j.ID, Path: rayfleet.JobDriverLogKey(&j)})
	wantDenied(t, err, "emr-serverless-spark:GetRayLog", arn, authz.ImplicitDeny)

	doc := `{"Version":"1","Statement":[{"Effect":"Allow","Action":"emr-serverless-spark:ListRayLogs","Resource":"` + arn + `"}]}`
	if _, err := s.CreatePolicy(ctx, root, "list-one-job", doc, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.AttachPolicyToUser(ctx, root, rayfleet.PolicyCustom, "list-one-job", "reader"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ListLogs(ctx, u, service.ListLogsInput{WorkspaceID: ws, JobID: j.ID}); err != nil {
		t.Fatalf("ListRayLogs allowed on the job: %v", err)
	}
	_, err = s.GetLogURL(ctx, u, service.GetLogInput{WorkspaceID: ws, JobID: j.ID, Path: rayfleet.JobDriverLogKey(&j)})
	wantDenied(t, err, "emr-serverless-spark:GetRayLog", arn, authz.ImplicitDeny)
	other := authz.JobARN(s.RegionID, root.AccountID, ws, "rj-other")
	_, err = s.ListLogs(ctx, u, service.ListLogsInput{WorkspaceID: ws, JobID: "rj-other"})
	wantDenied(t, err, "emr-serverless-spark:ListRayLogs", other, authz.ImplicitDeny)

	if err := s.AttachPolicyToUser(ctx, root, rayfleet.PolicySystem, "AliyunEMRServerlessSparkReadOnlyAccess", "reader"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetLogURL(ctx, u, service.GetLogInput{WorkspaceID: ws, JobID: j.ID, Path: rayfleet.JobDriverLogKey(&j)}); err != nil {
		t.Fatalf("GetRayLog with read-only access: %v", err)
	}
}
