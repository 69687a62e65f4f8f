package kuberay

import (
	"maps"

	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/reconcile"
)

// Labels rayfleet puts on what it makes. KubeRay copies the pod template's
// labels to the pods, which is how pods are found again after a restart.
const (
	labelManagedBy = "app.kubernetes.io/managed-by"
	managedByValue = "rayfleet"
	labelAccount   = "rayfleet.io/account"
	labelWorkspace = "rayfleet.io/workspace"
	labelCluster   = "rayfleet.io/cluster"
	labelInstance  = "rayfleet.io/instance"
	labelQueue     = "rayfleet.io/queue"
	// labelPurpose tells the Ray token secrets from the Redis secret, so
	// that a gateway of its own watches those and no other.
	labelPurpose    = "rayfleet.io/purpose"
	purposeRayToken = "ray-token"

	// annotationQueue holds the queue name when it cannot be a label value.
	annotationQueue = "rayfleet.io/queue"
	// annotationName is the cluster's display name, for people using kubectl.
	annotationName = "rayfleet.io/name"
	// annotationSpecHash is the hash of the applied RayCluster, so that an
	// unchanged spec is not applied again on every pass.
	annotationSpecHash = "rayfleet.io/spec-hash"
)

// Labels and values KubeRay v1.5.0 puts on what it makes
// (controllers/ray/utils/constant.go).
const (
	kuberayCluster   = "ray.io/cluster"
	kuberayNodeType  = "ray.io/node-type"
	kuberayGroup     = "ray.io/group"
	kuberayCreatedBy = "app.kubernetes.io/created-by"
	kuberayOperator  = "kuberay-operator"

	nodeTypeHead   = "head"
	nodeTypeWorker = "worker"
)

// The container names the builder gives the Ray containers. KubeRay needs
// the Ray container first; the autoscaler is a sidecar after it.
const (
	headContainer   = "ray-head"
	workerContainer = "ray-worker"
)

// secretKey names the GCS fault tolerance secret's keys.
const (
	secretPassword = "password"
	secretUsername = "username"
)

// tokenKey is the key of the Ray token in an instance's token secret (the
// key KubeRay's own token secrets use from v1.5.1 on).
const tokenKey = "auth_token"

// Cache indexes: the cluster an object belongs to, by the label that names
// it. Looking at one cluster then costs the same however many clusters
// share its namespace; a label selector alone scans every object of the
// namespace, which made each pass over a cluster O(clusters).
const (
	indexCluster        = "rayfleet.io/cluster" // pods and jobs: labelCluster
	indexKubeRayCluster = "ray.io/cluster"      // what KubeRay makes: kuberayCluster
)

// ofCluster selects, through indexCluster, what rayfleet made for cluster id.
func ofCluster(id string) client.MatchingFields { return client.MatchingFields{indexCluster: id} }

// madeByKubeRayFor selects, through indexKubeRayCluster, what KubeRay made
// for cluster id.
func madeByKubeRayFor(id string) []client.ListOption {
	return []client.ListOption{client.MatchingFields{indexKubeRayCluster: id}, client.MatchingLabels{kuberayCreatedBy: kuberayOperator}}
}

// indexLabel returns the indexer of a label's value.
func indexLabel(label string) client.IndexerFunc {
	return func(o client.Object) []string {
		if v := o.GetLabels()[label]; v != "" {
			return []string{v}
		}
		return nil
	}
}

// namespaceName is the namespace of a workspace.
func (r *Runtime) namespaceName(workspaceID string) string {
	return r.cfg.NamespacePrefix + "-" + workspaceID
}

// secretName is the GCS fault tolerance secret of a cluster.
func secretName(clusterID string) string { return clusterID + "-redis" }

// tokenSecretName is the secret holding the Ray token of a cluster
// instance (<clusterId>-<8>: 29 characters, well within a name).
func tokenSecretName(instanceID string) string { return instanceID + "-ray-token" }

// networkPolicyName is the NetworkPolicy of a cluster.
func networkPolicyName(clusterID string) string { return clusterID + "-ingress" }

// headServiceName is the head service KubeRay makes for a RayCluster
// without a custom headService (utils.GenerateHeadServiceName).
func headServiceName(clusterID string) string { return clusterID + "-head-svc" }

// clusterLabels are the labels of the RayCluster and of everything else
// rayfleet makes for c.
func clusterLabels(c *rayfleet.Cluster) map[string]string {
	l := map[string]string{
		labelManagedBy: managedByValue,
		labelAccount:   c.AccountID,
		labelWorkspace: c.WorkspaceID,
		labelCluster:   c.ID,
	}
	if c.InstanceID != "" {
		l[labelInstance] = c.InstanceID
	}
	return l
}

// podLabels are the labels of a group's pod template: the cluster's, the
// group's queue, and the network service's extra labels, which never
// override rayfleet's.
func podLabels(c *rayfleet.Cluster, queue string, network map[string]string) map[string]string {
	l := make(map[string]string, 8+len(network))
	for k, v := range network {
		if validation.IsQualifiedName(k) == nil && validation.IsValidLabelValue(v) == nil {
			l[k] = v
		}
	}
	maps.Copy(l, clusterLabels(c))
	setQueue(l, nil, queue)
	return l
}

// setQueue puts the queue name in labels when it is a valid label value,
// and in annotations otherwise (when annotations is not nil): queue names
// are free text, label values are not.
func setQueue(labels, annotations map[string]string, queue string) {
	if queue == "" {
		return
	}
	if validation.IsValidLabelValue(queue) == nil {
		labels[labelQueue] = queue
	} else if annotations != nil {
		annotations[annotationQueue] = queue
	}
}

// refOf names the cluster an object belongs to, from its own labels or, for
// what KubeRay makes (labelled ray.io/cluster only), from the labels of the
// namespace. ok is false for objects of no rayfleet cluster.
func refOf(obj client.Object, nsLabels func(ns string) map[string]string) (reconcile.Ref, bool) {
	l := obj.GetLabels()
	if l[labelManagedBy] == managedByValue && l[labelCluster] != "" && l[labelAccount] != "" && l[labelWorkspace] != "" {
		return reconcile.Ref{AccountID: l[labelAccount], WorkspaceID: l[labelWorkspace], ID: l[labelCluster]}, true
	}
	id := l[kuberayCluster]
	if id == "" {
		return reconcile.Ref{}, false
	}
	nl := nsLabels(obj.GetNamespace())
	if nl[labelManagedBy] != managedByValue || nl[labelAccount] == "" || nl[labelWorkspace] == "" {
		return reconcile.Ref{}, false
	}
	return reconcile.Ref{AccountID: nl[labelAccount], WorkspaceID: nl[labelWorkspace], ID: id}, true
}
