package gateway

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Lookup is what the gateway needs to know about credentials and clusters.
// It belongs to the gateway; internal/app implements it over the service,
// the store and the runtime. Every method is called on the request path
// (at most once per Config.LookupCacheTTL for what passes), so
// implementations should answer from an index.
type Lookup interface {
	// Authorize finds the data-plane credential whose token hashes to
	// r.TokenHash and decides whether it opens r.Door of its cluster now:
	// Granted with the credential's Grant, BadToken (unknown, expired, not
	// for the cluster's current instance, its key or user disabled or
	// gone), or NotAllowed (its user's policies do not allow the door; the
	// Grant is filled in). err is for a lookup that failed.
	Authorize(ctx context.Context, r Request) (Grant, Verdict, error)
	// Upstream returns host:port of the cluster's head dashboard (HTTP, also
	// the job API) and of its Ray client server (gRPC); ok is false while the
	// head is not running.
	Upstream(ctx context.Context, workspaceID, clusterID string) (dashboard, client string, ok bool)
	// UpstreamToken returns Ray's own authentication token for the cluster
	// when Ray's token authentication is on, "" otherwise. The gateway sends
	// it upstream as "Authorization: Bearer <token>".
	UpstreamToken(ctx context.Context, workspaceID, clusterID string) (string, error)
}

// Door is a way into a cluster; a credential opens each door its user's
// policies allow.
type Door uint8

const (
	// DoorDashboard is the dashboard, .../dashboard/....
	DoorDashboard Door = iota + 1
	// DoorJobAPI is the job API, .../api/..., and the job API's writes
	// (jobs submitted, stopped or deleted, packages uploaded) made through
	// the dashboard's path: the head serves both on one port.
	DoorJobAPI
	// DoorRayClient is the Ray client endpoint.
	DoorRayClient
)

func (d Door) String() string {
	switch d {
	case DoorDashboard:
		return "dashboard"
	case DoorJobAPI:
		return "job API"
	case DoorRayClient:
		return "Ray client endpoint"
	}
	return "door " + strconv.Itoa(int(d))
}

// Request is what Lookup.Authorize decides: a credential (the hex SHA-256
// of its token) at a door, and what policies' conditions read of the
// request: the client's address and whether it came over TLS.
type Request struct {
	TokenHash string
	Door      Door
	SourceIP  string
	Secure    bool
}

// Verdict is Lookup.Authorize's answer.
type Verdict uint8

const (
	// Granted: the credential opens the door.
	Granted Verdict = iota + 1
	// BadToken: the credential opens nothing.
	BadToken
	// NotAllowed: the credential is good but its user may not use the door.
	NotAllowed
)

// Grant is a credential as Lookup found it: whose, for which cluster, and
// until when. Account is what the in-flight slots are shared by ("": the
// workspace counts as an account); User, AccessKey and ParentKey (the
// access key of a temporary key, else "") are what Revocations match.
type Grant struct {
	Workspace, Cluster string
	Account            string
	User, UserName     string
	AccessKey          string
	ParentKey          string
	Expires            time.Time
}

// Auditor is what a Lookup may also implement: the audit log of the
// requests worth recording, each once, with the Grant of their credential:
// a dashboard session started, a job submitted, stopped or deleted through
// the job API, a Ray client connection (the first stream of each
// credential on a client connection), and any of these refused by the
// user's policies.
type Auditor interface {
	Audit(ctx context.Context, e Event)
}

// Event is one request for the audit log.
type Event struct {
	Grant    Grant
	Door     Door
	SourceIP string
	// What the request was, e.g. "dashboard session" or "submit a job
	// (POST /api/jobs/)".
	What string
	// Refused: the user's policies did not allow it.
	Refused bool
}

// Defaults of the Config fields left zero.
const (
	DefaultMaxBodyBytes          = 512 << 20
	DefaultMaxConns              = 4096
	DefaultMaxConnsPerCluster    = 256
	DefaultMaxClientConns        = 8192
	DefaultReadHeaderTimeout     = 10 * time.Second
	DefaultIdleTimeout           = 2 * time.Minute
	DefaultDialTimeout           = 10 * time.Second
	DefaultUpstreamHeaderTimeout = 5 * time.Minute
)

// Config configures both handlers. Zero values take the defaults above.
type Config struct {
	Lookup Lookup
	Logger *slog.Logger

	// MaxBodyBytes bounds an HTTP request body (a working_dir upload is one
	// zip in one PUT). Larger bodies get 413. gRPC streams are not bounded.
	MaxBodyBytes int64
	// MaxConns bounds the proxied requests and streams in flight through one
	// handler, MaxConnsPerCluster those to one cluster. A WebSocket or a log
	// tail holds its slot until it ends. One account holds at most as many
	// slots as are left free (so at most half of MaxConns when it is alone):
	// the rest stays for other accounts. Beyond them: 503 (gRPC:
	// RESOURCE_EXHAUSTED).
	MaxConns           int
	MaxConnsPerCluster int
	// MaxClientConns bounds the client connections a listener wrapped by
	// LimitListener holds open at once, idle keep-alive ones included.
	MaxClientConns int

	// ClusterDomain, when set, gives each cluster an origin of its own: its
	// dashboard is served only on the host <clusterId>.<ClusterDomain>
	// (a wildcard DNS name), where a cluster host serves its own cluster
	// alone; on any other host only the job API (with a ray-token header)
	// answers. One cluster's pages then cannot act on another's: their
	// origins differ and the session cookie is the host's alone.
	ClusterDomain string

	// CookieSecure marks the dashboard session cookie Secure; set it when
	// the gateway's URL is https.
	CookieSecure bool
	// SessionKey is the HMAC key of dashboard session cookies (at least 32
	// bytes). Replicas behind one URL must share it. When empty a random key
	// is drawn, so sessions end with the process and users reopen the
	// dashboardUrl.
	SessionKey []byte

	// ReadHeaderTimeout and IdleTimeout are for the servers NewHTTPServer and
	// GRPCServer build.
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	// DialTimeout bounds connecting to a head; UpstreamHeaderTimeout bounds
	// waiting for a dashboard's response headers once the request is sent
	// (not used for gRPC, where a stream's headers may come with its first
	// message, however late).
	DialTimeout           time.Duration
	UpstreamHeaderTimeout time.Duration

	// LookupCacheTTL is how long the gateway remembers that a credential
	// opens a door (with its cluster's head and Ray token), so that requests
	// do not each cost Lookup calls (store queries). Only what passes is
	// remembered; but a revoked credential keeps working until its entry
	// expires, unless Revocations says so first. It is also how often the
	// credentials of what is open (WebSockets, log tails, Ray client
	// streams) are checked again, and what no longer passes is cut (at
	// least each second when zero). Zero: no cache, every request asks
	// Lookup.
	LookupCacheTTL time.Duration
	// Revocations, if not nil, lets the process that revokes credentials
	// make the handlers forget them at once (see Revocations).
	Revocations *Revocations
}

// Validate reports every problem of c at once.
func (c Config) Validate() error {
	var errs []error
	if c.Lookup == nil {
		errs = append(errs, errors.New("gateway: Lookup is required"))
	}
	if c.MaxBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("gateway: maxBodyBytes must be positive, got %d", c.MaxBodyBytes))
	}
	if c.MaxConns < 0 {
		errs = append(errs, fmt.Errorf("gateway: maxConns must be positive, got %d", c.MaxConns))
	}
	if c.MaxConnsPerCluster < 0 {
		errs = append(errs, fmt.Errorf("gateway: maxConnsPerCluster must be positive, got %d", c.MaxConnsPerCluster))
	}
	if c.MaxClientConns < 0 {
		errs = append(errs, fmt.Errorf("gateway: maxClientConns must be positive, got %d", c.MaxClientConns))
	}
	if c.MaxConns > 0 && c.MaxConnsPerCluster > c.MaxConns {
		errs = append(errs, fmt.Errorf("gateway: maxConnsPerCluster (%d) must not exceed maxConns (%d)", c.MaxConnsPerCluster, c.MaxConns))
	}
	if len(c.SessionKey) > 0 && len(c.SessionKey) < 32 {
		errs = append(errs, fmt.Errorf("gateway: sessionKey must be at least 32 bytes, got %d", len(c.SessionKey)))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"readHeaderTimeout", c.ReadHeaderTimeout},
		{"idleTimeout", c.IdleTimeout},
		{"dialTimeout", c.DialTimeout},
		{"upstreamHeaderTimeout", c.UpstreamHeaderTimeout},
		{"lookupCacheTTL", c.LookupCacheTTL},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("gateway: %s must not be negative, got %s", d.name, d.v))
		}
	}
	return errors.Join(errs...)
}

// withDefaults returns c with every zero field set to its default; it panics
// on what Validate would refuse, since that is a wiring mistake.
func (c Config) withDefaults() Config {
	if err := c.Validate(); err != nil {
		panic(err)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxConns == 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.MaxClientConns == 0 {
		c.MaxClientConns = DefaultMaxClientConns
	}
	if c.MaxConnsPerCluster == 0 {
		c.MaxConnsPerCluster = min(DefaultMaxConnsPerCluster, c.MaxConns)
	}
	if len(c.SessionKey) == 0 {
		c.SessionKey = make([]byte, 32)
		if _, err := rand.Read(c.SessionKey); err != nil {
			panic(fmt.Errorf("gateway: draw a session key: %w", err))
		}
	}
	if c.ReadHeaderTimeout == 0 {
		c.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.UpstreamHeaderTimeout == 0 {
		c.UpstreamHeaderTimeout = DefaultUpstreamHeaderTimeout
	}
	return c
}

// NewHTTPServer returns the gateway's HTTP server: NewHTTP's handler, with
// headers to arrive within ReadHeaderTimeout (a connection silent before
// its first request is closed then too), idle keep-alive connections
// closed after IdleTimeout, and nothing else timed, since uploads, log
// tails and WebSockets last as long as they last. Serve it on a
// LimitListener.
func NewHTTPServer(cfg Config) *http.Server {
	cfg = cfg.withDefaults()
	return &http.Server{
		Handler:           newHTTPGateway(cfg),
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
	}
}

// GRPCServer returns a server for NewGRPC's handler that speaks HTTP/2
// without TLS (prior knowledge, which is what grpcio sends to a ray://
// address) and HTTP/2 over TLS when served with ServeTLS. HTTP/1 is off:
// no Ray client speaks it.
func GRPCServer(cfg Config, h http.Handler) *http.Server {
	cfg = cfg.withDefaults()
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	p.SetHTTP2(true)
	return &http.Server{
		Handler:           h,
		Protocols:         &p,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams: 1000,
			// A client's streams share its connection's receive window,
			// which is given back only as the head takes the data; 1 MiB
			// (the default) would let one slow stream stall the others.
			MaxReceiveBufferPerConnection: 16 << 20,
			MaxReceiveBufferPerStream:     4 << 20,
			// Notice dead clients on long idle streams (a Ray client's
			// data stream can be quiet for hours).
			SendPingTimeout: time.Minute,
			PingTimeout:     20 * time.Second,
		},
		ErrorLog: slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
		// Each client connection remembers what of it was audited.
		ConnContext: func(ctx context.Context, _ net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, &connAudit{})
		},
	}
}

// maxResponseHeaderBytes bounds a head's response headers.
const maxResponseHeaderBytes = 1 << 20

// dialer returns the DialContext of the upstream transports.
func dialer(cfg Config) func(ctx context.Context, network, addr string) (net.Conn, error) {
	// A head whose machine vanished sends no FIN: keep-alive probes find
	// its connections dead after about 30 s of silence (15 s, then 3
	// probes 5 s apart), and the transports let them go.
	d := &net.Dialer{Timeout: cfg.DialTimeout, KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: 15 * time.Second, Interval: 5 * time.Second, Count: 3}}
	return d.DialContext
}

// Error codes of the gateway's JSON error bodies.
const (
	codeInvalidToken     = "InvalidToken"
	codeNotAllowed       = "Forbidden.RAM"
	codeNotFound         = "ResourceNotFound"
	codeTooLarge         = "RequestEntityTooLarge"
	codeTooManyConns     = "TooManyConnections"
	codeClusterNotReady  = "ClusterNotRunning"
	codeBadGateway       = "UpstreamUnavailable"
	codeInternal         = "Error.Internal"
	msgInternal          = "The gateway failed to look the cluster up. Retry later."
	msgMissingToken      = "A token is required: send header ray-token: <submitToken>, or open the cluster's dashboardUrl."
	msgBadToken          = "The token is wrong, expired or revoked, or not for this cluster. Take submitToken or dashboardUrl from GetRayCluster; they change each time the cluster starts, and expire."
	msgBadGRPCToken      = "The ray-token metadata is wrong, expired or revoked. Connect with ray.init(grpcEndpoint, _metadata=[(\"ray-token\", submitToken)]) using the submitToken GetRayCluster gives now."
	msgMissingGRPCToken  = "Missing ray-token metadata. Connect with ray.init(grpcEndpoint, _metadata=[(\"ray-token\", submitToken)])."
	msgTooManyConns      = "Too many connections through the gateway. Retry later."
	msgTooManyConnsClstr = "Too many connections to this cluster through the gateway. Close some (log tails, dashboards, Ray clients) or retry later."
	msgTooManyConnsAcct  = "Too many connections to this account's clusters through the gateway. Close some (log tails, dashboards, Ray clients) or retry later."
	msgNotRunning        = "The cluster's head is not running yet (or any more). Check its state with GetRayCluster and retry once it is Running."
	msgBadGateway        = "The cluster's head did not answer. Retry; if it persists, check the cluster's state."
)

// msgNotAllowed is the refusal of a good token whose user's policies do
// not allow door.
func msgNotAllowed(d Door) string {
	return "The token is good, but its user may not use the cluster's " + d.String() + " (or no longer may). Ask the account's administrator for a RAM policy that allows it."
}

// lookupFailed logs a Lookup call that failed: an error, unless the caller
// hung up while it was asked, which ends the call's context and so the
// store's query. That is the caller's doing, common (a Ray client that
// closes its streams, a browser tab closed), and worth a debug line only.
func lookupFailed(ctx context.Context, log *slog.Logger, msg string, args ...any) {
	if ctx.Err() != nil {
		log.DebugContext(ctx, msg+": the caller hung up", args...)
		return
	}
	log.ErrorContext(ctx, msg, args...)
}

// writeError writes the gateway's JSON error body. code and msg are
// constants of this package or built from them, so they need no escaping
// beyond what appendJSONString does.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if status == http.StatusServiceUnavailable {
		h.Set("Retry-After", "1")
	}
	b := errorJSON(code, msg)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// errorJSON is the body of writeError.
func errorJSON(code, msg string) []byte {
	b := make([]byte, 0, 32+len(code)+len(msg))
	b = append(b, `{"Code":`...)
	b = appendJSONString(b, code)
	b = append(b, `,"Message":`...)
	b = appendJSONString(b, msg)
	return append(b, "}\n"...)
}

// appendJSONString appends s as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20 || c == '<' || c == '>' || c == '&':
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// clusterKey names a cluster; a struct, not a joined string, so counting
// does not allocate.
type clusterKey struct{ ws, id string }

// limiter counts the proxied requests and streams in flight: in total, per
// cluster and per account. An account may take a slot only while it holds
// fewer than are still free, so however many clusters one account keeps
// busy (log tails and WebSockets hold their slots for hours) it leaves at
// least as many slots free as it holds, and an account that comes later is
// served: k accounts that all want more share the slots about evenly, each
// held to a k+1-th of them.
type limiter struct {
	max, perCluster int

	mu       sync.Mutex
	total    int
	clusters map[clusterKey]int
	accounts map[string]int
}

func newLimiter(max, perCluster int) *limiter {
	return &limiter{max: max, perCluster: perCluster, clusters: make(map[clusterKey]int), accounts: make(map[string]int)}
}

// acquire takes a slot for a request to cluster k of account; nil when it
// did, else the refusal to answer with. release gives the slot back.
func (l *limiter) acquire(account string, k clusterKey) *refusal {
	l.mu.Lock()
	defer l.mu.Unlock()
	free := l.max - l.total
	switch {
	case free <= 0:
		return refuseTooMany
	case l.clusters[k] >= l.perCluster:
		return refuseTooManyCluster
	case l.accounts[account] >= free:
		return refuseTooManyAccount
	}
	l.total++
	l.clusters[k]++
	l.accounts[account]++
	return nil
}

func (l *limiter) release(account string, k clusterKey) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	// Entries at zero go, so that clusters and accounts long gone leave
	// nothing behind.
	if l.clusters[k]--; l.clusters[k] <= 0 {
		delete(l.clusters, k)
	}
	if l.accounts[account]--; l.accounts[account] <= 0 {
		delete(l.accounts, account)
	}
}
