package kuberay

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"

	rayv1 "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/reconcile"
)

// Ports of the head service KubeRay makes (its defaults).
const (
	dashboardPort = "8265"
	clientPort    = "10001"
)

// Observe reports what the caches show of c: its pods (of any instance,
// the current one first, head first) and, for a deleted cluster, anything
// else of it that is left. It never calls the API server.
func (r *Runtime) Observe(ctx context.Context, c *rayfleet.Cluster) (reconcile.Observation, error) {
	if r.isClosed() {
		return reconcile.Observation{}, errClosed
	}
	if err := checkIDs(c); err != nil {
		return reconcile.Observation{}, err
	}
	ns := r.namespaceName(c.WorkspaceID)
	rc, err := r.cachedRayCluster(ctx, ns, c.ID)
	if err != nil {
		return reconcile.Observation{}, err
	}
	var pods corev1.PodList
	if err := r.cache.List(ctx, &pods, client.InNamespace(ns), ofCluster(c.ID),
		client.UnsafeDisableDeepCopy); err != nil {
		return reconcile.Observation{}, fmt.Errorf("list pods of %s/%s: %w", ns, c.ID, err)
	}
	obs := observePods(c, rc, pods.Items)
	if c.Deleted && !obs.Exists {
		obs.Exists, err = r.anythingLeft(ctx, ns, c.ID, rc)
		if err != nil {
			return reconcile.Observation{}, err
		}
	}
	if c.Deleted || c.InstanceID == "" {
		return obs, nil
	}
	// A spec that cannot run is the failure, whatever the pods say: it is
	// what the owner has to change. Inputs this runtime built and applied
	// before are known to run.
	in, err := r.inputsOf(c)
	if err != nil {
		return reconcile.Observation{}, err
	}
	if r.builtBefore(ns+"/"+c.ID, in) {
		return obs, nil
	}
	if _, err := r.build(c, nil, in.network); err != nil {
		if se, ok := errors.AsType[*specError](err); ok {
			obs.Failure, obs.Progress = se.msg, ""
			obs.HeadReady = false
		}
	}
	return obs, nil
}

// observePods is the pure part of Observe: what c's RayCluster (nil if
// none) and pods say.
func observePods(c *rayfleet.Cluster, rc *rayv1.RayCluster, pods []corev1.Pod) reconcile.Observation {
	var obs reconcile.Observation
	sortPods(pods, c.InstanceID)

	var head *corev1.Pod
	var notReady []*corev1.Pod // workers of the current instance
	others := 0                // pods of other instances
	otherInstance := ""
	for i := range pods {
		p := &pods[i]
		obs.Exists = true // any pod, any phase, holds something to end
		if !isRayNode(p) {
			continue
		}
		obs.Nodes = append(obs.Nodes, instanceOf(p))
		inst := p.Labels[labelInstance]
		if inst != c.InstanceID {
			others++
			if otherInstance == "" {
				otherInstance = inst
			}
			continue
		}
		if isHead(p) {
			if head == nil || head.DeletionTimestamp != nil {
				head = p
			}
			continue
		}
		if podReady(p) {
			obs.ReadyWorkers++
		} else {
			notReady = append(notReady, p)
		}
		if f := podFailure(p); f != "" && obs.Failure == "" {
			obs.Failure = f
		}
	}
	if head != nil {
		if f := podFailure(head); f != "" {
			obs.Failure = f // the head's failure says most
		}
	}

	// Pods of another instance come first: the reconciler ends them before
	// the current instance may start.
	switch {
	case otherInstance != "":
		obs.InstanceID = otherInstance
	case len(pods) > 0:
		obs.InstanceID = c.InstanceID
	case rc != nil:
		obs.InstanceID = rc.Labels[labelInstance]
	}
	obs.DesiredWorkers = desiredWorkers(c, rc)

	suspended := rc != nil && ptr.Deref(rc.Spec.Suspend, false)
	obs.HeadReady = head != nil && podReady(head) && rc != nil && !suspended && rc.DeletionTimestamp == nil
	if suspended && !suspendSettled(rc) {
		// KubeRay is still suspending: its pods may be gone from the cache
		// before it says it is done, and a RayCluster resumed in between
		// can be left without pods for minutes (see nudgeIfStalled).
		obs.Exists = true
	}

	switch {
	case obs.Failure != "":
	case rc != nil && rc.DeletionTimestamp != nil:
		obs.Progress = fmt.Sprintf("the RayCluster is being deleted; %d pod(s) left", len(pods))
	case others > 0:
		obs.Progress = fmt.Sprintf("ending %d pod(s) of the previous instance %s", others, otherInstance)
	case rc == nil:
		obs.Progress = "creating the RayCluster"
	case suspended && len(pods) > 0:
		obs.Progress = fmt.Sprintf("suspending: %d pod(s) left", len(pods))
	case suspended && obs.Exists:
		obs.Progress = "suspending: waiting for KubeRay to finish"
	case suspended:
		obs.Progress = "the RayCluster is suspended"
	case head == nil:
		obs.Progress = "waiting for KubeRay to create the head pod"
		if c := meta.FindStatusCondition(rc.Status.Conditions, string(rayv1.RayClusterReplicaFailure)); c != nil && c.Status == "True" {
			obs.Progress += ": " + c.Message
		}
	case !obs.HeadReady:
		obs.Progress = podProgress(head)
	case obs.ReadyWorkers < obs.DesiredWorkers:
		obs.Progress = fmt.Sprintf("%d/%d workers ready", obs.ReadyWorkers, obs.DesiredWorkers)
		if len(notReady) > 0 {
			obs.Progress += "; " + podProgress(notReady[0])
		}
	}
	return obs
}

// suspendSettled reports whether KubeRay has finished suspending rc: the
// RayClusterSuspended condition, or, where KubeRay runs without status
// conditions, the "suspended" state.
func suspendSettled(rc *rayv1.RayCluster) bool {
	conds := rc.Status.Conditions
	if meta.IsStatusConditionTrue(conds, string(rayv1.RayClusterSuspended)) {
		return true
	}
	noConditions := meta.FindStatusCondition(conds, string(rayv1.RayClusterSuspended)) == nil &&
		meta.FindStatusCondition(conds, string(rayv1.RayClusterSuspending)) == nil
	// State is deprecated in favour of the conditions, and the only word
	// an operator running without them gives.
	return noConditions && rc.Status.State == rayv1.Suspended //nolint:staticcheck // see above
}

// desiredWorkers is how many workers c's current instance should have: the
// spec's replicas, or, under autoscaling, what the RayCluster asks for now
// (the autoscaler's choice, within min and max).
func desiredWorkers(c *rayfleet.Cluster, rc *rayv1.RayCluster) int {
	live := map[string]int32{}
	if rc != nil && c.RunningSpec.Head.EnableAutoScaling && rc.Labels[labelInstance] == c.InstanceID {
		live = replicasOf(rc)
	}
	n := 0
	for _, w := range c.RunningSpec.Workers {
		if v, ok := live[w.GroupName]; ok {
			n += int(min(max(v, w.MinReplica), w.MaxReplica))
		} else {
			n += int(w.Replica)
		}
	}
	return n
}

// sortPods orders pods as instances[] shows them: the current instance
// first, then head first, then by group and name.
func sortPods(pods []corev1.Pod, current string) {
	sort.SliceStable(pods, func(i, j int) bool {
		a, b := &pods[i], &pods[j]
		ac, bc := a.Labels[labelInstance] == current, b.Labels[labelInstance] == current
		if ac != bc {
			return ac
		}
		if ah, bh := isHead(a), isHead(b); ah != bh {
			return ah
		}
		if ga, gb := a.Labels[kuberayGroup], b.Labels[kuberayGroup]; ga != gb {
			return ga < gb
		}
		return a.Name < b.Name
	})
}

// anythingLeft reports whether anything of a deleted cluster is left
// besides its pods: the RayCluster, the secret, KubeRay's Redis cleanup
// job, or the service, service account, role and role binding KubeRay made.
func (r *Runtime) anythingLeft(ctx context.Context, ns, id string, rc *rayv1.RayCluster) (bool, error) {
	if rc != nil {
		return true, nil
	}
	var secret corev1.Secret
	switch err := r.cache.Get(ctx, client.ObjectKey{Namespace: ns, Name: secretName(id)}, &secret, client.UnsafeDisableDeepCopy); {
	case err == nil:
		return true, nil
	case !apierrors.IsNotFound(err):
		return false, fmt.Errorf("read secret %s/%s: %w", ns, secretName(id), err)
	}
	for _, k := range leftoverKinds(id, false) {
		opts := append([]client.ListOption{client.InNamespace(ns), client.UnsafeDisableDeepCopy}, k.sel...)
		if err := r.cache.List(ctx, k.list, opts...); err != nil {
			return false, fmt.Errorf("list what is left of %s/%s: %w", ns, id, err)
		}
		if meta.LenList(k.list) > 0 {
			return true, nil
		}
	}
	return false, nil
}

// HeadToken returns Ray's token of c's head: none yet, the clusters on
// Kubernetes run without Ray's token authentication (their heads are
// reached inside the Kubernetes cluster only).
func (r *Runtime) HeadToken(*rayfleet.Cluster) string { return "" }

// JobAPI returns the base URL of the job API of c's current head, for the
// control plane: the dashboard port of the head service, by its cluster
// DNS name, so it is reached from inside the Kubernetes cluster only; no
// Ray token (see HeadToken). ok is false while the head is not ready.
func (r *Runtime) JobAPI(c *rayfleet.Cluster) (baseURL, token string, ok bool) {
	dashboard, _, ok := r.HeadEndpoints(c)
	if !ok {
		return "", "", false
	}
	return "http://" + dashboard, r.HeadToken(c), true
}

// HeadEndpoints returns host:port of the dashboard and of the Ray client
// server of c's current head, through the head service KubeRay made, for
// the gateway; ok is false while the current instance's head is not
// ready. The addresses resolve inside the Kubernetes cluster only.
func (r *Runtime) HeadEndpoints(c *rayfleet.Cluster) (dashboard, clientAddr string, ok bool) {
	if r.isClosed() || checkIDs(c) != nil {
		return "", "", false
	}
	ctx := context.Background()
	ns := r.namespaceName(c.WorkspaceID)
	rc, err := r.cachedRayCluster(ctx, ns, c.ID)
	if err != nil || rc == nil || ptr.Deref(rc.Spec.Suspend, false) || rc.DeletionTimestamp != nil {
		return "", "", false
	}
	var pods corev1.PodList
	if err := r.cache.List(ctx, &pods, client.InNamespace(ns), client.UnsafeDisableDeepCopy,
		ofCluster(c.ID), client.MatchingLabels{labelInstance: c.InstanceID, kuberayNodeType: nodeTypeHead}); err != nil {
		return "", "", false
	}
	ready := false
	for i := range pods.Items {
		ready = ready || podReady(&pods.Items[i])
	}
	if !ready {
		return "", "", false
	}
	svc := rc.Status.Head.ServiceName
	if svc == "" {
		svc = headServiceName(c.ID)
	}
	host := svc + "." + ns + ".svc"
	return net.JoinHostPort(host, dashboardPort), net.JoinHostPort(host, clientPort), true
}
