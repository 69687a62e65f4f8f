package kuberay

import (
	"context"
	"fmt"

	rayv1 "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/rayfleet/rayfleet"
)

// Delete removes c's RayCluster and its Redis secret. The garbage collector
// removes what KubeRay made for it (pods, head service, the autoscaler's
// service account, role and role binding) and what rayfleet made owned by
// it (the Ray token secrets, the NetworkPolicy), and KubeRay first runs its
// Redis cleanup job when GCS fault tolerance is on; Observe reports Exists
// until all of it is gone. Once the RayCluster is gone, whatever is left
// of the cluster is deleted directly, so that nothing depends on the
// garbage collector having seen every owner reference.
func (r *Runtime) Delete(ctx context.Context, c *rayfleet.Cluster) error {
	if r.isClosed() {
		return errClosed
	}
	if err := checkIDs(c); err != nil {
		return err
	}
	ns := r.namespaceName(c.WorkspaceID)
	r.mu.Lock()
	delete(r.applied, ns+"/"+c.ID)
	delete(r.nudged, ns+"/"+c.ID)
	r.mu.Unlock()

	current, err := r.cachedRayCluster(ctx, ns, c.ID)
	if err != nil {
		return err
	}
	switch {
	case current != nil && current.DeletionTimestamp == nil:
		// current is the cache's own object: the delete gets a copy of
		// what it needs (the name and the uid precondition).
		target := &rayv1.RayCluster{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: c.ID, UID: current.UID}}
		if err := r.deleteIgnoringMissing(ctx, target); err != nil {
			return err
		}
		r.cfg.Logger.Info("kuberay: deleting RayCluster", "rayCluster", ns+"/"+c.ID)
	case current == nil:
		// The cache may not have seen a RayCluster created a moment ago:
		// ask the API server. Finding one means the reconciler was told
		// nothing exists while something did; an error stops it from
		// forgetting the cluster before the next look.
		rc := &rayv1.RayCluster{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: c.ID}}
		err := r.client.Delete(ctx, rc, client.PropagationPolicy(metav1.DeletePropagationBackground))
		switch {
		case err == nil:
			return fmt.Errorf("RayCluster %s/%s was still there; deleting it", ns, c.ID)
		case !apierrors.IsNotFound(err):
			return fmt.Errorf("delete RayCluster %s/%s: %w", ns, c.ID, err)
		}
		if err := r.deleteLeftovers(ctx, ns, c.ID); err != nil {
			return err
		}
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: secretName(c.ID)}}
	if err := r.cache.Get(ctx, client.ObjectKeyFromObject(secret), secret); err == nil || current == nil {
		// With no RayCluster left, a secret the cache has not seen yet is
		// asked for too: nothing else would remove it.
		return r.deleteIgnoringMissing(ctx, secret)
	}
	return nil
}

// leftoverKind is a kind of object a cluster's RayCluster leaves behind,
// with the selector of one cluster's objects of it.
type leftoverKind struct {
	list client.ObjectList
	sel  []client.ListOption
}

// leftoverKinds lists, with fresh lists to read into, what may outlive
// cluster id's RayCluster: its jobs, secrets and NetworkPolicy (and pods,
// when asked) by rayfleet's label, and what KubeRay made for it by
// KubeRay's.
func leftoverKinds(id string, pods bool) []leftoverKind {
	byUs := []client.ListOption{ofCluster(id)}
	byKubeRay := madeByKubeRayFor(id)
	var kinds []leftoverKind
	if pods {
		kinds = append(kinds, leftoverKind{&corev1.PodList{}, byUs})
	}
	return append(kinds,
		leftoverKind{&batchv1.JobList{}, byUs},
		leftoverKind{&corev1.SecretList{}, byUs},
		leftoverKind{&networkingv1.NetworkPolicyList{}, byUs},
		leftoverKind{&corev1.ServiceList{}, byKubeRay},
		leftoverKind{&corev1.ServiceAccountList{}, byKubeRay},
		leftoverKind{&rbacv1.RoleList{}, byKubeRay},
		leftoverKind{&rbacv1.RoleBindingList{}, byKubeRay},
	)
}

// deleteLeftovers deletes, one kind at a time, what the cache still shows
// of cluster id once its RayCluster is gone.
func (r *Runtime) deleteLeftovers(ctx context.Context, ns, id string) error {
	for _, k := range leftoverKinds(id, true) {
		if err := r.cache.List(ctx, k.list, append([]client.ListOption{client.InNamespace(ns)}, k.sel...)...); err != nil {
			return fmt.Errorf("list leftovers of %s/%s: %w", ns, id, err)
		}
		items, err := metaItems(k.list)
		if err != nil {
			return err
		}
		for _, obj := range items {
			if obj.GetDeletionTimestamp() == nil {
				if err := r.deleteIgnoringMissing(ctx, obj); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// metaItems returns the items of a typed list as client.Objects.
func metaItems(list client.ObjectList) ([]client.Object, error) {
	objs, err := meta.ExtractList(list)
	if err != nil {
		return nil, fmt.Errorf("metaItems: %w", err)
	}
	out := make([]client.Object, 0, len(objs))
	for _, o := range objs {
		co, ok := o.(client.Object)
		if !ok {
			return nil, fmt.Errorf("metaItems: %T is not a client.Object", o)
		}
		out = append(out, co)
	}
	return out, nil
}

// DeleteWorkspace deletes the workspace's namespace, and with it anything
// left inside. It returns once the deletion is under way (Kubernetes
// finishes it); calling it again, or for a workspace that never ran a
// cluster, is fine. Delete the workspace's clusters first: a RayCluster
// with GCS fault tolerance cannot run its Redis cleanup job in a namespace
// that is being deleted. A namespace of that name that rayfleet did not
// make for this account and workspace is left alone, with an error.
func (r *Runtime) DeleteWorkspace(ctx context.Context, accountID, workspaceID string) error {
	if r.isClosed() {
		return errClosed
	}
	if !dnsLabel(workspaceID) {
		return fmt.Errorf("kuberay runtime: workspace id %q cannot name a namespace", workspaceID)
	}
	name := r.namespaceName(workspaceID)
	var ns corev1.Namespace
	// Read from the API server: the cache sees only namespaces labelled
	// as rayfleet's, and a namespace that is not must not be touched.
	if err := r.client.Get(ctx, client.ObjectKey{Name: name}, &ns); apierrors.IsNotFound(err) {
		return nil
	} else if err != nil {
		return fmt.Errorf("read namespace %s: %w", name, err)
	}
	l := ns.Labels
	if l[labelManagedBy] != managedByValue || l[labelAccount] != accountID || l[labelWorkspace] != workspaceID {
		return fmt.Errorf("namespace %s was not made by rayfleet for workspace %s of account %s; not deleting it", name, workspaceID, accountID)
	}
	if ns.DeletionTimestamp != nil {
		return nil
	}
	if err := r.deleteIgnoringMissing(ctx, &ns); err != nil {
		return err
	}
	r.cfg.Logger.Info("kuberay: deleting the workspace's namespace", "namespace", name, "workspaceId", workspaceID)
	return nil
}
