package httpapi

import (
	"io"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/api"
	"github.com/rayfleet/rayfleet/internal/service"
)

// logSuccess is the message of a log operation's success, beside its
// code api.LogSuccess.
const logSuccess = "success"

func (h *Handler) listLogs(r *request) (any, error) {
	q := r.URL.Query()
	o, err := api.ParseListLogsQuery(q)
	if err != nil {
		return nil, rayfleet.Errorf(rayfleet.EINVALID, "%s", err.Error())
	}
	in := service.ListLogsInput{
		WorkspaceID: r.PathValue("workspaceId"), JobID: r.PathValue("instanceId"),
		BucketName: o.BucketName, Prefix: o.Prefix, Marker: o.Marker, Delimiter: o.Delimiter,
	}
	if q.Has("maxKeys") {
		in.MaxKeys = &o.MaxKeys
	}
	out, err := h.Service.ListLogs(r.Context(), r.p, in)
	if err != nil {
		return nil, err
	}
	l := api.LogListing{
		BucketName: out.Bucket, Prefix: out.Prefix, Marker: out.Marker, Delimiter: out.Delimiter, MaxKeys: out.MaxKeys,
		IsTruncated: out.Listing.IsTruncated, NextMarker: out.Listing.NextMarker,
		ObjectList: make([]api.LogObject, len(out.Listing.Entries)), // [] rather than null for an empty page
	}
	for i, e := range out.Listing.Entries {
		l.ObjectList[i] = api.LogObject{Name: logName(e.Key, out.Delimiter, e.IsPrefix), Path: e.Key, Size: e.Size, IsDir: e.IsPrefix}
		if !e.Modified.IsZero() {
			l.ObjectList[i].TimeModified = e.Modified.UnixMilli()
		}
	}
	return &api.ListLogsResponse{RequestID: service.RequestID(r.Context()), Code: api.LogSuccess, Message: logSuccess, Data: l}, nil
}

// logName is an entry's name: the last segment of its path, a common
// prefix's without the delimiter that ends it.
func logName(key, delimiter string, isPrefix bool) string {
	if isPrefix {
		key = strings.TrimSuffix(key, delimiter)
	}
	return key[strings.LastIndexByte(key, '/')+1:]
}

func (h *Handler) getLog(r *request) (any, error) {
	q := r.URL.Query()
	scheme := "http://"
	if r.TLS != nil {
		scheme = "https://"
	}
	u, err := h.Service.GetLogURL(r.Context(), r.p, service.GetLogInput{
		WorkspaceID: r.PathValue("workspaceId"), JobID: r.PathValue("instanceId"),
		BucketName: q.Get("bucketName"), Path: q.Get("path"), RequestBase: scheme + r.Host,
	})
	if err != nil {
		return nil, err
	}
	return &api.GetLogResponse{RequestID: service.RequestID(r.Context()), Code: api.LogSuccess, Message: logSuccess, Data: api.LogURL{AccessURL: u}}, nil
}

// serveLog serves the object a signed log URL names (service.LogURLPath),
// with no credential but the URL's signature: as text, never sniffed,
// sandboxed, so a log cannot run as a page of the API's origin. Errors are
// the API's error bodies.
func (h *Handler) serveLog() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := newRequestID()
		ctx := service.WithRequestID(r.Context(), id)
		q := r.URL.Query()
		rc, obj, err := h.Service.OpenLog(ctx, r.PathValue("bucket"), r.PathValue("key"), q.Get("expires"), q.Get("signature"))
		code := "OK"
		defer func() {
			if h.Metrics != nil {
				h.Metrics.observe("DownloadRayLog", code, time.Since(start))
			}
		}()
		if err != nil {
			code = rayfleet.ErrorCode(err)
			status, body := h.errorBody(err, id, "")
			if status >= 500 {
				h.Logger.ErrorContext(ctx, "serving a log failed", "requestId", id, "err", err.Error())
			}
			writeJSON(w, status, body, id)
			return
		}
		defer rc.Close()
		hd := w.Header()
		hd.Set("Content-Type", "text/plain; charset=utf-8")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Content-Security-Policy", "default-src 'none'; sandbox")
		hd.Set("Content-Disposition", `inline; filename="`+strings.NewReplacer(`"`, "", `\`, "").Replace(path.Base(obj.Key))+`"`)
		hd.Set("Cache-Control", "private, no-cache")
		hd.Set("x-acs-request-id", id)
		if rs, ok := rc.(io.ReadSeeker); ok {
			// Ranges and conditional requests, as object stores answer them.
			http.ServeContent(w, r, "", obj.Modified, rs)
			return
		}
		hd.Set("Content-Length", strconv.FormatInt(obj.Size, 10))
		hd.Set("Last-Modified", obj.Modified.UTC().Format(http.TimeFormat))
		if r.Method != http.MethodHead {
			_, _ = io.Copy(w, rc)
		}
	})
}
