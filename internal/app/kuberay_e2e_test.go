package app

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	rayv1 "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kptr "k8s.io/utils/ptr"
	ctrlclient "sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/api"
	"github.com/rayfleet/rayfleet/internal/kubetest"
	"github.com/rayfleet/rayfleet/internal/poll"
)

// End-to-end tests of the kuberay runtime through the API: a real rayfleet
// server with --runtime kuberay on the test Kubernetes stack (a real
// kube-apiserver, scheduler, controller-manager, kwok nodes and the KubeRay
// operator; see internal/kubetest), driven by the official Go client and
// the repository's ctrlclient. A Kubernetes client looks at what rayfleet made
// and plays the other actors (someone deleting a pod). The tests skip,
// saying why, when the stack is not built (scripts/kube/build.sh).

// kubeEnv is one test's world: a server with the kuberay runtime and a
// client for the Kubernetes API.
type kubeEnv struct {
	t    *testing.T
	srv  *Server
	cred Credentials
	sdk  *sdk
	api  *api.Client
	kube ctrlclient.Client
}

// kubeWait bounds each wait for the stack: KubeRay and kwok react within a
// second or two, but the machine may be loaded. kubeEvery spaces the tries,
// each a few requests through a rate-limited Kubernetes client.
const kubeWait = 2 * time.Minute

var kubeEvery = poll.Every(100 * time.Millisecond)

func newKubeEnv(t *testing.T) *kubeEnv {
	t.Helper()
	stack := kubetest.Need(t)
	t.Parallel()
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.Runtime, cfg.Kubeconfig = "kuberay", stack.Kubeconfig
	env := map[string]string{"RAYFLEET_CONFIG": filepath.Join(dir, "cli", "config.json"), "HOME": dir}
	srv, err := Start(context.Background(), cfg, func(k string) string { return env[k] }, discard{}, discard{})
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	e := &kubeEnv{t: t, srv: srv, cred: readCredentials(t, cfg.DataDir), kube: kubeClient(t, stack)}
	e.sdk = newSDK(t, srv.Addr, e.cred.AccessKeyID, e.cred.AccessKeySecret, false)
	e.api = client(srv, e.cred)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		// Clusters outlive rayfleet by design: the namespace goes with
		// whatever the test left in it. Not waited for.
		_ = e.kube.Delete(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: e.ns(e.cred.WorkspaceID)}})
	})
	return e
}

func kubeClient(t *testing.T, stack *kubetest.Stack) ctrlclient.Client {
	t.Helper()
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, rbacv1.AddToScheme, networkingv1.AddToScheme, rayv1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	c, err := ctrlclient.New(stack.RestConfig(), ctrlclient.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// ns is the namespace of a workspace, with the default prefix.
func (e *kubeEnv) ns(ws string) string { return "rayfleet-" + ws }

// waitState polls GetRayCluster until done holds.
func waitState(t testing.TB, c *api.Client, ws, id, what string, done func(*api.Cluster) bool) *api.Cluster {
	t.Helper()
	var cl *api.Cluster
	poll.UntilSeen(t, kubeWait, "cluster "+id+" "+what, func() (bool, string) {
		got, err := c.GetCluster(context.Background(), ws, id)
		if err != nil {
			return false, err.Error()
		}
		cl = got
		return done(got), describeCluster(got)
	}, kubeEvery)
	return cl
}

func describeCluster(c *api.Cluster) string {
	var b strings.Builder
	fmt.Fprintf(&b, "state=%s message=%q instance=%s modified=%v instances:", c.State, c.Message, c.InstanceID, c.Modified)
	for _, in := range c.Instances {
		fmt.Fprintf(&b, " [%s %s %s %s %s]", in.Type, in.InstanceID, in.Phase, in.ContainerState, in.Reason)
	}
	return b.String()
}

// runningWith is a Running cluster whose instances[] shows exactly a head
// and workers worker nodes, all Running.
func runningWith(workers int) func(*api.Cluster) bool {
	return func(c *api.Cluster) bool {
		if c.State != "Running" || c.Message != "" || len(c.Instances) != 1+workers {
			return false
		}
		for i, in := range c.Instances {
			if in.Phase != "Running" || (i == 0) != (in.Type == "Head") {
				return false
			}
		}
		return true
	}
}

// pods lists the pods of a cluster the API server has now.
func (e *kubeEnv) pods(ws, id string) []corev1.Pod {
	e.t.Helper()
	var l corev1.PodList
	if err := e.kube.List(context.Background(), &l, ctrlclient.InNamespace(e.ns(ws)), ctrlclient.MatchingLabels{"rayfleet.io/cluster": id}); err != nil {
		e.t.Fatal(err)
	}
	return l.Items
}

func (e *kubeEnv) rayCluster(ws, id string) *rayv1.RayCluster {
	e.t.Helper()
	var rc rayv1.RayCluster
	if err := e.kube.Get(context.Background(), ctrlclient.ObjectKey{Namespace: e.ns(ws), Name: id}, &rc); err != nil {
		e.t.Fatalf("RayCluster %s: %v", id, err)
	}
	return &rc
}

// leftovers lists what the API server still has of a cluster: its
// RayCluster, and every pod, service, service account, role, role binding,
// secret and NetworkPolicy that carries its rayfleet or KubeRay cluster
// label.
func leftovers(t testing.TB, kube ctrlclient.Client, ns, id string) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	if err := kube.Get(ctx, ctrlclient.ObjectKey{Namespace: ns, Name: id}, &rayv1.RayCluster{}); err == nil {
		out = append(out, "RayCluster "+id)
	} else if !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	for _, sel := range []ctrlclient.MatchingLabels{{"rayfleet.io/cluster": id}, {"ray.io/cluster": id}} {
		for _, l := range []ctrlclient.ObjectList{&corev1.PodList{}, &corev1.ServiceList{}, &corev1.ServiceAccountList{},
			&rbacv1.RoleList{}, &rbacv1.RoleBindingList{}, &corev1.SecretList{}, &networkingv1.NetworkPolicyList{}} {
			if err := kube.List(ctx, l, ctrlclient.InNamespace(ns), sel); err != nil {
				t.Fatal(err)
			}
			items, err := meta.ExtractList(l)
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range items {
				kind := strings.TrimSuffix(strings.TrimPrefix(fmt.Sprintf("%T", l), "*v1."), "List")
				out = append(out, kind+" "+it.(ctrlclient.Object).GetName())
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// deleteUntilGone deletes a cluster through the API and waits until
// nothing of it is left on Kubernetes and its row is purged.
func (e *kubeEnv) deleteUntilGone(ws, id string) {
	e.t.Helper()
	if _, err := e.api.DeleteCluster(context.Background(), ws, id); err != nil {
		e.t.Fatal(err)
	}
	poll.UntilSeen(e.t, kubeWait, "nothing of the cluster left and its row purged", func() (bool, string) {
		left := leftovers(e.t, e.kube, e.ns(ws), id)
		return len(left) == 0 && e.purged(ws, id), fmt.Sprintf("left %v, purged %v", left, e.purged(ws, id))
	}, kubeEvery)
}

// purged reports whether the cluster's row is gone from the store (the
// reconciler purges it only once the runtime has nothing left of it).
func (e *kubeEnv) purged(ws, id string) bool {
	_, err := e.srv.Store.GetClusterAny(context.Background(), e.cred.UserID, ws, id)
	return rayfleet.IsNotFound(err)
}

func (e *kubeEnv) release() api.ReleaseVersion {
	e.t.Helper()
	rv, err := e.api.ListReleaseVersions(context.Background(), nil)
	if err != nil || len(rv.ReleaseVersions) == 0 {
		e.t.Fatalf("ListReleaseVersions: %v %+v", err, rv)
	}
	return rv.ReleaseVersions[0]
}

// TestKubeRayLifecycle drives one cluster through its whole life with the
// official client and checks, at each step, what the API says against what
// Kubernetes has.
func TestKubeRayLifecycle(t *testing.T) {
	e := newKubeEnv(t)
	ws := e.cred.WorkspaceID
	rel := e.release()
	worker := func(replica int) map[string]any {
		return map[string]any{
			"groupName": "g1", "replica": replica, "cpu": "500m", "memory": "512Mi",
			"env": "WORKER_VAR=w1", "rayStartParams": "--object-store-memory=100000000",
		}
	}
	body := map[string]any{
		"name": "lifecycle", "displayReleaseVersion": rel.DisplayReleaseVersion,
		"headSpec": map[string]any{
			"cpu": "750m", "memory": "1Gi", "env": "HEAD_VAR=h1\nSHARED=a=b",
			"rayStartParams": "--object-store-memory=200000000 --include-dashboard true",
		},
		"workerSpec": []any{worker(2)},
	}
	created := e.sdk.must("CreateRayCluster", "POST", wsPath(ws, "rayCluster"), nil, body)
	id := str(created, "clusterId")
	if id == "" {
		t.Fatalf("no clusterId in %v", created)
	}
	got := e.sdk.must("GetRayCluster", "GET", wsPath(ws, "rayCluster", id), nil, nil)
	inst := str(got, "instanceId")
	if str(got, "state") != "Starting" || inst == "" {
		t.Fatalf("after create: %v", got)
	}

	// The RayCluster, once the reconciler made it, carries the spec.
	poll.UntilSeen(t, kubeWait, "the RayCluster", func() (bool, string) {
		err := e.kube.Get(context.Background(), ctrlclient.ObjectKey{Namespace: e.ns(ws), Name: id}, &rayv1.RayCluster{})
		return err == nil, fmt.Sprint(err)
	}, kubeEvery)
	rc := e.rayCluster(ws, id)
	wantLabels := map[string]string{
		"app.kubernetes.io/managed-by": "rayfleet", "rayfleet.io/account": e.cred.UserID, "rayfleet.io/workspace": ws,
		"rayfleet.io/cluster": id, "rayfleet.io/instance": inst, "rayfleet.io/queue": "root_queue",
	}
	for k, v := range wantLabels {
		if rc.Labels[k] != v {
			t.Errorf("RayCluster label %s = %q, want %q", k, rc.Labels[k], v)
		}
	}
	if kptr.Deref(rc.Spec.Suspend, true) {
		t.Error("RayCluster is suspended")
	}
	head := rc.Spec.HeadGroupSpec
	checkContainer(t, "head", head.Template.Spec.Containers[0], rel.Image, "750m", "1Gi", map[string]string{"HEAD_VAR": "h1", "SHARED": "a=b"})
	if head.RayStartParams["object-store-memory"] != "200000000" || head.RayStartParams["include-dashboard"] != "true" {
		t.Errorf("head rayStartParams = %v", head.RayStartParams)
	}
	for k, v := range wantLabels {
		if k != "app.kubernetes.io/managed-by" && head.Template.Labels[k] != v {
			t.Errorf("head pod template label %s = %q, want %q", k, head.Template.Labels[k], v)
		}
	}
	if len(rc.Spec.WorkerGroupSpecs) != 1 {
		t.Fatalf("worker groups: %+v", rc.Spec.WorkerGroupSpecs)
	}
	g := rc.Spec.WorkerGroupSpecs[0]
	if g.GroupName != "g1" || kptr.Deref(g.Replicas, -1) != 2 {
		t.Errorf("worker group %s replicas %d", g.GroupName, kptr.Deref(g.Replicas, -1))
	}
	checkContainer(t, "worker", g.Template.Spec.Containers[0], rel.Image, "500m", "512Mi", map[string]string{"WORKER_VAR": "w1"})
	if g.RayStartParams["object-store-memory"] != "100000000" {
		t.Errorf("worker rayStartParams = %v", g.RayStartParams)
	}

	// Pods scheduled on the kwok node; Running with instances[] from them.
	cl := waitState(t, e.api, ws, id, "Running with 1+2 nodes", runningWith(2))
	pods := e.pods(ws, id)
	if len(pods) != 3 {
		t.Fatalf("%d pods, want 3", len(pods))
	}
	byName := map[string]corev1.Pod{}
	for _, p := range pods {
		if p.Spec.NodeName == "" || p.Labels["rayfleet.io/instance"] != inst {
			t.Errorf("pod %s: node %q instance label %q", p.Name, p.Spec.NodeName, p.Labels["rayfleet.io/instance"])
		}
		byName[p.Name] = p
	}
	for _, in := range cl.Instances {
		p, ok := byName[in.InstanceID]
		if !ok {
			t.Errorf("instance %s is no pod of the cluster", in.InstanceID)
			continue
		}
		wantType := "Worker"
		if p.Labels["ray.io/node-type"] == "head" {
			wantType = "Head"
		}
		if in.Type != wantType || in.ContainerState != "Running" || in.CreateTime != p.CreationTimestamp.UnixMilli() ||
			p.Status.StartTime == nil || in.StartTime != p.Status.StartTime.UnixMilli() {
			t.Errorf("instance %+v does not show pod %s (%s, created %v)", in, p.Name, wantType, p.CreationTimestamp)
		}
	}

	// Worker replicas change live: the pods follow, the instance stays.
	for _, n := range []int{4, 1} {
		e.sdk.must("UpdateRayCluster", "POST", wsPath(ws, "rayCluster", id), nil, map[string]any{"workerSpec": []any{worker(n)}})
		cl = waitState(t, e.api, ws, id, fmt.Sprintf("Running with 1+%d nodes", n), runningWith(n))
		if cl.InstanceID != inst || cl.Modified {
			t.Fatalf("a replica change restarted the cluster or marked it modified: %s", describeCluster(cl))
		}
		if got := kptr.Deref(e.rayCluster(ws, id).Spec.WorkerGroupSpecs[0].Replicas, -1); got != int32(n) {
			t.Fatalf("RayCluster replicas %d, want %d", got, n)
		}
		poll.UntilSeen(t, kubeWait, fmt.Sprintf("%d pods", 1+n), func() (bool, string) {
			p := e.pods(ws, id)
			return len(p) == 1+n, fmt.Sprintf("%d pods", len(p))
		}, kubeEvery)
	}

	// Stop: suspended, Stopped with no node and no pod.
	e.sdk.must("StopRayCluster", "POST", wsPath(ws, "rayCluster", id, "stop"), nil, map[string]any{"instanceId": inst})
	cl = waitState(t, e.api, ws, id, "Stopped", func(c *api.Cluster) bool { return c.State == "Stopped" })
	if len(cl.Instances) != 0 {
		t.Errorf("a stopped cluster shows nodes: %s", describeCluster(cl))
	}
	if p := e.pods(ws, id); len(p) != 0 {
		t.Errorf("Stopped with %d pods left", len(p))
	}
	if !kptr.Deref(e.rayCluster(ws, id).Spec.Suspend, false) {
		t.Error("the stopped cluster's RayCluster is not suspended")
	}

	// Start: a new instance, Running, its pods labelled with it.
	e.sdk.must("StartRayCluster", "POST", wsPath(ws, "rayCluster", id, "start"), nil, map[string]any{})
	cl = waitState(t, e.api, ws, id, "Running again", runningWith(1))
	if cl.InstanceID == inst || cl.InstanceID == "" {
		t.Fatalf("start kept instance %s", inst)
	}
	if l := e.rayCluster(ws, id).Labels["rayfleet.io/instance"]; l != cl.InstanceID {
		t.Errorf("RayCluster instance label %s, want %s", l, cl.InstanceID)
	}
	for _, p := range e.pods(ws, id) {
		if p.Labels["rayfleet.io/instance"] != cl.InstanceID {
			t.Errorf("pod %s of instance %s after the start of %s", p.Name, p.Labels["rayfleet.io/instance"], cl.InstanceID)
		}
	}

	// Delete: gone from the API at once; then nothing left, row purged.
	e.sdk.must("DeleteRayCluster", "DELETE", wsPath(ws, "rayCluster", id), nil, nil)
	_, err := e.sdk.call("GetRayCluster", "GET", wsPath(ws, "rayCluster", id), nil, nil)
	wantErr(t, err, "ResourceNotFound", 404, id)
	poll.UntilSeen(t, kubeWait, "nothing of the cluster left and its row purged", func() (bool, string) {
		left := leftovers(t, e.kube, e.ns(ws), id)
		return len(left) == 0 && e.purged(ws, id), fmt.Sprintf("left %v, purged %v", left, e.purged(ws, id))
	}, kubeEvery)
}

func checkContainer(t *testing.T, what string, c corev1.Container, image, cpu, memory string, env map[string]string) {
	t.Helper()
	if c.Image != image {
		t.Errorf("%s image %q, want %q", what, c.Image, image)
	}
	for name, l := range map[string]corev1.ResourceList{"requests": c.Resources.Requests, "limits": c.Resources.Limits} {
		if l.Cpu().String() != cpu || l.Memory().String() != memory {
			t.Errorf("%s %s cpu %s memory %s, want %s %s", what, name, l.Cpu(), l.Memory(), cpu, memory)
		}
	}
	got := map[string]string{}
	for _, v := range c.Env {
		got[v.Name] = v.Value
	}
	for k, v := range env {
		if got[k] != v {
			t.Errorf("%s env %s = %q, want %q (env %v)", what, k, got[k], v, c.Env)
		}
	}
}

// TestKubeRayAutoscalingLiveAndDelete: under autoscaling a raised
// minReplica applies live, and a delete removes what KubeRay made for the
// autoscaler too (service account, role, role binding) with the rest.
func TestKubeRayAutoscalingLiveAndDelete(t *testing.T) {
	e := newKubeEnv(t)
	ctx := context.Background()
	ws := e.cred.WorkspaceID
	group := func(lo, hi int32) *[]api.WorkerSpec {
		return &[]api.WorkerSpec{{GroupName: "g", Replica: lo, MinReplica: lo, MaxReplica: hi, CPU: "500m", Memory: "512Mi"}}
	}
	resp, err := e.api.CreateCluster(ctx, ws, &api.ClusterRequest{
		Name:       ptr("auto"),
		HeadSpec:   &api.HeadSpec{CPU: "500m", Memory: "1Gi", EnableAutoScaling: true, IdleTimeoutSeconds: 120},
		WorkerSpec: group(1, 3),
	})
	if err != nil {
		t.Fatal(err)
	}
	id := resp.ClusterID
	cl := waitState(t, e.api, ws, id, "Running with 1+1 nodes", runningWith(1))
	rc := e.rayCluster(ws, id)
	if !kptr.Deref(rc.Spec.EnableInTreeAutoscaling, false) || rc.Spec.AutoscalerOptions == nil ||
		kptr.Deref(rc.Spec.AutoscalerOptions.IdleTimeoutSeconds, 0) != 120 {
		t.Errorf("autoscaling not in the RayCluster: %v %+v", rc.Spec.EnableInTreeAutoscaling, rc.Spec.AutoscalerOptions)
	}
	poll.UntilSeen(t, kubeWait, "the autoscaler's service account, role and role binding", func() (bool, string) {
		left := strings.Join(leftovers(t, e.kube, e.ns(ws), id), ", ")
		return strings.Contains(left, "ServiceAccount ") && strings.Contains(left, "Role ") && strings.Contains(left, "RoleBinding "), left
	}, kubeEvery)

	head := api.HeadSpec(cl.HeadSpec)
	if _, err := e.api.UpdateCluster(ctx, ws, id, &api.ClusterRequest{HeadSpec: &head, WorkerSpec: group(2, 3)}); err != nil {
		t.Fatal(err)
	}
	cl = waitState(t, e.api, ws, id, "Running with 1+2 nodes", runningWith(2))
	if g := e.rayCluster(ws, id).Spec.WorkerGroupSpecs[0]; kptr.Deref(g.MinReplicas, -1) != 2 || kptr.Deref(g.MaxReplicas, -1) != 3 {
		t.Errorf("RayCluster min/max %d/%d, want 2/3", kptr.Deref(g.MinReplicas, -1), kptr.Deref(g.MaxReplicas, -1))
	}
	if cl.Modified {
		t.Error("a live change marked the cluster modified")
	}

	e.deleteUntilGone(ws, id)
}

// TestKubeRayPodDeletedRecovers: pods deleted under a running cluster are
// replaced by KubeRay and the cluster is Running again with the new pods.
func TestKubeRayPodDeletedRecovers(t *testing.T) {
	e := newKubeEnv(t)
	ctx := context.Background()
	ws := e.cred.WorkspaceID
	resp, err := e.api.CreateCluster(ctx, ws, &api.ClusterRequest{
		Name: ptr("victim"), HeadSpec: &api.HeadSpec{CPU: "500m", Memory: "1Gi"},
		WorkerSpec: &[]api.WorkerSpec{{GroupName: "g", Replica: 1, CPU: "500m", Memory: "512Mi"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	id := resp.ClusterID
	cl := waitState(t, e.api, ws, id, "Running", runningWith(1))
	inst := cl.InstanceID
	for _, which := range []int{1, 0} { // a worker, then the head
		gone := cl.Instances[which]
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns(ws), Name: gone.InstanceID}}
		if err := e.kube.Delete(ctx, pod, ctrlclient.GracePeriodSeconds(0)); err != nil {
			t.Fatal(err)
		}
		cl = waitState(t, e.api, ws, id, gone.Type+" pod "+gone.InstanceID+" replaced", func(c *api.Cluster) bool {
			return runningWith(1)(c) && !slices.ContainsFunc(c.Instances, func(in api.Instance) bool { return in.InstanceID == gone.InstanceID })
		})
		if cl.InstanceID != inst {
			t.Fatalf("a replaced pod changed the instance: %s → %s", inst, cl.InstanceID)
		}
		if p := e.pods(ws, id); len(p) != 2 {
			t.Fatalf("%d pods after the replacement, want 2", len(p))
		}
	}
}

// TestKubeRayUnschedulable: a head no node can hold leaves the cluster
// Starting with a message that says why; stopped and deleted, it leaves
// nothing behind.
func TestKubeRayUnschedulable(t *testing.T) {
	e := newKubeEnv(t)
	ctx := context.Background()
	ws := e.cred.WorkspaceID
	resp, err := e.api.CreateCluster(ctx, ws, &api.ClusterRequest{
		Name: ptr("too-big"), HeadSpec: &api.HeadSpec{CPU: "40", Memory: "8Gi"}, // the kwok node has 32 CPUs
	})
	if err != nil {
		t.Fatal(err)
	}
	id := resp.ClusterID
	cl := waitState(t, e.api, ws, id, "saying why it does not start", func(c *api.Cluster) bool {
		return strings.Contains(c.Message, "Insufficient cpu")
	})
	if cl.State != "Starting" || len(cl.Instances) != 1 || cl.Instances[0].Phase != "Pending" || cl.Instances[0].Reason != "Unschedulable" {
		t.Fatalf("unschedulable cluster: %s", describeCluster(cl))
	}
	// Stop ends the pending pod.
	if _, err := e.api.StopCluster(ctx, ws, id, &api.StopRequest{}); err != nil {
		t.Fatal(err)
	}
	waitState(t, e.api, ws, id, "Stopped", func(c *api.Cluster) bool { return c.State == "Stopped" && len(c.Instances) == 0 })
	if p := e.pods(ws, id); len(p) != 0 {
		t.Errorf("Stopped with %d pods", len(p))
	}
	// Deleting a stopped cluster removes its suspended RayCluster and head
	// service too.
	if left := leftovers(t, e.kube, e.ns(ws), id); !slices.Contains(left, "RayCluster "+id) {
		t.Fatalf("a stopped cluster keeps its RayCluster, yet: %v", left)
	}
	if _, err := e.api.DeleteCluster(ctx, ws, id); err != nil {
		t.Fatal(err)
	}
	poll.UntilSeen(t, kubeWait, "nothing of the stopped cluster left and its row purged", func() (bool, string) {
		left := leftovers(t, e.kube, e.ns(ws), id)
		return len(left) == 0 && e.purged(ws, id), fmt.Sprintf("left %v, purged %v", left, e.purged(ws, id))
	}, kubeEvery)
}

// TestKubeRayDeleteWorkspace: a workspace is deleted with its namespace,
// once its clusters are gone; before, the deletion is refused and the
// namespace kept.
func TestKubeRayDeleteWorkspace(t *testing.T) {
	e := newKubeEnv(t)
	ctx := context.Background()
	// A cluster in the server's first workspace, which must not notice.
	stays, err := e.api.CreateCluster(ctx, e.cred.WorkspaceID, &api.ClusterRequest{Name: ptr("stays"), HeadSpec: &api.HeadSpec{CPU: "500m", Memory: "1Gi"}})
	if err != nil {
		t.Fatal(err)
	}
	w, err := e.api.CreateWorkspace(ctx, &api.CreateWorkspaceRequest{WorkspaceName: "doomed"})
	if err != nil {
		t.Fatal(err)
	}
	ws := w.WorkspaceID
	t.Cleanup(func() {
		_ = e.kube.Delete(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: e.ns(ws)}})
	})
	resp, err := e.api.CreateCluster(ctx, ws, &api.ClusterRequest{Name: ptr("c"), HeadSpec: &api.HeadSpec{CPU: "500m", Memory: "1Gi"}})
	if err != nil {
		t.Fatal(err)
	}
	id := resp.ClusterID
	waitState(t, e.api, ws, id, "Running", runningWith(0))
	var ns corev1.Namespace
	if err := e.kube.Get(ctx, ctrlclient.ObjectKey{Name: e.ns(ws)}, &ns); err != nil {
		t.Fatal(err)
	}
	if ns.Labels["rayfleet.io/workspace"] != ws || ns.Labels["rayfleet.io/account"] != e.cred.UserID {
		t.Errorf("namespace labels %v", ns.Labels)
	}

	var apiErr *api.Error
	if _, err := e.api.DeleteWorkspace(ctx, ws); !errors.As(err, &apiErr) || apiErr.Code != "OperationDenied" {
		t.Fatalf("DeleteWorkspace holding a cluster: %v", err)
	}
	if _, err := e.api.DeleteCluster(ctx, ws, id); err != nil {
		t.Fatal(err)
	}
	// While the deleted cluster is torn down, the workspace is still refused
	// and its namespace untouched.
	if !e.purged(ws, id) {
		if _, err := e.api.DeleteWorkspace(ctx, ws); !errors.As(err, &apiErr) || apiErr.Code != "OperationDenied" {
			t.Fatalf("DeleteWorkspace holding a deleted cluster not yet purged: %v", err)
		}
	}
	poll.UntilSeen(t, kubeWait, "the cluster purged", func() (bool, string) { return e.purged(ws, id), "not purged" }, kubeEvery)
	if err := e.kube.Get(ctx, ctrlclient.ObjectKey{Name: e.ns(ws)}, &ns); err != nil || ns.DeletionTimestamp != nil {
		t.Fatalf("the namespace went with the cluster: %v %v", err, ns.DeletionTimestamp)
	}

	if _, err := e.api.DeleteWorkspace(ctx, ws); err != nil {
		t.Fatal(err)
	}
	poll.UntilSeen(t, kubeWait, "the namespace gone", func() (bool, string) {
		var ns corev1.Namespace
		err := e.kube.Get(ctx, ctrlclient.ObjectKey{Name: e.ns(ws)}, &ns)
		return apierrors.IsNotFound(err), fmt.Sprintf("%v %s", err, ns.Status.Phase)
	}, kubeEvery)
	if _, err := e.api.DeleteWorkspace(ctx, ws); !errors.As(err, &apiErr) || apiErr.Code != "ResourceNotFound" {
		t.Fatalf("DeleteWorkspace again: %v", err)
	}
	// The other workspace's namespace and cluster are untouched.
	if err := e.kube.Get(ctx, ctrlclient.ObjectKey{Name: e.ns(e.cred.WorkspaceID)}, &ns); err != nil || ns.DeletionTimestamp != nil {
		t.Fatalf("the other workspace's namespace: %v %v", err, ns.DeletionTimestamp)
	}
	cl := waitState(t, e.api, e.cred.WorkspaceID, stays.ClusterID, "Running", runningWith(0))
	if p := e.pods(e.cred.WorkspaceID, stays.ClusterID); len(p) != 1 || cl.Instances[0].InstanceID != p[0].Name {
		t.Fatalf("the other workspace's cluster: %s, %d pods", describeCluster(cl), len(p))
	}
}
