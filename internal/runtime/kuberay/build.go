package kuberay

import (
	"fmt"
	"regexp"
	"strings"

	rayv1 "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/rayfleet/rayfleet"
)

// specError is a spec the runtime cannot run (unknown GPU type or release,
// unparsable env or rayStartParams, a combination KubeRay refuses): the
// cluster fails with it; retrying would change nothing.
type specError struct{ msg string }

func (e *specError) Error() string { return e.msg }

func specErrorf(format string, args ...any) error {
	return &specError{fmt.Sprintf(format, args...)}
}

// buildOptions is what the builder needs beyond the cluster.
type buildOptions struct {
	Namespace string
	Image     func(release string) (string, bool)
	GPUTypes  map[string]GPUType
	// NetworkLabels are extra pod labels for the network service.
	NetworkLabels map[string]string
	// TokenSecret, if set, is the secret holding the instance's Ray token
	// (token.go): Ray's token authentication is on, the token read from it.
	TokenSecret string
	// LiveReplicas are the worker replicas the RayCluster of this instance
	// runs now, by group. Under autoscaling they win over the spec's
	// replica (clamped to min/max): the Ray autoscaler owns that number
	// once the cluster runs, and re-applying the spec's would undo its
	// every decision.
	LiveReplicas map[string]int32
}

// buildRayCluster returns the RayCluster of c's current instance, as it
// should be applied: the head group and one worker group per WorkerSpec of
// c.RunningSpec, spec.suspend off. Only the fields set here are applied;
// everything else is KubeRay's or the API server's to default.
func buildRayCluster(c *rayfleet.Cluster, o buildOptions) (*rayv1.RayCluster, error) {
	rc, err := buildUnchecked(c, o)
	if err != nil {
		return nil, err
	}
	if err := validateForKubeRay(rc); err != nil {
		return nil, err
	}
	return rc, nil
}

// buildUnchecked is buildRayCluster without the checks of what KubeRay
// refuses (for the tests that compare those checks with KubeRay's own).
func buildUnchecked(c *rayfleet.Cluster, o buildOptions) (*rayv1.RayCluster, error) {
	spec := &c.RunningSpec
	h := &spec.Head

	labels := clusterLabels(c)
	annotations := map[string]string{}
	if spec.Name != "" {
		annotations[annotationName] = spec.Name
	}
	setQueue(labels, annotations, h.QueueName)

	head, err := buildPodTemplate(c, o, nodeTypeHead, h.QueueName, groupSpec{
		field: "headSpec", cpu: h.CPU, memory: h.Memory, gpu: h.GPUSpec,
		release: firstNonEmpty(h.ReleaseVersion, spec.ReleaseVersion), env: h.Env,
	})
	if err != nil {
		return nil, err
	}
	headParams, err := parseRayStartParams(h.RayStartParams)
	if err != nil {
		return nil, specErrorf("headSpec.rayStartParams %s", err)
	}

	rc := &rayv1.RayCluster{
		TypeMeta: metav1.TypeMeta{APIVersion: rayv1.GroupVersion.String(), Kind: "RayCluster"},
		ObjectMeta: metav1.ObjectMeta{
			Name: c.ID, Namespace: o.Namespace, Labels: labels, Annotations: annotations,
		},
		Spec: rayv1.RayClusterSpec{
			Suspend: ptr.To(false),
			// Always explicit, so that switching autoscaling off is applied
			// too, not left at its last value.
			EnableInTreeAutoscaling: ptr.To(h.EnableAutoScaling),
			RayVersion:              rayVersion(firstNonEmpty(spec.ReleaseVersion, h.ReleaseVersion)),
			HeadGroupSpec: rayv1.HeadGroupSpec{
				Template:       head,
				RayStartParams: headParams,
			},
		},
	}
	if h.EnableAutoScaling && h.IdleTimeoutSeconds > 0 {
		rc.Spec.AutoscalerOptions = &rayv1.AutoscalerOptions{IdleTimeoutSeconds: ptr.To(h.IdleTimeoutSeconds)}
	}
	if h.EnableAutoScaling && o.TokenSecret != "" {
		// The autoscaler sidecar talks to the GCS: it needs the token too.
		if rc.Spec.AutoscalerOptions == nil {
			rc.Spec.AutoscalerOptions = &rayv1.AutoscalerOptions{}
		}
		rc.Spec.AutoscalerOptions.Env = authEnv(o.TokenSecret)
	}
	if gcs, err := gcsFaultTolerance(c); err != nil {
		return nil, err
	} else if gcs != nil {
		rc.Spec.GcsFaultToleranceOptions = gcs
	}

	for i := range spec.Workers {
		w := &spec.Workers[i]
		field := fmt.Sprintf("workerSpec group %q", w.GroupName)
		tmpl, err := buildPodTemplate(c, o, nodeTypeWorker, w.QueueName, groupSpec{
			field: field, cpu: w.CPU, memory: w.Memory, gpu: w.GPUSpec,
			release: firstNonEmpty(w.ReleaseVersion, spec.ReleaseVersion), env: w.Env,
		})
		if err != nil {
			return nil, err
		}
		params, err := parseRayStartParams(w.RayStartParams)
		if err != nil {
			return nil, specErrorf("%s rayStartParams %s", field, err)
		}
		lo, hi := w.MinReplica, w.MaxReplica
		if !h.EnableAutoScaling {
			// Without an autoscaler the group runs exactly replica nodes;
			// KubeRay clamps replicas into [min, max], so they must hold it.
			lo, hi = min(lo, w.Replica), max(hi, w.Replica)
		}
		replicas := w.Replica
		if live, ok := o.LiveReplicas[w.GroupName]; ok && h.EnableAutoScaling {
			replicas = min(max(live, lo), hi)
		}
		rc.Spec.WorkerGroupSpecs = append(rc.Spec.WorkerGroupSpecs, rayv1.WorkerGroupSpec{
			GroupName:      w.GroupName,
			Replicas:       ptr.To(replicas),
			MinReplicas:    ptr.To(lo),
			MaxReplicas:    ptr.To(hi),
			RayStartParams: params,
			Template:       tmpl,
		})
	}
	return rc, nil
}

// groupSpec is what a head or worker group's pods are made of.
type groupSpec struct {
	field                          string // for messages: "headSpec", `workerSpec group "a"`
	cpu, memory, gpu, release, env string
}

func buildPodTemplate(c *rayfleet.Cluster, o buildOptions, nodeType, queue string, g groupSpec) (corev1.PodTemplateSpec, error) {
	var t corev1.PodTemplateSpec
	image, ok := o.Image(g.release)
	if !ok || image == "" {
		return t, specErrorf("%s: release version %q has no container image; pick one of ListReleaseVersions", g.field, g.release)
	}
	milli, err := rayfleet.ParseCPU(g.cpu)
	if err != nil {
		return t, specErrorf("%s.cpu %s", g.field, err)
	}
	mem, err := rayfleet.ParseMemory(g.memory)
	if err != nil {
		return t, specErrorf("%s.memory %s", g.field, err)
	}
	// Requests and limits are the same: a node gets what its spec says,
	// no more (Ray sizes itself from the limits) and no less.
	res := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewMilliQuantity(milli, resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(mem, resource.BinarySI),
	}
	var nodeSelector map[string]string
	if g.gpu != "" {
		gt, ok := o.GPUTypes[g.gpu]
		if !ok {
			return t, specErrorf("%s.gpuSpec %q is not a GPU type this server knows", g.field, g.gpu)
		}
		if gt.GPUs > 0 {
			res[corev1.ResourceName(gt.Resource)] = *resource.NewQuantity(int64(gt.GPUs), resource.DecimalSI)
		}
		if len(gt.NodeSelector) > 0 {
			nodeSelector = make(map[string]string, len(gt.NodeSelector))
			for k, v := range gt.NodeSelector {
				nodeSelector[k] = v
			}
		}
	}
	env, err := containerEnv(g.env)
	if err != nil {
		return t, specErrorf("%s.env %s", g.field, err)
	}
	if o.TokenSecret != "" {
		env = append(env, authEnv(o.TokenSecret)...)
	}
	name := headContainer
	if nodeType == nodeTypeWorker {
		name = workerContainer
	}
	t.Labels = podLabels(c, queue, o.NetworkLabels)
	t.Spec = corev1.PodSpec{
		Containers: []corev1.Container{{
			Name:      name,
			Image:     image,
			Env:       env,
			Resources: corev1.ResourceRequirements{Requests: res, Limits: res.DeepCopy()},
		}},
		NodeSelector: nodeSelector,
	}
	return t, nil
}

// containerEnv turns env lines into container env. A name given twice keeps
// its last value, as a shell would; Kubernetes keys env by name, and a
// server-side apply with a duplicate name is refused. Ray's authentication
// settings are the runtime's (ownedEnv): lines setting them are left out.
func containerEnv(s string) ([]corev1.EnvVar, error) {
	lines, err := rayfleet.ParseEnv(s)
	if err != nil {
		return nil, err
	}
	var out []corev1.EnvVar
	at := map[string]int{}
	for _, kv := range lines {
		if ownedEnv(kv[0]) {
			continue
		}
		if i, ok := at[kv[0]]; ok {
			out[i].Value = kv[1]
			continue
		}
		at[kv[0]] = len(out)
		out = append(out, corev1.EnvVar{Name: kv[0], Value: kv[1]})
	}
	return out, nil
}

// gftEnabled reports whether c runs with GCS fault tolerance.
func gftEnabled(c *rayfleet.Cluster) bool {
	h := &c.RunningSpec.Head
	return h.GFTEnabled != nil && *h.GFTEnabled
}

// gcsFaultTolerance returns the GCS fault tolerance options of c, nil when
// it is off. The Redis credentials are read from the cluster's secret
// (buildSecret), never written into the RayCluster.
//
// The external storage namespace is the instance id: each start of a
// cluster is a new Ray cluster and must not recover the previous
// instance's GCS state (its jobs, detached actors) from Redis; within an
// instance, a restarted head recovers. KubeRay's default, the RayCluster's
// uid, would outlive instances.
func gcsFaultTolerance(c *rayfleet.Cluster) (*rayv1.GcsFaultToleranceOptions, error) {
	if !gftEnabled(c) {
		return nil, nil
	}
	g := c.RunningSpec.Head.GFTConfig
	if g == nil || strings.TrimSpace(g.RedisURL) == "" {
		return nil, specErrorf("headSpec.gftConfig.redisUrl is required when headSpec.gftEnabled is true")
	}
	opts := &rayv1.GcsFaultToleranceOptions{
		RedisAddress:             strings.TrimSpace(g.RedisURL),
		ExternalStorageNamespace: c.InstanceID,
	}
	ref := func(key string) *rayv1.RedisCredential {
		return &rayv1.RedisCredential{ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: secretName(c.ID)}, Key: key,
		}}}
	}
	if g.RedisPassword != "" {
		opts.RedisPassword = ref(secretPassword)
	}
	if g.RedisUsername != "" {
		opts.RedisUsername = ref(secretUsername)
	}
	return opts, nil
}

// buildSecret returns the secret holding c's Redis credentials, owned by
// its RayCluster (owner, when known) so that it goes with it; nil when c
// needs none.
func buildSecret(c *rayfleet.Cluster, namespace string, owner *metav1.OwnerReference) *corev1.Secret {
	if !gftEnabled(c) || c.RunningSpec.Head.GFTConfig == nil {
		return nil
	}
	g := c.RunningSpec.Head.GFTConfig
	if g.RedisPassword == "" && g.RedisUsername == "" {
		return nil
	}
	s := &corev1.Secret{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{
			Name: secretName(c.ID), Namespace: namespace, Labels: clusterLabels(c),
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{},
	}
	delete(s.Labels, labelInstance) // one secret serves every instance
	if g.RedisPassword != "" {
		s.Data[secretPassword] = []byte(g.RedisPassword)
	}
	if g.RedisUsername != "" {
		s.Data[secretUsername] = []byte(g.RedisUsername)
	}
	if owner != nil {
		s.OwnerReferences = []metav1.OwnerReference{*owner}
	}
	return s
}

// ownerRef makes an owner reference to a RayCluster. It neither blocks the
// owner's deletion nor claims to be its controller: that would need rights
// on rayclusters/finalizers, and the runtime deletes the secret itself.
func ownerRef(name, uid string) *metav1.OwnerReference {
	return &metav1.OwnerReference{
		APIVersion: rayv1.GroupVersion.String(), Kind: "RayCluster", Name: name, UID: types.UID(uid),
	}
}

// ownerOf is ownerRef, or nil while the RayCluster's uid is not known
// (uid is "").
func ownerOf(name, uid string) *metav1.OwnerReference {
	if uid == "" {
		return nil
	}
	return ownerRef(name, uid)
}

var rayVersionRE = regexp.MustCompile(`\(Ray ([0-9]+\.[0-9]+\.[0-9]+[^,) ]*)`)

// rayVersion reads the Ray version from a release display string
// ("ray-1.0.0 (Ray 2.47.1, Python 3.12)", rayfleet.DisplayName), for
// spec.rayVersion. KubeRay v1.5.0 reads that field only for RayJobs; here it
// tells kubectl users which Ray a cluster runs. "" when the display string
// does not say.
func rayVersion(display string) string {
	if m := rayVersionRE.FindStringSubmatch(display); m != nil {
		return m[1]
	}
	return ""
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// validateForKubeRay refuses what the KubeRay v1.5.0 operator would refuse
// (controllers/ray/utils/validation.go, ValidateRayClusterSpec) from what
// owners write: the operator only records an event and never makes pods,
// so the cluster would sit in Starting until its timeout with no word why.
func validateForKubeRay(rc *rayv1.RayCluster) error {
	spec := &rc.Spec
	groups := []struct {
		field  string
		params map[string]string
		env    []corev1.EnvVar
	}{{"headSpec", spec.HeadGroupSpec.RayStartParams, spec.HeadGroupSpec.Template.Spec.Containers[0].Env}}
	for _, w := range spec.WorkerGroupSpecs {
		groups = append(groups, struct {
			field  string
			params map[string]string
			env    []corev1.EnvVar
		}{fmt.Sprintf("workerSpec group %q", w.GroupName), w.RayStartParams, w.Template.Spec.Containers[0].Env})
	}
	for _, g := range groups {
		if _, ok := g.params["labels"]; ok {
			return specErrorf("%s.rayStartParams: --labels is not supported on Kubernetes (KubeRay refuses it)", g.field)
		}
	}
	headEnv := groups[0].env
	headParams := groups[0].params
	gcs := spec.GcsFaultToleranceOptions != nil
	switch {
	case !gcs && hasEnv(headEnv, "RAY_REDIS_ADDRESS"):
		return specErrorf("headSpec.env: RAY_REDIS_ADDRESS turns on GCS fault tolerance; use headSpec.gftEnabled and gftConfig instead")
	case gcs && headParams["redis-password"] != "":
		return specErrorf("headSpec.rayStartParams: --redis-password cannot be used with GCS fault tolerance; use gftConfig.redisPassword")
	case gcs && hasEnv(headEnv, "REDIS_PASSWORD"):
		return specErrorf("headSpec.env: REDIS_PASSWORD cannot be used with GCS fault tolerance; use gftConfig.redisPassword")
	case gcs && hasEnv(headEnv, "RAY_REDIS_ADDRESS"):
		return specErrorf("headSpec.env: RAY_REDIS_ADDRESS cannot be used with GCS fault tolerance; use gftConfig.redisUrl")
	case headParams["redis-username"] != "" || hasEnv(headEnv, "REDIS_USERNAME"):
		return specErrorf("headSpec: a Redis username goes in gftConfig.redisUsername, not in rayStartParams or env")
	}
	if spec.EnableInTreeAutoscaling == nil || !*spec.EnableInTreeAutoscaling {
		for _, e := range headEnv {
			if e.Name == "RAY_enable_autoscaler_v2" && (e.Value == "1" || e.Value == "true") {
				return specErrorf("headSpec.env: RAY_enable_autoscaler_v2=%s needs headSpec.enableAutoScaling", e.Value)
			}
		}
	}
	return nil
}

func hasEnv(env []corev1.EnvVar, name string) bool {
	for _, e := range env {
		if e.Name == name {
			return true
		}
	}
	return false
}

// replicasOf returns the worker replicas of a RayCluster by group.
func replicasOf(rc *rayv1.RayCluster) map[string]int32 {
	out := make(map[string]int32, len(rc.Spec.WorkerGroupSpecs))
	for _, w := range rc.Spec.WorkerGroupSpecs {
		out[w.GroupName] = ptr.Deref(w.Replicas, 0)
	}
	return out
}
