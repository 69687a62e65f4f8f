package kuberay

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/rayfleet/rayfleet"
)

// Every cluster gets a NetworkPolicy that admits, to its pods:
//   - every port, from the pods of the same cluster (Ray's nodes talk to
//     each other on the GCS, raylet, object manager and worker ports, most
//     of them chosen at random);
//   - the head's dashboard and Ray client ports, from the gateway's pods
//     (Peers.GatewayPods in Peers.GatewayNamespaces);
//   - the metrics ports, from a scraper, when one is configured;
// and nothing else. Pods of other clusters, of the same workspace or any
// other, are refused. Workers need no rule of their own: nothing outside
// the cluster talks to them, and the gateway's ports are the head's (no
// worker listens there). The policy covers ingress only: egress stays open,
// as jobs fetch packages and data and reach their Redis; DNS is egress and
// is untouched too.
//
// It selects the pods by KubeRay's ray.io/cluster label, which KubeRay puts
// on every pod it makes for the RayCluster, whatever the template says; a
// peer without a namespace selector is a pod of the policy's own namespace,
// so no pod of another workspace can pass for one of the cluster.

// Ports the policy opens to pods outside the cluster.
var (
	// gatewayPorts: the head's dashboard (and job API) and Ray client
	// server, where the gateway goes (HeadEndpoints).
	gatewayPorts = []int32{8265, 10001}
	// scraperPorts: Ray's metrics export port (KubeRay's default on every
	// node), the autoscaler's and the dashboard's metrics (on the head).
	scraperPorts = []int32{8080, 44217, 44227}
)

// peerSelectors are Peers, parsed.
type peerSelectors struct {
	gateway networkingv1.NetworkPolicyPeer
	scraper *networkingv1.NetworkPolicyPeer // nil: no scraper rule
}

// selectors parses p (defaulted and validated).
func (p Peers) selectors() (peerSelectors, error) {
	peer := func(pods, namespaces string) (networkingv1.NetworkPolicyPeer, error) {
		ps, err := metav1.ParseToLabelSelector(pods)
		if err != nil {
			return networkingv1.NetworkPolicyPeer{}, fmt.Errorf("pod selector %q: %w", pods, err)
		}
		ns, err := metav1.ParseToLabelSelector(namespaces)
		if err != nil {
			return networkingv1.NetworkPolicyPeer{}, fmt.Errorf("namespace selector %q: %w", namespaces, err)
		}
		return networkingv1.NetworkPolicyPeer{PodSelector: tidy(ps), NamespaceSelector: tidy(ns)}, nil
	}
	var out peerSelectors
	var err error
	if out.gateway, err = peer(p.GatewayPods, p.GatewayNamespaces); err != nil {
		return out, fmt.Errorf("gateway peers: %w", err)
	}
	if p.ScraperPods != "" || p.ScraperNamespaces != "" {
		s, err := peer(p.ScraperPods, p.ScraperNamespaces)
		if err != nil {
			return out, fmt.Errorf("scraper peers: %w", err)
		}
		out.scraper = &s
	}
	return out, nil
}

// tidy drops the empty map and list a parsed selector carries, which the
// API server would not give back.
func tidy(s *metav1.LabelSelector) *metav1.LabelSelector {
	if len(s.MatchLabels) == 0 {
		s.MatchLabels = nil
	}
	if len(s.MatchExpressions) == 0 {
		s.MatchExpressions = nil
	}
	return s
}

// buildNetworkPolicy returns the NetworkPolicy of c, owned by its
// RayCluster (owner, when known) so that it goes with it. One policy serves
// every instance of the cluster.
func buildNetworkPolicy(c *rayfleet.Cluster, namespace string, peers peerSelectors, owner *metav1.OwnerReference) *networkingv1.NetworkPolicy {
	tcp := func(ports []int32) []networkingv1.NetworkPolicyPort {
		out := make([]networkingv1.NetworkPolicyPort, len(ports))
		for i, p := range ports {
			out[i] = networkingv1.NetworkPolicyPort{Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(intstr.FromInt32(p))}
		}
		return out
	}
	ofCluster := func() *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchLabels: map[string]string{kuberayCluster: c.ID}}
	}
	np := &networkingv1.NetworkPolicy{
		TypeMeta: metav1.TypeMeta{APIVersion: networkingv1.SchemeGroupVersion.String(), Kind: "NetworkPolicy"},
		ObjectMeta: metav1.ObjectMeta{
			Name: networkPolicyName(c.ID), Namespace: namespace, Labels: clusterLabels(c),
		},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: *ofCluster(),
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{
				{From: []networkingv1.NetworkPolicyPeer{{PodSelector: ofCluster()}}},
				{From: []networkingv1.NetworkPolicyPeer{*peers.gateway.DeepCopy()}, Ports: tcp(gatewayPorts)},
			},
		},
	}
	delete(np.Labels, labelInstance) // one policy serves every instance
	if peers.scraper != nil {
		np.Spec.Ingress = append(np.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{
			From: []networkingv1.NetworkPolicyPeer{*peers.scraper.DeepCopy()}, Ports: tcp(scraperPorts),
		})
	}
	if owner != nil {
		np.OwnerReferences = []metav1.OwnerReference{*owner}
	}
	return np
}

// applyNetworkPolicy server-side applies c's NetworkPolicy, owned by the
// RayCluster ownerUID when known, unless the cache shows it as it should
// be. Apply calls it before the RayCluster is made, so that no pod of the
// cluster ever runs unguarded.
func (r *Runtime) applyNetworkPolicy(ctx context.Context, c *rayfleet.Cluster, ns, ownerUID string) error {
	owner := ownerOf(c.ID, ownerUID)
	want := buildNetworkPolicy(c, ns, r.peers, owner)
	var have networkingv1.NetworkPolicy
	err := r.cache.Get(ctx, client.ObjectKeyFromObject(want), &have, client.UnsafeDisableDeepCopy)
	switch {
	case err == nil:
		if equality.Semantic.DeepEqual(have.Spec, want.Spec) && hasLabels(&have, want.Labels) &&
			(owner == nil || hasOwner(&have, owner.UID)) {
			return nil
		}
	case !apierrors.IsNotFound(err):
		return fmt.Errorf("read NetworkPolicy %s/%s: %w", ns, want.Name, err)
	}
	if _, err := r.apply(ctx, want); err != nil {
		return fmt.Errorf("apply NetworkPolicy %s/%s: %w", ns, want.Name, err)
	}
	return nil
}

// hasLabels reports whether obj carries every label of want.
func hasLabels(obj metav1.Object, want map[string]string) bool {
	have := obj.GetLabels()
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}
