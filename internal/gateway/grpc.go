package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
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
	gate  *gate
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
// HTTP/2 stream (one gRPC call) must carry a submitToken as metadata
// "ray-token", which is what
//
//	ray.init("ray://<grpcAddress>", _metadata=[("ray-token", submitToken)])
//
// sends on every call. The gateway finds the credential by the token's hash
// (Lookup.Authorize, at the Ray client's door), and so its cluster, and
// proxies the stream to the head's Ray client server over HTTP/2 without
// TLS: headers, every DATA frame as it arrives in both directions, and the
// trailers with grpc-status. A missing or unknown token, or one whose user
// may not use the Ray client, is answered with status UNAUTHENTICATED and
// reaches no head; a head that is not running is UNAVAILABLE; too many
// streams are RESOURCE_EXHAUSTED. The first stream of each credential on a
// client connection goes to the audit log (Auditor) as a Ray client
// connection: a Ray client opens its streams on one connection.
//
// Serve it with GRPCServer (it needs HTTP/2 without TLS).
func NewGRPC(cfg Config) http.Handler {
	cfg = cfg.withDefaults()
	g := &grpcGateway{cfg: cfg, log: cfg.Logger.With("component", "gateway-grpc"), lim: newLimiter(cfg.MaxConns, cfg.MaxConnsPerCluster)}
	g.gate = newGate(cfg, g.log)
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
	src := sourceOf(r)
	k := grantKey{tokenHash: hashToken(token), door: DoorRayClient, sourceIP: src.ip, secure: src.secure}
	gen := g.gate.cache.generation()
	cr, v, err := g.gate.authorize(ctx, k)
	switch {
	case err != nil:
		lookupFailed(ctx, g.log, "look up a credential", "err", err)
		grpcError(w, grpcUnavailable, msgInternal)
		return
	case v == NotAllowed:
		g.auditConnection(r, cr, src, true)
		g.log.DebugContext(ctx, "door not allowed", "workspace", cr.grant.Workspace, "cluster", cr.grant.Cluster, "user", cr.grant.User, "remote", r.RemoteAddr)
		grpcError(w, grpcUnauthenticated, msgNotAllowed(DoorRayClient))
		return
	case v != Granted:
		g.log.DebugContext(ctx, "token refused", "remote", r.RemoteAddr, "method", r.URL.Path)
		grpcError(w, grpcUnauthenticated, msgBadGRPCToken)
		return
	case cr.client == "":
		grpcError(w, grpcUnavailable, msgNotRunning)
		return
	}
	key := cr.cluster()
	if ref := g.lim.acquire(cr.account(), key); ref != nil {
		grpcError(w, grpcResourceExhausted, ref.msg)
		return
	}
	defer g.lim.release(cr.account(), key)
	ctx, done := g.gate.live.addRequest(ctx, cr, r.Body)
	defer done()
	if g.gate.revokedSince(ctx, gen, cr) {
		grpcError(w, grpcUnauthenticated, msgBadGRPCToken)
		return
	}
	g.auditConnection(r, cr, src, false)
	t := &grpcTarget{ws: key.ws, id: key.id, addr: cr.client, rayToken: cr.rayToken, stream: newHeadStream()}
	defer close(t.stream.ended)
	g.proxy.ServeHTTP(w, r.WithContext(context.WithValue(t.stream.trace(ctx), grpcTargetKey{}, t)))
}

// auditConnection records a Ray client connection: the first stream of each
// credential (let through, or refused) on a client connection. A Ray
// client opens its calls and streams (Datapath, Logstream and the unary
// calls) on one connection, and opens another when it reconnects.
func (g *grpcGateway) auditConnection(r *http.Request, cr *clusterRoute, src source, refused bool) {
	if c, _ := r.Context().Value(connKey{}).(*connAudit); c != nil && !c.first(cr.key.tokenHash, refused) {
		return
	}
	g.gate.audit(r.Context(), cr, src, "Ray client connection", refused)
}

// connKey is where GRPCServer puts each client connection's connAudit.
type connKey struct{}

// connAudit is what a client connection has had audited.
type connAudit struct {
	mu   sync.Mutex
	seen map[connAudited]struct{}
}

type connAudited struct {
	tokenHash string
	refused   bool
}

// maxConnAudited bounds what one connection remembers; past it, each
// stream is audited.
const maxConnAudited = 64

// first reports whether this is the connection's first stream with the
// credential (let through, or refused).
func (c *connAudit) first(tokenHash string, refused bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := connAudited{tokenHash, refused}
	if _, ok := c.seen[k]; ok {
		return false
	}
	if c.seen == nil {
		c.seen = map[connAudited]struct{}{}
	}
	if len(c.seen) < maxConnAudited {
		c.seen[k] = struct{}{}
	}
	return true
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
