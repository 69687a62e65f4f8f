package kuberay

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	rayv1 "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/poll"
	"github.com/rayfleet/rayfleet/internal/reconcile"
)

// Integration tests: against the real stack (see main_test.go).

func TestApplyAndObserve(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.cluster(2)
	c.RunningSpec.Head.Env = "MY_VAR=1"
	e.apply(e.rt, c)

	var ns corev1.Namespace
	if err := e.api.Get(ctx, client.ObjectKey{Name: e.ns()}, &ns); err != nil {
		t.Fatalf("namespace: %v", err)
	}
	wantNS := map[string]string{labelManagedBy: managedByValue, labelAccount: c.AccountID, labelWorkspace: c.WorkspaceID}
	for k, v := range wantNS {
		if ns.Labels[k] != v {
			t.Errorf("namespace label %s = %q, want %q", k, ns.Labels[k], v)
		}
	}

	var rc rayv1.RayCluster
	if err := e.api.Get(ctx, client.ObjectKey{Namespace: e.ns(), Name: c.ID}, &rc); err != nil {
		t.Fatalf("RayCluster: %v", err)
	}
	if rc.Labels[labelInstance] != c.InstanceID || rc.Labels[labelManagedBy] != managedByValue || rc.Labels[labelQueue] != "root_queue" {
		t.Errorf("RayCluster labels = %v", rc.Labels)
	}
	if ptr.Deref(rc.Spec.Suspend, true) || len(rc.Spec.WorkerGroupSpecs) != 1 || ptr.Deref(rc.Spec.WorkerGroupSpecs[0].Replicas, 0) != 2 {
		t.Errorf("RayCluster spec = %+v", rc.Spec)
	}
	head := rc.Spec.HeadGroupSpec.Template.Spec.Containers[0]
	if head.Image != testImage || head.Resources.Limits.Cpu().String() != "250m" || head.Resources.Requests.Memory().String() != "512Mi" {
		t.Errorf("head container = %+v", head)
	}

	o := e.waitObs(e.rt, c, "the cluster ready", ready(c))
	if !o.Exists || o.DesiredWorkers != 2 || o.Progress != "" {
		t.Errorf("ready observation:\n%s", describe(o))
	}
	if o.Nodes[0].Type != "Head" || o.Nodes[1].Type != "Worker" || o.Nodes[1].Group != "group-a" {
		t.Errorf("nodes:\n%s", describe(o))
	}
	for _, n := range o.Nodes {
		if n.Phase != "Running" || n.ContainerState != "Running" || n.CreateTime.IsZero() || n.StartTime.IsZero() {
			t.Errorf("node %+v", n)
		}
	}

	// KubeRay copies the template's labels to the pods: that is how a
	// restarted rayfleet finds them.
	for _, p := range e.pods(c) {
		for k, v := range map[string]string{
			labelManagedBy: managedByValue, labelAccount: c.AccountID, labelWorkspace: c.WorkspaceID,
			labelCluster: c.ID, labelInstance: c.InstanceID, labelQueue: "root_queue", kuberayCluster: c.ID,
		} {
			if p.Labels[k] != v {
				t.Errorf("pod %s label %s = %q, want %q", p.Name, k, p.Labels[k], v)
			}
		}
		if isHead(&p) && !hasEnvVar(p.Spec.Containers[0].Env, "MY_VAR", "1") {
			t.Errorf("head pod env = %v", p.Spec.Containers[0].Env)
		}
	}

	dash, cl, ok := e.rt.HeadEndpoints(c)
	wantHost := c.ID + "-head-svc." + e.ns() + ".svc"
	if !ok || dash != wantHost+":8265" || cl != wantHost+":10001" {
		t.Errorf("HeadEndpoints = %q, %q, %v", dash, cl, ok)
	}
	if n := e.wakes.count(refOfCluster(c)); n == 0 {
		t.Error("the reconciler was never woken for the cluster")
	}

	// Applying the same spec again changes nothing.
	before := e.getRayCluster(c)
	e.apply(e.rt, c)
	if after := e.getRayCluster(c); after.Generation != before.Generation {
		t.Errorf("generation %d -> %d on an unchanged Apply", before.Generation, after.Generation)
	}
}

func TestScaleWorkers(t *testing.T) {
	e := newEnv(t)
	c := e.cluster(1)
	e.apply(e.rt, c)
	e.waitObs(e.rt, c, "1 worker ready", ready(c))

	c.RunningSpec.Workers[0].Replica = 3
	e.apply(e.rt, c)
	o := e.waitObs(e.rt, c, "3 workers ready", ready(c))
	if o.DesiredWorkers != 3 {
		t.Errorf("desired = %d", o.DesiredWorkers)
	}

	c.RunningSpec.Workers[0].Replica = 1
	e.apply(e.rt, c)
	e.waitObs(e.rt, c, "back to 1 worker", func(o reconcile.Observation) bool {
		return ready(c)(o) && o.DesiredWorkers == 1
	})
}

// TestAutoscalerKeepsItsReplicas: under autoscaling, the replicas the Ray
// autoscaler set survive rayfleet's next Apply; min and max still apply.
func TestAutoscalerKeepsItsReplicas(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.cluster(1)
	c.RunningSpec.Head.EnableAutoScaling, c.RunningSpec.Head.IdleTimeoutSeconds = true, 30
	c.RunningSpec.Workers[0].MinReplica, c.RunningSpec.Workers[0].MaxReplica = 1, 4
	e.apply(e.rt, c)
	e.waitObs(e.rt, c, "1 worker ready", ready(c))

	rc := e.getRayCluster(c)
	if !ptr.Deref(rc.Spec.EnableInTreeAutoscaling, false) || rc.Spec.AutoscalerOptions == nil ||
		ptr.Deref(rc.Spec.AutoscalerOptions.IdleTimeoutSeconds, 0) != 30 {
		t.Errorf("autoscaling spec = %v %+v", rc.Spec.EnableInTreeAutoscaling, rc.Spec.AutoscalerOptions)
	}

	// The autoscaler patches the replicas, as Ray's does.
	patch := client.RawPatch(types.JSONPatchType, []byte(`[{"op":"replace","path":"/spec/workerGroupSpecs/0/replicas","value":3}]`))
	if err := e.api.Patch(ctx, rc, patch, client.FieldOwner("autoscaler")); err != nil {
		t.Fatal(err)
	}
	o := e.waitObs(e.rt, c, "3 workers", func(o reconcile.Observation) bool { return ready(c)(o) && o.DesiredWorkers == 3 })
	if o.ReadyWorkers != 3 {
		t.Errorf("ready workers = %d", o.ReadyWorkers)
	}
	e.apply(e.rt, c) // the spec still says replica 1
	if got := ptr.Deref(e.getRayCluster(c).Spec.WorkerGroupSpecs[0].Replicas, 0); got != 3 {
		t.Errorf("replicas after Apply = %d, want the autoscaler's 3", got)
	}
	c.RunningSpec.Workers[0].MaxReplica = 2
	e.apply(e.rt, c)
	w := e.getRayCluster(c).Spec.WorkerGroupSpecs[0]
	if ptr.Deref(w.Replicas, 0) != 2 || ptr.Deref(w.MaxReplicas, 0) != 2 {
		t.Errorf("replicas/max after lowering max = %d/%d, want 2/2", ptr.Deref(w.Replicas, 0), ptr.Deref(w.MaxReplicas, 0))
	}
}

func TestSuspendThenNewInstance(t *testing.T) {
	e := newEnv(t)
	c := e.cluster(2)
	e.apply(e.rt, c)
	e.waitObs(e.rt, c, "ready", ready(c))

	if err := e.rt.Suspend(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	o := e.waitObs(e.rt, c, "no pods left", func(o reconcile.Observation) bool { return !o.Exists })
	if o.HeadReady || len(o.Nodes) != 0 || o.Progress != "the RayCluster is suspended" {
		t.Errorf("suspended observation:\n%s", describe(o))
	}
	rc := e.getRayCluster(c)
	if !ptr.Deref(rc.Spec.Suspend, false) {
		t.Error("RayCluster not suspended")
	}
	if _, _, ok := e.rt.HeadEndpoints(c); ok {
		t.Error("HeadEndpoints ok while suspended")
	}
	if err := e.rt.Suspend(context.Background(), c); err != nil {
		t.Fatalf("second Suspend: %v", err)
	}

	old := c.InstanceID
	c.InstanceID = c.ID + "-" + randHex(t, 4)
	e.applyUntil(e.rt, c, "the new instance ready", ready(c))
	for _, p := range e.pods(c) {
		if p.Labels[labelInstance] != c.InstanceID {
			t.Errorf("pod %s of instance %s, want %s (was %s)", p.Name, p.Labels[labelInstance], c.InstanceID, old)
		}
	}
	if rc := e.getRayCluster(c); rc.Labels[labelInstance] != c.InstanceID || ptr.Deref(rc.Spec.Suspend, true) {
		t.Errorf("RayCluster instance %s suspend %v", rc.Labels[labelInstance], rc.Spec.Suspend)
	}
}

// TestQuickStopAndRestart: a cluster stopped while KubeRay is still
// making its pods, and started again at once, comes up (KubeRay v1.5.0
// alone would wait on stale pod expectations for up to 5 minutes; the
// runtime nudges it, see nudgeIfStalled).
func TestQuickStopAndRestart(t *testing.T) {
	e := newEnv(t)
	e.rt.stallAfter = 2 * time.Second
	c := e.cluster(2)
	e.apply(e.rt, c)
	e.waitObs(e.rt, c, "the first pod", func(o reconcile.Observation) bool { return o.Exists })
	if err := e.rt.Suspend(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	e.waitObs(e.rt, c, "suspended", func(o reconcile.Observation) bool { return !o.Exists })
	c.InstanceID = c.ID + "-" + randHex(t, 4)
	started := time.Now()
	e.applyUntil(e.rt, c, "the new instance ready", ready(c))
	t.Logf("ready %s after the restart", time.Since(started).Round(100*time.Millisecond))
}

func TestHeadPodDeletedIsRecreated(t *testing.T) {
	e := newEnv(t)
	c := e.cluster(1)
	e.apply(e.rt, c)
	o := e.waitObs(e.rt, c, "ready", ready(c))
	headName := o.Nodes[0].InstanceID

	var head corev1.Pod
	if err := e.api.Get(context.Background(), client.ObjectKey{Namespace: e.ns(), Name: headName}, &head); err != nil {
		t.Fatal(err)
	}
	if err := e.api.Delete(context.Background(), &head); err != nil {
		t.Fatal(err)
	}
	o = e.waitObs(e.rt, c, "a new head ready", func(o reconcile.Observation) bool {
		return ready(c)(o) && o.Nodes[0].InstanceID != headName
	})
	if o.Nodes[0].Type != "Head" {
		t.Errorf("nodes:\n%s", describe(o))
	}
}

func TestUnschedulableIsProgress(t *testing.T) {
	e := newEnv(t)
	c := e.cluster(1)
	c.RunningSpec.Head.CPU = "64" // the kwok node has 32
	e.apply(e.rt, c)
	o := e.waitObs(e.rt, c, "the scheduler's word", func(o reconcile.Observation) bool {
		return strings.Contains(o.Progress, "Insufficient cpu")
	})
	if !o.Exists || o.HeadReady || o.Failure != "" || !strings.HasPrefix(o.Progress, "head pod ") {
		t.Errorf("observation:\n%s", describe(o))
	}
	if o.Nodes[0].Phase != "Pending" || o.Nodes[0].Reason != "Unschedulable" {
		t.Errorf("head node %+v", o.Nodes[0])
	}
}

func TestUnknownGPUTypeIsFailure(t *testing.T) {
	e := newEnv(t)
	c := e.cluster(1)
	c.RunningSpec.Workers[0].GPUSpec = "ecs.no-such-gpu"
	if err := e.rt.Apply(context.Background(), c); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	o, err := e.rt.Observe(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(o.Failure, `gpuSpec "ecs.no-such-gpu"`) || o.Exists {
		t.Errorf("observation:\n%s", describe(o))
	}
	if err := e.api.Get(context.Background(), client.ObjectKey{Namespace: e.ns(), Name: c.ID}, &rayv1.RayCluster{}); !apierrors.IsNotFound(err) {
		t.Errorf("a RayCluster was made for a spec that cannot run: %v", err)
	}
}

// TestDelete: Exists stays true until nothing of the cluster is left.
func TestDelete(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.cluster(1)
	c.RunningSpec.Head.EnableAutoScaling = true // KubeRay adds a service account, role and role binding
	c.RunningSpec.Workers[0].MinReplica, c.RunningSpec.Workers[0].MaxReplica = 1, 2
	e.apply(e.rt, c)
	e.waitObs(e.rt, c, "ready", ready(c))
	poll.UntilSeen(e.t, time.Minute, "KubeRay's service and RBAC", func() (bool, string) {
		left := e.leftovers(c)
		return madeByKubeRay(left), strings.Join(left, ", ")
	})
	// The runtime's informers see what KubeRay made, not only what
	// rayfleet labelled.
	poll.UntilSeen(e.t, time.Minute, "the informers to see KubeRay's objects", func() (bool, string) {
		var seen []string
		for _, l := range []client.ObjectList{&corev1.ServiceList{}, &corev1.ServiceAccountList{}, &rbacv1.RoleList{}, &rbacv1.RoleBindingList{}} {
			err := e.rt.cache.List(ctx, l, client.InNamespace(e.ns()), client.MatchingLabels{kuberayCluster: c.ID})
			if err != nil {
				t.Fatal(err)
			}
			if meta.LenList(l) == 1 {
				seen = append(seen, fmt.Sprintf("%T", l))
			}
		}
		return len(seen) == 4, fmt.Sprintf("seen %v", seen)
	})

	c.Deleted = true
	sawExists := false
	e.waitObs(e.rt, c, "nothing left", func(o reconcile.Observation) bool {
		if err := e.rt.Delete(ctx, c); err != nil {
			t.Logf("Delete: %v", err)
			return false
		}
		if o.Exists {
			sawExists = true
		}
		return !o.Exists
	})
	if !sawExists {
		t.Error("Observe never reported Exists after the delete began")
	}
	if left := e.leftovers(c); len(left) > 0 {
		t.Errorf("Exists=false with %s left", strings.Join(left, ", "))
	}
	if err := e.rt.Delete(ctx, c); err != nil {
		t.Errorf("Delete once gone: %v", err)
	}
}

// TestDeleteOrphans: what outlived its RayCluster (deleted by hand with
// orphan propagation, so the garbage collector leaves the pods, service and
// RBAC alone) keeps Exists true, and Delete removes it.
func TestDeleteOrphans(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.cluster(1)
	c.RunningSpec.Head.EnableAutoScaling = true
	c.RunningSpec.Workers[0].MinReplica, c.RunningSpec.Workers[0].MaxReplica = 1, 2
	e.apply(e.rt, c)
	e.waitObs(e.rt, c, "ready", ready(c))
	poll.UntilSeen(e.t, time.Minute, "KubeRay's service and RBAC", func() (bool, string) {
		left := e.leftovers(c)
		return madeByKubeRay(left), strings.Join(left, ", ")
	})
	if err := e.api.Delete(ctx, e.getRayCluster(c), client.PropagationPolicy("Orphan")); err != nil {
		t.Fatal(err)
	}
	poll.UntilSeen(e.t, time.Minute, "the RayCluster gone, its dependents orphaned", func() (bool, string) {
		left := e.leftovers(c)
		return madeByKubeRay(left) && left[0] != "RayCluster", strings.Join(left, ", ")
	})

	c.Deleted = true
	o, err := e.rt.Observe(ctx, c)
	if err != nil || !o.Exists {
		t.Fatalf("orphans left, yet Exists=%v (%v)", o.Exists, err)
	}
	e.waitObs(e.rt, c, "nothing left", func(o reconcile.Observation) bool {
		if err := e.rt.Delete(ctx, c); err != nil {
			t.Logf("Delete: %v", err)
			return false
		}
		return !o.Exists
	})
	if left := e.leftovers(c); len(left) > 0 {
		t.Errorf("Exists=false with %s left", strings.Join(left, ", "))
	}
}

// TestGCSFaultTolerance: the secret, the RayCluster's reference to it, and
// a delete that waits for KubeRay's Redis cleanup job.
func TestGCSFaultTolerance(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.cluster(1)
	c.RunningSpec.Head.GFTEnabled = ptr.To(true)
	c.RunningSpec.Head.GFTConfig = &rayfleet.GFTConfig{RedisURL: "redis://redis.invalid:6379", RedisPassword: "s3cret"}
	e.apply(e.rt, c)
	e.waitObs(e.rt, c, "ready", ready(c))

	rc := e.getRayCluster(c)
	g := rc.Spec.GcsFaultToleranceOptions
	if g == nil || g.RedisAddress != "redis://redis.invalid:6379" || g.ExternalStorageNamespace != c.InstanceID || g.RedisPassword == nil {
		t.Fatalf("gcsFaultToleranceOptions = %+v", g)
	}
	var secret corev1.Secret
	if err := e.api.Get(ctx, client.ObjectKey{Namespace: e.ns(), Name: c.ID + "-redis"}, &secret); err != nil {
		t.Fatal(err)
	}
	if string(secret.Data["password"]) != "s3cret" || !hasOwner(&secret, rc.UID) {
		t.Errorf("secret data %v owners %+v", secret.Data, secret.OwnerReferences)
	}
	var headEnv []corev1.EnvVar
	for _, p := range e.pods(c) {
		if isHead(&p) {
			headEnv = p.Spec.Containers[0].Env
		}
	}
	found := false
	for _, v := range headEnv {
		if v.Name == "REDIS_PASSWORD" && v.ValueFrom != nil && v.ValueFrom.SecretKeyRef != nil && v.ValueFrom.SecretKeyRef.Name == c.ID+"-redis" {
			found = true
		}
	}
	if !found {
		t.Errorf("the head pod does not read REDIS_PASSWORD from the secret: %+v", headEnv)
	}

	c.Deleted = true
	e.waitObs(e.rt, c, "nothing left", func(o reconcile.Observation) bool {
		if err := e.rt.Delete(ctx, c); err != nil {
			t.Logf("Delete: %v", err)
			return false
		}
		return !o.Exists
	})
	if left := e.leftovers(c); len(left) > 0 {
		t.Errorf("Exists=false with %s left", strings.Join(left, ", "))
	}
}

func TestDeleteWorkspace(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.cluster(1)
	e.apply(e.rt, c)
	e.waitObs(e.rt, c, "ready", ready(c))

	if err := e.rt.DeleteWorkspace(ctx, "9999999999999999", e.ws); err == nil {
		t.Error("another account's DeleteWorkspace deleted the namespace")
	}
	if err := e.rt.DeleteWorkspace(ctx, e.account, e.ws); err != nil {
		t.Fatal(err)
	}
	if err := e.rt.DeleteWorkspace(ctx, e.account, e.ws); err != nil {
		t.Errorf("second DeleteWorkspace: %v", err)
	}
	if err := e.rt.DeleteWorkspace(ctx, e.account, "w-"+randHex(t, 8)); err != nil {
		t.Errorf("DeleteWorkspace of a workspace with no namespace: %v", err)
	}
	poll.UntilSeen(e.t, time.Minute, "the namespace gone", func() (bool, string) {
		var ns corev1.Namespace
		err := e.api.Get(ctx, client.ObjectKey{Name: e.ns()}, &ns)
		return apierrors.IsNotFound(err), string(ns.Status.Phase)
	})
	c.Deleted = true
	if o, err := e.rt.Observe(ctx, c); err != nil || o.Exists {
		t.Errorf("after the namespace went: %v\n%s", err, describe(o))
	}
}

// TestRestart: a second Runtime (a restarted rayfleet) sees the same
// cluster and drives it.
func TestRestart(t *testing.T) {
	e := newEnv(t)
	c := e.cluster(2)
	e.apply(e.rt, c)
	first := e.waitObs(e.rt, c, "ready", ready(c))
	e.rt.Close()
	if _, err := e.rt.Observe(context.Background(), c); err == nil {
		t.Error("Observe after Close did not fail")
	}

	rt2 := e.newRuntime(&wakeLog{})
	second, err := rt2.Observe(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if second.Exists != first.Exists || second.InstanceID != first.InstanceID || second.HeadReady != first.HeadReady ||
		second.ReadyWorkers != first.ReadyWorkers || second.DesiredWorkers != first.DesiredWorkers || len(second.Nodes) != len(first.Nodes) {
		t.Errorf("after restart:\n%s\nbefore:\n%s", describe(second), describe(first))
	}
	for i := range first.Nodes {
		if first.Nodes[i].InstanceID != second.Nodes[i].InstanceID {
			t.Errorf("node %d: %s, was %s", i, second.Nodes[i].InstanceID, first.Nodes[i].InstanceID)
		}
	}
	e.apply(rt2, c)
	if err := rt2.Suspend(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	e.waitObs(rt2, c, "suspended by the new runtime", func(o reconcile.Observation) bool { return !o.Exists })
}

func (e *env) getRayCluster(c *rayfleet.Cluster) *rayv1.RayCluster {
	e.t.Helper()
	var rc rayv1.RayCluster
	if err := e.api.Get(context.Background(), client.ObjectKey{Namespace: e.ns(), Name: c.ID}, &rc); err != nil {
		e.t.Fatalf("get RayCluster: %v", err)
	}
	return &rc
}

// leftovers lists, from the API server, everything of c that exists:
// the RayCluster, the Redis secret, and whatever carries c's labels or
// KubeRay's ray.io/cluster label (the token secrets and the NetworkPolicy
// among them).
func (e *env) leftovers(c *rayfleet.Cluster) []string {
	e.t.Helper()
	ctx := context.Background()
	var out []string
	if err := e.api.Get(ctx, client.ObjectKey{Namespace: e.ns(), Name: c.ID}, &rayv1.RayCluster{}); err == nil {
		out = append(out, "RayCluster")
	}
	if err := e.api.Get(ctx, client.ObjectKey{Namespace: e.ns(), Name: c.ID + "-redis"}, &corev1.Secret{}); err == nil {
		out = append(out, "Secret")
	}
	for _, sel := range []client.MatchingLabels{{labelCluster: c.ID}, {kuberayCluster: c.ID}} {
		for _, l := range []client.ObjectList{&corev1.PodList{}, &corev1.ServiceList{}, &corev1.ServiceAccountList{},
			&rbacv1.RoleList{}, &rbacv1.RoleBindingList{}, &batchv1.JobList{}, &corev1.SecretList{}, &networkingv1.NetworkPolicyList{}} {
			if err := e.api.List(ctx, l, client.InNamespace(e.ns()), sel); err != nil {
				e.t.Fatal(err)
			}
			items, _ := meta.ExtractList(l)
			for _, it := range items {
				o := it.(client.Object)
				kind := strings.TrimSuffix(strings.TrimPrefix(fmt.Sprintf("%T", l), "*v1."), "List")
				out = append(out, kind+" "+o.GetName())
			}
		}
	}
	seen := map[string]bool{}
	var uniq []string
	for _, s := range out {
		if !seen[s] {
			seen[s] = true
			uniq = append(uniq, s)
		}
	}
	return uniq
}

// madeByKubeRay reports whether leftovers (e.leftovers) show the head
// service and the autoscaler's service account, role and role binding.
func madeByKubeRay(left []string) bool {
	for _, kind := range []string{"Service ", "ServiceAccount ", "Role ", "RoleBinding "} {
		if !slices.ContainsFunc(left, func(s string) bool { return strings.HasPrefix(s, kind) }) {
			return false
		}
	}
	return true
}

func hasEnvVar(env []corev1.EnvVar, name, value string) bool {
	for _, v := range env {
		if v.Name == name && v.Value == value {
			return true
		}
	}
	return false
}

// TestApplyRendersOnlyWhatChanged: an Apply or Observe with nothing new
// renders nothing (the image lookup counts the renders); a new spec, an
// edit by someone else, and a vanished RayCluster are each rendered and
// applied again.
func TestApplyRendersOnlyWhatChanged(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var renders atomic.Int64
	rt := e.newRuntimeWith(nil, func(cfg *Config) {
		cfg.Image = func(release string) (string, bool) {
			renders.Add(1)
			return testImages(release)
		}
	})
	c := e.cluster(1)
	// cached waits until rt's cache shows the RayCluster the API server has.
	cached := func() {
		t.Helper()
		want := e.getRayCluster(c)
		poll.UntilSeen(e.t, time.Minute, "the cache to catch up", func() (bool, string) {
			have, err := rt.cachedRayCluster(ctx, e.ns(), c.ID)
			if err != nil || have == nil {
				return false, fmt.Sprintf("cached: %v %v", have, err)
			}
			return have.UID == want.UID && have.Generation == want.Generation,
				fmt.Sprintf("cached %s gen %d, API server %s gen %d", have.UID, have.Generation, want.UID, want.Generation)
		})
	}
	replicas := func() int32 {
		return ptr.Deref(e.getRayCluster(c).Spec.WorkerGroupSpecs[0].Replicas, -1)
	}
	unchanged := func(what string) {
		t.Helper()
		n := renders.Load()
		e.apply(rt, c)
		if _, err := rt.Observe(ctx, c); err != nil {
			t.Fatalf("Observe: %v", err)
		}
		if got := renders.Load(); got != n {
			t.Errorf("%s: Apply and Observe rendered the RayCluster again (%d renders)", what, got-n)
		}
	}
	rendered := func(what string) {
		t.Helper()
		n := renders.Load()
		e.apply(rt, c)
		if renders.Load() == n {
			t.Errorf("%s: Apply did not render the RayCluster", what)
		}
	}

	rendered("first Apply")
	cached()
	unchanged("nothing changed")

	// A write of the row that changes nothing the RayCluster is made of.
	c.Version++
	c.State, c.Message = rayfleet.StateRunning, "running"
	unchanged("status written")

	c.RunningSpec.Workers[0].Replica = 2
	c.Version++
	rendered("new replica")
	if got := replicas(); got != 2 {
		t.Errorf("replicas after the new spec = %d, want 2", got)
	}
	cached()
	unchanged("nothing changed since the new spec")

	// Someone else changes the spec: the next Apply puts it back.
	rc := e.getRayCluster(c)
	patch := client.RawPatch(types.JSONPatchType, []byte(`[{"op":"replace","path":"/spec/workerGroupSpecs/0/replicas","value":4}]`))
	if err := e.api.Patch(ctx, rc, patch, client.FieldOwner("someone")); err != nil {
		t.Fatal(err)
	}
	cached()
	rendered("edited by someone else")
	if got := replicas(); got != 2 {
		t.Errorf("replicas after someone set 4 and Apply = %d, want 2", got)
	}
	cached()

	// The RayCluster vanishes: the next Apply makes it again.
	oldUID := e.getRayCluster(c).UID
	if err := e.api.Delete(ctx, e.getRayCluster(c)); err != nil {
		t.Fatal(err)
	}
	poll.UntilSeen(e.t, time.Minute, "the RayCluster to go", func() (bool, string) {
		have, err := rt.cachedRayCluster(ctx, e.ns(), c.ID)
		return err == nil && have == nil, fmt.Sprintf("cached: %v", err)
	})
	rendered("vanished")
	if got := e.getRayCluster(c); got.UID == oldUID || ptr.Deref(got.Spec.WorkerGroupSpecs[0].Replicas, -1) != 2 {
		t.Errorf("after Apply: uid %s (old %s), replicas %v", got.UID, oldUID, got.Spec.WorkerGroupSpecs[0].Replicas)
	}
	cached()
	unchanged("nothing changed since it was made again")

	// A new instance is a new RayCluster spec.
	c.InstanceID = c.ID + "-" + randHex(t, 4)
	rendered("new instance")
	if got := e.getRayCluster(c).Labels[labelInstance]; got != c.InstanceID {
		t.Errorf("instance label = %q, want %q", got, c.InstanceID)
	}
}
