package kuberay

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	rayv1 "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/reconcile"
)

// syncTimeout bounds New's wait for the informers when its context has no
// deadline: a missing permission makes a list fail forever, not once.
const syncTimeout = 2 * time.Minute

// Runtime runs clusters as KubeRay RayClusters. It implements
// reconcile.Runtime.
type Runtime struct {
	cfg    Config
	client client.Client // writes, and the few reads that must not be stale
	cache  cache.Cache   // every other read
	peers  peerSelectors // cfg.Peers, parsed

	stop context.CancelFunc
	done chan struct{}

	mu     sync.Mutex
	closed bool
	// applied remembers, by namespace/name, the last RayCluster this
	// runtime applied (uid, generation, spec hash) and what it was built
	// from, so that an Apply with nothing new and nothing changed since
	// (same object, same generation) neither renders nor sends anything.
	// After a restart it is empty: the first Apply of each cluster is sent
	// again, which server-side apply makes a no-op.
	applied map[string]appliedSpec
	// nudged is when nudgeIfStalled last nudged KubeRay, by
	// namespace/name; stallAfter is how long it waits (tests shorten it).
	nudged     map[string]time.Time
	stallAfter time.Duration
}

type appliedSpec struct {
	hash       string
	generation int64
	uid        types.UID
	inputs     buildInputs
}

var _ reconcile.Runtime = (*Runtime)(nil)

// watched are the kinds the runtime keeps informers on, with their label
// selectors: what rayfleet made, and what KubeRay makes for a RayCluster
// that is not labelled by rayfleet (services, RBAC for the autoscaler).
func watched() map[client.Object]cache.ByObject {
	managed := labels.SelectorFromSet(labels.Set{labelManagedBy: managedByValue})
	byKubeRay, err := labels.Parse(kuberayCreatedBy + "=" + kuberayOperator + "," + kuberayCluster)
	if err != nil {
		panic(err) // a constant selector
	}
	return map[client.Object]cache.ByObject{
		&rayv1.RayCluster{}:           {Label: managed},
		&corev1.Pod{}:                 {Label: managed},
		&corev1.Secret{}:              {Label: managed},
		&networkingv1.NetworkPolicy{}: {Label: managed},
		&corev1.Namespace{}:           {Label: managed},
		&batchv1.Job{}:                {Label: managed},
		&corev1.Service{}:             {Label: byKubeRay},
		&corev1.ServiceAccount{}:      {Label: byKubeRay},
		&rbacv1.Role{}:                {Label: byKubeRay},
		&rbacv1.RoleBinding{}:         {Label: byKubeRay},
	}
}

// clusterIndex names the index of the cluster an object of obj's kind
// belongs to, and the label it is read from.
func clusterIndex(obj client.Object) (field, label string, ok bool) {
	switch obj.(type) {
	case *corev1.Pod, *batchv1.Job, *corev1.Secret, *networkingv1.NetworkPolicy:
		return indexCluster, labelCluster, true
	case *corev1.Service, *corev1.ServiceAccount, *rbacv1.Role, *rbacv1.RoleBinding:
		return indexKubeRayCluster, kuberayCluster, true
	}
	return "", "", false
}

func newScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, batchv1.AddToScheme, rbacv1.AddToScheme, networkingv1.AddToScheme, rayv1.AddToScheme,
	} {
		if err := add(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

var setLoggerOnce sync.Once

// New connects to the API server, starts the informers and waits until
// they have synced (ctx bounds that wait; the informers run until Close).
// It fails early and clearly when the RayCluster CRD is not installed.
func New(ctx context.Context, cfg Config) (*Runtime, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	peers, err := cfg.Peers.selectors()
	if err != nil {
		return nil, fmt.Errorf("kuberay: %w", err)
	}
	// controller-runtime logs through a global logger and complains on
	// stderr when none was ever set.
	setLoggerOnce.Do(func() { ctrllog.SetLogger(logr.FromSlogHandler(cfg.Logger.Handler())) })

	rc := rest.CopyConfig(cfg.RestConfig)
	// client-go's defaults (5 qps, burst 10) would throttle a reconciler
	// driving many clusters at once.
	if rc.QPS == 0 {
		rc.QPS = 50
	}
	if rc.Burst == 0 {
		rc.Burst = 100
	}
	scheme, err := newScheme()
	if err != nil {
		return nil, fmt.Errorf("kuberay: %w", err)
	}
	cl, err := client.New(rc, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("kuberay: connect to %s: %w", rc.Host, err)
	}
	gvk := rayv1.GroupVersion.WithKind("RayCluster")
	if _, err := cl.RESTMapper().RESTMapping(schema.GroupKind{Group: gvk.Group, Kind: gvk.Kind}, gvk.Version); err != nil {
		return nil, fmt.Errorf("kuberay: the API server at %s does not serve %s (is KubeRay installed?): %w", rc.Host, gvk, err)
	}
	logger := cfg.Logger
	ca, err := cache.New(rc, cache.Options{
		Scheme:   scheme,
		Mapper:   cl.RESTMapper(),
		ByObject: watched(),
		// Nothing here reads managed fields; they are most of an object.
		DefaultTransform:            cache.TransformStripManagedFields(),
		ReaderFailOnMissingInformer: true,
		DefaultWatchErrorHandler: func(ctx context.Context, r *toolscache.Reflector, err error) {
			if ctx.Err() == nil {
				logger.Warn("kuberay: watch failed; retrying", "err", err.Error())
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("kuberay: %w", err)
	}
	r := &Runtime{
		cfg: cfg, client: cl, cache: ca, peers: peers, done: make(chan struct{}),
		applied: map[string]appliedSpec{}, nudged: map[string]time.Time{}, stallAfter: defaultStallAfter,
	}

	for obj := range watched() {
		inf, err := ca.GetInformer(ctx, obj)
		if err != nil {
			return nil, fmt.Errorf("kuberay: watch %T: %w", obj, err)
		}
		if _, err := inf.AddEventHandler(r.handler(wakesOnChange(obj))); err != nil {
			return nil, fmt.Errorf("kuberay: watch %T: %w", obj, err)
		}
		if field, label, ok := clusterIndex(obj); ok {
			if err := ca.IndexField(ctx, obj, field, indexLabel(label)); err != nil {
				return nil, fmt.Errorf("kuberay: index %T: %w", obj, err)
			}
		}
	}

	if err := r.startCache(ctx, "informers", rc.Host); err != nil {
		return nil, err
	}
	return r, nil
}

// startCache starts r.cache, which lives until Close, not until ctx ends,
// and waits (for ctx, or syncTimeout when ctx has no deadline) until it has
// synced; what names the watches in messages.
func (r *Runtime) startCache(ctx context.Context, what, host string) error {
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	r.stop = stop
	go func() {
		defer close(r.done)
		if err := r.cache.Start(runCtx); err != nil {
			r.cfg.Logger.Error("kuberay: "+what+" stopped", "err", err.Error())
		}
	}()
	syncCtx := ctx
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		syncCtx, cancel = context.WithTimeout(ctx, syncTimeout)
		defer cancel()
	}
	if !r.cache.WaitForCacheSync(syncCtx) {
		stop()
		<-r.done
		return fmt.Errorf("kuberay: the %s on %s did not sync (missing list/watch permissions?): %w", what, host, context.Cause(syncCtx))
	}
	return nil
}

// Close stops the informers. It leaves every cluster as it is: clusters
// outlive rayfleet, and the next Runtime finds them by label.
func (r *Runtime) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	r.stop()
	<-r.done
	return nil
}

var errClosed = errors.New("kuberay runtime: closed")

func (r *Runtime) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// wakesOnChange reports whether an object of obj's kind wakes its
// cluster's reconciler when it is added or changed, not only when it is
// deleted. What KubeRay makes besides the pods (the head service, and the
// autoscaler's service account, role and role binding) counts only as
// something left of a deleted cluster: a pass then looks again every
// second until nothing is, and the deletes wake it. Waking on their adds
// and updates too made a pass per cluster that found nothing new.
func wakesOnChange(obj client.Object) bool {
	switch obj.(type) {
	case *corev1.Service, *corev1.ServiceAccount, *rbacv1.Role, *rbacv1.RoleBinding:
		return false
	}
	return true
}

// handler wakes the reconciler for the cluster of every object that is
// deleted, and, if onChange, added or changed.
func (r *Runtime) handler(onChange bool) toolscache.ResourceEventHandler {
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if onChange {
				r.wake(obj)
			}
		},
		UpdateFunc: func(_, obj any) {
			if onChange {
				r.wake(obj)
			}
		},
		DeleteFunc: func(obj any) {
			if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			r.wake(obj)
		},
	}
}

func (r *Runtime) wake(obj any) {
	if r.cfg.Waker == nil {
		return
	}
	o, ok := obj.(client.Object)
	if !ok {
		return
	}
	if ref, ok := refOf(o, r.namespaceLabels); ok {
		r.cfg.Waker.Wake(ref)
	}
}

// namespaceLabels returns the labels of a namespace rayfleet made, from the
// cache; nil for any other.
func (r *Runtime) namespaceLabels(name string) map[string]string {
	var ns corev1.Namespace
	if err := r.cache.Get(context.Background(), client.ObjectKey{Name: name}, &ns, client.UnsafeDisableDeepCopy); err != nil {
		return nil
	}
	return ns.Labels
}

// checkIDs refuses ids that cannot name Kubernetes objects: they come from
// rayfleet's own generators, so this is a bug guard, not validation.
func checkIDs(c *rayfleet.Cluster) error {
	if c.ID == "" || c.WorkspaceID == "" || c.AccountID == "" {
		return fmt.Errorf("kuberay runtime: cluster %q has no id, workspace or account", c.ID)
	}
	if len(c.ID) > maxClusterName || !dnsLabel(c.ID) || !dnsLabel(c.WorkspaceID) {
		return fmt.Errorf("kuberay runtime: cluster id %q or workspace id %q cannot name Kubernetes objects", c.ID, c.WorkspaceID)
	}
	if c.InstanceID != "" && !dnsLabel(tokenSecretName(c.InstanceID)) {
		return fmt.Errorf("kuberay runtime: instance id %q cannot name Kubernetes objects", c.InstanceID)
	}
	return nil
}

// maxClusterName is the longest RayCluster name KubeRay v1.5.0 takes
// (utils.MaxRayClusterNameLength).
const maxClusterName = 53

// dnsLabel reports whether s is lower-case letters, digits and '-',
// starting with a letter and not ending with '-' (RFC 1035).
func dnsLabel(s string) bool {
	if s == "" || len(s) > 63 || s[0] < 'a' || s[0] > 'z' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '-') {
			return false
		}
	}
	return true
}
