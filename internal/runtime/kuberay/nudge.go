package kuberay

import (
	"context"
	"fmt"
	"time"

	rayv1 "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// defaultStallAfter is how long a RayCluster may lack pods it asks for,
// with KubeRay writing nothing new in its status, before the runtime nudges
// KubeRay. KubeRay forgets a pod it created and never saw after 30 s.
const defaultStallAfter = 30 * time.Second

// annotationNudged is the annotation whose change makes KubeRay reconcile.
const annotationNudged = "rayfleet.io/nudged-at"

// nudgeIfStalled makes KubeRay look at rc again when rc is running, asks
// for pods that do not exist, and KubeRay has written nothing in its status
// for stallAfter.
//
// KubeRay v1.5.0 records an expectation for each pod it creates and makes
// no new pod for the group until the expectation is met: the pod seen in
// its cache, or 30 s gone by. A RayCluster suspended right after KubeRay
// made its pods (a start followed at once by a stop or a restart) loses
// those pods before KubeRay's next look; on resume KubeRay waits on the
// stale expectations and, after the 30 s, on nothing but its unconditional
// requeue, 5 minutes later. KubeRay reconciles on any annotation change,
// so changing one, at most once per stallAfter, brings the wait down to
// about 30 s.
func (r *Runtime) nudgeIfStalled(ctx context.Context, rc *rayv1.RayCluster) error {
	if ptr.Deref(rc.Spec.Suspend, false) || rc.DeletionTimestamp != nil {
		return nil
	}
	conds := rc.Status.Conditions
	if meta.IsStatusConditionTrue(conds, string(rayv1.RayClusterSuspending)) ||
		meta.IsStatusConditionTrue(conds, string(rayv1.RayClusterSuspended)) {
		return nil // KubeRay has not taken the resume in yet
	}
	now := r.cfg.Now()
	last := rc.Status.LastUpdateTime
	if last == nil || now.Sub(last.Time) < r.stallAfter {
		return nil
	}
	var pods corev1.PodList
	if err := r.cache.List(ctx, &pods, client.InNamespace(rc.Namespace), ofCluster(rc.Name),
		client.UnsafeDisableDeepCopy); err != nil {
		return fmt.Errorf("list pods of %s/%s: %w", rc.Namespace, rc.Name, err)
	}
	heads, workers := 0, 0
	for i := range pods.Items {
		p := &pods.Items[i]
		switch {
		case p.DeletionTimestamp != nil:
		case isHead(p):
			heads++
		case p.Labels[kuberayNodeType] == nodeTypeWorker:
			workers++
		}
	}
	if heads > 0 && workers >= wantedWorkers(rc) {
		return nil
	}

	key := rc.Namespace + "/" + rc.Name
	r.mu.Lock()
	if t, ok := r.nudged[key]; ok && now.Sub(t) < r.stallAfter {
		r.mu.Unlock()
		return nil
	}
	r.nudged[key] = now
	r.mu.Unlock()

	patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%q}}}`, annotationNudged, now.UTC().Format(time.RFC3339Nano))
	target := &rayv1.RayCluster{}
	target.Namespace, target.Name = rc.Namespace, rc.Name
	if err := r.client.Patch(ctx, target, client.RawPatch(types.MergePatchType, patch), client.FieldOwner(r.cfg.FieldManager)); err != nil {
		return fmt.Errorf("nudge KubeRay on %s: %w", key, err)
	}
	r.cfg.Logger.Warn("kuberay: KubeRay has made no pods for a while; nudged it to look again",
		"rayCluster", key, "headPods", heads, "workerPods", workers, "statusUnchangedFor", now.Sub(last.Time).Round(time.Second).String())
	return nil
}

// wantedWorkers is how many worker pods KubeRay means to run for rc
// (utils.GetWorkerGroupDesiredReplicas, summed).
func wantedWorkers(rc *rayv1.RayCluster) int {
	n := 0
	for _, w := range rc.Spec.WorkerGroupSpecs {
		if ptr.Deref(w.Suspend, false) {
			continue
		}
		lo, hi := ptr.Deref(w.MinReplicas, 0), ptr.Deref(w.MaxReplicas, 1<<31-1)
		want := ptr.Deref(w.Replicas, lo)
		switch {
		case lo > hi:
			want = hi
		case want < lo:
			want = lo
		case want > hi:
			want = hi
		}
		n += int(want) * int(max(w.NumOfHosts, 1))
	}
	return n
}
