package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/rayfleet/rayfleet/internal/runtime/kuberay"
	"github.com/rayfleet/rayfleet/internal/runtime/local"
	"github.com/rayfleet/rayfleet/internal/service"
	"github.com/rayfleet/rayfleet/internal/store"
	"github.com/rayfleet/rayfleet/internal/store/sqlstore"
)

// Gateway is a gateway running as a process of its own (`rayfleet
// gateway`): the gateway role without the API or the reconciler. It reads
// the store a server writes and writes only the data plane's audit events,
// and it finds heads without running a runtime of its own:
//
//   - local runtime: from the node state files in the server's data
//     directory (local.DiskHeads), so it must run on the server's machine
//     with the same --data-dir. It takes no lock on the data directory:
//     with SQLite it opens the server's database file beside it (WAL lets
//     readers in while the server writes); with PostgreSQL it needs the
//     data directory only for the node state files and the session key.
//   - kuberay runtime: from the RayClusters, pods and Ray token secrets it
//     watches (kuberay.Heads), so it must run where the head services
//     resolve (in the Kubernetes cluster), its service account needs list
//     and watch on those three only, and its pods must match the clusters'
//     NetworkPolicy's gateway peers (--network-policy-gateway-pods and
//     -namespaces of the server). Any number of gateways may run, each
//     with its own data directory for the session key.
type Gateway struct {
	Config Config
	Logger *slog.Logger
	Store  store.Store
	// HTTPAddr and GRPCAddr are the listeners' real addresses.
	HTTPAddr, GRPCAddr string

	servers *gatewayServers
	closers []func() error
}

// StartGateway opens the store, finds the heads through the configured
// runtime and starts serving the gateway's two listeners. Stop it with
// Shutdown.
func StartGateway(ctx context.Context, cfg Config, stderr io.Writer) (_ *Gateway, err error) {
	g := &Gateway{Config: cfg, Logger: newLogger(cfg, stderr)}
	defer func() {
		if err != nil {
			g.close()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory %s: %w", cfg.DataDir, err)
	}
	// The server owns the schema: the gateway reads it as it is, and
	// refuses one of another version rather than migrate it under the
	// server.
	switch cfg.Store {
	case "postgres":
		g.Store, err = sqlstore.OpenPostgres(ctx, cfg.PostgresDSN, sqlstore.Migrated())
	default:
		path := filepath.Join(cfg.DataDir, "rayfleet.db")
		if _, statErr := os.Stat(path); statErr != nil {
			return nil, fmt.Errorf("no rayfleet database at %s (%w): start `rayfleet server` on this --data-dir first, or give the server's --store postgres and --postgres-dsn", path, statErr)
		}
		g.Store, err = sqlstore.OpenSQLite(ctx, path, sqlstore.Migrated())
	}
	if err != nil {
		return nil, fmt.Errorf("open %s store: %w", cfg.Store, err)
	}
	g.closers = append(g.closers, g.Store.Close)

	var heads headEndpoints
	switch cfg.Runtime {
	case "kuberay":
		rc, err := restConfig(cfg.Kubeconfig)
		if err != nil {
			return nil, err
		}
		h, err := kuberay.NewHeads(ctx, kuberay.Config{RestConfig: rc, NamespacePrefix: cfg.NamespacePrefix, Logger: g.Logger})
		if err != nil {
			return nil, fmt.Errorf("watch the heads on Kubernetes: %w", err)
		}
		g.closers = append(g.closers, h.Close)
		heads = h
	default:
		heads = local.DiskHeads{DataDir: cfg.DataDir}
	}

	certs, err := serverCerts(cfg, g.Logger)
	if err != nil {
		return nil, err
	}
	// The service decides credentials and writes the audit log of the
	// data plane: the only writes this process makes.
	svc := &service.Service{Store: g.Store, Now: time.Now, Random: rand.Reader, RegionID: cfg.RegionID, Logger: g.Logger}
	if g.servers, err = listenGateway(cfg, gatewayLookup{store: g.Store, runtime: heads, svc: svc}, nil, certs, g.Logger); err != nil {
		return nil, err
	}
	g.HTTPAddr, g.GRPCAddr = g.servers.httpAddr, g.servers.grpcAddr
	g.servers.serve(g.Logger)
	g.Logger.Info("rayfleet gateway listening", "http", g.HTTPAddr, "grpc", g.GRPCAddr,
		"store", cfg.Store, "runtime", cfg.Runtime, "dataDir", cfg.DataDir)
	return g, nil
}

// Shutdown stops accepting connections, lets in-flight requests and
// streams finish until ctx ends, then closes them and the store.
func (g *Gateway) Shutdown(ctx context.Context) error {
	err := g.servers.shutdown(ctx)
	if err != nil {
		err = errors.Join(err, g.servers.http.Close(), g.servers.grpc.Close())
	}
	return errors.Join(err, g.close())
}

func (g *Gateway) close() error {
	var errs []error
	for i := len(g.closers) - 1; i >= 0; i-- {
		errs = append(errs, g.closers[i]())
	}
	g.closers = nil
	return errors.Join(errs...)
}

// RunGateway is `rayfleet gateway`: the gateway alone, until ctx ends. It
// takes the server's flags, environment and configuration file (those of
// the API and the reconciler are accepted and have no effect), and returns
// the process exit code.
func RunGateway(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := LoadConfig(args, getenv)
	if err != nil {
		var u usageError
		if errors.As(err, &u) {
			fmt.Fprintln(stderr, gatewayUsage(u))
			return 2
		}
		fmt.Fprintf(stderr, "rayfleet gateway: %v\n", err)
		return 2
	}
	cfg.Roles = "gateway"
	g, err := StartGateway(ctx, cfg, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "rayfleet gateway: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "rayfleet gateway: dashboard and job API on http://%s, Ray client on %s\n", g.HTTPAddr, g.GRPCAddr)
	<-ctx.Done()
	g.Logger.Info("shutting down: finishing in-flight requests", "grace", ShutdownGrace.String())
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownGrace)
	defer cancel()
	if err := g.Shutdown(sctx); err != nil {
		g.Logger.Error("shutdown", "err", err.Error())
		return 1
	}
	g.Logger.Info("stopped")
	return 0
}

// gatewayUsage is `rayfleet gateway`'s help or flag error.
func gatewayUsage(u usageError) string {
	var b bytes.Buffer
	u.fs.SetOutput(&b)
	u.fs.PrintDefaults()
	head := "usage: rayfleet gateway [flags]\n\n" +
		"Runs the gateway alone: dashboardUrl and jobUrl on --gateway-listen, the Ray client (grpcEndpoint)\n" +
		"on --gateway-grpc-listen, for the clusters of the server whose store (--store, --postgres-dsn)\n" +
		"and data directory (--data-dir) it is given. It takes the server's flags; those of the API and\n" +
		"the reconciler have no effect.\n\n"
	if errors.Is(u.err, flag.ErrHelp) {
		return head + b.String()
	}
	return u.err.Error() + "\n\n" + head + b.String()
}
