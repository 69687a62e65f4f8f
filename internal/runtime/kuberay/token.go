package kuberay

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/rayfleet/rayfleet"
)

// Ray's token authentication. KubeRay v1.5.0 has no RayCluster field for it
// (authOptions came with v1.5.1), so the runtime does what that field does:
// each cluster instance gets a secret of its own, <instanceId>-ray-token,
// holding 256 random bits, made before the RayCluster (so no pod starts
// without it) and then owned by it; every Ray container, the autoscaler
// sidecar, and KubeRay's wait-gcs-ready init container (which copies the
// worker container's env) get RAY_AUTH_MODE=token and RAY_AUTH_TOKEN from
// the secret by reference. The token is never written into the RayCluster.
// Ray 2.52 and later then want it on the dashboard, the job API, the GCS
// and the Ray client server (older Rays ignore both variables); its health
// endpoints, which KubeRay's probes call, stay open. HeadToken reads it
// back for the gateway, which sends it upstream: users hold rayfleet's
// per-cluster token only.
//
// The secret is created, never applied, and immutable: a cache that has not
// seen it yet leads to a create that fails (AlreadyExists), never to a new
// token under pods that read the old one. A new instance gets a new secret;
// the previous instances' are deleted by the first Apply of the new one,
// when their pods are gone (the reconciler ends them first).

// authEnv is the env of every Ray container: token authentication on, the
// token from the instance's secret.
func authEnv(secret string) []corev1.EnvVar {
	return []corev1.EnvVar{
		{Name: "RAY_AUTH_MODE", Value: "token"},
		{Name: "RAY_AUTH_TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: secret}, Key: tokenKey,
		}}},
	}
}

// ownedEnv reports whether name is one of Ray's authentication settings,
// which the runtime sets and no env line of a spec may change.
func ownedEnv(name string) bool {
	switch name {
	case "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH":
		return true
	}
	return false
}

// newRayToken makes the Ray token of one cluster instance: 256 random bits,
// hex.
func newRayToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // never fails on Linux
	}
	return hex.EncodeToString(b)
}

// buildTokenSecret returns the secret of c's current instance holding
// token, owned by its RayCluster (owner, when known).
func buildTokenSecret(c *rayfleet.Cluster, namespace, token string, owner *metav1.OwnerReference) *corev1.Secret {
	s := &corev1.Secret{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{
			Name: tokenSecretName(c.InstanceID), Namespace: namespace, Labels: clusterLabels(c),
		},
		Type:      corev1.SecretTypeOpaque,
		Immutable: ptr.To(true),
		Data:      map[string][]byte{tokenKey: []byte(token)},
	}
	s.Labels[labelPurpose] = purposeRayToken
	if owner != nil {
		s.OwnerReferences = []metav1.OwnerReference{*owner}
	}
	return s
}

// ensureToken makes the token secret of c's current instance unless the
// cache shows it, and makes the RayCluster ownerUID (when known) its owner.
func (r *Runtime) ensureToken(ctx context.Context, c *rayfleet.Cluster, ns, ownerUID string) error {
	owner := ownerOf(c.ID, ownerUID)
	name := tokenSecretName(c.InstanceID)
	var have corev1.Secret
	err := r.cache.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &have, client.UnsafeDisableDeepCopy)
	switch {
	case err == nil:
		if !isTokenOf(&have, c) {
			return fmt.Errorf("secret %s/%s is not the Ray token of %s; not using it", ns, name, c.InstanceID)
		}
		if owner == nil || hasOwner(&have, owner.UID) {
			return nil
		}
		err := r.setOwner(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}, owner)
		if !apierrors.IsNotFound(err) {
			return err
		}
		// Gone with a RayCluster deleted under the instance (the cache
		// had not seen it go): the new RayCluster's pods get a new one.
	case !apierrors.IsNotFound(err):
		return fmt.Errorf("read secret %s/%s: %w", ns, name, err)
	}
	err = r.client.Create(ctx, buildTokenSecret(c, ns, newRayToken(), owner), client.FieldOwner(r.cfg.FieldManager))
	if apierrors.IsAlreadyExists(err) {
		// Made a moment ago, not in the cache yet: the next Apply
		// sees it, and gives it its owner then.
		return nil
	}
	if err != nil {
		return fmt.Errorf("create secret %s/%s: %w", ns, name, err)
	}
	return nil
}

// setOwner makes owner the only owner of obj (a merge patch replaces the
// list), leaving the rest of it alone. A missing obj is the API server's
// NotFound, unwrapped.
func (r *Runtime) setOwner(ctx context.Context, obj client.Object, owner *metav1.OwnerReference) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"ownerReferences": []metav1.OwnerReference{*owner}}})
	if err != nil {
		return err
	}
	err = r.client.Patch(ctx, obj, client.RawPatch(types.MergePatchType, patch), client.FieldOwner(r.cfg.FieldManager))
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("set the owner of %T %s/%s: %w", obj, obj.GetNamespace(), obj.GetName(), err)
	}
	return err
}

// isTokenOf reports whether s is the token secret of c's current instance.
func isTokenOf(s *corev1.Secret, c *rayfleet.Cluster) bool {
	l := s.Labels
	return l[labelManagedBy] == managedByValue && l[labelPurpose] == purposeRayToken &&
		l[labelAccount] == c.AccountID && l[labelWorkspace] == c.WorkspaceID &&
		l[labelCluster] == c.ID && l[labelInstance] == c.InstanceID
}

// dropOldTokens deletes the token secrets of c's other instances that the
// cache shows.
func (r *Runtime) dropOldTokens(ctx context.Context, c *rayfleet.Cluster, ns string) error {
	var secrets corev1.SecretList
	if err := r.cache.List(ctx, &secrets, client.InNamespace(ns), ofCluster(c.ID),
		client.MatchingLabels{labelPurpose: purposeRayToken}); err != nil {
		return fmt.Errorf("list the token secrets of %s/%s: %w", ns, c.ID, err)
	}
	for i := range secrets.Items {
		s := &secrets.Items[i]
		if s.Labels[labelInstance] != c.InstanceID && s.DeletionTimestamp == nil {
			if err := r.deleteIgnoringMissing(ctx, s); err != nil {
				return err
			}
		}
	}
	return nil
}

// HeadToken returns Ray's token of c's current instance, for the gateway
// to send to its head; "" while the cache has no token secret of that
// instance (the head then refuses the gateway, which is the safe way to
// fail).
func (r *Runtime) HeadToken(c *rayfleet.Cluster) string {
	if r.isClosed() || checkIDs(c) != nil || c.InstanceID == "" {
		return ""
	}
	var s corev1.Secret
	key := client.ObjectKey{Namespace: r.namespaceName(c.WorkspaceID), Name: tokenSecretName(c.InstanceID)}
	if err := r.cache.Get(context.Background(), key, &s, client.UnsafeDisableDeepCopy); err != nil || !isTokenOf(&s, c) {
		return ""
	}
	return string(s.Data[tokenKey])
}
