package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"time"
)

// gRPC status codes the gateway answers with (google.golang.org/grpc/codes).
const (
	grpcResourceExhausted = 8
	grpcUnavailable       = 14
	grpcUnauthenticated   = 16
)

// grpcGateway routes Ray client streams by their ray-token metadata.
type grpcGateway struct {
	cfg   Config
	log   *slog.Logger
	lim   *limiter
	cache *routeCache
	live  *flights
	proxy *httputil.ReverseProxy
}

// grpcTarget is where one authenticated stream goes.
type grpcTarget struct {
	ws, id   string
	addr     string
	rayToken string
	stream   *headStream
}

type grpcTargetKey struct{}

// NewGRPC returns the handler of the gateway's Ray client listener. Each
// HTTP/2 stream (one gRPC call) must carry the cluster's submitToken as
// metadata "ray-token", which is what
//
//	ray.init("ray://<grpcAddress>", _metadata=[("ray-token", submitToken)])
//
// sends on every call. The gateway finds the cluster by the token's hash and
// proxies the stream to the head's Ray client server over HTTP/2 without
// TLS: headers, every DATA frame as it arrives in both directions, and the
// trailers with grpc-status. A missing or unknown token is answered with
// status UNAUTHENTICATED and reaches no head; a head that is not running is
// UNAVAILABLE; too many streams are RESOURCE_EXHAUSTED.
//
// Serve it with GRPCServer (it needs HTTP/2 without TLS).
func NewGRPC(cfg Config) http.Handler {
	cfg = cfg.withDefaults()
	g := &grpcGateway{cfg: cfg, log: cfg.Logger.With("component", "gateway-grpc"), lim: newLimiter(cfg.MaxConns, cfg.MaxConnsPerCluster), cache: newRouteCache(cfg.LookupCacheTTL)}
	cfg.Revocations.add(g.cache)
	g.live = newFlights(cfg.Revocations)
	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true) // and not HTTP1: prior knowledge, as gRPC servers expect
	transport := &http.Transport{
		Protocols:              &h2c,
		Proxy:                  nil,
		DialContext:            watchedDialer(dialer(cfg)),
		IdleConnTimeout:        90 * time.Second,
		DisableCompression:     true,
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
		HTTP2: &http.HTTP2Config{
			SendPingTimeout: time.Minute,
			PingTimeout:     20 * time.Second,
		},
	}
	g.proxy = &httputil.ReverseProxy{
		Rewrite:   g.rewrite,
		Transport: transport,
		// Zero, yet each message goes on as it comes: the proxy flushes
		// every write of a response of unknown length, which every gRPC
		// response with a body is. Not -1, which also flushes the headers
		// from a timer: that would split a trailers-only response (one
		// HEADERS frame with END_STREAM, grpc-status inside) into headers
		// and an empty end of stream, and clients would see no status.
		FlushInterval:  0,
		BufferPool:     buffers,
		ModifyResponse: modifyResponse,
		ErrorHandler:   g.proxyError,
		ErrorLog:       slog.NewLogLogger(g.log.Handler(), slog.LevelDebug),
	}
	return g
}

func (g *grpcGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor != 2 || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
		writeError(w, http.StatusUnsupportedMediaType, "UnsupportedProtocol", "This listener speaks the Ray client protocol (gRPC over HTTP/2): connect with ray.init(\"ray://...\", _metadata=[(\"ray-token\", submitToken)]).")
		return
	}
	ctx := r.Context()
	token := r.Header.Get(tokenHeader)
	if token == "" {
		grpcError(w, grpcUnauthenticated, msgMissingGRPCToken)
		return
	}
	if len(token) > maxTokenLen {
		grpcError(w, grpcUnauthenticated, msgBadGRPCToken)
		return
	}
	hash := hashToken(token)
	now := time.Now()
	gen := g.cache.generation()
	cr := g.cache.token(hash, now)
	if cr == nil {
		if cr = g.load(w, r, hash); cr == nil {
			return
		}
		g.cache.put(cr, gen, now)
	}
	key := clusterKey{cr.ws, cr.id}
	if ref := g.lim.acquire(cr.account, key); ref != nil {
		grpcError(w, grpcResourceExhausted, ref.msg)
		return
	}
	defer g.lim.release(cr.account, key)
	ctx, done := g.live.addRequest(ctx, key, r.Body)
	defer done()
	t := &grpcTarget{ws: cr.ws, id: cr.id, addr: cr.client, rayToken: cr.rayToken, stream: newHeadStream()}
	defer close(t.stream.ended)
	g.proxy.ServeHTTP(w, r.WithContext(context.WithValue(t.stream.trace(ctx), grpcTargetKey{}, t)))
}

// load asks Lookup for the running cluster whose token hashes to hash. On
// a refusal or an error it answers the call and returns nil.
func (g *grpcGateway) load(w http.ResponseWriter, r *http.Request, hash string) *clusterRoute {
	ctx := r.Context()
	ws, id, ok, err := g.cfg.Lookup.ByToken(ctx, hash)
	if err != nil {
		lookupFailed(ctx, g.log, "look up cluster by token", "err", err)
		grpcError(w, grpcUnavailable, msgInternal)
		return nil
	}
	if !ok {
		g.log.DebugContext(ctx, "token refused", "remote", r.RemoteAddr, "method", r.URL.Path)
		grpcError(w, grpcUnauthenticated, msgBadGRPCToken)
		return nil
	}
	cr := &clusterRoute{ws: ws, id: id, tokenHash: hash}
	var running bool
	cr.dashboard, cr.client, running = g.cfg.Lookup.Upstream(ctx, ws, id)
	if !running || cr.client == "" {
		grpcError(w, grpcUnavailable, msgNotRunning)
		return nil
	}
	if cr.rayToken, err = g.cfg.Lookup.UpstreamToken(ctx, ws, id); err != nil {
		lookupFailed(ctx, g.log, "look up Ray's token", "workspace", ws, "cluster", id, "err", err)
		grpcError(w, grpcUnavailable, msgInternal)
		return nil
	}
	if cr.account, err = accountOf(ctx, g.cfg.Lookup, ws, id); err != nil {
		lookupFailed(ctx, g.log, "look up the workspace's account", "workspace", ws, "err", err)
		grpcError(w, grpcUnavailable, msgInternal)
		return nil
	}
	return cr
}

func (g *grpcGateway) rewrite(pr *httputil.ProxyRequest) {
	t, _ := pr.In.Context().Value(grpcTargetKey{}).(*grpcTarget)
	out := pr.Out
	out.URL.Scheme = "http"
	out.URL.Host = t.addr
	out.Host = ""
	scrubCredentials(out.Header, t.rayToken)
}

// markTrailersOnly gives a trailers-only response (the call's status in its
// headers, no body) a known length of zero, so the proxy does not flush its
// headers early (see NewGRPC) and they go out as one frame that ends the
// stream.
func markTrailersOnly(res *http.Response) error {
	if res.Header.Get("Grpc-Status") != "" {
		res.ContentLength = 0
	}
	return nil
}

// modifyResponse prepares a head's answer to a stream for the client: see
// markTrailersOnly and headStream.
func modifyResponse(res *http.Response) error {
	if t, _ := res.Request.Context().Value(grpcTargetKey{}).(*grpcTarget); t != nil && res.ContentLength != 0 {
		t.stream.follow(res)
	}
	return markTrailersOnly(res)
}

func (g *grpcGateway) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	attrs := []any{"method", r.URL.Path, "err", err}
	if t, _ := r.Context().Value(grpcTargetKey{}).(*grpcTarget); t != nil {
		attrs = append(attrs, "workspace", t.ws, "cluster", t.id, "upstream", t.addr)
	}
	if r.Context().Err() != nil {
		g.log.DebugContext(r.Context(), "client went away", attrs...)
	} else {
		g.log.WarnContext(r.Context(), "Ray client server did not answer", attrs...)
	}
	grpcError(w, grpcUnavailable, msgBadGateway)
}

// grpcError answers a call with a gRPC status and no message: a
// "trailers-only" response, headers that end the stream.
func grpcError(w http.ResponseWriter, code int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "application/grpc")
	h.Set("Grpc-Status", strconv.Itoa(code))
	h.Set("Grpc-Message", grpcPercentEncode(msg))
	w.WriteHeader(http.StatusOK)
}

// grpcPercentEncode encodes a grpc-message value as the gRPC HTTP/2 spec
// says: bytes outside printable ASCII, and '%', as %XX.
func grpcPercentEncode(s string) string {
	const hex = "0123456789ABCDEF"
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '%' {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '%' {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xf])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
