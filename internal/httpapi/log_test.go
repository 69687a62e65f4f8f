package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/api"
	"github.com/rayfleet/rayfleet/api/signer"
	"github.com/rayfleet/rayfleet/internal/logstore"
	"github.com/rayfleet/rayfleet/internal/service"
	"github.com/rayfleet/rayfleet/internal/store/storetest"
)

// giveLogs gives the service a log store and a URL key.
func giveLogs(t interface {
	Fatal(...any)
	Cleanup(func())
}, svc *service.Service, dir string,
) *logstore.Dir {
	d, err := logstore.OpenDir(dir, rayfleet.DefaultLogBucket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	svc.Logs = d
	svc.LogURLs = service.LogURLs{Key: []byte("0123456789abcdef0123456789abcdef"), TTL: time.Minute}
	return d
}

// TestLogOperations: ListRayLogs and GetRayLog answer the product's
// {requestId, code, message, data} shape; the accessUrl opens its file as
// plain text with no credential, with ranges; an expired or changed URL is
// refused with the API's error body.
func TestLogOperations(t *testing.T) {
	ctx := context.Background()
	srv, svc, _ := testAPI(t, t.TempDir())
	d := giveLogs(t, svc, t.TempDir())
	boot, err := svc.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := &api.Client{Endpoint: srv.URL, HTTP: srv.Client(), Credentials: signer.Credentials{AccessKeyID: boot.AccessKeyID, AccessKeySecret: boot.AccessKeySecret}}
	ws := boot.WorkspaceID
	j := storetest.NewJob(boot.AccountID, ws, "ray-0000000000000001", 1)
	if err := svc.Store.CreateJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	driver := rayfleet.JobDriverLogKey(&j)
	const text = "hello ray job\n<script>alert(1)</script>\n"
	if err := d.Put(ctx, driver, strings.NewReader(text)); err != nil {
		t.Fatal(err)
	}

	l, err := c.ListLogs(ctx, ws, j.ID, api.ListLogsOptions{Prefix: "/" + j.LogPath, Delimiter: "/"})
	if err != nil {
		t.Fatal(err)
	}
	if l.Code != api.LogSuccess || l.Message == "" || l.RequestID == "" || l.Data.BucketName != "rayfleet-logs" || l.Data.Prefix != j.LogPath ||
		l.Data.MaxKeys != 100 || l.Data.Delimiter != "/" || l.Data.IsTruncated || l.Data.NextMarker != "" {
		t.Fatalf("listing %+v", l)
	}
	if len(l.Data.ObjectList) != 1 || l.Data.ObjectList[0] != (api.LogObject{Name: "driver", Path: j.LogPath + "driver/", IsDir: true}) {
		t.Fatalf("objects %+v", l.Data.ObjectList)
	}
	l, err = c.ListLogs(ctx, ws, j.ID, api.ListLogsOptions{BucketName: "rayfleet-logs", MaxKeys: 999})
	if err != nil {
		t.Fatal(err)
	}
	if o := l.Data.ObjectList; len(o) != 1 || o[0].Name != j.ID+"_driver.log" || o[0].Path != driver || o[0].Size != int64(len(text)) || o[0].IsDir ||
		time.Since(time.UnixMilli(o[0].TimeModified)) > time.Minute {
		t.Fatalf("objects %+v", o)
	}
	// maxKeys 0, given, is refused; left out, it is the default.
	var e *api.Error
	err = c.Do(ctx, "ListRayLogs", http.MethodGet, "/api/interactive/v1/workspace/"+ws+"/ray/"+j.ID+"/logs", url.Values{"maxKeys": {"0"}}, nil, &api.ListLogsResponse{})
	if !errors.As(err, &e) || e.StatusCode != http.StatusBadRequest || e.Code != rayfleet.EINVALID || !strings.Contains(e.Message, "maxKeys must be 1 to 999") {
		t.Fatalf("maxKeys=0: %v", err)
	}

	g, err := c.GetLog(ctx, ws, j.ID, api.GetLogOptions{BucketName: "rayfleet-logs", Path: "/" + driver})
	if err != nil {
		t.Fatal(err)
	}
	if g.Code != api.LogSuccess || g.RequestID == "" || !strings.HasPrefix(g.Data.AccessURL, srv.URL+"/logs/rayfleet-logs/"+driver+"?expires=") {
		t.Fatalf("GetRayLog %+v", g)
	}
	get := func(u string, h http.Header) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range h {
			req.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, body := get(g.Data.AccessURL, nil)
	if resp.StatusCode != 200 || body != text || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" ||
		resp.Header.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "sandbox") {
		t.Fatalf("download: %d %v %q", resp.StatusCode, resp.Header, body)
	}
	resp, body = get(g.Data.AccessURL, http.Header{"Range": {"bytes=0-4"}})
	if resp.StatusCode != http.StatusPartialContent || body != "hello" {
		t.Fatalf("a range: %d %q", resp.StatusCode, body)
	}

	refused := func(u, code string) {
		t.Helper()
		resp, body := get(u, nil)
		var b api.ErrorResponse
		if err := json.Unmarshal([]byte(body), &b); err != nil || resp.StatusCode != http.StatusForbidden || b.Code != code || b.RequestID == "" || b.Message == "" ||
			strings.Contains(body, "hello ray job") {
			t.Fatalf("%s: %d %s", u, resp.StatusCode, body)
		}
	}
	u, _ := url.Parse(g.Data.AccessURL)
	q := u.Query()
	tampered := *u
	tampered.Path = strings.Replace(u.Path, "driver/", "head-abcd/", 1)
	refused(tampered.String(), rayfleet.EURLSIGNATURE)
	q2 := url.Values{"expires": {"9999999999"}, "signature": q["signature"]}
	tampered = *u
	tampered.RawQuery = q2.Encode()
	refused(tampered.String(), rayfleet.EURLSIGNATURE)
	svc.Now = func() time.Time { return time.Now().Add(time.Minute) }
	refused(g.Data.AccessURL, rayfleet.EURLEXPIRED)
}
