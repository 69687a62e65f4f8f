package app

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/runtime/kuberay"
	"github.com/rayfleet/rayfleet/internal/service"
)

// Config is the server's configuration. Every field has a default that runs
// a working server on one machine; flags, RAYFLEET_* environment variables
// and an optional YAML file (--config) override them, in that order of
// precedence: flag > environment > file > default.
type Config struct {
	DataDir     string `yaml:"dataDir"`
	APIAddr     string `yaml:"apiAddr"`
	Store       string `yaml:"store"`
	PostgresDSN string `yaml:"postgresDsn"`
	LogLevel    string `yaml:"logLevel"`
	LogFormat   string `yaml:"logFormat"`
	RegionID    string `yaml:"regionId"`

	// Gateway is where users reach their clusters. Listen and GRPCListen are
	// the listeners; URL, InnerURL and GRPCAddress are what the API hands
	// out (dashboardUrl, jobUrl, jobUrlInner, grpcEndpoint). Left empty,
	// they are derived from the listeners' real addresses. CacheTTL is how
	// long the gateway remembers (0: not at all) that a credential opens a
	// door, with its cluster's head: a gateway in the API's process forgets
	// a revoked credential at once, one in a process of its own only when
	// the TTL runs out.
	Gateway struct {
		Listen      string `yaml:"listen"`
		GRPCListen  string `yaml:"grpcListen"`
		URL         string `yaml:"url"`
		InnerURL    string `yaml:"innerUrl"`
		GRPCAddress string `yaml:"grpcAddress"`
		// ClusterDomain gives each cluster's dashboard a host of its own,
		// <clusterId>.<clusterDomain> (wildcard DNS to the gateway).
		ClusterDomain string        `yaml:"clusterDomain"`
		CacheTTL      time.Duration `yaml:"cacheTTL"`
	} `yaml:"gateway"`

	// MetricsTokenFile holds the bearer token /metrics asks for ("":
	// <data-dir>/metrics-token, made on first start).
	MetricsTokenFile string `yaml:"metricsTokenFile"`

	// TLS, when set (both files), is served by the API and by the
	// gateway's HTTP and gRPC doors; the files are read again when they
	// change.
	TLS struct {
		CertFile string `yaml:"certFile"`
		KeyFile  string `yaml:"keyFile"`
	} `yaml:"tls"`

	// ImageRegistry, when set, prefixes every release version's image
	// (a mirror such as registry.example.com/mirror).
	ImageRegistry   string                     `yaml:"imageRegistry"`
	ReleaseVersions []rayfleet.ReleaseVersion  `yaml:"releaseVersions"`
	GPUTypes        map[string]service.GPUType `yaml:"gpuTypes"`
	ProfileName     string                     `yaml:"profileName"`

	// Runtime runs the clusters: "local" (ray processes on this machine).
	Runtime string `yaml:"runtime"`
	// Kubeconfig reaches Kubernetes for the kuberay runtime ("" = the
	// in-cluster config of the pod rayfleet runs in).
	Kubeconfig string `yaml:"kubeconfig"`
	// NamespacePrefix names each workspace's namespace: <prefix>-<workspaceId>.
	NamespacePrefix string `yaml:"namespacePrefix"`
	// NetworkPolicy is who, besides a cluster's own pods, its
	// NetworkPolicy lets in (kuberay.Peers: label selectors as kubectl -l
	// takes them).
	NetworkPolicy struct {
		GatewayPods       string `yaml:"gatewayPods"`
		GatewayNamespaces string `yaml:"gatewayNamespaces"`
		ScraperPods       string `yaml:"scraperPods"`
		ScraperNamespaces string `yaml:"scraperNamespaces"`
	} `yaml:"networkPolicy"`
	// RayPath is the ray executable of the local runtime ("" = PATH).
	RayPath string `yaml:"rayPath"`
	// RayEnvs is how the local runtime gets the Ray of a release the
	// ray executable does not run: "off" (the start ends in Error saying
	// what to do) or "pip" (it makes the release's environment under the
	// data directory, once, and runs it).
	RayEnvs string `yaml:"rayEnvs"`
	// LocalClaimHome lets this server reconcile the local runtime on a
	// shared PostgreSQL database although another data directory is
	// recorded as where its nodes run and clusters may still have nodes
	// there: for when that machine is gone for good, with its nodes.
	LocalClaimHome bool `yaml:"localClaimHome"`
	// PrometheusURL, if set, is the Prometheus server the local runtime's
	// heads' dashboards query (RAY_PROMETHEUS_HOST), e.g.
	// http://127.0.0.1:9090: one that scrapes the nodes listed in
	// <dataDir>/local/prometheus/targets.json.
	PrometheusURL string `yaml:"prometheusUrl"`
	// StartTimeout is how long a cluster may stay Starting before Error.
	StartTimeout time.Duration `yaml:"startTimeout"`
	// ReconcileWorkers is how many clusters are reconciled at once.
	ReconcileWorkers int `yaml:"reconcileWorkers"`
	// MaxRunningJobsPerCluster is how many Ray jobs one cluster runs at
	// once: further jobs wait, Pending, in submission order, so a burst of
	// submissions cannot overwhelm a head.
	MaxRunningJobsPerCluster int `yaml:"maxRunningJobsPerCluster"`
	// StopGrace is how long nodes get between TERM and KILL.
	StopGrace time.Duration `yaml:"stopGrace"`
	// Roles are the parts this process runs: api, gateway, reconciler (all
	// by default). An API-only replica serves requests; exactly one process
	// per store should run the reconciler.
	Roles string `yaml:"roles"`
	// LocalTempRoot holds the local nodes' short Ray temp directories
	// ("" = /tmp; Ray's socket paths must stay under ~107 characters).
	LocalTempRoot string `yaml:"localTempRoot"`
	// AuditRetention is how long audit events are kept (0: for ever).
	AuditRetention time.Duration `yaml:"auditRetention"`

	// Logs is where jobs' logs are kept, under <dataDir>/logs/<bucket>/,
	// and how GetRayLog's accessUrl opens one: a URL of the API signed
	// with <dataDir>/log-url.key, which opens one file until URLExpiry has
	// passed. URL is the API's public base URL; without it the accessUrl
	// names the scheme and host the GetRayLog call came in on.
	//
	// With S3.Endpoint set the bucket is one of an S3-compatible server
	// instead, which must hold it already; its credentials come from the
	// file or the environment (RAYFLEET_LOG_S3_ACCESS_KEY_ID,
	// RAYFLEET_LOG_S3_SECRET_ACCESS_KEY), never a flag.
	Logs struct {
		Bucket    string        `yaml:"bucket"`
		URL       string        `yaml:"url"`
		URLExpiry time.Duration `yaml:"urlExpiry"`
		S3        struct {
			Endpoint        string `yaml:"endpoint"`
			Region          string `yaml:"region"`
			AccessKeyID     string `yaml:"accessKeyId"`
			SecretAccessKey string `yaml:"secretAccessKey"`
		} `yaml:"s3"`
	} `yaml:"logs"`

	// DataPlaneTokenTTL is how long a data-plane credential (submitToken,
	// dashboardUrl's token) lasts.
	DataPlaneTokenTTL time.Duration `yaml:"dataPlaneTokenTTL"`
}

// maxLogURLExpiry is the longest a log URL may open its file, as long as
// an object store's presigned URLs may be valid.
const maxLogURLExpiry = 7 * 24 * time.Hour

// defaultAuditRetention keeps audit events 90 days, as long as the hosted
// cloud's own trail keeps them by default.
const defaultAuditRetention = 90 * 24 * time.Hour

// DefaultConfig returns the embedded defaults.
func DefaultConfig() Config {
	var c Config
	c.DataDir = "./rayfleet-data"
	c.APIAddr = "127.0.0.1:8080"
	c.Store = "sqlite"
	c.LogLevel = "info"
	c.LogFormat = "json"
	c.RegionID = "local"
	c.Gateway.Listen = "127.0.0.1:8081"
	c.Gateway.GRPCListen = "127.0.0.1:10101"
	c.Gateway.CacheTTL = gatewayCacheTTL
	c.ProfileName = "default"
	c.Runtime = "local"
	c.RayEnvs = "off"
	c.Roles = "api,gateway,reconciler"
	c.NamespacePrefix = "rayfleet"
	c.NetworkPolicy.GatewayPods = kuberay.DefaultGatewayPods
	c.NetworkPolicy.GatewayNamespaces = kuberay.DefaultGatewayNamespaces
	c.StartTimeout = 10 * time.Minute
	c.ReconcileWorkers = 16
	c.MaxRunningJobsPerCluster = 100
	c.StopGrace = 10 * time.Second
	c.AuditRetention = defaultAuditRetention
	c.Logs.Bucket = rayfleet.DefaultLogBucket
	c.Logs.URLExpiry = service.DefaultLogURLTTL
	c.DataPlaneTokenTTL = service.DefaultDataPlaneTokenTTL
	c.GPUTypes = map[string]service.GPUType{
		"ecs.gn6i-c4g1.xlarge":   {GPUs: 1, Resource: "nvidia.com/gpu", NodeSelector: map[string]string{"rayfleet.io/gpu-type": "ecs.gn6i-c4g1.xlarge"}},
		"ecs.gn7i-c8g1.2xlarge":  {GPUs: 1, Resource: "nvidia.com/gpu", NodeSelector: map[string]string{"rayfleet.io/gpu-type": "ecs.gn7i-c8g1.2xlarge"}},
		"ecs.gn7i-c16g1.4xlarge": {GPUs: 1, Resource: "nvidia.com/gpu", NodeSelector: map[string]string{"rayfleet.io/gpu-type": "ecs.gn7i-c16g1.4xlarge"}},
		"ecs.gn7i-2x.8xlarge":    {GPUs: 2, Resource: "nvidia.com/gpu", NodeSelector: map[string]string{"rayfleet.io/gpu-type": "ecs.gn7i-2x.8xlarge"}},
	}
	return c
}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	if c.RayEnvs != "off" && c.RayEnvs != "pip" {
		errs = append(errs, fmt.Errorf("ray-envs: %q is not off or pip", c.RayEnvs))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data-dir: must not be empty"))
	}
	if d := c.Gateway.ClusterDomain; d != "" && !dnsName(d) {
		errs = append(errs, fmt.Errorf("gateway-cluster-domain: %q is not a DNS name such as clusters.example.com (no scheme, port or wildcard)", d))
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		errs = append(errs, errors.New("tls-cert-file and tls-key-file: give both, or neither"))
	}
	if _, _, err := net.SplitHostPort(c.APIAddr); err != nil {
		errs = append(errs, fmt.Errorf("api-addr: %q is not host:port", c.APIAddr))
	}
	switch c.Store {
	case "sqlite":
	case "postgres":
		if c.PostgresDSN == "" {
			errs = append(errs, errors.New("postgres-dsn: required with --store postgres (e.g. postgres://user:pass@host:5432/rayfleet)"))
		}
	default:
		errs = append(errs, fmt.Errorf("store: must be sqlite or postgres, got %q", c.Store))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log-level: must be debug, info, warn or error, got %q", c.LogLevel))
	}
	switch c.LogFormat {
	case "json", "text":
	default:
		errs = append(errs, fmt.Errorf("log-format: must be json or text, got %q", c.LogFormat))
	}
	if err := rayfleet.ValidLogBucket(c.Logs.Bucket); err != nil {
		errs = append(errs, fmt.Errorf("log-bucket: %w", err))
	}
	if s3 := c.Logs.S3; s3.Endpoint != "" && (s3.AccessKeyID == "" || s3.SecretAccessKey == "") {
		errs = append(errs, errors.New("log-s3-endpoint: needs RAYFLEET_LOG_S3_ACCESS_KEY_ID and RAYFLEET_LOG_S3_SECRET_ACCESS_KEY (or logs.s3.accessKeyId and secretAccessKey in the file)"))
	}
	if c.Logs.URLExpiry < time.Second || c.Logs.URLExpiry > maxLogURLExpiry {
		errs = append(errs, fmt.Errorf("log-url-expiry: must be 1s to %s, got %s", maxLogURLExpiry, c.Logs.URLExpiry))
	}
	for name, u := range map[string]string{"gateway.url": c.Gateway.URL, "gateway.innerUrl": c.Gateway.InnerURL, "prometheus-url": c.PrometheusURL, "log-url": c.Logs.URL, "log-s3-endpoint": c.Logs.S3.Endpoint} {
		if u == "" {
			continue
		}
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			errs = append(errs, fmt.Errorf("%s: %q is not an http(s) URL", name, u))
		}
	}
	for name, a := range map[string]string{"gateway-listen": c.Gateway.Listen, "gateway-grpc-listen": c.Gateway.GRPCListen} {
		if _, _, err := net.SplitHostPort(a); err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not host:port", name, a))
		}
	}
	if c.Gateway.GRPCAddress != "" {
		if _, _, err := net.SplitHostPort(c.Gateway.GRPCAddress); err != nil {
			errs = append(errs, fmt.Errorf("gateway.grpcAddress: %q is not host:port", c.Gateway.GRPCAddress))
		}
	}
	for _, r := range strings.Split(c.Roles, ",") {
		switch strings.TrimSpace(r) {
		case "api", "gateway", "reconciler":
		default:
			errs = append(errs, fmt.Errorf("roles: %q is not one of api, gateway, reconciler", r))
		}
	}
	switch c.Runtime {
	case "local", "kuberay":
	default:
		errs = append(errs, fmt.Errorf("runtime: must be local or kuberay, got %q", c.Runtime))
	}
	if c.StartTimeout < time.Second {
		errs = append(errs, fmt.Errorf("start-timeout: must be at least 1s, got %s", c.StartTimeout))
	}
	if c.ReconcileWorkers < 1 || c.ReconcileWorkers > 1024 {
		errs = append(errs, fmt.Errorf("reconcile-workers: must be 1 to 1024, got %d", c.ReconcileWorkers))
	}
	if c.MaxRunningJobsPerCluster < 1 || c.MaxRunningJobsPerCluster > 100000 {
		errs = append(errs, fmt.Errorf("max-running-jobs-per-cluster: must be 1 to 100000, got %d", c.MaxRunningJobsPerCluster))
	}
	if c.Gateway.CacheTTL < 0 {
		errs = append(errs, fmt.Errorf("gateway-cache-ttl: must not be negative, got %s", c.Gateway.CacheTTL))
	}
	if c.DataPlaneTokenTTL < time.Second {
		errs = append(errs, fmt.Errorf("data-plane-token-ttl: must be at least 1s, got %s", c.DataPlaneTokenTTL))
	}
	if c.AuditRetention < 0 {
		errs = append(errs, fmt.Errorf("audit-retention: must not be negative, got %s", c.AuditRetention))
	}
	if c.StopGrace < 0 {
		errs = append(errs, fmt.Errorf("stop-grace: must not be negative, got %s", c.StopGrace))
	}
	for i, r := range c.ReleaseVersions {
		if r.Version == "" || r.RayVersion == "" || r.PythonVersion == "" || r.Image == "" {
			errs = append(errs, fmt.Errorf("releaseVersions[%d]: releaseVersion, rayVersion, pythonVersion and image are required", i))
		}
	}
	for name, sel := range map[string]string{
		"network-policy-gateway-pods": c.NetworkPolicy.GatewayPods, "network-policy-gateway-namespaces": c.NetworkPolicy.GatewayNamespaces,
		"network-policy-scraper-pods": c.NetworkPolicy.ScraperPods, "network-policy-scraper-namespaces": c.NetworkPolicy.ScraperNamespaces,
	} {
		if err := kuberay.CheckSelector(sel); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	for name, g := range c.GPUTypes {
		if g.GPUs < 1 {
			errs = append(errs, fmt.Errorf("gpuTypes[%s].gpus: must be at least 1", name))
		}
	}
	return errors.Join(errs...)
}

// peers is the NetworkPolicy section as the kuberay runtime takes it.
func (c *Config) peers() kuberay.Peers {
	n := c.NetworkPolicy
	return kuberay.Peers{GatewayPods: n.GatewayPods, GatewayNamespaces: n.GatewayNamespaces,
		ScraperPods: n.ScraperPods, ScraperNamespaces: n.ScraperNamespaces}
}

// HasRole reports whether this process runs role.
func (c *Config) HasRole(role string) bool {
	for _, r := range strings.Split(c.Roles, ",") {
		if strings.TrimSpace(r) == role {
			return true
		}
	}
	return false
}

// Releases returns the release catalog: the built-in engines followed by
// the configured ones (a configured one with a built-in's name replaces it),
// images under the configured registry.
func (c *Config) Releases() []rayfleet.ReleaseVersion {
	out := rayfleet.BuiltinReleaseVersions()
	for _, r := range c.ReleaseVersions {
		if r.Display == "" {
			r.Display = rayfleet.DisplayName(r.Version, r.RayVersion, r.PythonVersion)
		}
		if r.State == "" {
			r.State = "ONLINE"
		}
		if r.Type == "" {
			r.Type = "stable"
		}
		if len(r.CPUArch) == 0 {
			r.CPUArch = []string{"x86"}
		}
		r.Custom = true
		replaced := false
		for i := range out {
			if out[i].Version == r.Version {
				out[i], replaced = r, true
			}
		}
		if !replaced {
			out = append([]rayfleet.ReleaseVersion{r}, out...)
		}
	}
	if c.ImageRegistry != "" {
		for i := range out {
			out[i].Image = strings.TrimRight(c.ImageRegistry, "/") + "/" + out[i].Image
		}
	}
	return out
}

// LoadConfig builds the configuration from defaults, the YAML file named by
// --config or RAYFLEET_CONFIG_FILE, the environment, and the flags.
func LoadConfig(args []string, getenv func(string) string) (Config, error) {
	c := DefaultConfig()
	fs := flag.NewFlagSet("rayfleet server", flag.ContinueOnError)
	fs.SetOutput(new(bytes.Buffer))
	file := fs.String("config", getenv("RAYFLEET_CONFIG_FILE"), "YAML configuration file (env RAYFLEET_CONFIG_FILE)")
	type strFlag struct {
		name, env, usage string
		dst              *string
	}
	flags := []strFlag{
		{"data-dir", "RAYFLEET_DATA_DIR", "directory for the database, keys and credentials", &c.DataDir},
		{"api-addr", "RAYFLEET_API_ADDR", "address the API listens on (port 0 picks a free port)", &c.APIAddr},
		{"store", "RAYFLEET_STORE", "sqlite or postgres", &c.Store},
		{"postgres-dsn", "RAYFLEET_POSTGRES_DSN", "PostgreSQL connection string for --store postgres", &c.PostgresDSN},
		{"log-level", "RAYFLEET_LOG_LEVEL", "debug, info, warn or error", &c.LogLevel},
		{"log-format", "RAYFLEET_LOG_FORMAT", "json or text", &c.LogFormat},
		{"region", "RAYFLEET_REGION", "region id reported by the API", &c.RegionID},
		{"gateway-listen", "RAYFLEET_GATEWAY_LISTEN", "address the gateway's HTTP listener (dashboard, job API) binds", &c.Gateway.Listen},
		{"gateway-grpc-listen", "RAYFLEET_GATEWAY_GRPC_LISTEN", "address the gateway's Ray client (gRPC) listener binds", &c.Gateway.GRPCListen},
		{"gateway-url", "RAYFLEET_GATEWAY_URL", "public base URL of the gateway (dashboardUrl, jobUrl); default http://<gateway-listen>", &c.Gateway.URL},
		{"gateway-inner-url", "RAYFLEET_GATEWAY_INNER_URL", "internal base URL of the gateway (jobUrlInner)", &c.Gateway.InnerURL},
		{"gateway-cluster-domain", "RAYFLEET_GATEWAY_CLUSTER_DOMAIN", "serve each cluster's dashboard on a host of its own, <clusterId>.<domain> (a wildcard DNS name for the gateway)", &c.Gateway.ClusterDomain},
		{"gateway-grpc-address", "RAYFLEET_GATEWAY_GRPC_ADDRESS", "host:port of the Ray client endpoint (grpcEndpoint)", &c.Gateway.GRPCAddress},
		{"metrics-token-file", "RAYFLEET_METRICS_TOKEN_FILE", "file whose contents are the bearer token GET /metrics asks for (default <data-dir>/metrics-token, made on first start)", &c.MetricsTokenFile},
		{"tls-cert-file", "RAYFLEET_TLS_CERT_FILE", "PEM certificate (chain) to serve TLS with on the API and the gateway's doors; read again when it changes", &c.TLS.CertFile},
		{"tls-key-file", "RAYFLEET_TLS_KEY_FILE", "PEM private key of --tls-cert-file", &c.TLS.KeyFile},
		{"image-registry", "RAYFLEET_IMAGE_REGISTRY", "registry prefix for Ray images (a mirror)", &c.ImageRegistry},
		{"profile-name", "RAYFLEET_PROFILE_NAME", "CLI profile the first start writes", &c.ProfileName},
		{"runtime", "RAYFLEET_RUNTIME", "where clusters run: local (ray processes here) or kuberay (Kubernetes)", &c.Runtime},
		{"kubeconfig", "RAYFLEET_KUBECONFIG", "kubeconfig for --runtime kuberay (default: in-cluster config)", &c.Kubeconfig},
		{"namespace-prefix", "RAYFLEET_NAMESPACE_PREFIX", "kuberay: namespace per workspace is <prefix>-<workspaceId>", &c.NamespacePrefix},
		{"network-policy-gateway-pods", "RAYFLEET_NETWORK_POLICY_GATEWAY_PODS", "kuberay: label selector of the gateway's pods, which alone reach heads from outside their cluster", &c.NetworkPolicy.GatewayPods},
		{"network-policy-gateway-namespaces", "RAYFLEET_NETWORK_POLICY_GATEWAY_NAMESPACES", "kuberay: label selector of the namespaces those pods run in", &c.NetworkPolicy.GatewayNamespaces},
		{"network-policy-scraper-pods", "RAYFLEET_NETWORK_POLICY_SCRAPER_PODS", "kuberay: label selector of the pods (a Prometheus) let in to every node's metrics ports (default: none)", &c.NetworkPolicy.ScraperPods},
		{"network-policy-scraper-namespaces", "RAYFLEET_NETWORK_POLICY_SCRAPER_NAMESPACES", "kuberay: label selector of the namespaces those pods run in", &c.NetworkPolicy.ScraperNamespaces},
		{"roles", "RAYFLEET_ROLES", "parts to run, comma-separated: api, gateway, reconciler", &c.Roles},
		{"ray-path", "RAYFLEET_RAY_PATH", "the ray executable for the local runtime (default: ray on PATH)", &c.RayPath},
		{"prometheus-url", "RAYFLEET_PROMETHEUS_URL", "local runtime: the Prometheus server the heads' dashboards query (it scrapes <data-dir>/local/prometheus/targets.json)", &c.PrometheusURL},
		{"log-bucket", "RAYFLEET_LOG_BUCKET", "bucket name of the jobs' logs (logBucketName), kept under <data-dir>/logs/<bucket>/", &c.Logs.Bucket},
		{"log-url", "RAYFLEET_LOG_URL", "base URL GetRayLog's accessUrl points at (default: where the call came in)", &c.Logs.URL},
		{"log-s3-endpoint", "RAYFLEET_LOG_S3_ENDPOINT", "keep jobs' logs in the log bucket of this S3-compatible server (https://host:port) instead of the data dir", &c.Logs.S3.Endpoint},
		{"log-s3-region", "RAYFLEET_LOG_S3_REGION", "the S3 server's signing region (default us-east-1)", &c.Logs.S3.Region},
		{"ray-envs", "RAYFLEET_RAY_ENVS", "local runtime, a release whose Ray the ray executable does not run: off (Error) or pip (make its environment under the data dir)", &c.RayEnvs},
	}
	setDurations := defineFlags(fs, []typedFlag[time.Duration]{
		{"start-timeout", "RAYFLEET_START_TIMEOUT", "how long a cluster may stay Starting before it is Error", &c.StartTimeout},
		{"stop-grace", "RAYFLEET_STOP_GRACE", "how long nodes get to exit after TERM before KILL", &c.StopGrace},
		{"audit-retention", "RAYFLEET_AUDIT_RETENTION", "how long audit events are kept (0: for ever)", &c.AuditRetention},
		{"log-url-expiry", "RAYFLEET_LOG_URL_EXPIRY", "how long GetRayLog's accessUrl opens its file", &c.Logs.URLExpiry},
		{"data-plane-token-ttl", "RAYFLEET_DATA_PLANE_TOKEN_TTL", "how long a data-plane credential (submitToken, dashboardUrl's token) lasts", &c.DataPlaneTokenTTL},
		{"gateway-cache-ttl", "RAYFLEET_GATEWAY_CACHE_TTL", "how long the gateway remembers that a credential opens a door, and how often it checks what is open again; a standalone gateway honours a revoked credential until it runs out (0: no cache)", &c.Gateway.CacheTTL},
	}, time.ParseDuration, "a duration such as 10m or 30s")
	setInts := defineFlags(fs, []typedFlag[int]{
		{"reconcile-workers", "RAYFLEET_RECONCILE_WORKERS", "clusters reconciled at once", &c.ReconcileWorkers},
		{"max-running-jobs-per-cluster", "RAYFLEET_MAX_RUNNING_JOBS_PER_CLUSTER", "Ray jobs one cluster runs at once; further ones wait, Pending", &c.MaxRunningJobsPerCluster},
	}, strconv.Atoi, "a number")
	claimHome := fs.Bool("local-claim-home", false, "reconcile the local runtime from this data directory although another is recorded as where its nodes run (that machine is gone for good) (env RAYFLEET_LOCAL_CLAIM_HOME)")
	vals := make([]*string, len(flags))
	for i, f := range flags {
		vals[i] = fs.String(f.name, "", f.usage+" (env "+f.env+")")
	}
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		return c, usageError{fs: fs, err: err}
	}
	if fs.NArg() > 0 {
		return c, usageError{fs: fs, err: fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	if *file != "" {
		data, err := os.ReadFile(*file)
		if err != nil {
			return c, fmt.Errorf("read config file: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil {
			return c, fmt.Errorf("config file %s: %w", *file, err)
		}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for i, f := range flags {
		if set[f.name] {
			*f.dst = *vals[i]
		} else if v := getenv(f.env); v != "" {
			*f.dst = v
		}
	}
	var errs []error
	// Secrets come from the file or the environment, never a flag (which
	// any user of the machine sees in the process list).
	for _, e := range []struct {
		env string
		dst *string
	}{{"RAYFLEET_LOG_S3_ACCESS_KEY_ID", &c.Logs.S3.AccessKeyID}, {"RAYFLEET_LOG_S3_SECRET_ACCESS_KEY", &c.Logs.S3.SecretAccessKey}} {
		if v := getenv(e.env); v != "" {
			*e.dst = v
		}
	}
	if set["local-claim-home"] {
		c.LocalClaimHome = *claimHome
	} else if v := getenv("RAYFLEET_LOCAL_CLAIM_HOME"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("RAYFLEET_LOCAL_CLAIM_HOME: %q is not true or false", v))
		}
		c.LocalClaimHome = b
	}
	errs = append(errs, setDurations(set, getenv)...)
	errs = append(errs, setInts(set, getenv)...)
	if len(errs) > 0 {
		return c, fmt.Errorf("invalid configuration:\n%w", errors.Join(errs...))
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return c, nil
}

// typedFlag is a flag, and its environment variable, whose text is parsed
// into dst.
type typedFlag[T any] struct {
	name, env, usage string
	dst              *T
}

// defineFlags defines flags on fs and returns what, once fs is parsed,
// writes the value of each one given (the flag, else its environment
// variable) into its dst, and reports each that parse refuses as not
// being what.
func defineFlags[T any](fs *flag.FlagSet, flags []typedFlag[T], parse func(string) (T, error), what string) func(set map[string]bool, getenv func(string) string) []error {
	vals := make([]*string, len(flags))
	for i, f := range flags {
		vals[i] = fs.String(f.name, "", f.usage+" (env "+f.env+")")
	}
	return func(set map[string]bool, getenv func(string) string) []error {
		var errs []error
		for i, f := range flags {
			v := getenv(f.env)
			if set[f.name] {
				v = *vals[i]
			}
			if v == "" {
				continue
			}
			x, err := parse(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %q is not %s", f.name, v, what))
				continue
			}
			*f.dst = x
		}
		return errs
	}
}

// usageError is a flag problem; it prints the flags.
type usageError struct {
	fs  *flag.FlagSet
	err error
}

func (u usageError) Error() string {
	var b bytes.Buffer
	u.fs.SetOutput(&b)
	u.fs.PrintDefaults()
	if errors.Is(u.err, flag.ErrHelp) {
		return "usage: rayfleet server [flags]\n\nRuns the rayfleet API server.\n\n" + b.String()
	}
	return u.err.Error() + "\n\nusage: rayfleet server [flags]\n" + b.String()
}

// dnsName reports whether s is a host name of dot-separated labels of
// letters, digits and inner hyphens.
func dnsName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 200 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}
