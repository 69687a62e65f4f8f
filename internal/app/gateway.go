package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/authz"
	"github.com/rayfleet/rayfleet/internal/gateway"
	"github.com/rayfleet/rayfleet/internal/service"
	"github.com/rayfleet/rayfleet/internal/store"
)

// headEndpoints is what a runtime tells the gateway: where a cluster's head
// serves.
type headEndpoints interface {
	HeadEndpoints(c *rayfleet.Cluster) (dashboard, client string, ok bool)
	HeadToken(c *rayfleet.Cluster) string
}

// gatewayLookup answers the gateway's questions from the service, the
// store and the runtime.
type gatewayLookup struct {
	store   store.Store
	runtime headEndpoints
	svc     *service.Service
}

// doorOps are the data-plane operations of the gateway's doors.
var doorOps = map[gateway.Door]string{
	gateway.DoorDashboard: service.AccessRayDashboard,
	gateway.DoorJobAPI:    service.UseRayJobAPI,
	gateway.DoorRayClient: service.ConnectRayClient,
}

// Authorize decides a credential at a door through the service, which
// reads the store for every decision (the gateway's cache remembers what
// passes for its TTL).
func (g gatewayLookup) Authorize(ctx context.Context, r gateway.Request) (gateway.Grant, gateway.Verdict, error) {
	op, ok := doorOps[r.Door]
	if !ok {
		return gateway.Grant{}, gateway.BadToken, nil
	}
	a, err := g.svc.AuthorizeDataPlane(ctx, r.TokenHash, op, service.DataPlaneRequest{SourceIP: r.SourceIP, SecureTransport: r.Secure})
	grant := gateway.Grant{
		Workspace: a.WorkspaceID, Cluster: a.ClusterID, Account: a.AccountID,
		User: a.UserUID, UserName: a.UserName, AccessKey: a.AccessKeyID, ParentKey: a.ParentKeyID, Expires: a.Expires,
	}
	var d *service.DeniedError
	switch {
	case err == nil:
		return grant, gateway.Granted, nil
	case errors.Is(err, service.ErrDataPlaneToken):
		return gateway.Grant{}, gateway.BadToken, nil
	case errors.As(err, &d):
		return grant, gateway.NotAllowed, nil
	}
	return gateway.Grant{}, 0, err
}

// Audit records a data-plane request in the account's audit log.
func (g gatewayLookup) Audit(ctx context.Context, e gateway.Event) {
	a := service.DataPlaneAccess{
		AccountID: e.Grant.Account, WorkspaceID: e.Grant.Workspace, ClusterID: e.Grant.Cluster,
		UserUID: e.Grant.User, UserName: e.Grant.UserName, AccessKeyID: e.Grant.AccessKey, ParentKeyID: e.Grant.ParentKey,
	}
	op := doorOps[e.Door]
	var refusal error
	if e.Refused {
		refusal = rayfleet.Errorf(rayfleet.EFORBIDDEN, "the user's policies do not allow %s", authz.ActionName(op))
	}
	g.svc.AuditDataPlane(ctx, a, op, e.SourceIP, e.What, refusal)
}

var _ gateway.Auditor = gatewayLookup{}

func (g gatewayLookup) Upstream(ctx context.Context, ws, id string) (string, string, bool) {
	c, err := g.store.ClusterForGateway(ctx, ws, id)
	if err != nil {
		return "", "", false
	}
	return g.runtime.HeadEndpoints(&c)
}

// UpstreamToken is Ray's own token of the cluster's head (both runtimes
// turn Ray's token authentication on for every instance): the gateway
// sends it upstream, so users hold only rayfleet's token.
func (g gatewayLookup) UpstreamToken(ctx context.Context, ws, id string) (string, error) {
	c, err := g.store.ClusterForGateway(ctx, ws, id)
	if rayfleet.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return g.runtime.HeadToken(&c), nil
}

// gatewayCacheTTL is how long a gateway remembers by default
// (--gateway-cache-ttl) that a credential opens a door, and how often it
// checks what is open again, instead of asking the store and the runtime
// on every request. A gateway in the API's process is told of revocations
// and forgets them at once; a standalone one honours a revoked credential
// until the TTL runs out.
const gatewayCacheTTL = time.Second

// gatewayServers are the gateway's two listeners.
type gatewayServers struct {
	http               *http.Server
	grpc               *http.Server
	httpLn, grpcLn     net.Listener
	httpAddr, grpcAddr string
}

// listenGateway opens the gateway's listeners; serve starts serving them.
// The session key lives in the data directory so dashboard sessions
// survive a restart. rev, if not nil, is how the API in the same process
// tells the gateway of revoked tokens.
func listenGateway(cfg Config, lookup gateway.Lookup, rev *gateway.Revocations, certs *certFiles, logger *slog.Logger) (*gatewayServers, error) {
	key, err := loadOrCreateKey(cfg.DataDir + "/gateway-session.key")
	if err != nil {
		return nil, err
	}
	gcfg := gateway.Config{Lookup: lookup, Logger: logger, SessionKey: key, LookupCacheTTL: cfg.Gateway.CacheTTL, Revocations: rev,
		// Behind a TLS proxy the gateway sees plain HTTP: the public URL
		// says whether browsers reach it over https.
		CookieSecure:  strings.HasPrefix(strings.ToLower(cfg.Gateway.URL), "https://"),
		ClusterDomain: cfg.Gateway.ClusterDomain}
	if err := gcfg.Validate(); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	g := &gatewayServers{}
	if g.httpLn, err = net.Listen("tcp", cfg.Gateway.Listen); err != nil {
		return nil, fmt.Errorf("gateway: listen on %s: %w (pick another with --gateway-listen)", cfg.Gateway.Listen, err)
	}
	if g.grpcLn, err = net.Listen("tcp", cfg.Gateway.GRPCListen); err != nil {
		g.httpLn.Close()
		return nil, fmt.Errorf("gateway: listen on %s: %w (pick another with --gateway-grpc-listen)", cfg.Gateway.GRPCListen, err)
	}
	g.httpAddr, g.grpcAddr = g.httpLn.Addr().String(), g.grpcLn.Addr().String()
	g.httpLn, g.grpcLn = gateway.LimitListener(gcfg, g.httpLn), gateway.LimitListener(gcfg, g.grpcLn)
	if certs != nil {
		// HTTP/1.1 on the HTTP door: dashboards' WebSockets and the job
		// API's log tails upgrade HTTP/1.1 connections. gRPC is HTTP/2.
		g.httpLn, g.grpcLn = certs.listener(g.httpLn, "http/1.1"), certs.listener(g.grpcLn, "h2")
	}
	g.http = gateway.NewHTTPServer(gcfg)
	g.grpc = gateway.GRPCServer(gcfg, gateway.NewGRPC(gcfg))
	return g, nil
}

func (g *gatewayServers) serve(logger interface{ Error(string, ...any) }) {
	for _, p := range []struct {
		srv interface{ Serve(net.Listener) error }
		ln  net.Listener
	}{{g.http, g.httpLn}, {g.grpc, g.grpcLn}} {
		go func() {
			if err := p.srv.Serve(p.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				logger.Error("gateway listener stopped", "addr", p.ln.Addr().String(), "err", err.Error())
			}
		}()
	}
}

func (g *gatewayServers) shutdown(ctx context.Context) error {
	return errors.Join(g.http.Shutdown(ctx), g.grpc.Shutdown(ctx))
}

// loadOrCreateKey reads a 32-byte key file, creating it (mode 0600) on
// first use.
func loadOrCreateKey(path string) ([]byte, error) {
	key, err := os.ReadFile(path)
	if err == nil && len(key) == 32 {
		return key, nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if err == nil {
		return nil, fmt.Errorf("%s must hold 32 bytes, has %d; remove it to make a new one", path, len(key))
	}
	key = make([]byte, 32)
	if _, err := io.ReadFull(rand.Reader, key); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(path, key, 0o600); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return key, nil
}
