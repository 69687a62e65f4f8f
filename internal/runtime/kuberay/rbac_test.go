package kuberay

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/kubetest"
	"github.com/rayfleet/rayfleet/internal/poll"
	"github.com/rayfleet/rayfleet/internal/reconcile"
)

// The deployment manifests' names (deploy/).
const (
	deployNamespace = "rayfleet"
	deployAccount   = "rayfleet" // ServiceAccount, ClusterRole, ClusterRoleBinding, Deployment
	deployPVC       = "rayfleet-data"
)

// TestDeployedRBAC applies deploy/ to the test stack as `kubectl apply -k`
// would, checks that the Deployment is accepted and comes up (on a kwok
// node: the pod is Running and Ready, but no container runs there, so the
// server in it does not), and then runs the runtime under a token of the
// rayfleet ServiceAccount, with nothing but the ClusterRole's rules,
// through a whole cluster lifecycle: create (with its NetworkPolicy and
// Ray token secret), Running, the token read back by the runtime and by a
// gateway's watches, scale, suspend, resume (a new token; the old one
// deleted), delete, a delete of what outlived its RayCluster, and the
// workspace's namespace delete. A rule missing from the ClusterRole makes
// New, Apply, Suspend, Delete or DeleteWorkspace fail with Forbidden.
func TestDeployedRBAC(t *testing.T) {
	adminCfg := needKube(t)
	t.Parallel()
	ctx := context.Background()
	admin := adminClient(t, adminCfg)

	objs := deployObjects(t)
	// On a stack kept between runs, the last run's namespace may still be
	// going away.
	poll.UntilSeen(t, 90*time.Second, "namespace "+deployNamespace+" from an earlier run gone", func() (bool, string) {
		var ns corev1.Namespace
		err := admin.Get(ctx, client.ObjectKey{Name: deployNamespace}, &ns)
		return apierrors.IsNotFound(err) || (err == nil && ns.DeletionTimestamp == nil), "terminating"
	}, poll.Every(100*time.Millisecond))
	t.Cleanup(func() {
		if t.Failed() && os.Getenv("RAYFLEET_TEST_KEEP_FAILED") != "" {
			return
		}
		for i := len(objs) - 1; i >= 0; i-- {
			if objs[i].GetNamespace() == "" { // the namespace takes the rest with it
				_ = admin.Delete(context.Background(), objs[i])
			}
		}
	})
	for _, u := range objs {
		if err := admin.Apply(ctx, client.ApplyConfigurationFromUnstructured(u.DeepCopy()),
			client.FieldOwner("rayfleet-test"), client.ForceOwnership); err != nil {
			t.Fatalf("apply %s %s/%s: %v", u.GetKind(), u.GetNamespace(), u.GetName(), err)
		}
	}

	// The stack has no storage provisioner: a volume bound to the claim by
	// hand lets the pod be scheduled.
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "rayfleet-test-" + randHex(t, 4)},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("5Gi")},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: t.TempDir()}},
			ClaimRef:                      &corev1.ObjectReference{Namespace: deployNamespace, Name: deployPVC},
		},
	}
	if err := admin.Create(ctx, pv); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Delete(context.Background(), pv) })

	poll.UntilSeen(t, 90*time.Second, "the rayfleet Deployment available", func() (bool, string) {
		var d appsv1.Deployment
		if err := admin.Get(ctx, client.ObjectKey{Namespace: deployNamespace, Name: deployAccount}, &d); err != nil {
			return false, err.Error()
		}
		var pods corev1.PodList
		if err := admin.List(ctx, &pods, client.InNamespace(deployNamespace), client.MatchingLabels{"app.kubernetes.io/name": "rayfleet"}); err != nil {
			return false, err.Error()
		}
		var why []string
		for _, p := range pods.Items {
			why = append(why, p.Name+" "+string(p.Status.Phase))
			for _, c := range p.Status.Conditions {
				if c.Status != corev1.ConditionTrue && c.Message != "" {
					why = append(why, c.Message)
				}
			}
		}
		return d.Status.AvailableReplicas == 1 && len(pods.Items) == 1 && pods.Items[0].Spec.ServiceAccountName == deployAccount,
			strings.Join(why, "; ")
	}, poll.Every(100*time.Millisecond))

	// The runtime under the ServiceAccount's own token: no admin left.
	saCfg := serviceAccountConfig(t, adminCfg, admin)
	sa := adminClient(t, saCfg)
	if err := sa.List(ctx, &corev1.NodeList{}); !apierrors.IsForbidden(err) {
		t.Fatalf("the ServiceAccount may list nodes (%v): the token is not the ServiceAccount's, or the role grants too much", err)
	}
	if err := sa.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "x-" + randHex(t, 4)}}); !apierrors.IsForbidden(err) {
		t.Fatalf("the ServiceAccount may create config maps (%v)", err)
	}

	e := &env{t: t, cfg: saCfg, api: admin, wakes: &wakeLog{}, account: "1234567890123456", ws: "w-" + randHex(t, 8)}
	t.Cleanup(func() {
		_ = admin.Delete(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: e.ns()}})
	})
	e.rt = e.newRuntime(e.wakes)

	// GCS fault tolerance makes a secret; autoscaling makes KubeRay add a
	// service account, role and role binding the runtime must watch.
	a := e.cluster(1)
	a.RunningSpec.Head.EnableAutoScaling = true
	a.RunningSpec.Workers[0].MinReplica, a.RunningSpec.Workers[0].MaxReplica = 1, 3
	a.RunningSpec.Head.GFTEnabled = ptr.To(true)
	a.RunningSpec.Head.GFTConfig = &rayfleet.GFTConfig{RedisURL: "redis://redis.invalid:6379", RedisPassword: "s3cret"}
	e.applyUntil(e.rt, a, "created and running", ready(a))
	if e.wakes.count(refOfCluster(a)) == 0 {
		t.Error("the runtime's informers woke nobody for the cluster")
	}
	// The isolation objects, made under the ServiceAccount too, and the
	// token read back from the cache for the gateway, by the runtime and by
	// the watches a gateway of its own runs (list and watch on RayClusters,
	// pods and secrets, which the ClusterRole grants).
	poll.UntilSeen(e.t, time.Minute, "the NetworkPolicy and the token secret owned by the RayCluster", func() (bool, string) {
		rc := e.getRayCluster(a)
		return ownedBy(e.networkPolicy(a), rc) && ownedBy(e.tokenSecret(a), rc), "not yet"
	})
	tok := string(e.tokenSecret(a).Data[tokenKey])
	if got := e.rt.HeadToken(a); got != tok || tok == "" {
		t.Errorf("HeadToken under the ServiceAccount = %q, want the secret's %q", got, tok)
	}
	heads, err := NewHeads(ctx, Config{RestConfig: saCfg})
	if err != nil {
		t.Fatalf("NewHeads under the ServiceAccount: %v", err)
	}
	t.Cleanup(func() { heads.Close() })
	poll.UntilSeen(e.t, time.Minute, "Heads under the ServiceAccount to know the token", func() (bool, string) {
		return heads.HeadToken(a) == tok, "not yet"
	})

	a.RunningSpec.Workers[0].MinReplica = 2 // the live replicas follow min
	e.applyUntil(e.rt, a, "scaled to 2 workers", func(o reconcile.Observation) bool { return ready(a)(o) && o.DesiredWorkers == 2 })

	if err := e.rt.Suspend(ctx, a); err != nil {
		t.Fatalf("Suspend: %v", err)
	}
	e.waitObs(e.rt, a, "suspended, no pods left", func(o reconcile.Observation) bool { return !o.Exists })

	a.InstanceID = a.ID + "-" + randHex(t, 4)
	e.applyUntil(e.rt, a, "resumed as a new instance", ready(a))

	a.Deleted = true
	e.waitObs(e.rt, a, "deleted, nothing left", func(o reconcile.Observation) bool {
		if err := e.rt.Delete(ctx, a); err != nil {
			if apierrors.IsForbidden(err) {
				t.Fatalf("Delete: %v", err)
			}
			t.Logf("Delete: %v", err)
			return false
		}
		return !o.Exists
	})
	if left := e.leftovers(a); len(left) > 0 {
		t.Errorf("after the delete: %s left", strings.Join(left, ", "))
	}

	// What outlives its RayCluster (deleted by hand, its dependents
	// orphaned), plus a Redis cleanup job left behind, is deleted by the
	// runtime itself: pods, services, service accounts, roles, role
	// bindings and jobs.
	b := e.cluster(1)
	b.RunningSpec.Head.EnableAutoScaling = true
	b.RunningSpec.Workers[0].MinReplica, b.RunningSpec.Workers[0].MaxReplica = 1, 2
	e.applyUntil(e.rt, b, "the second cluster running", ready(b))
	poll.UntilSeen(e.t, time.Minute, "KubeRay's service and RBAC", func() (bool, string) {
		left := e.leftovers(b)
		return madeByKubeRay(left), strings.Join(left, ", ")
	})
	if err := admin.Delete(ctx, e.getRayCluster(b), client.PropagationPolicy(metav1.DeletePropagationOrphan)); err != nil {
		t.Fatal(err)
	}
	job := leftoverJob(e, b.ID)
	if err := admin.Create(ctx, job); err != nil {
		t.Fatal(err)
	}
	poll.UntilSeen(e.t, time.Minute, "the RayCluster gone, its dependents orphaned", func() (bool, string) {
		left := e.leftovers(b)
		return madeByKubeRay(left) && left[0] != "RayCluster", strings.Join(left, ", ")
	})
	b.Deleted = true
	e.waitObs(e.rt, b, "the orphans deleted", func(o reconcile.Observation) bool {
		if err := e.rt.Delete(ctx, b); err != nil {
			if apierrors.IsForbidden(err) {
				t.Fatalf("Delete: %v", err)
			}
			t.Logf("Delete: %v", err)
			return false
		}
		return !o.Exists
	})
	poll.UntilSeen(e.t, time.Minute, "nothing of the second cluster left", func() (bool, string) {
		left := e.leftovers(b)
		return len(left) == 0, strings.Join(left, ", ")
	})

	if err := e.rt.DeleteWorkspace(ctx, e.account, e.ws); err != nil {
		t.Fatalf("DeleteWorkspace: %v", err)
	}
	poll.UntilSeen(e.t, time.Minute, "the workspace's namespace gone", func() (bool, string) {
		var ns corev1.Namespace
		err := admin.Get(ctx, client.ObjectKey{Name: e.ns()}, &ns)
		return apierrors.IsNotFound(err), string(ns.Status.Phase)
	})
}

// leftoverJob is a job labelled as the runtime labels what it makes for
// cluster id, as KubeRay's Redis cleanup job would be left behind.
func leftoverJob(e *env, id string) *batchv1.Job {
	l := map[string]string{labelManagedBy: managedByValue, labelAccount: e.account, labelWorkspace: e.ws, labelCluster: id}
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Namespace: e.ns(), Name: id + "-cleanup", Labels: l},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{
			Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers:    []corev1.Container{{Name: "cleanup", Image: testImage}},
			},
		}},
	}
}

// adminClient is a client for cfg that knows the kinds this test reads.
func adminClient(t *testing.T, cfg *rest.Config) client.Client {
	t.Helper()
	scheme, err := newScheme()
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(appsv1.AddToScheme(scheme), authenticationv1.AddToScheme(scheme)); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// serviceAccountConfig mints a token for the deployed ServiceAccount
// (TokenRequest) and returns a config that authenticates with it alone.
func serviceAccountConfig(t *testing.T, adminCfg *rest.Config, admin client.Client) *rest.Config {
	t.Helper()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: deployNamespace, Name: deployAccount}}
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}
	if err := admin.SubResource("token").Create(context.Background(), sa, tr); err != nil {
		t.Fatalf("TokenRequest for %s/%s: %v", deployNamespace, deployAccount, err)
	}
	if tr.Status.Token == "" {
		t.Fatal("TokenRequest returned no token")
	}
	cfg := rest.AnonymousClientConfig(adminCfg)
	cfg.BearerToken = tr.Status.Token
	return cfg
}

// kustomization is what deploy/kustomization.yaml may hold: this test
// applies the resources as listed, so any transformation kustomize would
// make (patches, a namespace override...) must be taught to it first, and
// unknown fields fail the test.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Resources  []string `json:"resources"`
	Images     []struct {
		Name    string `json:"name"`
		NewName string `json:"newName"`
		NewTag  string `json:"newTag"`
	} `json:"images"`
}

// deployObjects reads the objects of deploy/kustomization.yaml, in order,
// with the image set as the kustomization sets it.
func deployObjects(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	root, err := kubetest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "deploy")
	b, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k kustomization
	if err := yaml.UnmarshalStrict(b, &k); err != nil {
		t.Fatalf("deploy/kustomization.yaml: %v", err)
	}
	images := map[string]string{}
	for _, im := range k.Images {
		images[im.Name] = im.NewName + ":" + im.NewTag
	}
	var objs []*unstructured.Unstructured
	kinds := map[string]int{}
	for _, res := range k.Resources {
		f, err := os.ReadFile(filepath.Join(dir, res))
		if err != nil {
			t.Fatal(err)
		}
		r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(f)))
		for {
			doc, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", res, err)
			}
			var m map[string]any
			if err := yaml.Unmarshal(doc, &m); err != nil {
				t.Fatalf("%s: %v", res, err)
			}
			if len(m) == 0 {
				continue
			}
			u := &unstructured.Unstructured{Object: m}
			if u.GetKind() == "Deployment" {
				setImages(t, u, images)
			}
			kinds[u.GetKind()]++
			objs = append(objs, u)
		}
	}
	for _, want := range []string{"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "PersistentVolumeClaim", "Deployment", "Service"} {
		if kinds[want] == 0 {
			t.Fatalf("deploy/ has no %s (kinds: %v)", want, kinds)
		}
	}
	return objs
}

func setImages(t *testing.T, u *unstructured.Unstructured, images map[string]string) {
	t.Helper()
	containers, _, err := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range containers {
		m := c.(map[string]any)
		if im, ok := images[m["image"].(string)]; ok {
			m["image"] = im
		}
	}
	if err := unstructured.SetNestedSlice(u.Object, containers, "spec", "template", "spec", "containers"); err != nil {
		t.Fatal(err)
	}
}
