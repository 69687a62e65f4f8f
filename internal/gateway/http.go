package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
)

// httpGateway serves the dashboard and the job API of every cluster.
type httpGateway struct {
	cfg   Config
	log   *slog.Logger
	lim   *limiter
	gate  *gate
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
// A request passes with a data-plane credential that opens its door of the
// cluster (Lookup.Authorize): in header ray-token (a submitToken), or in the
// session cookie a dashboardUrl's ?token= sets: the gateway checks the
// token, sets the cookie (HttpOnly, SameSite=Lax, scoped to the cluster's
// path, bound to the credential) and redirects to the same URL without the
// token, so it leaves the address bar and the browser history. The
// dashboard's path is the dashboard's door, except for the job API's writes
// through it (doorOf); .../api/... is the job API's. Anything else is 401
// and reaches no head.
//
// NewHTTPServer serves it.
func NewHTTP(cfg Config) http.Handler { return newHTTPGateway(cfg) }

func newHTTPGateway(cfg Config) *httpGateway {
	cfg = cfg.withDefaults()
	g := &httpGateway{cfg: cfg, log: cfg.Logger.With("component", "gateway-http"), lim: newLimiter(cfg.MaxConns, cfg.MaxConnsPerCluster)}
	g.gate = newGate(cfg, g.log)
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
	if d := g.cfg.ClusterDomain; d != "" {
		if msg := hostRefusal(r.Host, d, &rt); msg != "" {
			writeError(w, http.StatusNotFound, codeNotFound, msg)
			return
		}
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
	door, src := doorOf(&rt, r.Method), sourceOf(r)
	gen := g.gate.cache.generation()
	creds := credentialsOf(r)
	cr, v, ref := g.admit(ctx, &rt, creds, door, src)
	if ref != nil {
		writeError(w, ref.status, ref.code, ref.msg)
		return
	}
	what := auditedRequest(r.Method, &rt)
	switch v {
	case missing:
		writeError(w, http.StatusUnauthorized, codeInvalidToken, msgMissingToken)
		return
	case denied:
		g.deny(w, r, &rt)
		return
	case forbidden:
		if creds.hasQueryToken && rt.kind == routeDashboard {
			what = "dashboard session"
		}
		if what != "" {
			g.gate.audit(ctx, cr, src, what, true)
		}
		g.log.DebugContext(ctx, "door not allowed", "workspace", rt.ws, "cluster", rt.id, "door", door.String(), "user", cr.grant.User, "remote", r.RemoteAddr)
		writeError(w, http.StatusUnauthorized, codeNotAllowed, msgNotAllowed(door))
		return
	case session:
		g.startSession(w, r, &rt, cr, src)
		return
	}
	if r.ContentLength > g.cfg.MaxBodyBytes {
		writeError(w, http.StatusRequestEntityTooLarge, codeTooLarge, tooLargeMessage(g.cfg.MaxBodyBytes))
		return
	}
	if ref := g.lim.acquire(cr.account(), key); ref != nil {
		writeError(w, ref.status, ref.code, ref.msg)
		return
	}
	defer g.lim.release(cr.account(), key)
	if r.Body != nil && r.Body != http.NoBody {
		// Streamed to the head as it comes, never held. A body of
		// undeclared length that runs past the limit fails the request
		// with 413 (see proxyError).
		r.Body = http.MaxBytesReader(w, r.Body, g.cfg.MaxBodyBytes)
	}
	ctx, done := g.gate.live.addRequest(ctx, cr, r.Body)
	defer done()
	if g.gate.revokedSince(ctx, gen, cr) {
		g.deny(w, r, &rt)
		return
	}
	if what != "" {
		g.gate.audit(ctx, cr, src, what, false)
	}
	t := &target{rt: rt, addr: cr.dashboard, rayToken: cr.rayToken}
	g.proxy.ServeHTTP(w, r.WithContext(context.WithValue(withHeadTrace(ctx), targetKey{}, t)))
}

// doorOf is the door a request to rt uses: the job API's for its own path
// and for the job API's writes through the dashboard's path (the head
// serves both on one port, so the dashboard's door must not let a user
// submit or stop jobs its policies keep it from), the dashboard's for the
// rest of the dashboard's path.
func doorOf(rt *route, method string) Door {
	if rt.kind == routeAPI {
		return DoorJobAPI
	}
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return DoorDashboard
	}
	if p := cleanPath(rt.upstream); underPath(p, "/api/jobs") || underPath(p, "/api/packages") {
		return DoorJobAPI
	}
	return DoorDashboard
}

// cleanPath is an escaped path as a server that decodes it and resolves
// its dot segments and repeated slashes would route it, so that no
// spelling of a path escapes what it is.
func cleanPath(escaped string) string {
	p, err := url.PathUnescape(escaped)
	if err != nil {
		p = escaped
	}
	return path.Clean("/" + p)
}

func underPath(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }

// maxAuditedPath bounds the path an audit event quotes.
const maxAuditedPath = 200

// auditedRequest says what a request is when it is one the audit log
// records (a job submitted, stopped or deleted, through either path), ""
// otherwise. Ray's job API: POST /api/jobs/ submits, POST
// /api/jobs/<id>/stop stops, DELETE /api/jobs/<id> deletes
// (dashboard/modules/job/job_head.py).
func auditedRequest(method string, rt *route) string {
	if rt.kind != routeAPI && rt.kind != routeDashboard {
		return ""
	}
	rest, ok := strings.CutPrefix(cleanPath(rt.upstream), "/api/jobs")
	if !ok || (rest != "" && rest[0] != '/') {
		return ""
	}
	rest = strings.TrimPrefix(rest, "/")
	var kind string
	switch {
	case method == http.MethodPost && rest == "":
		kind = "submit a job"
	case method == http.MethodPost && strings.Count(rest, "/") == 1 && strings.HasSuffix(rest, "/stop"):
		kind = "stop a job"
	case method == http.MethodDelete && rest != "" && !strings.Contains(rest, "/"):
		kind = "delete a job"
	default:
		return ""
	}
	quoted := rt.upstream
	if len(quoted) > maxAuditedPath {
		quoted = quoted[:maxAuditedPath] + "..."
	}
	return kind + " (" + method + " " + quoted + ")"
}

// hostRefusal says why host may not serve rt when each cluster has a host
// of its own under domain ("" when it may): a cluster's host serves that
// cluster alone, and another host only the job API.
func hostRefusal(host, domain string, rt *route) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	if label, ok := strings.CutSuffix(host, "."+domain); ok && label != "" && !strings.Contains(label, ".") {
		if label != strings.ToLower(rt.id) {
			return "This host serves cluster " + label + " only. Open " + rt.id + " on its own host, " + rt.id + "." + domain + " (its dashboardUrl)."
		}
		return ""
	}
	if rt.kind == routeAPI {
		return ""
	}
	return "Dashboards are served on each cluster's own host: open " + rt.id + "." + domain + " (the cluster's dashboardUrl)."
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

// admit checks creds at door of the cluster rt names, in the order
// DESIGN.md gives: ?token= on the dashboard, header ray-token, the session
// cookie. A request that passes (or starts a session) gets its route; one
// refused by its user's policies gets the route with the grant, for the
// audit log. When Lookup fails or the head is not running, the refusal
// says what to answer.
func (g *httpGateway) admit(ctx context.Context, rt *route, creds credentials, door Door, src source) (*clusterRoute, verdict, *refusal) {
	key := func(hash string) grantKey {
		return grantKey{tokenHash: hash, door: door, sourceIP: src.ip, secure: src.secure}
	}
	switch {
	case creds.hasQueryToken && rt.kind == routeDashboard:
		if creds.queryToken == "" || len(creds.queryToken) > maxTokenLen {
			return nil, denied, nil
		}
		cr, v, ref := g.open(ctx, rt, key(hashToken(creds.queryToken)))
		if v == passed && (creds.method == http.MethodGet || creds.method == http.MethodHead) {
			v = session
		}
		return cr, v, ref
	case creds.header != "":
		if len(creds.header) > maxTokenLen {
			return nil, denied, nil
		}
		return g.open(ctx, rt, key(hashToken(creds.header)))
	}
	// Every session cookie is tried: a page of the same origin can add
	// its own with a longer path, which browsers send first. Only those
	// the gateway made for this cluster (their MAC says so) cost a lookup.
	present := false
	var cr *clusterRoute
	v, ref := denied, (*refusal)(nil)
	eachCookie(creds.cookies, sessionCookie, func(value string) bool {
		present = true
		hash, ok := sessionHash(g.cfg.SessionKey, rt.ws, rt.id, value)
		if !ok {
			return false
		}
		c, cv, cref := g.open(ctx, rt, key(hash))
		if cref != nil || cv == passed || cv == forbidden && v == denied {
			cr, v, ref = c, cv, cref
		}
		return cref != nil || cv == passed
	})
	if !present {
		return nil, missing, nil
	}
	return cr, v, ref
}

// open decides whether the credential of k opens the cluster rt names.
func (g *httpGateway) open(ctx context.Context, rt *route, k grantKey) (*clusterRoute, verdict, *refusal) {
	cr, v, err := g.gate.authorize(ctx, k)
	if err != nil {
		lookupFailed(ctx, g.log, "look up a credential", "workspace", rt.ws, "cluster", rt.id, "err", err)
		return nil, 0, refuseLookup
	}
	if cr.cluster() != (clusterKey{rt.ws, rt.id}) {
		return nil, denied, nil // another cluster's credential, or none
	}
	switch {
	case v == NotAllowed:
		return cr, forbidden, nil
	case v != Granted:
		return nil, denied, nil
	case cr.dashboard == "":
		return nil, 0, refuseNotRunning
	}
	return cr, passed, nil
}

// verdict is what admit makes of a request's credentials.
type verdict uint8

const (
	passed    verdict = iota // a good ray-token header or session cookie
	session                  // a good ?token= on a GET of the dashboard: set the cookie
	missing                  // no credential at all
	denied                   // a credential that does not open this cluster
	forbidden                // a good credential whose user may not use the door
)

// deny answers a presented but wrong token.
func (g *httpGateway) deny(w http.ResponseWriter, r *http.Request, rt *route) {
	g.log.DebugContext(r.Context(), "token refused", "workspace", rt.ws, "cluster", rt.id, "remote", r.RemoteAddr)
	writeError(w, http.StatusUnauthorized, codeInvalidToken, msgBadToken)
}

// startSession sets the session cookie for a good ?token= and sends the
// browser back to the same URL without it.
func (g *httpGateway) startSession(w http.ResponseWriter, r *http.Request, rt *route, cr *clusterRoute, src source) {
	g.gate.audit(r.Context(), cr, src, "dashboard session", false)
	rest, _, _ := takeParam(r.URL.RawQuery, tokenParam)
	loc := rt.base + "/dashboard" + rt.upstream
	if rest != "" {
		loc += "?" + rest
	}
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    sessionValue(g.cfg.SessionKey, rt.ws, rt.id, cr.key.tokenHash),
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
