package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/api/signer"
	"github.com/rayfleet/rayfleet/internal/service"
)

// MaxBodyBytes is the largest request body accepted.
const MaxBodyBytes = 1 << 20

// Handler serves the API.
type Handler struct {
	Service *service.Service
	Logger  *slog.Logger
	Metrics *Metrics
	Nonces  *NonceCache
	// SharedNonces, if not nil, also records every nonce where all the API
	// processes sharing the store see it, so a request replayed to another
	// replica is refused too.
	SharedNonces NonceLedger
	Now          func() time.Time
	// HostID is reported in error bodies (the API's host name).
	HostID string
	// Ready reports whether the server can serve (store reachable...).
	Ready func(ctx context.Context) error
	// Gatherer serves /metrics.
	Gatherer prometheus.Gatherer
	// MetricsToken, if set, is the bearer token /metrics asks for: the
	// metrics tell every tenant's activity, and the API's port is open to
	// them.
	MetricsToken string

	mux          *http.ServeMux
	authFailures *authFailures
}

// request is what a handler gets: the caller, the path values, the body.
type request struct {
	*http.Request
	p    rayfleet.Principal
	body []byte
}

type handlerFunc func(r *request) (any, error)

// ServeHTTP makes Handler an http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.mux == nil {
		h.mux = http.NewServeMux()
		h.routes(h.mux)
	}
	h.mux.ServeHTTP(w, r)
}

// Init builds the routes; ServeHTTP does it on first use otherwise. Call it
// before serving from many goroutines.
func (h *Handler) Init() *Handler {
	h.mux = http.NewServeMux()
	h.authFailures = newAuthFailures(h.Logger, h.Metrics, h.Now)
	h.routes(h.mux)
	return h
}

// wrap turns a handler into an http.Handler: request id, body limit,
// signature, the call, the JSON answer or error body, metrics and logs.
func (h *Handler) wrap(action string, fn handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		requestID := newRequestID()
		ctx := service.WithRequestID(r.Context(), requestID)
		r = r.WithContext(ctx)
		var (
			out any
			err error
		)
		func() {
			defer func() {
				if v := recover(); v != nil {
					h.Logger.ErrorContext(ctx, "panic serving request", "requestId", requestID, "action", action, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
					out, err = nil, errors.New("panic")
				}
			}()
			out, err = h.serve(r, action, fn)
		}()
		code := "OK"
		if err != nil {
			code = rayfleet.ErrorCode(err)
			status, body := h.errorBody(err, requestID, action)
			if status >= 500 {
				h.Logger.ErrorContext(ctx, "request failed", "requestId", requestID, "action", action, "err", err.Error())
			} else {
				h.Logger.DebugContext(ctx, "request refused", "requestId", requestID, "action", action, "code", code, "message", body.Message)
			}
			if code == rayfleet.ETHROTTLING {
				w.Header().Set("x-acs-retry-after", "1")
			}
			writeJSON(w, status, body, requestID)
		} else {
			writeJSON(w, http.StatusOK, out, requestID)
			h.Logger.DebugContext(ctx, "request served", "requestId", requestID, "action", action)
		}
		if h.Metrics != nil {
			h.Metrics.observe(action, code, time.Since(start))
		}
	})
}

func (h *Handler) serve(r *http.Request, action string, fn handlerFunc) (any, error) {
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	if k := repeatedParameter(r, body); k != "" {
		// Signatures cover every pair, handlers read one: a second value
		// could say what the signer did not mean. None of the SDKs repeats
		// a parameter.
		return nil, rayfleet.Errorf(rayfleet.EINVALID, "The parameter %q is given more than once; give it once.", k)
	}
	if a := r.Header.Get("x-acs-action"); a != "" && a != action {
		return nil, rayfleet.Errorf(rayfleet.EINVALID, "x-acs-action is %s, but %s %s is %s", a, r.Method, r.URL.Path, action)
	}
	p, err := h.authenticate(r, body, action)
	if err != nil {
		if h.authFailures != nil {
			h.authFailures.note(r.Context(), sourceIP(r), accessKeyOf(r, body), rayfleet.ErrorCode(err))
		}
		return nil, err
	}
	if service.Mutating(action) {
		r = r.WithContext(service.WithAuditTrail(r.Context()))
	}
	var out any
	err = h.checkRegion(r.URL.Query())
	if err == nil {
		out, err = fn(&request{Request: r, p: p, body: body})
	}
	h.Service.Audit(r.Context(), p, action, err)
	return out, err
}

// checkRegion refuses a regionId query parameter (which the SDK sends on
// every workspace, queue, release and network operation when it is set)
// that names another region than the one this server is: the hosted
// product answers each region at its own endpoint, and a call meant for
// another region must not act here.
func (h *Handler) checkRegion(q url.Values) error {
	region := h.Service.RegionID
	if got := q.Get("regionId"); got != "" && region != "" && got != region {
		return rayfleet.Errorf(rayfleet.EINVALID, "regionId %q is not this endpoint's region: it serves %s; pass regionId=%s or leave it out", got, region, region)
	}
	return nil
}

func readBody(r *http.Request) ([]byte, error) {
	if r.ContentLength > MaxBodyBytes {
		return nil, rayfleet.Errorf(rayfleet.ETOOLARGE, "the request body is %d bytes; at most %d are accepted", r.ContentLength, MaxBodyBytes)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		return nil, rayfleet.Errorf(rayfleet.EINVALID, "the request body could not be read")
	}
	if len(body) > MaxBodyBytes {
		return nil, rayfleet.Errorf(rayfleet.ETOOLARGE, "the request body is larger than %d bytes", MaxBodyBytes)
	}
	return body, nil
}

// authenticate checks the request's signature and returns its caller.
// action is the operation the request was routed to.
func (h *Handler) authenticate(r *http.Request, body []byte, action string) (rayfleet.Principal, error) {
	signed, err := signer.ParseRequest(r, body)
	if err != nil {
		return rayfleet.Principal{}, signerError(err)
	}
	switch {
	case signed.Scheme == signer.SchemeACS3 && signed.Nonce == "":
		return rayfleet.Principal{}, rayfleet.Errorf(rayfleet.EMISSING, "x-acs-signature-nonce is required")
	case signed.Scheme == signer.SchemeROA && signed.Nonce == "":
		// The official clients send it in legacy mode too, covered by the
		// signature: without it a captured request could be sent again.
		return rayfleet.Principal{}, rayfleet.Errorf(rayfleet.EMISSING, "x-acs-signature-nonce is required")
	case signed.Scheme == signer.SchemeRPC && signed.Action != action:
		// The RPC signature covers the Action parameter but no header:
		// the call must be the one that was signed.
		return rayfleet.Principal{}, rayfleet.Errorf(rayfleet.EINVALID, "The signed Action is %s, but this call is %s.", signed.Action, action)
	}
	var (
		p      rayfleet.Principal
		secret string
	)
	switch {
	case strings.HasPrefix(signed.AccessKeyID, service.STSPrefix):
		p, secret, err = h.Service.AuthenticateSession(r.Context(), signed.AccessKeyID, signed.SecurityToken)
	case signed.SecurityToken != "":
		err = rayfleet.Errorf(rayfleet.ESECURITYTOKEN, "A security token goes only with temporary (STS.) credentials.")
	default:
		p, secret, err = h.Service.Authenticate(r.Context(), signed.AccessKeyID)
	}
	if err != nil {
		return rayfleet.Principal{}, err
	}
	now := h.Now()
	if err := signed.Verify(r, body, secret, now); err != nil {
		return rayfleet.Principal{}, signerError(err)
	}
	if signed.Scheme == signer.SchemeROA && len(body) > 0 && r.Header.Get("Content-MD5") == "" && r.TLS == nil && !fromLoopback(r) {
		// The legacy ROA signature covers a body only through Content-MD5,
		// which the official Go client's legacy mode does not send: on a
		// network such a body could be swapped under a captured signature.
		// Over TLS it cannot be captured, and loopback traffic can only be
		// read with the privileges that read the server itself.
		return rayfleet.Principal{}, rayfleet.Errorf("IncompleteSignature",
			"The legacy ROA signature (HMAC-SHA1) does not cover this request's body: send Content-MD5 with it, call over https, or sign with ACS3-HMAC-SHA256 (the SDKs' default).")
	}
	if signed.Nonce != "" {
		key, expires := signed.AccessKeyID+"\x00"+signed.Nonce, signed.Date.Add(SignatureWindow)
		if err := h.Nonces.Use(p.AccountID, key, expires, now); err != nil {
			return rayfleet.Principal{}, err
		}
		if h.SharedNonces != nil {
			fresh, err := h.SharedNonces.UseNonce(r.Context(), key, expires, now)
			if err != nil {
				return rayfleet.Principal{}, err
			}
			if !fresh {
				return rayfleet.Principal{}, rayfleet.Errorf(rayfleet.ENONCE, "Specified signature nonce was used already.")
			}
		}
	}
	p.SourceIP = sourceIP(r)
	p.SecureTransport = r.TLS != nil
	return p, nil
}

// accessKeyOf is the access key id a request names, for the log ("" when
// it names none that can be read).
func accessKeyOf(r *http.Request, body []byte) string {
	signed, err := signer.ParseRequest(r, body)
	if err != nil {
		return ""
	}
	return signed.AccessKeyID
}

func signerError(err error) error {
	var se *signer.Error
	if errors.As(err, &se) {
		return &rayfleet.Error{Code: se.Code, Message: se.Message}
	}
	return err
}

// fromLoopback reports whether r came from this machine's loopback.
func fromLoopback(r *http.Request) bool {
	ip := net.ParseIP(sourceIP(r))
	return ip != nil && ip.IsLoopback()
}

// repeatedParameter returns the first query parameter, or form field of a
// form body, that appears more than once ("" if none does).
func repeatedParameter(r *http.Request, body []byte) string {
	if k := repeatedKey(r.URL.RawQuery); k != "" {
		return k
	}
	if ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";"); strings.EqualFold(strings.TrimSpace(ct), "application/x-www-form-urlencoded") {
		return repeatedKey(string(body))
	}
	return ""
}

func repeatedKey(encoded string) string {
	if !strings.Contains(encoded, "&") {
		return ""
	}
	seen := map[string]bool{}
	for pair := range strings.SplitSeq(encoded, "&") {
		if pair == "" {
			continue
		}
		k, _, _ := strings.Cut(pair, "=")
		if dk, err := url.QueryUnescape(k); err == nil {
			k = dk
		}
		if seen[k] {
			return k
		}
		seen[k] = true
	}
	return ""
}

func sourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func writeJSON(w http.ResponseWriter, status int, v any, requestID string) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		fmt.Fprintf(&buf, `{"RequestId":%q,"Code":"Error.Internal","Message":"The response could not be encoded."}`+"\n", requestID)
	}
	body := buf.Bytes()
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Header().Set("x-acs-request-id", requestID)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// decode reads a JSON object body into v. An empty body leaves v as it is.
func decode(r *request, v any) error {
	if len(bytes.TrimSpace(r.body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te):
			field := te.Field
			if field == "" {
				return rayfleet.Errorf(rayfleet.EINVALID, "the request body must be a JSON object")
			}
			return rayfleet.Errorf(rayfleet.EINVALID, "%s must be of type %s, not a JSON %s", field, jsonKind(te.Type.Kind().String()), te.Value)
		case errors.As(err, &se):
			return rayfleet.Errorf(rayfleet.EINVALID, "the request body is not valid JSON (at byte %d)", se.Offset)
		default:
			return rayfleet.Errorf(rayfleet.EINVALID, "the request body is not valid JSON")
		}
	}
	return nil
}

func jsonKind(k string) string {
	switch k {
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "integer"
	case "float32", "float64":
		return "number"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "array"
	case "struct", "map", "ptr":
		return "object"
	}
	return k
}

// queryInt parses an integer query parameter; absent is 0.
func queryInt(r *request, name string) (int, error) {
	return intParam(r.URL.Query(), name)
}

// pageParam parses a paging parameter (pageSize, pageNum, maxResults):
// absent is 0, the operation's default; given, it must be 1 or more, as
// the SDK documents, rather than 0 standing for the default.
func pageParam(q url.Values, name string) (int, error) {
	n, err := intParam(q, name)
	if err == nil && q.Get(name) != "" && n < 1 {
		return 0, rayfleet.Errorf(rayfleet.EINVALID, "%s must be 1 or more, got %d; leave it out for the default", name, n)
	}
	return n, err
}

// intParam is queryInt on a query already parsed.
func intParam(q url.Values, name string) (int, error) {
	v := q.Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, rayfleet.Errorf(rayfleet.EINVALID, "%s must be an integer, got %q", name, v)
	}
	return n, nil
}

func newRequestID() string { return service.NewRequestID(rand.Reader) }
