package kuberay

import (
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func mustPeers(t *testing.T, p Peers) peerSelectors {
	t.Helper()
	cfg := Config{Peers: p}.withDefaults()
	s, err := cfg.Peers.selectors()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// wantNetworkPolicySpec is the NetworkPolicy spec of cluster id with the
// default peers, written out field by field.
func wantNetworkPolicySpec(id string, scraper *networkingv1.NetworkPolicyPeer) networkingv1.NetworkPolicySpec {
	tcp := func(ports ...int32) []networkingv1.NetworkPolicyPort {
		var out []networkingv1.NetworkPolicyPort
		for _, p := range ports {
			out = append(out, networkingv1.NetworkPolicyPort{Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(intstr.FromInt32(p))})
		}
		return out
	}
	spec := networkingv1.NetworkPolicySpec{
		PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"ray.io/cluster": id}},
		PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
		Ingress: []networkingv1.NetworkPolicyIngressRule{
			// Every port from the cluster's own pods (of this namespace:
			// no namespace selector).
			{From: []networkingv1.NetworkPolicyPeer{{
				PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"ray.io/cluster": id}},
			}}},
			// The dashboard and the Ray client server from rayfleet's pods
			// in rayfleet's namespace.
			{From: []networkingv1.NetworkPolicyPeer{{
				PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "rayfleet"}},
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "rayfleet"}},
			}}, Ports: tcp(8265, 10001)},
		},
	}
	if scraper != nil {
		spec.Ingress = append(spec.Ingress, networkingv1.NetworkPolicyIngressRule{
			From: []networkingv1.NetworkPolicyPeer{*scraper}, Ports: tcp(8080, 44217, 44227),
		})
	}
	return spec
}

func TestBuildNetworkPolicy(t *testing.T) {
	c := newTestCluster("ray-netpol0000000001")
	np := buildNetworkPolicy(c, "rayfleet-w-0123456789abcdef", mustPeers(t, Peers{}), ownerRef(c.ID, "uid-1"))
	if np.APIVersion != "networking.k8s.io/v1" || np.Kind != "NetworkPolicy" ||
		np.Name != c.ID+"-ingress" || np.Namespace != "rayfleet-w-0123456789abcdef" {
		t.Errorf("object %s %s %s/%s", np.APIVersion, np.Kind, np.Namespace, np.Name)
	}
	wantLabels := map[string]string{labelManagedBy: managedByValue, labelAccount: c.AccountID, labelWorkspace: c.WorkspaceID, labelCluster: c.ID}
	if !reflect.DeepEqual(np.Labels, wantLabels) {
		t.Errorf("labels = %v, want %v (no instance: one policy for every instance)", np.Labels, wantLabels)
	}
	if len(np.OwnerReferences) != 1 || np.OwnerReferences[0].UID != "uid-1" || np.OwnerReferences[0].Kind != "RayCluster" {
		t.Errorf("owners = %+v", np.OwnerReferences)
	}
	if want := wantNetworkPolicySpec(c.ID, nil); !reflect.DeepEqual(np.Spec, want) {
		t.Errorf("spec =\n%s\nwant\n%s", mustJSON(t, np.Spec), mustJSON(t, want))
	}
	if np := buildNetworkPolicy(c, "ns", mustPeers(t, Peers{}), nil); np.OwnerReferences != nil {
		t.Errorf("owners without an owner: %+v", np.OwnerReferences)
	}

	// A scraper: its own rule, on the metrics ports only; set-based
	// selectors pass through.
	peers := mustPeers(t, Peers{ScraperPods: "app.kubernetes.io/name in (prometheus)", ScraperNamespaces: "kubernetes.io/metadata.name=monitoring"})
	np = buildNetworkPolicy(c, "ns", peers, nil)
	scraper := networkingv1.NetworkPolicyPeer{
		PodSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
			Key: "app.kubernetes.io/name", Operator: metav1.LabelSelectorOpIn, Values: []string{"prometheus"},
		}}},
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "monitoring"}},
	}
	if want := wantNetworkPolicySpec(c.ID, &scraper); !reflect.DeepEqual(np.Spec, want) {
		t.Errorf("spec with a scraper =\n%s\nwant\n%s", mustJSON(t, np.Spec), mustJSON(t, want))
	}
	// Only one of the two: the other matches everything of its kind.
	np = buildNetworkPolicy(c, "ns", mustPeers(t, Peers{ScraperNamespaces: "kubernetes.io/metadata.name=monitoring"}), nil)
	if r := np.Spec.Ingress[2].From[0]; r.PodSelector == nil || len(r.PodSelector.MatchLabels)+len(r.PodSelector.MatchExpressions) != 0 {
		t.Errorf("scraper without a pod selector = %+v, want every pod of the namespaces", r)
	}
}

// TestPolicySelectsOneCluster: the policy's pod selector picks the pods
// KubeRay makes for the cluster and none of another cluster, whatever else
// their labels say.
func TestPolicySelectsOneCluster(t *testing.T) {
	c := newTestCluster("ray-netpol0000000002")
	np := buildNetworkPolicy(c, "ns", mustPeers(t, Peers{}), nil)
	sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	if err != nil {
		t.Fatal(err)
	}
	rc := mustBuild(t, c, testBuildOptions())
	// What KubeRay puts on a pod (labelPod): the template's labels and its own.
	pod := labels.Set(rc.Spec.WorkerGroupSpecs[0].Template.Labels)
	pod[kuberayCluster], pod[kuberayNodeType] = c.ID, nodeTypeWorker
	if !sel.Matches(pod) {
		t.Errorf("the policy does not select the cluster's pod %v", pod)
	}
	other := newTestCluster("ray-netpol0000000003")
	op := labels.Set(podLabels(other, "root_queue", nil))
	op[kuberayCluster] = other.ID
	if sel.Matches(op) {
		t.Errorf("the policy selects another cluster's pod %v", op)
	}
}

// TestGatewayPeersMatchDeploy: the default gateway peers are deploy/'s
// Deployment's pods, in the namespace it runs in.
func TestGatewayPeersMatchDeploy(t *testing.T) {
	peers := mustPeers(t, Peers{})
	pods, err := metav1.LabelSelectorAsSelector(peers.gateway.PodSelector)
	if err != nil {
		t.Fatal(err)
	}
	nss, err := metav1.LabelSelectorAsSelector(peers.gateway.NamespaceSelector)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, u := range deployObjects(t) {
		if u.GetKind() != "Deployment" {
			continue
		}
		found = true
		l, ok, err := unstructured.NestedStringMap(u.Object, "spec", "template", "metadata", "labels")
		if err != nil || !ok {
			t.Fatalf("the Deployment's pod labels: %v %v", ok, err)
		}
		if !pods.Matches(labels.Set(l)) {
			t.Errorf("the gateway pod selector %s does not match the Deployment's pods %v", pods, l)
		}
		// The API server labels every namespace with its name.
		if ns := (labels.Set{"kubernetes.io/metadata.name": u.GetNamespace()}); !nss.Matches(ns) {
			t.Errorf("the gateway namespace selector %s does not match namespace %s", nss, u.GetNamespace())
		}
	}
	if !found {
		t.Fatal("no Deployment in deploy/")
	}
}

func TestPeersValidate(t *testing.T) {
	cfg := Config{Peers: Peers{GatewayPods: "app=(x", ScraperNamespaces: "a in b"}}.withDefaults()
	err := cfg.Validate()
	for _, want := range []string{"Peers.GatewayPods", "Peers.ScraperNamespaces"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if d := (Config{}).withDefaults().Peers; d.GatewayPods != DefaultGatewayPods || d.GatewayNamespaces != DefaultGatewayNamespaces ||
		d.ScraperPods != "" || d.ScraperNamespaces != "" {
		t.Errorf("default peers = %+v", d)
	}
}

// TestTokenSecret: 256 random bits, immutable, labelled for the instance
// and the purpose, owned by the RayCluster.
func TestTokenSecret(t *testing.T) {
	c := newTestCluster("ray-token00000000001")
	a, b := newRayToken(), newRayToken()
	if len(a) != 64 || strings.Trim(a, "0123456789abcdef") != "" || a == b {
		t.Fatalf("tokens %q %q", a, b)
	}
	s := buildTokenSecret(c, "ns", a, ownerRef(c.ID, "uid-1"))
	if s.Name != c.InstanceID+"-ray-token" || s.Namespace != "ns" || string(s.Data["auth_token"]) != a || len(s.Data) != 1 ||
		!ptr.Deref(s.Immutable, false) || s.Type != corev1.SecretTypeOpaque {
		t.Errorf("secret = %+v", s)
	}
	if !isTokenOf(s, c) || s.Labels[labelInstance] != c.InstanceID || s.Labels[labelPurpose] != "ray-token" {
		t.Errorf("labels = %v", s.Labels)
	}
	if len(s.OwnerReferences) != 1 || s.OwnerReferences[0].UID != "uid-1" {
		t.Errorf("owners = %+v", s.OwnerReferences)
	}
	next := *c
	next.InstanceID = c.ID + "-next0001"
	if isTokenOf(s, &next) {
		t.Error("an instance's token passes for another instance's")
	}
	other := *c
	other.AccountID = "9999999999999999"
	if isTokenOf(s, &other) {
		t.Error("a token passes for another account's cluster")
	}
}
