package kuberay

import (
	"context"
	"fmt"

	"github.com/go-logr/logr"
	rayv1 "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/rayfleet/rayfleet"
)

// Heads finds the heads of the clusters a Runtime runs on the same
// Kubernetes cluster, and their Ray tokens, for a gateway that runs apart
// from the server (`rayfleet gateway`). It watches RayClusters, pods and
// the Ray token secrets (by their label; the Redis secrets are not in its
// cache), so the gateway's service account needs list and watch on those
// three and nothing else (no jobs, no writes); it never changes anything.
type Heads struct{ r *Runtime }

// NewHeads starts watching and waits until the watches have synced.
// cfg's Image, GPUTypes, Waker and Peers are not used.
func NewHeads(ctx context.Context, cfg Config) (*Heads, error) {
	cfg = cfg.withDefaults()
	if cfg.RestConfig == nil {
		return nil, fmt.Errorf("kuberay: RestConfig is required")
	}
	setLoggerOnce.Do(func() { ctrllog.SetLogger(logr.FromSlogHandler(cfg.Logger.Handler())) })
	rc := rest.CopyConfig(cfg.RestConfig)
	scheme, err := newScheme()
	if err != nil {
		return nil, fmt.Errorf("kuberay: %w", err)
	}
	cl, err := client.New(rc, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("kuberay: connect to %s: %w", rc.Host, err)
	}
	managed := labels.SelectorFromSet(labels.Set{labelManagedBy: managedByValue})
	tokens := labels.SelectorFromSet(labels.Set{labelManagedBy: managedByValue, labelPurpose: purposeRayToken})
	byObject := map[client.Object]cache.ByObject{
		&rayv1.RayCluster{}: {Label: managed}, &corev1.Pod{}: {Label: managed}, &corev1.Secret{}: {Label: tokens},
	}
	ca, err := cache.New(rc, cache.Options{
		Scheme: scheme, Mapper: cl.RESTMapper(), ByObject: byObject,
		DefaultTransform:            cache.TransformStripManagedFields(),
		ReaderFailOnMissingInformer: true,
	})
	if err != nil {
		return nil, fmt.Errorf("kuberay: %w", err)
	}
	for obj := range byObject {
		if _, err := ca.GetInformer(ctx, obj); err != nil {
			return nil, fmt.Errorf("kuberay: watch %T: %w", obj, err)
		}
		// The lookups HeadEndpoints shares with the runtime read pods
		// through the runtime's per-cluster index.
		if field, label, ok := clusterIndex(obj); ok {
			if err := ca.IndexField(ctx, obj, field, indexLabel(label)); err != nil {
				return nil, fmt.Errorf("kuberay: index %T: %w", obj, err)
			}
		}
	}
	r := &Runtime{cfg: cfg, client: cl, cache: ca, done: make(chan struct{})}
	if err := r.startCache(ctx, "watches of RayClusters, pods and Ray token secrets", rc.Host); err != nil {
		return nil, err
	}
	return &Heads{r: r}, nil
}

// HeadEndpoints is Runtime.HeadEndpoints: the head Service's in-cluster
// name with the dashboard and Ray client ports, once the current
// instance's head pod is ready.
func (h *Heads) HeadEndpoints(c *rayfleet.Cluster) (dashboard, clientAddr string, ok bool) {
	return h.r.HeadEndpoints(c)
}

// HeadToken is Runtime.HeadToken: Ray's token of c's current instance.
func (h *Heads) HeadToken(c *rayfleet.Cluster) string { return h.r.HeadToken(c) }

// Close stops the watches.
func (h *Heads) Close() error { return h.r.Close() }
