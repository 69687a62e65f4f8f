package app

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/cli"
	"github.com/rayfleet/rayfleet/internal/gateway"
	"github.com/rayfleet/rayfleet/internal/httpapi"
	"github.com/rayfleet/rayfleet/internal/logcollect"
	"github.com/rayfleet/rayfleet/internal/logstore"
	"github.com/rayfleet/rayfleet/internal/reconcile"
	"github.com/rayfleet/rayfleet/internal/service"
	"github.com/rayfleet/rayfleet/internal/store"
	"github.com/rayfleet/rayfleet/internal/store/sqlstore"
)

// Credentials is the file a first start writes to <data-dir>/credentials.
type Credentials struct {
	AccessKeyID     string `json:"accessKeyId"`
	AccessKeySecret string `json:"accessKeySecret"`
	UserID          string `json:"userId"`
	WorkspaceID     string `json:"workspaceId"`
	Endpoint        string `json:"endpoint"`
}

// Server is a running rayfleet server.
type Server struct {
	Config  Config
	Addr    string // the API's real address
	Store   store.Store
	Service *service.Service
	Logger  *slog.Logger

	Runtime    clusterRuntime
	Reconciler *reconcile.Reconciler
	// Jobs hands Ray jobs to their clusters, in the reconciler's process.
	Jobs *reconcile.JobRunner
	// Logs keeps jobs' logs; LogCollector copies them there from the
	// heads, for the job runner to call while a job runs and when it ends.
	Logs         logstore.Store
	LogCollector *logcollect.Collector
	// GatewayAddr and GatewayGRPCAddr are the gateway listeners' real addresses.
	GatewayAddr, GatewayGRPCAddr string

	gateway  *gatewayServers
	http     *http.Server
	jobs     sync.WaitGroup
	listener net.Listener
	certs    *certFiles // nil without TLS
	// metricsToken is the bearer token /metrics asks for.
	metricsToken string
	lock         *os.File
	done         chan struct{}
	serveErr     error
	wakes        *sqlstore.Wakes // PostgreSQL: wakes between processes
	failed       chan struct{}   // closed by fail
	// reconciling is true while this process runs the reconciler
	// (rayfleet_reconciler_running).
	reconciling atomic.Bool
	failOnce    sync.Once
	failErr     error
	stopJobs    context.CancelFunc
	serving     bool // Start succeeded: Shutdown closes the listeners
}

// Start opens everything the configuration names and starts serving. The
// caller stops it with Shutdown.
func Start(ctx context.Context, cfg Config, getenv func(string) string, stdout, stderr io.Writer) (srv *Server, err error) {
	logger := newLogger(cfg, stderr)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory %s: %w", cfg.DataDir, err)
	}
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	s := &Server{Config: cfg, Logger: logger, lock: lock, done: make(chan struct{}), failed: make(chan struct{})}
	defer func() {
		if err != nil {
			s.closeResources()
		}
	}()
	var st *sqlstore.Store
	switch cfg.Store {
	case "postgres":
		st, err = sqlstore.OpenPostgres(ctx, cfg.PostgresDSN)
	default:
		st, err = sqlstore.OpenSQLite(ctx, filepath.Join(cfg.DataDir, "rayfleet.db"))
	}
	if err != nil {
		return nil, fmt.Errorf("open %s store: %w", cfg.Store, err)
	}
	s.Store = st
	// The key is read once the store is open: whether a missing key may be
	// created depends on what the database holds.
	keys, err := openKeyring(ctx, filepath.Join(cfg.DataDir, "master.key"), s.Store)
	if err != nil {
		return nil, err
	}
	s.Service = &service.Service{
		Store: s.Store, Sealer: keys, Now: time.Now, Random: rand.Reader,
		Releases: cfg.Releases(), GPUTypes: cfg.GPUTypes, RegionID: cfg.RegionID,
		Logger: logger, DataPlaneTokenTTL: cfg.DataPlaneTokenTTL,
	}
	if s.Logs, err = openLogs(ctx, cfg); err != nil {
		return nil, err
	}
	s.Service.Logs = s.Logs
	s.LogCollector = &logcollect.Collector{Store: s.Logs, Logger: logger}
	logKey, err := loadOrCreateKey(filepath.Join(cfg.DataDir, "log-url.key"))
	if err != nil {
		return nil, err
	}
	s.Service.LogURLs = service.LogURLs{Key: logKey, TTL: cfg.Logs.URLExpiry, Base: cfg.Logs.URL}
	if l, ok := s.Store.(service.Locker); ok && cfg.Store == "postgres" {
		// Other API processes may share the database: capacity decisions
		// wait for theirs too.
		s.Service.Locker = l
	}
	// The runtime wakes the reconciler on node events; the reconciler drives
	// the runtime: the runtime is made second and handed over.
	s.Reconciler = &reconcile.Reconciler{
		Store: s.Store, Now: time.Now, Logger: logger,
		Workers: cfg.ReconcileWorkers, StartTimeout: cfg.StartTimeout,
	}
	if s.Runtime, err = newRuntime(ctx, cfg, logger, s.Reconciler); err != nil {
		return nil, err
	}
	s.Reconciler.Runtime = s.Runtime
	s.Jobs = &reconcile.JobRunner{
		Store: s.Store, Heads: s.Runtime, Clusters: s.Service, Now: time.Now, Logger: logger,
		MaxRunning: cfg.MaxRunningJobsPerCluster,
		// A job's logs are copied while it runs and once it ends, before
		// its temporary cluster goes.
		Ended: s.LogCollector, Running: s.LogCollector,
	}
	s.Reconciler.Watcher = s.Jobs
	// The kuberay runtime keeps a namespace per workspace; the local one
	// keeps nothing per workspace.
	if wr, ok := s.Runtime.(service.WorkspaceRuntime); ok {
		s.Service.WorkspaceRuntime = wr
	}
	// The API wakes the reconciler of its own process, and on PostgreSQL
	// those of the other processes sharing the database too.
	// A change of a cluster wakes the reconciler and the job runner (its
	// jobs wait for it or end with it), a change of a job the job runner;
	// a wake from another process wakes both.
	var wakers, jobWakers multiWaker
	if cfg.HasRole("reconciler") {
		wakers = append(wakers, s.Reconciler, s.Jobs)
		jobWakers = append(jobWakers, s.Jobs)
	}
	if st, ok := s.Store.(*sqlstore.Store); ok && cfg.Store == "postgres" {
		s.wakes = st.Wakes()
		if cfg.HasRole("api") {
			remote := remoteWaker{wakes: s.wakes, log: logger}
			wakers, jobWakers = append(wakers, remote), append(jobWakers, remote)
		}
	}
	if len(wakers) > 0 {
		s.Service.Waker, s.Service.JobWaker = wakers, jobWakers
	}
	// Without the api role there is no API listener, and no first-start
	// setup: the root credentials it writes name the API's address.
	withAPI := cfg.HasRole("api")
	if s.certs, err = serverCerts(cfg, logger); err != nil {
		return nil, err
	}
	if withAPI {
		if s.metricsToken, err = metricsToken(cfg); err != nil {
			return nil, err
		}
		s.listener, err = net.Listen("tcp", cfg.APIAddr)
		if err != nil {
			return nil, fmt.Errorf("listen on %s: %w (is another server using it? pick another with --api-addr)", cfg.APIAddr, err)
		}
		s.Addr = s.listener.Addr().String()
		if s.certs != nil {
			s.listener = s.certs.listener(s.listener, "http/1.1")
		}

	}
	s.GatewayAddr, s.GatewayGRPCAddr = cfg.Gateway.Listen, cfg.Gateway.GRPCListen
	if cfg.HasRole("gateway") {
		// The service tells the gateway of what ends credentials (a
		// cluster stopped or deleted, a key disabled, a policy detached),
		// so they are refused at once.
		rev := gateway.NewRevocations()
		if s.gateway, err = listenGateway(cfg, gatewayLookup{store: s.Store, runtime: s.Runtime, svc: s.Service}, rev, s.certs, logger); err != nil {
			return nil, err
		}
		s.Service.Revoker = rev
		s.GatewayAddr, s.GatewayGRPCAddr = s.gateway.httpAddr, s.gateway.grpcAddr
	}
	s.Service.Endpoints = endpoints(cfg, s.GatewayAddr, s.GatewayGRPCAddr)

	jobsCtx, stopJobs := context.WithCancel(context.WithoutCancel(ctx))
	if withAPI {
		boot, err := s.Service.Bootstrap(ctx)
		if err != nil {
			stopJobs()
			return nil, fmt.Errorf("first-start setup: %w", err)
		}
		if err := s.writeCredentials(ctx, boot, getenv, stdout); err != nil {
			stopJobs()
			return nil, err
		}
		s.serveAPI(jobsCtx)
	}
	s.stopJobs = stopJobs
	if cfg.HasRole("reconciler") {
		s.jobs.Add(1)
		go func() {
			defer s.jobs.Done()
			s.runReconciler(jobsCtx)
		}()
		if s.wakes != nil {
			s.jobs.Add(1)
			go func() {
				defer s.jobs.Done()
				s.wakes.Listen(jobsCtx, 2*time.Second, func(ref store.ClusterRef) { s.Reconciler.Wake(ref); s.Jobs.Wake(ref) }, func(err error) {
					logger.Warn("lost the wake channel; changes made through other processes wait for the next resync until it is back", "err", err.Error())
				})
			}()
		}
	}
	if s.gateway != nil {
		s.gateway.serve(logger)
	}
	s.serving = true
	if withAPI {
		logger.Info("rayfleet API listening", "addr", s.Addr, "store", cfg.Store, "dataDir", cfg.DataDir,
			"gateway", s.GatewayAddr, "gatewayGrpc", s.GatewayGRPCAddr, "roles", cfg.Roles)
	} else {
		logger.Info("rayfleet running without the API", "roles", cfg.Roles, "gateway", s.GatewayAddr,
			"gatewayGrpc", s.GatewayGRPCAddr, "reconciler", cfg.HasRole("reconciler"), "store", cfg.Store, "dataDir", cfg.DataDir)
	}
	return s, nil
}

// openLogs opens the log store: the log bucket's directory under the data
// directory, or with logs.s3.endpoint the bucket of that S3-compatible
// server, checked now so a wrong address or key stops the start.
func openLogs(ctx context.Context, cfg Config) (logstore.Store, error) {
	if cfg.Logs.S3.Endpoint == "" {
		return logstore.OpenDir(filepath.Join(cfg.DataDir, "logs"), cfg.Logs.Bucket)
	}
	s3 := &logstore.S3{
		Endpoint: cfg.Logs.S3.Endpoint, Region: cfg.Logs.S3.Region, BucketName: cfg.Logs.Bucket,
		AccessKeyID: cfg.Logs.S3.AccessKeyID, SecretAccessKey: cfg.Logs.S3.SecretAccessKey,
	}
	if err := s3.Validate(); err != nil {
		return nil, err
	}
	checkCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := s3.Check(checkCtx); err != nil {
		return nil, err
	}
	return s3, nil
}

// serveAPI starts the API on its listener, and the janitor of the client
// tokens it keeps.
func (s *Server) serveAPI(jobsCtx context.Context) {
	logger := s.Logger
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "rayfleet_reconciler_running",
			Help: "1 while this process runs the reconciler (on PostgreSQL: holds the database's reconciler lease), else 0.",
		}, func() float64 {
			if s.reconciling.Load() {
				return 1
			}
			return 0
		}))
	h := &httpapi.Handler{
		Service: s.Service, Logger: logger, Nonces: httpapi.NewNonceCache(4 << 20), Now: time.Now,
		Metrics: httpapi.NewMetrics(reg, s.Store.CountClustersByState), Gatherer: reg,
		HostID: s.Addr, MetricsToken: s.metricsToken,
	}
	ready := &readiness{read: func(ctx context.Context) error { _, err := s.Store.ListAccounts(ctx); return err }, now: time.Now}
	if p, ok := s.Store.(writeProber); ok {
		ready.probe = p
	}
	h.Ready = ready.check
	if st, ok := s.Store.(*sqlstore.Store); ok && s.Config.Store == "postgres" {
		// Other API processes may share the database: a nonce one of them
		// saw is refused here too.
		h.SharedNonces = st
	}
	h = h.Init()
	s.http = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		ConnState:         testConnState,
	}
	s.jobs.Add(1)
	go func() { defer s.jobs.Done(); s.janitor(jobsCtx) }()
	go func() {
		defer close(s.done)
		if err := s.http.Serve(s.listener); !errors.Is(err, http.ErrServerClosed) {
			s.serveErr = err
		}
	}()
}

// endpoints are the addresses the API hands out: the configured ones, or
// the gateway listeners' real addresses.
func endpoints(cfg Config, httpAddr, grpcAddr string) service.Endpoints {
	e := service.Endpoints{URL: cfg.Gateway.URL, InnerURL: cfg.Gateway.InnerURL, GRPCAddress: cfg.Gateway.GRPCAddress, ClusterDomain: cfg.Gateway.ClusterDomain}
	if e.URL == "" {
		e.URL = "http://" + httpAddr
		if cfg.TLS.CertFile != "" {
			e.URL = "https://" + httpAddr
		}
	}
	if e.InnerURL == "" {
		e.InnerURL = e.URL
	}
	if e.GRPCAddress == "" {
		e.GRPCAddress = grpcAddr
	}
	return e
}

// testConnState lets tests see connections change state (nil otherwise).
var testConnState func(net.Conn, http.ConnState)

// janitor forgets client tokens older than the idempotency window, expired
// data-plane credentials and audit events older than the retention.
func (s *Server) janitor(ctx context.Context) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		s.sweep(ctx, time.Now())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// multiWaker wakes every reconciler it holds.
type multiWaker []service.Waker

func (m multiWaker) Wake(ref store.ClusterRef) {
	for _, w := range m {
		w.Wake(ref)
	}
}

// remoteWaker tells the reconcilers of other processes on the database.
type remoteWaker struct {
	wakes *sqlstore.Wakes
	log   *slog.Logger
}

func (r remoteWaker) Wake(ref store.ClusterRef) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.wakes.Wake(ctx, ref); err != nil {
		r.log.Warn("wake other processes; the change waits for their next resync", "clusterId", ref.ID, "err", err.Error())
	}
}

// leaser is a store that can make one process at a time the reconciler's.
type leaser interface {
	AcquireLease(ctx context.Context, name string, onWait func()) (*sqlstore.Lease, error)
}

// runReconciler runs the reconciler while this process holds the store's
// reconciler lease: on PostgreSQL, of several processes with the
// reconciler role only one reconciles, the others stand by and one of them
// takes over when it goes. A standby whose database session breaks (a
// PostgreSQL restart) has nothing in flight: it reconnects and stands by
// again. A process that loses the lease it held stops, so that its
// supervisor restarts it as a standby rather than have it guess whether
// another has taken over while its actions were under way.
func (s *Server) runReconciler(ctx context.Context) {
	runCtx := ctx
	if l, ok := s.Store.(leaser); ok {
		lease := s.standBy(ctx, l)
		if lease == nil {
			return // ctx ended
		}
		defer func() {
			if lease != nil {
				lease.Release()
			}
		}()
		said := ""
		for {
			ok, refused, err := s.mayReconcile(ctx)
			if ok {
				break
			}
			lease.Release() // the server whose home it is may take it
			switch {
			case err != nil:
				s.Logger.Warn("standing by: could not read where the local runtime's nodes run", "err", err.Error())
			case refused != said:
				s.Logger.Warn("standing by: " + refused)
				said = refused
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(homeRetry):
			}
			if lease = s.standBy(ctx, l); lease == nil {
				return
			}
		}
		var cancel context.CancelFunc
		runCtx, cancel = context.WithCancel(ctx)
		defer cancel()
		go func() {
			select {
			case <-lease.Lost():
				s.fail(errors.New("lost the reconciler lease (the database session broke); stopping so that this process restarts as a standby"))
				cancel()
			case <-runCtx.Done():
			}
		}()
		s.Logger.Info("this process runs the reconciler")
	}
	s.reconciling.Store(true)
	defer s.reconciling.Store(false)
	// The job runner acts on what the reconciler's lease covers (it makes
	// and deletes clusters, hands jobs to heads): it runs while the
	// reconciler does, and they stop together.
	var jobs sync.WaitGroup
	jobs.Add(1)
	go func() {
		defer jobs.Done()
		if err := s.Jobs.Run(runCtx); err != nil {
			s.Logger.Error("job runner stopped", "err", err.Error())
		}
	}()
	defer jobs.Wait()
	if err := s.Reconciler.Run(runCtx); err != nil {
		s.Logger.Error("reconciler stopped", "err", err.Error())
	}
}

// leaseRetry bounds how long a standby waits before it tries the database
// again after its session broke.
var leaseRetry = struct{ first, max time.Duration }{time.Second, 15 * time.Second}

// standBy waits until this process holds the reconciler lease, through any
// number of broken database sessions; nil means ctx ended.
func (s *Server) standBy(ctx context.Context, l leaser) *sqlstore.Lease {
	told := false
	wait := leaseRetry.first
	for {
		began := time.Now()
		lease, err := l.AcquireLease(ctx, "reconciler", func() {
			if !told {
				s.Logger.Info("another process runs the reconciler on this database; standing by to take over")
				told = true
			}
		})
		if err == nil {
			return lease
		}
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(began) > leaseRetry.max {
			wait = leaseRetry.first // the session broke after a long wait, not at once again
		}
		s.Logger.Warn("standing by for the reconciler lease: the database session broke; reconnecting", "err", err.Error(), "in", wait.String())
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(2*wait, leaseRetry.max)
	}
}

// fail stops the server with err: RunServer shuts it down and exits
// non-zero.
func (s *Server) fail(err error) {
	s.failOnce.Do(func() {
		s.Logger.Error("stopping", "err", err.Error())
		s.failErr = err
		close(s.failed)
	})
}

// sweep is one round of the janitor's.
func (s *Server) sweep(ctx context.Context, now time.Time) {
	if err := s.Store.DeleteIdempotencyBefore(ctx, now.Add(-rayfleet.IdempotencyWindow)); err != nil && ctx.Err() == nil {
		s.Logger.Warn("forget old client tokens", "err", err.Error())
	}
	if st, ok := s.Store.(*sqlstore.Store); ok && s.Config.Store == "postgres" {
		if err := st.DeleteNoncesBefore(ctx, now); err != nil && ctx.Err() == nil {
			s.Logger.Warn("forget expired signature nonces", "err", err.Error())
		}
	}
	if n, err := s.Store.DeleteDataPlaneTokensBefore(ctx, now); err != nil && ctx.Err() == nil {
		s.Logger.Warn("remove expired data-plane credentials", "err", err.Error(), "removed", n)
	}
	if s.Config.AuditRetention <= 0 {
		return
	}
	n, err := s.Store.DeleteAuditBefore(ctx, now.Add(-s.Config.AuditRetention))
	switch {
	case err != nil && ctx.Err() == nil:
		s.Logger.Warn("remove old audit events", "err", err.Error(), "removed", n)
	case n > 0:
		s.Logger.Info("removed audit events past the retention", "removed", n, "retention", s.Config.AuditRetention.String())
	}
}

// Shutdown stops accepting requests, lets in-flight ones finish (until ctx
// ends), and closes the store.
func (s *Server) Shutdown(ctx context.Context) error {
	var err error
	if s.http != nil {
		err = s.http.Shutdown(ctx)
	}
	if s.gateway != nil {
		err = errors.Join(err, s.gateway.shutdown(ctx))
	}
	if s.http != nil {
		<-s.done
	}
	s.closeResources()
	if err == nil {
		err = s.serveErr
	}
	select {
	case <-s.failed:
		if err == nil {
			err = s.failErr
		}
	default:
	}
	return err
}

func (s *Server) closeResources() {
	if s.stopJobs != nil {
		s.stopJobs()
		s.jobs.Wait()
	}
	if s.Runtime != nil {
		// Nodes keep running: the next start re-adopts them.
		s.Runtime.Close()
	}
	if !s.serving {
		if s.listener != nil {
			s.listener.Close()
		}
		if s.gateway != nil {
			s.gateway.httpLn.Close()
			s.gateway.grpcLn.Close()
		}
	}
	if s.Store != nil {
		s.Store.Close()
	}
	if c, ok := s.Logs.(io.Closer); ok {
		c.Close()
	}
	if s.lock != nil {
		s.lock.Close() // releases the flock
	}
}

// endpoint is the API's address as clients take it: host:port, or with
// TLS https://host:port.
func (s *Server) endpoint() string {
	if s.certs != nil {
		return "https://" + s.Addr
	}
	return s.Addr
}

// writeCredentials writes the root credentials and CLI profile on the first
// start, and on later starts keeps their endpoint pointing at this server.
func (s *Server) writeCredentials(ctx context.Context, boot *service.Bootstrapped, getenv func(string) string, stdout io.Writer) error {
	path := filepath.Join(s.Config.DataDir, "credentials")
	var cred Credentials
	if boot != nil {
		cred = Credentials{AccessKeyID: boot.AccessKeyID, AccessKeySecret: boot.AccessKeySecret, UserID: boot.AccountID, WorkspaceID: boot.WorkspaceID}
	} else {
		data, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			return nil // e.g. a second replica on a shared PostgreSQL: nothing to update
		}
		if err != nil {
			return fmt.Errorf("read credentials: %w", err)
		}
		if err := json.Unmarshal(data, &cred); err != nil {
			// A damaged file (a crash or a full disk while something else
			// wrote it) must not keep the server from starting: it is
			// written again from the database, or named in a warning.
			damaged := err
			if cred, err = s.rootCredentials(ctx); err != nil {
				s.Logger.Warn("the credentials file is damaged and could not be written again; the server starts without it: "+
					"use a CLI profile or RAYFLEET_ACCESS_KEY_ID/RAYFLEET_ACCESS_KEY_SECRET, or move the file away and restart",
					"credentials", path, "damage", damaged.Error(), "err", err.Error())
				return nil
			}
			s.Logger.Warn("the credentials file was damaged; writing it again with the root access key from the database",
				"credentials", path, "damage", damaged.Error(), "accessKeyId", cred.AccessKeyID)
		} else if cred.Endpoint == s.endpoint() {
			return nil
		}
	}
	cred.Endpoint = s.endpoint()
	data, _ := json.MarshalIndent(cred, "", "  ")
	if err := writeFileAtomic(path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}
	profilePath, err := cli.ProfilePath(getenv)
	if err == nil {
		err = s.updateProfile(profilePath, cred, boot != nil)
	}
	if err != nil {
		s.Logger.Warn("could not write the CLI profile; use the credentials file instead", "err", err.Error())
		profilePath = ""
	}
	if boot != nil {
		s.Logger.Info("first start: created the default account, workspace and root access key",
			"credentials", path, "profile", profilePath, "workspaceId", boot.WorkspaceID)
		fmt.Fprintf(stdout, "rayfleet: first start. Root credentials are in %s", path)
		if profilePath != "" {
			fmt.Fprintf(stdout, " and in CLI profile %q (%s)", s.Config.ProfileName, profilePath)
		}
		fmt.Fprintf(stdout, ".\nrayfleet: default workspace %s. Try: rayfleet cluster list\n", boot.WorkspaceID)
	}
	return nil
}

// updateProfile writes the profile on a first start; later it only moves
// the endpoint of a profile that still holds this server's key.
func (s *Server) updateProfile(path string, cred Credentials, first bool) error {
	p := cli.Profile{Endpoint: cred.Endpoint, AccessKeyID: cred.AccessKeyID, AccessKeySecret: cred.AccessKeySecret, UserID: cred.UserID, WorkspaceID: cred.WorkspaceID}
	if first {
		return cli.SaveProfile(path, s.Config.ProfileName, p)
	}
	pf, err := cli.LoadProfiles(path)
	if err != nil {
		return err
	}
	old, ok := pf.Profiles[s.Config.ProfileName]
	if !ok || old.AccessKeyID != cred.AccessKeyID {
		return nil
	}
	old.Endpoint = cred.Endpoint
	return cli.SaveProfile(path, s.Config.ProfileName, old)
}

// writeFileAtomic replaces path with data: written to a temporary file,
// synced, then renamed over it, so a crash or a full disk leaves the old
// file or the new one, never a truncated one.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	err = f.Chmod(mode)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// lockDataDir takes an exclusive lock on the data directory, so a second
// server on it refuses to start instead of corrupting it.
func lockDataDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, "rayfleet.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		pid, _ := io.ReadAll(io.LimitReader(f, 32))
		f.Close()
		owner := ""
		if p := strings.TrimSpace(string(pid)); p != "" {
			owner = " (pid " + p + ")"
		}
		return nil, fmt.Errorf("another rayfleet server%s is using data directory %s; stop it, or start this one with another --data-dir", owner, dir)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

func newLogger(cfg Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
