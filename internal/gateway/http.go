package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// httpGateway serves the dashboard and the job API of every cluster.
type httpGateway struct {
	cfg   Config
	log   *slog.Logger
	lim   *limiter
	cache *routeCache
	live  *flights
	proxy *httputil.ReverseProxy
}

// target is where one authenticated request goes; it rides in the request's
// context from ServeHTTP to the proxy's hooks.
type target struct {
	rt       route
	addr     string // the head's host:port
	rayToken string // Ray's own token, "" when Ray's auth is off
}

type targetKey struct{}

func targetOf(ctx context.Context) *target {
	t, _ := ctx.Value(targetKey{}).(*target)
	return t
}

// NewHTTP returns the handler of the gateway's HTTP listener:
//
//	/workspace/<ws>/raycluster/<id>                 302 to .../dashboard/
//	/workspace/<ws>/raycluster/<id>/dashboard       302 to .../dashboard/
//	/workspace/<ws>/raycluster/<id>/dashboard/...   the head's dashboard at /...
//	/workspace/<ws>/raycluster/<id>/api/...         the head's job API at /api/...
//
// A request passes with header ray-token (the cluster's submitToken) or the
// session cookie a dashboardUrl's ?token= sets: the gateway checks the token,
// sets the cookie (HttpOnly, SameSite=Lax, scoped to the cluster's path) and
// redirects to the same URL without the token, so it leaves the address bar
// and the browser history. Anything else is 401 and reaches no head.
//
// NewHTTPServer serves it.
func NewHTTP(cfg Config) http.Handler { return newHTTPGateway(cfg) }

func newHTTPGateway(cfg Config) *httpGateway {
	cfg = cfg.withDefaults()
	g := &httpGateway{cfg: cfg, log: cfg.Logger.With("component", "gateway-http"), lim: newLimiter(cfg.MaxConns, cfg.MaxConnsPerCluster), cache: newRouteCache(cfg.LookupCacheTTL)}
	cfg.Revocations.add(g.cache)
	g.live = newFlights(cfg.Revocations)
	g.proxy = &httputil.ReverseProxy{
		Rewrite:        g.rewrite,
		Transport:      headTransport(cfg),
		FlushInterval:  -1, // log tails and streams reach the client as they come
		BufferPool:     buffers,
		ModifyResponse: g.modifyResponse,
		ErrorHandler:   g.proxyError,
		ErrorLog:       slog.NewLogLogger(g.log.Handler(), slog.LevelDebug),
	}
	return g
}

func (g *httpGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt, ok := parseRoute(r.URL.EscapedPath())
	if !ok {
		writeError(w, http.StatusNotFound, codeNotFound, "No such path. The gateway serves /workspace/<workspaceId>/raycluster/<clusterId>/dashboard/ and /workspace/<workspaceId>/raycluster/<clusterId>/api/.")
		return
	}
	if rt.kind == routeRoot || rt.kind == routeDashboardBare {
		// The dashboard asks for everything relative to its page, so its
		// URL must end in "/". Nothing is looked up: the answer is the same
		// for every id.
		loc := rt.base + "/dashboard/"
		if r.URL.RawQuery != "" {
			loc += "?" + r.URL.RawQuery
		}
		redirect(w, loc)
		return
	}
	ctx := r.Context()
	key := clusterKey{rt.ws, rt.id}
	v, source, cr, ref := g.admit(ctx, &rt, credentialsOf(r))
	if ref != nil {
		writeError(w, ref.status, ref.code, ref.msg)
		return
	}
	switch v {
	case missing:
		writeError(w, http.StatusUnauthorized, codeInvalidToken, msgMissingToken)
		return
	case denied:
		g.deny(w, r, &rt, source)
		return
	case session:
		g.startSession(w, r, &rt, cr.tokenHash)
		return
	}
	if r.ContentLength > g.cfg.MaxBodyBytes {
		writeError(w, http.StatusRequestEntityTooLarge, codeTooLarge, tooLargeMessage(g.cfg.MaxBodyBytes))
		return
	}
	if ref := g.lim.acquire(cr.account, key); ref != nil {
		writeError(w, ref.status, ref.code, ref.msg)
		return
	}
	defer g.lim.release(cr.account, key)
	if r.Body != nil && r.Body != http.NoBody {
		// Streamed to the head as it comes, never held. A body of
		// undeclared length that runs past the limit fails the request
		// with 413 (see proxyError).
		r.Body = http.MaxBytesReader(w, r.Body, g.cfg.MaxBodyBytes)
	}
	ctx, done := g.live.addRequest(ctx, key, r.Body)
	defer done()
	t := &target{rt: rt, addr: cr.dashboard, rayToken: cr.rayToken}
	g.proxy.ServeHTTP(w, r.WithContext(context.WithValue(withHeadTrace(ctx), targetKey{}, t)))
}

// credentials are what a request presents to open a cluster.
type credentials struct {
	method        string
	queryToken    string // ?token=, unescaped
	hasQueryToken bool
	header        string   // the first ray-token header
	cookies       []string // the Cookie lines
}

func credentialsOf(r *http.Request) credentials {
	_, queryToken, hasQueryToken := takeParam(r.URL.RawQuery, tokenParam)
	return credentials{method: r.Method, queryToken: queryToken, hasQueryToken: hasQueryToken, header: r.Header.Get(tokenHeader), cookies: r.Header["Cookie"]}
}

// refusal is an error answer: the status and the JSON error's code and
// message.
type refusal struct {
	status    int
	code, msg string
}

var (
	refuseLookup         = &refusal{http.StatusInternalServerError, codeInternal, msgInternal}
	refuseNotRunning     = &refusal{http.StatusServiceUnavailable, codeClusterNotReady, msgNotRunning}
	refuseTooMany        = &refusal{http.StatusServiceUnavailable, codeTooManyConns, msgTooManyConns}
	refuseTooManyCluster = &refusal{http.StatusServiceUnavailable, codeTooManyConns, msgTooManyConnsClstr}
	refuseTooManyAccount = &refusal{http.StatusServiceUnavailable, codeTooManyConns, msgTooManyConnsAcct}
)

// admit checks creds against the cluster rt names, from what the cache
// remembers or else from Lookup. A request that passes gets the cluster's
// head and Ray token too; one that starts a session gets the token hash
// its cookie is made from. When Lookup fails or the head is not running,
// the refusal says what to answer.
func (g *httpGateway) admit(ctx context.Context, rt *route, creds credentials) (verdict, string, *clusterRoute, *refusal) {
	key := clusterKey{rt.ws, rt.id}
	now := time.Now()
	gen := g.cache.generation()
	cr := g.cache.cluster(key, now)
	fromCache := cr != nil
	if !fromCache {
		if cr = g.loadToken(ctx, rt); cr == nil {
			return 0, "", nil, refuseLookup
		}
	}
	v, source := g.check(rt, &creds, cr.tokenHash)
	if v == denied && fromCache {
		// Perhaps the cluster was restarted with a new token since it was
		// cached: ask again before refusing.
		g.cache.drop(key)
		if cr = g.loadToken(ctx, rt); cr == nil {
			return 0, "", nil, refuseLookup
		}
		fromCache = false
		v, source = g.check(rt, &creds, cr.tokenHash)
	}
	if v != passed || fromCache {
		return v, source, cr, nil
	}
	running := false
	cr.dashboard, cr.client, running = g.cfg.Lookup.Upstream(ctx, rt.ws, rt.id)
	if !running || cr.dashboard == "" {
		return v, source, nil, refuseNotRunning
	}
	var err error
	if cr.rayToken, err = g.cfg.Lookup.UpstreamToken(ctx, rt.ws, rt.id); err != nil {
		lookupFailed(ctx, g.log, "look up Ray's token", "workspace", rt.ws, "cluster", rt.id, "err", err)
		return v, source, nil, refuseLookup
	}
	if cr.account, err = accountOf(ctx, g.cfg.Lookup, rt.ws, rt.id); err != nil {
		lookupFailed(ctx, g.log, "look up the workspace's account", "workspace", rt.ws, "err", err)
		return v, source, nil, refuseLookup
	}
	g.cache.put(cr, gen, now)
	return v, source, cr, nil
}

// loadToken asks Lookup for the cluster's token hash; nil when Lookup
// fails.
func (g *httpGateway) loadToken(ctx context.Context, rt *route) *clusterRoute {
	tokenHash, exists, err := g.cfg.Lookup.ClusterToken(ctx, rt.ws, rt.id)
	if err != nil {
		lookupFailed(ctx, g.log, "look up cluster token", "workspace", rt.ws, "cluster", rt.id, "err", err)
		return nil
	}
	if !exists {
		tokenHash = "" // an unknown cluster looks exactly like one with a wrong token
	}
	return &clusterRoute{ws: rt.ws, id: rt.id, tokenHash: tokenHash}
}

// verdict is what check makes of a request's credentials.
type verdict uint8

const (
	passed  verdict = iota // a good ray-token header or session cookie
	session                // a good ?token= on a GET of the dashboard: set the cookie
	missing                // no credential at all
	denied                 // a credential that does not open this cluster
)

// check looks at the request's credentials in the order DESIGN.md gives:
// ?token= on the dashboard, header ray-token, the session cookie.
func (g *httpGateway) check(rt *route, creds *credentials, tokenHash string) (verdict, string) {
	switch {
	case creds.hasQueryToken && rt.kind == routeDashboard:
		if !tokenMatches(creds.queryToken, tokenHash) {
			return denied, "query"
		}
		if creds.method == http.MethodGet || creds.method == http.MethodHead {
			return session, ""
		}
		return passed, ""
	case creds.header != "":
		if !tokenMatches(creds.header, tokenHash) {
			return denied, "header"
		}
		return passed, ""
	default:
		present, ok := anyCookie(creds.cookies, sessionCookie, func(v string) bool {
			return sessionMatches(g.cfg.SessionKey, rt.ws, rt.id, tokenHash, v)
		})
		switch {
		case !present:
			return missing, ""
		case !ok:
			return denied, "cookie"
		}
		return passed, ""
	}
}

// deny answers a presented but wrong token.
func (g *httpGateway) deny(w http.ResponseWriter, r *http.Request, rt *route, source string) {
	g.log.DebugContext(r.Context(), "token refused", "workspace", rt.ws, "cluster", rt.id, "source", source, "remote", r.RemoteAddr)
	writeError(w, http.StatusUnauthorized, codeInvalidToken, msgBadToken)
}

// startSession sets the session cookie for a good ?token= and sends the
// browser back to the same URL without it.
func (g *httpGateway) startSession(w http.ResponseWriter, r *http.Request, rt *route, tokenHash string) {
	rest, _, _ := takeParam(r.URL.RawQuery, tokenParam)
	loc := rt.base + "/dashboard" + rt.upstream
	if rest != "" {
		loc += "?" + rest
	}
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    sessionValue(g.cfg.SessionKey, rt.ws, rt.id, tokenHash),
		Path:     rt.base + "/",
		HttpOnly: true,
		Secure:   g.cfg.CookieSecure || r.TLS != nil,
		SameSite: http.SameSiteLaxMode,
	})
	w.Header().Set("Referrer-Policy", "no-referrer")
	redirect(w, loc)
}

func redirect(w http.ResponseWriter, loc string) {
	h := w.Header()
	h.Set("Location", loc)
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusFound)
}

// rewrite turns the inbound request into the head's: prefix stripped, no
// gateway credential, Ray's own token when Ray wants one.
func (g *httpGateway) rewrite(pr *httputil.ProxyRequest) {
	t := targetOf(pr.In.Context())
	out := pr.Out
	out.URL.Scheme = "http"
	out.URL.Host = t.addr
	out.Host = ""
	setPath(out.URL, t.rt.upstream)
	out.URL.RawQuery, _, _ = takeParam(out.URL.RawQuery, tokenParam)
	scrubCredentials(out.Header, t.rayToken)
	dropCookies(out.Header)
	// The proxy has dropped the client's X-Forwarded-*; these say the
	// same and are as easily forged.
	out.Header.Del("Forwarded")
	out.Header.Del("X-Real-Ip")
}

// setPath sets u's path from an escaped path.
func setPath(u *url.URL, escaped string) {
	if !strings.Contains(escaped, "%") {
		u.Path, u.RawPath = escaped, ""
		return
	}
	p, err := url.PathUnescape(escaped)
	if err != nil { // cannot happen: escaped came from a parsed URL
		p = escaped
	}
	u.Path, u.RawPath = p, escaped
}

// scrubCredentials removes every credential a client may have sent the
// gateway and, when Ray's token authentication is on, adds Ray's token the
// way Ray reads it.
func scrubCredentials(h http.Header, rayToken string) {
	h.Del(tokenHeader)
	h.Del("Authorization")
	h.Del("X-Ray-Authorization")
	if rayToken != "" {
		h.Set("Authorization", "Bearer "+rayToken)
	}
}

// modifyResponse keeps the head's redirects and cookies under the cluster's
// prefix.
func (g *httpGateway) modifyResponse(res *http.Response) error {
	t := targetOf(res.Request.Context())
	if t == nil {
		return nil
	}
	if loc := res.Header.Get("Location"); loc != "" {
		res.Header.Set("Location", rewriteLocation(loc, t))
	}
	if cookies := res.Header["Set-Cookie"]; len(cookies) > 0 {
		kept := cookies[:0]
		for _, line := range cookies {
			if c, ok := rewriteSetCookie(line, t); ok {
				kept = append(kept, c)
			}
		}
		if len(kept) == 0 {
			res.Header.Del("Set-Cookie")
		} else {
			res.Header["Set-Cookie"] = kept
		}
	}
	return nil
}

// rewriteSetCookie puts a cookie of the head's under the cluster's prefix
// and the gateway's host; false drops it (unparsable, or posing as the
// gateway's own cookie).
func rewriteSetCookie(line string, t *target) (string, bool) {
	c, err := http.ParseSetCookie(line)
	if err != nil || c.Name == sessionCookie {
		return "", false // the head never sets (or clobbers) the gateway's cookie
	}
	if c.Path != "" {
		c.Path = t.rt.prefix() + c.Path
	}
	c.Domain = ""
	return c.String(), true
}

// rewriteLocation puts a redirect of the head's under the cluster's prefix:
// absolute paths and absolute URLs that name the head itself. Other
// locations (relative ones, other hosts) stay.
func rewriteLocation(loc string, t *target) string {
	if strings.HasPrefix(loc, "/") && !strings.HasPrefix(loc, "//") {
		return t.rt.prefix() + loc
	}
	u, err := url.Parse(loc)
	if err != nil || u.Host != t.addr || (u.Scheme != "http" && u.Scheme != "https") {
		return loc
	}
	u.Scheme, u.Host, u.User = "", "", nil
	p := u.String()
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return t.rt.prefix() + p
}

func (g *httpGateway) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		writeError(w, http.StatusRequestEntityTooLarge, codeTooLarge, tooLargeMessage(tooLarge.Limit))
		return
	}
	attrs := []any{"method", r.Method, "path", r.URL.Path, "err", err}
	if t := targetOf(r.Context()); t != nil {
		attrs = append(attrs, "workspace", t.rt.ws, "cluster", t.rt.id, "upstream", t.addr)
	}
	if r.Context().Err() != nil {
		g.log.DebugContext(r.Context(), "client went away", attrs...)
	} else {
		g.log.WarnContext(r.Context(), "head did not answer", attrs...)
	}
	writeError(w, http.StatusBadGateway, codeBadGateway, msgBadGateway)
}

func tooLargeMessage(limit int64) string {
	return "The request body is larger than the gateway's limit of " + formatBytes(limit) + "."
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return strconv.FormatInt(n>>30, 10) + " GiB"
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// bufferPool lends the proxies their 32 KiB copy buffers, so a request does
// not allocate one.
type bufferPool struct{ p sync.Pool }

const bufferSize = 32 << 10

var buffers = &bufferPool{p: sync.Pool{New: func() any { return new([bufferSize]byte) }}}

func (b *bufferPool) Get() []byte { return b.p.Get().(*[bufferSize]byte)[:] }

func (b *bufferPool) Put(buf []byte) {
	if cap(buf) >= bufferSize {
		b.p.Put((*[bufferSize]byte)(buf[:bufferSize]))
	}
}
