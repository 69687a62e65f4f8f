// Package kuberay is the Runtime that runs clusters on Kubernetes through
// the KubeRay operator: one namespace per workspace (<prefix>-<workspaceId>),
// one ray.io/v1 RayCluster per cluster, named after the cluster id, applied
// with server-side apply from the cluster's RunningSpec. Stopping a cluster
// sets spec.suspend (KubeRay deletes the pods and keeps the object);
// starting it again applies the spec of the new instance with suspend off.
//
// Everything the runtime makes carries app.kubernetes.io/managed-by=rayfleet
// and rayfleet.io/{account,workspace,cluster,instance} labels, and KubeRay
// copies the pod template's labels to the pods, so a rayfleet restarted at
// any moment finds every object again by label; the runtime keeps no state
// of its own beyond caches. What it sees comes from informers (watches, never
// polls): RayClusters, pods, secrets, NetworkPolicies, jobs and namespaces
// that carry the managed-by label, and the services, service accounts, roles and role
// bindings KubeRay makes for a cluster (app.kubernetes.io/created-by=
// kuberay-operator, ray.io/cluster=<clusterId>). Every event wakes the
// reconciler for its cluster; Observe reads the caches only.
//
// Each cluster is fenced in: a NetworkPolicy lets only its own pods and
// rayfleet's gateway reach it (netpol.go), and Ray's token authentication
// is on, with a token per instance in a secret the gateway reads back
// (token.go).
//
// The RayCluster builder (build.go) and the pod readings (pods.go) are pure
// functions with table tests; the rest is tested against a real
// kube-apiserver, scheduler, controller-manager, kwok and KubeRay operator
// started by scripts/kube/up.sh.
//
// It imports the domain (rayfleet), internal/reconcile (whose Runtime
// interface it implements), the Kubernetes libraries (k8s.io/api,
// apimachinery, client-go, controller-runtime) and the KubeRay API types
// (ray-operator/apis/ray/v1). No other rayfleet package imports it but the
// composition root.
package kuberay
