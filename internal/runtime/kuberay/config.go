package kuberay

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/reconcile"
)

// Config configures a Runtime. Zero values take the defaults noted.
type Config struct {
	// RestConfig reaches the Kubernetes API server. Required.
	RestConfig *rest.Config
	// NamespacePrefix names the namespace of each workspace,
	// <prefix>-<workspaceId>; default "rayfleet".
	NamespacePrefix string
	// Image returns the container image of a release version (its display
	// string, as the catalog lists it); false for an unknown release.
	// Required.
	Image func(release string) (string, bool)
	// GPUTypes is the configured GPU table, by gpuSpec. A gpuSpec missing
	// from it fails the cluster.
	GPUTypes map[string]GPUType
	// NetworkLabels, if not nil, returns extra pod labels for the cluster's
	// network service (what NetworkPolicies of the platform select on).
	// They never override rayfleet's or KubeRay's own labels.
	NetworkLabels func(c *rayfleet.Cluster) map[string]string
	Logger        *slog.Logger
	// Waker, if not nil, is told of every change to an object of a cluster.
	// Wake must not block.
	Waker reconcile.Waker
	// Now is the clock. Nothing reads it yet: every time the runtime
	// reports comes from Kubernetes; it is here so that the composition
	// root configures both runtimes alike.
	Now func() time.Time
	// FieldManager is the server-side apply field manager; default "rayfleet".
	FieldManager string
	// Peers are who may reach a cluster's pods besides the cluster's own
	// pods (its NetworkPolicy, netpol.go).
	Peers Peers
}

// Peers select, by label selectors written as kubectl's -l takes them
// ("a=b,c in (d)"), the pods outside a cluster that its NetworkPolicy lets
// in: a pod matches when it matches the pod selector and runs in a
// namespace that matches the namespace selector.
type Peers struct {
	// GatewayPods in GatewayNamespaces reach the head's dashboard and Ray
	// client ports: rayfleet's gateway (and any rayfleet process that
	// talks to heads). Default: DefaultGatewayPods in
	// DefaultGatewayNamespaces, the labels of deploy/'s Deployment and of
	// the namespace it runs in.
	GatewayPods, GatewayNamespaces string
	// ScraperPods in ScraperNamespaces, when either is set, reach every
	// node's metrics ports (a Prometheus); an empty one of the two then
	// matches every pod, or every namespace. Unset, nothing outside the
	// cluster reaches them.
	ScraperPods, ScraperNamespaces string
}

// Defaults of Peers: deploy/deployment.yaml's pod labels, and the label the
// API server puts on every namespace (namespace rayfleet of
// deploy/namespace.yaml).
const (
	DefaultGatewayPods       = "app.kubernetes.io/name=rayfleet"
	DefaultGatewayNamespaces = "kubernetes.io/metadata.name=rayfleet"
)

// CheckSelector reports whether s is a label selector as Peers take them.
func CheckSelector(s string) error {
	if _, err := metav1.ParseToLabelSelector(s); err != nil {
		return fmt.Errorf("%q is not a label selector such as app=x,tier in (a,b): %w", s, err)
	}
	return nil
}

// GPUType is what a gpuSpec means on Kubernetes: how many GPUs of which
// extended resource each node gets, and which nodes have them.
type GPUType struct {
	GPUs         int
	Resource     string            // e.g. nvidia.com/gpu
	NodeSelector map[string]string // e.g. {"rayfleet.io/gpu-type": "ecs.gn7i-c8g1.2xlarge"}
}

// Defaults.
const (
	DefaultNamespacePrefix = "rayfleet"
	DefaultFieldManager    = "rayfleet"
)

// maxPrefixLen keeps <prefix>-w-<16 hex> within a DNS label (63).
const maxPrefixLen = 63 - len("-w-0123456789abcdef")

func (c Config) withDefaults() Config {
	if c.NamespacePrefix == "" {
		c.NamespacePrefix = DefaultNamespacePrefix
	}
	if c.FieldManager == "" {
		c.FieldManager = DefaultFieldManager
	}
	if c.Peers.GatewayPods == "" {
		c.Peers.GatewayPods = DefaultGatewayPods
	}
	if c.Peers.GatewayNamespaces == "" {
		c.Peers.GatewayNamespaces = DefaultGatewayNamespaces
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate reports every problem of a defaulted Config at once.
func (c Config) Validate() error {
	var errs []error
	if c.RestConfig == nil {
		errs = append(errs, errors.New("kuberay: RestConfig is required"))
	}
	if c.Image == nil {
		errs = append(errs, errors.New("kuberay: Image is required"))
	}
	if len(c.NamespacePrefix) > maxPrefixLen {
		errs = append(errs, fmt.Errorf("kuberay: namespace prefix %q is longer than %d characters", c.NamespacePrefix, maxPrefixLen))
	} else if msgs := validation.IsDNS1123Label(c.NamespacePrefix); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("kuberay: namespace prefix %q is not a DNS label: %s", c.NamespacePrefix, msgs[0]))
	}
	for name, sel := range map[string]string{
		"GatewayPods": c.Peers.GatewayPods, "GatewayNamespaces": c.Peers.GatewayNamespaces,
		"ScraperPods": c.Peers.ScraperPods, "ScraperNamespaces": c.Peers.ScraperNamespaces,
	} {
		if err := CheckSelector(sel); err != nil {
			errs = append(errs, fmt.Errorf("kuberay: Peers.%s: %w", name, err))
		}
	}
	for name, g := range c.GPUTypes {
		if g.GPUs < 0 {
			errs = append(errs, fmt.Errorf("kuberay: gpu type %q: gpus must not be negative", name))
		}
		if g.GPUs > 0 && g.Resource == "" {
			errs = append(errs, fmt.Errorf("kuberay: gpu type %q: resource is required (e.g. nvidia.com/gpu)", name))
		}
	}
	return errors.Join(errs...)
}
