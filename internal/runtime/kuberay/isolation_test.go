package kuberay

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/poll"
	"github.com/rayfleet/rayfleet/internal/reconcile"
)

// Integration tests of a cluster's isolation on the real stack: its
// NetworkPolicy and its Ray token. The stack has no network plugin and kwok
// runs no container, so nothing here shows the policy enforced or a Ray
// head refusing a request without the token: they show the objects, their
// selectors, what the pods KubeRay made read, and that all of it goes with
// the cluster.

// TestIsolationObjects: the NetworkPolicy and the token secret exist before
// the pods, exactly as designed, owned by the RayCluster; every Ray
// container and KubeRay's init container read the token from the secret;
// HeadToken (and a separate gateway's Heads) return it; a new instance gets
// a new token and the old one goes.
func TestIsolationObjects(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.cluster(1)
	// Autoscaling adds KubeRay's autoscaler sidecar, which needs the token too.
	c.RunningSpec.Head.EnableAutoScaling = true
	c.RunningSpec.Workers[0].MinReplica, c.RunningSpec.Workers[0].MaxReplica = 1, 2
	// A spec cannot switch Ray's authentication off.
	c.RunningSpec.Head.Env = "RAY_AUTH_MODE=disabled\nRAY_AUTH_TOKEN=guessable"
	// A runtime whose writes are counted.
	var writes atomic.Int64
	rt := e.newRuntimeWith(nil, func(cfg *Config) {
		cfg.RestConfig = rest.CopyConfig(cfg.RestConfig)
		cfg.RestConfig.WrapTransport = func(next http.RoundTripper) http.RoundTripper {
			return roundTripFunc(func(r *http.Request) (*http.Response, error) {
				if r.Method != http.MethodGet {
					writes.Add(1)
				}
				return next.RoundTrip(r)
			})
		}
	})
	e.applyUntil(rt, c, "ready", ready(c))
	rc := e.getRayCluster(c)
	// Once the cache has seen all of it, an Apply writes nothing: the
	// NetworkPolicy and the token secret are compared, not sent again.
	poll.UntilSeen(e.t, time.Minute, "an Apply that writes nothing", func() (bool, string) {
		n := writes.Load()
		e.apply(rt, c)
		return writes.Load() == n, "it wrote"
	})
	n := writes.Load()
	for range 3 {
		e.apply(rt, c)
	}
	if got := writes.Load() - n; got != 0 {
		t.Errorf("3 Applies of an unchanged cluster wrote %d times", got)
	}

	np := e.networkPolicy(c)
	if np == nil {
		t.Fatal("no NetworkPolicy")
	}
	if want := wantNetworkPolicySpec(c.ID, nil); !reflect.DeepEqual(np.Spec, want) {
		t.Errorf("NetworkPolicy spec =\n%s\nwant\n%s", mustJSON(t, np.Spec), mustJSON(t, want))
	}
	if !ownedBy(np, rc) || np.Labels[labelCluster] != c.ID || np.Labels[labelManagedBy] != managedByValue {
		t.Errorf("NetworkPolicy owners %+v labels %v", np.OwnerReferences, np.Labels)
	}
	// It selects exactly the cluster's pods, head and worker.
	sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	if err != nil {
		t.Fatal(err)
	}
	var selected corev1.PodList
	if err := e.api.List(ctx, &selected, client.InNamespace(e.ns()), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		t.Fatal(err)
	}
	if got, want := podNames(selected.Items), podNames(e.pods(c)); !slices.Equal(got, want) || len(got) != 2 {
		t.Errorf("the policy selects %v, the cluster's pods are %v", got, want)
	}

	token := e.tokenSecret(c)
	if token == nil {
		t.Fatal("no token secret")
	}
	tok := string(token.Data["auth_token"])
	if len(tok) != 64 || !ptr.Deref(token.Immutable, false) || !ownedBy(token, rc) || !isTokenOf(token, c) {
		t.Errorf("token secret: %d bytes, immutable %v, owners %+v, labels %v", len(tok), token.Immutable, token.OwnerReferences, token.Labels)
	}
	if strings.Contains(mustJSON(t, rc), tok) {
		t.Error("the token is in the RayCluster")
	}
	e.checkPodsReadToken(c, tok)

	if got := rt.HeadToken(c); got != tok {
		t.Errorf("HeadToken = %q, want the secret's", got)
	}
	heads, err := NewHeads(ctx, Config{RestConfig: e.cfg, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { heads.Close() })
	poll.UntilSeen(e.t, time.Minute, "a separate gateway's Heads to know the token", func() (bool, string) {
		got := heads.HeadToken(c)
		return got == tok, "got " + got
	})
	other := *c
	other.InstanceID = c.ID + "-" + randHex(t, 4)
	if got := rt.HeadToken(&other); got != "" {
		t.Errorf("HeadToken of an instance that never ran = %q", got)
	}

	// A new instance: a new token in a new secret, the old one deleted;
	// the NetworkPolicy stays the same object.
	if err := rt.Suspend(ctx, c); err != nil {
		t.Fatal(err)
	}
	e.waitObs(rt, c, "suspended", func(o reconcile.Observation) bool { return !o.Exists })
	old := *c
	c.InstanceID = c.ID + "-" + randHex(t, 4)
	e.applyUntil(rt, c, "the new instance ready", ready(c))
	next := e.tokenSecret(c)
	if next == nil || string(next.Data["auth_token"]) == tok || len(next.Data["auth_token"]) != 64 {
		t.Fatalf("the new instance's token secret: %+v", next)
	}
	e.checkPodsReadToken(c, string(next.Data["auth_token"]))
	if got := rt.HeadToken(c); got != string(next.Data["auth_token"]) {
		t.Errorf("HeadToken of the new instance = %q", got)
	}
	poll.UntilSeen(e.t, time.Minute, "the old instance's token secret gone", func() (bool, string) {
		e.apply(rt, c)
		s := e.tokenSecret(&old)
		return s == nil, "still there"
	})
	if got := rt.HeadToken(&old); got != "" {
		t.Errorf("HeadToken of the old instance = %q", got)
	}
	if np2 := e.networkPolicy(c); np2 == nil || np2.UID != np.UID {
		t.Errorf("the NetworkPolicy changed with the instance: %v", np2)
	}
}

// TestIsolationGoesWithTheRayCluster: the NetworkPolicy and the token secret
// are deleted by the garbage collector (the stack's
// kube-controller-manager) when their RayCluster is, with no help from the
// runtime.
func TestIsolationGoesWithTheRayCluster(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.cluster(0)
	e.applyUntil(e.rt, c, "ready", ready(c))
	if e.networkPolicy(c) == nil || e.tokenSecret(c) == nil {
		t.Fatal("no NetworkPolicy or token secret")
	}
	poll.UntilSeen(e.t, time.Minute, "both owned by the RayCluster", func() (bool, string) {
		rc := e.getRayCluster(c)
		np, s := e.networkPolicy(c), e.tokenSecret(c)
		return ownedBy(np, rc) && ownedBy(s, rc), "not yet"
	})
	if err := e.api.Delete(ctx, e.getRayCluster(c), client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil {
		t.Fatal(err)
	}
	poll.UntilSeen(e.t, time.Minute, "the NetworkPolicy and the token secret collected", func() (bool, string) {
		var left []string
		if e.networkPolicy(c) != nil {
			left = append(left, "NetworkPolicy")
		}
		if e.tokenSecret(c) != nil {
			left = append(left, "Secret")
		}
		return len(left) == 0, strings.Join(left, ", ") + " left"
	})
}

// checkPodsReadToken checks that every container of c's pods that runs Ray
// (the Ray containers, the autoscaler sidecar, KubeRay's wait-gcs-ready init
// container) turns token authentication on and reads the token from the
// instance's secret, exactly once, and that no container has it inline.
func (e *env) checkPodsReadToken(c *rayfleet.Cluster, tok string) {
	e.t.Helper()
	seen := map[string]int{}
	for _, p := range e.pods(c) {
		if p.Labels[labelInstance] != c.InstanceID {
			continue
		}
		for _, ct := range slices.Concat(p.Spec.InitContainers, p.Spec.Containers) {
			var mode, ref []corev1.EnvVar
			for _, v := range ct.Env {
				if v.Value == tok {
					e.t.Errorf("pod %s container %s has the token inline in %s", p.Name, ct.Name, v.Name)
				}
				switch v.Name {
				case "RAY_AUTH_MODE":
					mode = append(mode, v)
				case "RAY_AUTH_TOKEN":
					ref = append(ref, v)
				}
			}
			k := ref0(ref)
			if len(mode) != 1 || mode[0].Value != "token" || len(ref) != 1 || k == nil ||
				k.Name != tokenSecretName(c.InstanceID) || k.Key != "auth_token" {
				e.t.Errorf("pod %s container %s: RAY_AUTH_MODE %+v, RAY_AUTH_TOKEN %+v", p.Name, ct.Name, mode, ref)
			}
			seen[ct.Name]++
		}
	}
	for _, name := range []string{headContainer, "autoscaler", workerContainer, "wait-gcs-ready"} {
		if seen[name] == 0 {
			e.t.Errorf("no %s container among the pods (saw %v)", name, seen)
		}
	}
}

func ref0(env []corev1.EnvVar) *corev1.SecretKeySelector {
	if len(env) != 1 || env[0].Value != "" || env[0].ValueFrom == nil {
		return nil
	}
	return env[0].ValueFrom.SecretKeyRef
}

// networkPolicy returns c's NetworkPolicy from the API server, nil if none.
func (e *env) networkPolicy(c *rayfleet.Cluster) *networkingv1.NetworkPolicy {
	return getOrNil(e, networkPolicyName(c.ID), &networkingv1.NetworkPolicy{})
}

// tokenSecret returns the token secret of c's instance from the API
// server, nil if none.
func (e *env) tokenSecret(c *rayfleet.Cluster) *corev1.Secret {
	return getOrNil(e, tokenSecretName(c.InstanceID), &corev1.Secret{})
}

// getOrNil reads name in the test's namespace into obj, and returns it;
// nil if there is none.
func getOrNil[T client.Object](e *env, name string, obj T) T {
	e.t.Helper()
	err := e.api.Get(context.Background(), client.ObjectKey{Namespace: e.ns(), Name: name}, obj)
	if apierrors.IsNotFound(err) {
		var none T
		return none
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return obj
}

func ownedBy(obj metav1.Object, owner metav1.Object) bool {
	if reflect.ValueOf(obj).IsNil() {
		return false
	}
	refs := obj.GetOwnerReferences()
	return len(refs) == 1 && refs[0].UID == owner.GetUID() && refs[0].Kind == "RayCluster" && refs[0].Name == owner.GetName()
}

func podNames(pods []corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	slices.Sort(out)
	return out
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
