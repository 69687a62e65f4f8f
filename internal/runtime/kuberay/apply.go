package kuberay

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"

	rayv1 "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/rayfleet/rayfleet"
)

// Apply makes c's RayCluster match c.RunningSpec for c.InstanceID, with
// spec.suspend off: it creates the workspace's namespace if needed, the
// Redis secret, the instance's Ray token secret and the cluster's
// NetworkPolicy (all three before the RayCluster, so that no pod ever
// starts without them), and server-side applies the RayCluster. Live changes
// (replicas, min/max, autoscaling) are nothing more than the next Apply.
// A spec that cannot run makes nothing: Observe reports it as the Failure.
func (r *Runtime) Apply(ctx context.Context, c *rayfleet.Cluster) error {
	if r.isClosed() {
		return errClosed
	}
	if err := checkIDs(c); err != nil {
		return err
	}
	ns := r.namespaceName(c.WorkspaceID)
	current, err := r.cachedRayCluster(ctx, ns, c.ID)
	if err != nil {
		return err
	}
	if current != nil && current.DeletionTimestamp != nil {
		return fmt.Errorf("RayCluster %s/%s is being deleted; waiting for it to go", ns, c.ID)
	}
	in, err := r.inputsOf(c)
	if err != nil {
		return err
	}
	// Rendering the RayCluster is most of an Apply's cost; when this
	// runtime applied the same inputs to the very object the cache shows,
	// unchanged since, there is nothing to render.
	var rc *rayv1.RayCluster
	unchanged := r.appliedUnchanged(ns+"/"+c.ID, in, current)
	if !unchanged {
		rc, err = r.build(c, current, in.network)
		if err != nil {
			if _, ok := errors.AsType[*specError](err); ok {
				return nil
			}
			return err
		}
	}
	if err := r.ensureNamespace(ctx, c, ns); err != nil {
		return err
	}
	var uid string
	if current != nil {
		uid = string(current.UID)
	}
	if err := r.applyDependents(ctx, c, ns, uid); err != nil {
		return err
	}
	if !unchanged {
		applied, err := r.applyRayCluster(ctx, rc, current, in)
		if err != nil {
			return err
		}
		if uid == "" {
			// Created just now: what it owns can name its owner only now.
			return r.applyDependents(ctx, c, ns, applied)
		}
	}
	// The reconciler ends the pods of other instances before it applies a
	// new one: their tokens are not needed any more.
	if err := r.dropOldTokens(ctx, c, ns); err != nil {
		return err
	}
	return r.nudgeIfStalled(ctx, current)
}

// applyDependents applies what c's RayCluster owns, with the RayCluster
// ownerUID as their owner when it is known: the Redis secret, the Ray
// token secret of the instance and the NetworkPolicy.
func (r *Runtime) applyDependents(ctx context.Context, c *rayfleet.Cluster, ns, ownerUID string) error {
	if err := r.applySecret(ctx, c, ns, ownerUID); err != nil {
		return err
	}
	if err := r.ensureToken(ctx, c, ns, ownerUID); err != nil {
		return err
	}
	return r.applyNetworkPolicy(ctx, c, ns, ownerUID)
}

// buildInputs is everything of a cluster its RayCluster is built from,
// beyond the runtime's fixed configuration and the replicas the current
// object runs (which the memo checks through its generation).
type buildInputs struct {
	accountID  string
	instanceID string
	// spec is c.RunningSpec as JSON: every one of its fields, compared
	// without knowing them.
	spec    string
	network map[string]string
}

func (r *Runtime) inputsOf(c *rayfleet.Cluster) (buildInputs, error) {
	spec, err := json.Marshal(&c.RunningSpec)
	if err != nil {
		return buildInputs{}, fmt.Errorf("render the spec of %s: %w", c.ID, err)
	}
	in := buildInputs{accountID: c.AccountID, instanceID: c.InstanceID, spec: string(spec)}
	if r.cfg.NetworkLabels != nil {
		in.network = r.cfg.NetworkLabels(c)
	}
	return in, nil
}

func (in buildInputs) equal(o buildInputs) bool {
	return in.accountID == o.accountID && in.instanceID == o.instanceID && in.spec == o.spec &&
		maps.Equal(in.network, o.network)
}

// appliedUnchanged reports whether the RayCluster current (key's, from the
// cache) is the very object this runtime last applied from inputs in, and
// nobody changed its spec since: same uid, same generation, same spec
// hash, same instance. Anything else (no memo, another object, an edit, a
// lagging cache) is false, and the caller builds and applies as if there
// were no memo.
func (r *Runtime) appliedUnchanged(key string, in buildInputs, current *rayv1.RayCluster) bool {
	if current == nil || current.UID == "" {
		return false
	}
	r.mu.Lock()
	last, ok := r.applied[key]
	r.mu.Unlock()
	return ok && last.uid == current.UID && last.generation == current.Generation &&
		last.hash == current.Annotations[annotationSpecHash] && current.Labels[labelInstance] == in.instanceID &&
		last.inputs.equal(in)
}

// builtBefore reports whether key's last applied RayCluster was built from
// inputs in: then building from them succeeds (the build depends on
// nothing else that can fail).
func (r *Runtime) builtBefore(key string, in buildInputs) bool {
	r.mu.Lock()
	last, ok := r.applied[key]
	r.mu.Unlock()
	return ok && last.inputs.equal(in)
}

// build returns c's RayCluster; current, if it is the same instance's,
// gives the worker replicas the autoscaler chose.
func (r *Runtime) build(c *rayfleet.Cluster, current *rayv1.RayCluster, network map[string]string) (*rayv1.RayCluster, error) {
	o := buildOptions{Namespace: r.namespaceName(c.WorkspaceID), Image: r.cfg.Image, GPUTypes: r.cfg.GPUTypes,
		NetworkLabels: network, TokenSecret: tokenSecretName(c.InstanceID)}
	if current != nil && current.Labels[labelInstance] == c.InstanceID {
		o.LiveReplicas = replicasOf(current)
	}
	return buildRayCluster(c, o)
}

// ensureNamespace creates the workspace's namespace, labelled for its
// account and workspace, unless the cache shows it there already.
func (r *Runtime) ensureNamespace(ctx context.Context, c *rayfleet.Cluster, name string) error {
	var ns corev1.Namespace
	err := r.cache.Get(ctx, client.ObjectKey{Name: name}, &ns)
	switch {
	case err == nil:
		if ns.Labels[labelAccount] != c.AccountID || ns.Labels[labelWorkspace] != c.WorkspaceID {
			return fmt.Errorf("namespace %s belongs to account %q, workspace %q; not using it for %s", name,
				ns.Labels[labelAccount], ns.Labels[labelWorkspace], c.ID)
		}
		if ns.DeletionTimestamp != nil {
			return fmt.Errorf("namespace %s is being deleted (the workspace was deleted)", name)
		}
		return nil
	case !apierrors.IsNotFound(err):
		return fmt.Errorf("read namespace %s: %w", name, err)
	}
	obj := &corev1.Namespace{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			labelManagedBy: managedByValue, labelAccount: c.AccountID, labelWorkspace: c.WorkspaceID,
		}},
	}
	if _, err := r.apply(ctx, obj); err != nil {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	r.cfg.Logger.Info("kuberay: created the workspace's namespace", "namespace", name, "workspaceId", c.WorkspaceID)
	return nil
}

// applySecret applies the Redis secret of c, owned by the RayCluster
// ownerUID when known, or removes a secret c no longer needs.
func (r *Runtime) applySecret(ctx context.Context, c *rayfleet.Cluster, ns, ownerUID string) error {
	owner := ownerOf(c.ID, ownerUID)
	want := buildSecret(c, ns, owner)
	var have corev1.Secret
	err := r.cache.Get(ctx, client.ObjectKey{Namespace: ns, Name: secretName(c.ID)}, &have)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("read secret %s/%s: %w", ns, secretName(c.ID), err)
	}
	found := err == nil
	if want == nil {
		if found {
			return r.deleteIgnoringMissing(ctx, &have)
		}
		return nil
	}
	if found && maps.EqualFunc(have.Data, want.Data, bytes.Equal) && maps.Equal(have.Labels, want.Labels) &&
		(owner == nil || hasOwner(&have, owner.UID)) {
		return nil
	}
	if _, err := r.apply(ctx, want); err != nil {
		return fmt.Errorf("apply secret %s/%s: %w", ns, want.Name, err)
	}
	return nil
}

func hasOwner(obj metav1.Object, uid types.UID) bool {
	for _, o := range obj.GetOwnerReferences() {
		if o.UID == uid {
			return true
		}
	}
	return false
}

// applyRayCluster server-side applies rc unless current shows that this
// runtime applied the same spec and nobody changed it since. It returns
// the RayCluster's uid.
func (r *Runtime) applyRayCluster(ctx context.Context, rc *rayv1.RayCluster, current *rayv1.RayCluster, in buildInputs) (string, error) {
	u, err := toApply(rc)
	if err != nil {
		return "", err
	}
	hash, err := contentHash(u.Object)
	if err != nil {
		return "", err
	}
	annotations := u.GetAnnotations()
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[annotationSpecHash] = hash
	u.SetAnnotations(annotations)

	key := rc.Namespace + "/" + rc.Name
	if current != nil && current.Annotations[annotationSpecHash] == hash {
		r.mu.Lock()
		last, ok := r.applied[key]
		r.mu.Unlock()
		if ok && last.hash == hash && last.generation == current.Generation && last.uid == current.UID {
			// Other inputs, same object (a write that changed nothing
			// of the spec): the next Apply of these need not render.
			r.mu.Lock()
			r.applied[key] = appliedSpec{hash: hash, generation: current.Generation, uid: current.UID, inputs: in}
			r.mu.Unlock()
			return string(current.UID), nil
		}
	}
	if err := r.client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u),
		client.FieldOwner(r.cfg.FieldManager), client.ForceOwnership); err != nil {
		return "", fmt.Errorf("apply RayCluster %s: %w", key, err)
	}
	r.mu.Lock()
	r.applied[key] = appliedSpec{hash: hash, generation: u.GetGeneration(), uid: u.GetUID(), inputs: in}
	r.mu.Unlock()
	r.cfg.Logger.Debug("kuberay: applied RayCluster", "rayCluster", key, "instanceId", rc.Labels[labelInstance],
		"generation", u.GetGeneration())
	return string(u.GetUID()), nil
}

// apply server-side applies obj (a typed object with its TypeMeta set) and
// returns what the server made of it.
func (r *Runtime) apply(ctx context.Context, obj client.Object) (*unstructured.Unstructured, error) {
	u, err := toApply(obj)
	if err != nil {
		return nil, err
	}
	err = r.client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u),
		client.FieldOwner(r.cfg.FieldManager), client.ForceOwnership)
	return u, err
}

// toApply renders a typed object as the body of a server-side apply: the
// fields the builders set and nothing else. Every field of the typed
// objects is either omitted when empty or set on purpose by the builders;
// what remains of the zero values is a null creationTimestamp and the
// status, which an apply must not carry.
func toApply(obj runtime.Object) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("render %T: %w", obj, err)
	}
	delete(m, "status")
	pruneNulls(m)
	return &unstructured.Unstructured{Object: m}, nil
}

// pruneNulls removes null values from nested maps and lists.
func pruneNulls(v any) {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if e == nil {
				delete(t, k)
				continue
			}
			pruneNulls(e)
		}
	case []any:
		for _, e := range t {
			pruneNulls(e)
		}
	}
}

// contentHash is a short hash of an object's JSON (maps render sorted).
func contentHash(m map[string]any) (string, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12]), nil
}

// Suspend sets spec.suspend on c's RayCluster (whatever its instance):
// KubeRay deletes every pod and keeps the object, its head service and
// the secret for the next start. It is a merge patch, not an apply, so
// that it needs no spec (the spec may be the one that failed) and can
// never create a RayCluster; the next Apply takes spec.suspend back.
// Pods with no RayCluster left (orphaned by a crash or a manual delete)
// are deleted directly.
func (r *Runtime) Suspend(ctx context.Context, c *rayfleet.Cluster) error {
	if r.isClosed() {
		return errClosed
	}
	if err := checkIDs(c); err != nil {
		return err
	}
	ns := r.namespaceName(c.WorkspaceID)
	current, err := r.cachedRayCluster(ctx, ns, c.ID)
	if err != nil {
		return err
	}
	if current != nil && (ptr.Deref(current.Spec.Suspend, false) || current.DeletionTimestamp != nil) {
		return nil // KubeRay (or the garbage collector) is ending the pods
	}
	patch := client.RawPatch(types.MergePatchType, []byte(`{"spec":{"suspend":true}}`))
	target := &rayv1.RayCluster{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: c.ID}}
	err = r.client.Patch(ctx, target, patch, client.FieldOwner(r.cfg.FieldManager))
	switch {
	case err == nil:
		r.cfg.Logger.Info("kuberay: suspended RayCluster", "rayCluster", ns+"/"+c.ID)
		return nil
	case apierrors.IsNotFound(err):
		return r.deleteOrphanPods(ctx, ns, c.ID)
	default:
		return fmt.Errorf("suspend RayCluster %s/%s: %w", ns, c.ID, err)
	}
}

// deleteOrphanPods deletes the pods of cluster id that the cache shows.
func (r *Runtime) deleteOrphanPods(ctx context.Context, ns, id string) error {
	var pods corev1.PodList
	if err := r.cache.List(ctx, &pods, client.InNamespace(ns), ofCluster(id)); err != nil {
		return fmt.Errorf("list pods of %s/%s: %w", ns, id, err)
	}
	for i := range pods.Items {
		if pods.Items[i].DeletionTimestamp == nil {
			if err := r.deleteIgnoringMissing(ctx, &pods.Items[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// deleteIgnoringMissing deletes obj (this very object: its uid is a
// precondition) in the background; already gone is done.
func (r *Runtime) deleteIgnoringMissing(ctx context.Context, obj client.Object) error {
	opts := []client.DeleteOption{client.PropagationPolicy(metav1.DeletePropagationBackground)}
	if uid := obj.GetUID(); uid != "" {
		opts = append(opts, client.Preconditions{UID: &uid})
	}
	err := r.client.Delete(ctx, obj, opts...)
	if err == nil || apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		// Conflict: the uid precondition failed, so the object we meant is gone.
		return nil
	}
	return fmt.Errorf("delete %T %s/%s: %w", obj, obj.GetNamespace(), obj.GetName(), err)
}

// cachedRayCluster returns c's RayCluster as the cache has it, nil if none.
// The object shares its maps, slices and pointers with the cache (copying
// a RayCluster, pod templates and all, on each of the several reads of a
// reconcile pass was a measurable share of the reconciler's CPU): callers
// only read it, and give the client objects of their own.
func (r *Runtime) cachedRayCluster(ctx context.Context, ns, id string) (*rayv1.RayCluster, error) {
	var rc rayv1.RayCluster
	err := r.cache.Get(ctx, client.ObjectKey{Namespace: ns, Name: id}, &rc, client.UnsafeDisableDeepCopy)
	switch {
	case err == nil:
		return &rc, nil
	case apierrors.IsNotFound(err):
		return nil, nil
	default:
		return nil, fmt.Errorf("read RayCluster %s/%s: %w", ns, id, err)
	}
}
