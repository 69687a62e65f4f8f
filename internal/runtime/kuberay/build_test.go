package kuberay

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	rayv1 "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
	kuberayutils "github.com/ray-project/kuberay/ray-operator/controllers/ray/utils"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	"github.com/rayfleet/rayfleet"
)

func mustBuild(t *testing.T, c *rayfleet.Cluster, o buildOptions) *rayv1.RayCluster {
	t.Helper()
	rc, err := buildRayCluster(c, o)
	if err != nil {
		t.Fatalf("buildRayCluster: %v", err)
	}
	return rc
}

func quantity(t *testing.T, l corev1.ResourceList, name corev1.ResourceName) string {
	t.Helper()
	q, ok := l[name]
	if !ok {
		return ""
	}
	return q.String()
}

// TestBuildBase checks where every field of the base fixture lands.
func TestBuildBase(t *testing.T) {
	c := newTestCluster("ray-base0000000000001")
	rc := mustBuild(t, c, testBuildOptions())

	if rc.Name != c.ID || rc.Namespace != "rayfleet-w-0123456789abcdef" {
		t.Errorf("name %s/%s", rc.Namespace, rc.Name)
	}
	if rc.APIVersion != "ray.io/v1" || rc.Kind != "RayCluster" {
		t.Errorf("type %s %s", rc.APIVersion, rc.Kind)
	}
	wantLabels := map[string]string{
		"app.kubernetes.io/managed-by": "rayfleet",
		"rayfleet.io/account":          c.AccountID,
		"rayfleet.io/workspace":        c.WorkspaceID,
		"rayfleet.io/cluster":          c.ID,
		"rayfleet.io/instance":         c.InstanceID,
		"rayfleet.io/queue":            "root_queue",
	}
	if !reflect.DeepEqual(rc.Labels, wantLabels) {
		t.Errorf("labels = %v, want %v", rc.Labels, wantLabels)
	}
	if rc.Annotations[annotationName] != c.Spec.Name {
		t.Errorf("name annotation = %q", rc.Annotations[annotationName])
	}
	s := rc.Spec
	if s.Suspend == nil || *s.Suspend {
		t.Errorf("suspend = %v, want false", s.Suspend)
	}
	if s.EnableInTreeAutoscaling == nil || *s.EnableInTreeAutoscaling {
		t.Errorf("enableInTreeAutoscaling = %v, want explicit false", s.EnableInTreeAutoscaling)
	}
	if s.AutoscalerOptions != nil || s.GcsFaultToleranceOptions != nil {
		t.Errorf("autoscalerOptions %v, gcs %v: want none", s.AutoscalerOptions, s.GcsFaultToleranceOptions)
	}
	if s.RayVersion != "2.47.1" {
		t.Errorf("rayVersion = %q", s.RayVersion)
	}
	head := s.HeadGroupSpec
	if head.RayStartParams == nil || len(head.RayStartParams) != 0 {
		t.Errorf("head rayStartParams = %#v, want an empty map (the CRD field is not omitempty)", head.RayStartParams)
	}
	hc := head.Template.Spec.Containers
	if len(hc) != 1 || hc[0].Name != "ray-head" || hc[0].Image != testImage {
		t.Fatalf("head containers = %+v", hc)
	}
	for _, l := range []corev1.ResourceList{hc[0].Resources.Requests, hc[0].Resources.Limits} {
		if quantity(t, l, corev1.ResourceCPU) != "1" || quantity(t, l, corev1.ResourceMemory) != "2Gi" || len(l) != 2 {
			t.Errorf("head resources = %v", l)
		}
	}
	if head.Template.Spec.NodeSelector != nil {
		t.Errorf("head nodeSelector = %v", head.Template.Spec.NodeSelector)
	}
	if !reflect.DeepEqual(head.Template.Labels, wantLabels) {
		t.Errorf("head pod labels = %v, want %v", head.Template.Labels, wantLabels)
	}
	if len(s.WorkerGroupSpecs) != 1 {
		t.Fatalf("worker groups = %d", len(s.WorkerGroupSpecs))
	}
	w := s.WorkerGroupSpecs[0]
	if w.GroupName != "group-a" || ptr.Deref(w.Replicas, -1) != 2 || ptr.Deref(w.MinReplicas, -1) != 0 || ptr.Deref(w.MaxReplicas, -1) != 2 {
		t.Errorf("worker group %s replicas %v min %v max %v", w.GroupName, ptr.Deref(w.Replicas, -1), ptr.Deref(w.MinReplicas, -1), ptr.Deref(w.MaxReplicas, -1))
	}
	wc := w.Template.Spec.Containers
	if len(wc) != 1 || wc[0].Name != "ray-worker" || wc[0].Image != testImage {
		t.Fatalf("worker containers = %+v", wc)
	}
	if w.RayStartParams == nil {
		t.Error("worker rayStartParams is nil")
	}
	if !reflect.DeepEqual(w.Template.Labels, wantLabels) {
		t.Errorf("worker pod labels = %v", w.Template.Labels)
	}
}

func TestBuildFields(t *testing.T) {
	tests := []struct {
		name  string
		tweak func(c *rayfleet.Cluster, o *buildOptions)
		check func(t *testing.T, rc *rayv1.RayCluster)
	}{{
		name: "per-group release overrides the cluster's",
		tweak: func(c *rayfleet.Cluster, _ *buildOptions) {
			c.RunningSpec.Workers[0].ReleaseVersion = "ray-1.2.0 (Ray 2.55.1, Python 3.12)"
		},
		check: func(t *testing.T, rc *rayv1.RayCluster) {
			if got := rc.Spec.WorkerGroupSpecs[0].Template.Spec.Containers[0].Image; got != "rayproject/ray:2.55.1-py312" {
				t.Errorf("worker image = %s", got)
			}
			if got := rc.Spec.HeadGroupSpec.Template.Spec.Containers[0].Image; got != testImage {
				t.Errorf("head image = %s", got)
			}
		},
	}, {
		name: "millicores and other memory units",
		tweak: func(c *rayfleet.Cluster, _ *buildOptions) {
			c.RunningSpec.Head.CPU, c.RunningSpec.Head.Memory = "500m", "512Mi"
			c.RunningSpec.Workers[0].CPU, c.RunningSpec.Workers[0].Memory = "2.5", "16G"
		},
		check: func(t *testing.T, rc *rayv1.RayCluster) {
			h := rc.Spec.HeadGroupSpec.Template.Spec.Containers[0].Resources
			if quantity(t, h.Limits, corev1.ResourceCPU) != "500m" || quantity(t, h.Requests, corev1.ResourceMemory) != "512Mi" {
				t.Errorf("head resources %v", h)
			}
			w := rc.Spec.WorkerGroupSpecs[0].Template.Spec.Containers[0].Resources
			if q := w.Limits[corev1.ResourceCPU]; q.MilliValue() != 2500 {
				t.Errorf("worker cpu %s", q.String())
			}
			if q := w.Requests[corev1.ResourceMemory]; q.Value() != 16e9 {
				t.Errorf("worker memory %s", q.String())
			}
		},
	}, {
		name: "env lines become container env, last value of a name wins",
		tweak: func(c *rayfleet.Cluster, _ *buildOptions) {
			c.RunningSpec.Head.Env = "A=1\n\nB=x=y\r\nA=2\n"
			c.RunningSpec.Workers[0].Env = "ONLY_WORKER=yes"
		},
		check: func(t *testing.T, rc *rayv1.RayCluster) {
			want := []corev1.EnvVar{{Name: "A", Value: "2"}, {Name: "B", Value: "x=y"}}
			if got := rc.Spec.HeadGroupSpec.Template.Spec.Containers[0].Env; !reflect.DeepEqual(got, want) {
				t.Errorf("head env = %v, want %v", got, want)
			}
			want = []corev1.EnvVar{{Name: "ONLY_WORKER", Value: "yes"}}
			if got := rc.Spec.WorkerGroupSpecs[0].Template.Spec.Containers[0].Env; !reflect.DeepEqual(got, want) {
				t.Errorf("worker env = %v, want %v", got, want)
			}
		},
	}, {
		name: "rayStartParams become the rayStartParams maps",
		tweak: func(c *rayfleet.Cluster, _ *buildOptions) {
			c.RunningSpec.Head.RayStartParams = "--num-cpus=0 --dashboard-host 0.0.0.0 --disable-usage-stats"
			c.RunningSpec.Workers[0].RayStartParams = `--resources='{"A": 1}'`
		},
		check: func(t *testing.T, rc *rayv1.RayCluster) {
			want := map[string]string{"num-cpus": "0", "dashboard-host": "0.0.0.0", "disable-usage-stats": "true"}
			if got := rc.Spec.HeadGroupSpec.RayStartParams; !reflect.DeepEqual(got, want) {
				t.Errorf("head params = %v", got)
			}
			want = map[string]string{"resources": `{"A": 1}`}
			if got := rc.Spec.WorkerGroupSpecs[0].RayStartParams; !reflect.DeepEqual(got, want) {
				t.Errorf("worker params = %v", got)
			}
		},
	}, {
		name: "autoscaling with an idle timeout",
		tweak: func(c *rayfleet.Cluster, _ *buildOptions) {
			c.RunningSpec.Head.EnableAutoScaling, c.RunningSpec.Head.IdleTimeoutSeconds = true, 120
			w := &c.RunningSpec.Workers[0]
			w.MinReplica, w.Replica, w.MaxReplica = 1, 2, 5
		},
		check: func(t *testing.T, rc *rayv1.RayCluster) {
			if !ptr.Deref(rc.Spec.EnableInTreeAutoscaling, false) {
				t.Error("enableInTreeAutoscaling is off")
			}
			if rc.Spec.AutoscalerOptions == nil || ptr.Deref(rc.Spec.AutoscalerOptions.IdleTimeoutSeconds, 0) != 120 {
				t.Errorf("autoscalerOptions = %+v", rc.Spec.AutoscalerOptions)
			}
			w := rc.Spec.WorkerGroupSpecs[0]
			if *w.MinReplicas != 1 || *w.Replicas != 2 || *w.MaxReplicas != 5 {
				t.Errorf("min/replicas/max = %d/%d/%d", *w.MinReplicas, *w.Replicas, *w.MaxReplicas)
			}
		},
	}, {
		name: "autoscaling without an idle timeout leaves KubeRay's default",
		tweak: func(c *rayfleet.Cluster, _ *buildOptions) {
			c.RunningSpec.Head.EnableAutoScaling = true
			w := &c.RunningSpec.Workers[0]
			w.MinReplica, w.Replica, w.MaxReplica = 1, 2, 5
		},
		check: func(t *testing.T, rc *rayv1.RayCluster) {
			if rc.Spec.AutoscalerOptions != nil {
				t.Errorf("autoscalerOptions = %+v, want none", rc.Spec.AutoscalerOptions)
			}
		},
	}, {
		name: "under autoscaling the live replicas win, clamped to min and max",
		tweak: func(c *rayfleet.Cluster, o *buildOptions) {
			c.RunningSpec.Head.EnableAutoScaling = true
			c.RunningSpec.Workers = append(c.RunningSpec.Workers, rayfleet.WorkerSpec{
				GroupName: "group-b", Replica: 1, MinReplica: 1, MaxReplica: 3, QueueName: "root_queue", CPU: "1", Memory: "1Gi",
			}, rayfleet.WorkerSpec{
				GroupName: "group-new", Replica: 2, MinReplica: 1, MaxReplica: 3, QueueName: "root_queue", CPU: "1", Memory: "1Gi",
			})
			w := &c.RunningSpec.Workers[0]
			w.MinReplica, w.Replica, w.MaxReplica = 1, 2, 5
			o.LiveReplicas = map[string]int32{"group-a": 4, "group-b": 7}
		},
		check: func(t *testing.T, rc *rayv1.RayCluster) {
			got := replicasOf(rc)
			want := map[string]int32{"group-a": 4, "group-b": 3, "group-new": 2}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("replicas = %v, want %v", got, want)
			}
		},
	}, {
		name: "without autoscaling the spec's replicas win and min/max hold them",
		tweak: func(c *rayfleet.Cluster, o *buildOptions) {
			w := &c.RunningSpec.Workers[0]
			w.MinReplica, w.Replica, w.MaxReplica = 3, 2, 1
			o.LiveReplicas = map[string]int32{"group-a": 4}
		},
		check: func(t *testing.T, rc *rayv1.RayCluster) {
			w := rc.Spec.WorkerGroupSpecs[0]
			if *w.MinReplicas != 2 || *w.Replicas != 2 || *w.MaxReplicas != 2 {
				t.Errorf("min/replicas/max = %d/%d/%d, want 2/2/2", *w.MinReplicas, *w.Replicas, *w.MaxReplicas)
			}
		},
	}, {
		name: "GCS fault tolerance with a password and a username",
		tweak: func(c *rayfleet.Cluster, _ *buildOptions) {
			c.RunningSpec.Head.GFTEnabled = ptr.To(true)
			c.RunningSpec.Head.GFTConfig = &rayfleet.GFTConfig{RedisURL: "redis://redis.example:6379", RedisUsername: "ray", RedisPassword: "s3cret"}
		},
		check: func(t *testing.T, rc *rayv1.RayCluster) {
			g := rc.Spec.GcsFaultToleranceOptions
			if g == nil {
				t.Fatal("no gcsFaultToleranceOptions")
			}
			if g.RedisAddress != "redis://redis.example:6379" || g.ExternalStorageNamespace != rc.Labels[labelInstance] {
				t.Errorf("gcs options = %+v", g)
			}
			for key, cred := range map[string]*rayv1.RedisCredential{"password": g.RedisPassword, "username": g.RedisUsername} {
				if cred == nil || cred.Value != "" || cred.ValueFrom == nil || cred.ValueFrom.SecretKeyRef == nil ||
					cred.ValueFrom.SecretKeyRef.Name != rc.Name+"-redis" || cred.ValueFrom.SecretKeyRef.Key != key {
					t.Errorf("%s credential = %+v", key, cred)
				}
			}
			if strings.Contains(mustJSON(t, rc), "s3cret") {
				t.Error("the password is in the RayCluster")
			}
		},
	}, {
		name: "GCS fault tolerance without credentials",
		tweak: func(c *rayfleet.Cluster, _ *buildOptions) {
			c.RunningSpec.Head.GFTEnabled = ptr.To(true)
			c.RunningSpec.Head.GFTConfig = &rayfleet.GFTConfig{RedisURL: "redis:6379"}
		},
		check: func(t *testing.T, rc *rayv1.RayCluster) {
			g := rc.Spec.GcsFaultToleranceOptions
			if g == nil || g.RedisAddress != "redis:6379" || g.RedisPassword != nil || g.RedisUsername != nil {
				t.Errorf("gcs options = %+v", g)
			}
		},
	}, {
		name: "GCS fault tolerance configured but off",
		tweak: func(c *rayfleet.Cluster, _ *buildOptions) {
			c.RunningSpec.Head.GFTEnabled = ptr.To(false)
			c.RunningSpec.Head.GFTConfig = &rayfleet.GFTConfig{RedisURL: "redis:6379", RedisPassword: "x"}
		},
		check: func(t *testing.T, rc *rayv1.RayCluster) {
			if rc.Spec.GcsFaultToleranceOptions != nil {
				t.Errorf("gcs options = %+v", rc.Spec.GcsFaultToleranceOptions)
			}
		},
	}, {
		name: "token authentication: every Ray container reads the token from the instance's secret",
		tweak: func(c *rayfleet.Cluster, o *buildOptions) {
			o.TokenSecret = c.InstanceID + "-ray-token"
			c.RunningSpec.Head.Env = "A=1\nRAY_AUTH_MODE=disabled\nRAY_AUTH_TOKEN=mine\nRAY_AUTH_TOKEN_PATH=/tmp/t"
			c.RunningSpec.Workers[0].Env = "RAY_AUTH_MODE=disabled"
		},
		check: func(t *testing.T, rc *rayv1.RayCluster) {
			secret := rc.Labels[labelInstance] + "-ray-token"
			want := append([]corev1.EnvVar{{Name: "A", Value: "1"}}, authEnv(secret)...)
			if got := rc.Spec.HeadGroupSpec.Template.Spec.Containers[0].Env; !reflect.DeepEqual(got, want) {
				t.Errorf("head env = %v, want %v", got, want)
			}
			if got := rc.Spec.WorkerGroupSpecs[0].Template.Spec.Containers[0].Env; !reflect.DeepEqual(got, authEnv(secret)) {
				t.Errorf("worker env = %v", got)
			}
			tok := authEnv(secret)[1]
			if tok.Value != "" || tok.ValueFrom.SecretKeyRef.Name != secret || tok.ValueFrom.SecretKeyRef.Key != "auth_token" {
				t.Errorf("RAY_AUTH_TOKEN = %+v", tok)
			}
			if rc.Spec.AutoscalerOptions != nil {
				t.Errorf("autoscalerOptions without autoscaling: %+v", rc.Spec.AutoscalerOptions)
			}
		},
	}, {
		name: "token authentication with autoscaling: the autoscaler reads the token too",
		tweak: func(c *rayfleet.Cluster, o *buildOptions) {
			o.TokenSecret = c.InstanceID + "-ray-token"
			c.RunningSpec.Head.EnableAutoScaling, c.RunningSpec.Head.IdleTimeoutSeconds = true, 60
			w := &c.RunningSpec.Workers[0]
			w.MinReplica, w.Replica, w.MaxReplica = 1, 1, 3
		},
		check: func(t *testing.T, rc *rayv1.RayCluster) {
			a := rc.Spec.AutoscalerOptions
			if a == nil || !reflect.DeepEqual(a.Env, authEnv(rc.Labels[labelInstance]+"-ray-token")) || ptr.Deref(a.IdleTimeoutSeconds, 0) != 60 {
				t.Errorf("autoscalerOptions = %+v", a)
			}
			if err := kuberayutils.ValidateRayClusterSpec(&rc.Spec, rc.Annotations); err != nil {
				t.Errorf("KubeRay refuses it: %v", err)
			}
		},
	}, {
		name: "network labels go on the pods and never override rayfleet's",
		tweak: func(_ *rayfleet.Cluster, o *buildOptions) {
			o.NetworkLabels = map[string]string{
				"network.rayfleet.io/service": "vpc", "rayfleet.io/cluster": "other", "bad key!": "x", "ok": "bad value!",
			}
		},
		check: func(t *testing.T, rc *rayv1.RayCluster) {
			for _, l := range []map[string]string{rc.Spec.HeadGroupSpec.Template.Labels, rc.Spec.WorkerGroupSpecs[0].Template.Labels} {
				if l["network.rayfleet.io/service"] != "vpc" || l["rayfleet.io/cluster"] != rc.Name {
					t.Errorf("pod labels = %v", l)
				}
				if _, ok := l["bad key!"]; ok {
					t.Errorf("invalid label key kept: %v", l)
				}
				if _, ok := l["ok"]; ok {
					t.Errorf("invalid label value kept: %v", l)
				}
			}
			if _, ok := rc.Labels["network.rayfleet.io/service"]; ok {
				t.Error("network labels on the RayCluster itself")
			}
		},
	}, {
		name: "a queue name that cannot be a label value goes in an annotation",
		tweak: func(c *rayfleet.Cluster, _ *buildOptions) {
			c.RunningSpec.Head.QueueName = "team queue (gpu)"
			c.RunningSpec.Workers[0].QueueName = "dev_queue"
		},
		check: func(t *testing.T, rc *rayv1.RayCluster) {
			if _, ok := rc.Labels[labelQueue]; ok || rc.Annotations[annotationQueue] != "team queue (gpu)" {
				t.Errorf("labels %v annotations %v", rc.Labels, rc.Annotations)
			}
			if got := rc.Spec.WorkerGroupSpecs[0].Template.Labels[labelQueue]; got != "dev_queue" {
				t.Errorf("worker queue label = %q", got)
			}
		},
	}, {
		name:  "a stopped cluster has no instance label",
		tweak: func(c *rayfleet.Cluster, _ *buildOptions) { c.InstanceID = "" },
		check: func(t *testing.T, rc *rayv1.RayCluster) {
			if _, ok := rc.Labels[labelInstance]; ok {
				t.Errorf("labels = %v", rc.Labels)
			}
		},
	}, {
		name: "several worker groups keep their order",
		tweak: func(c *rayfleet.Cluster, _ *buildOptions) {
			c.RunningSpec.Workers = append(c.RunningSpec.Workers,
				rayfleet.WorkerSpec{GroupName: "z", Replica: 1, QueueName: "q1", CPU: "2", Memory: "4Gi"},
				rayfleet.WorkerSpec{GroupName: "b", Replica: 3, QueueName: "q2", CPU: "4", Memory: "8Gi"})
		},
		check: func(t *testing.T, rc *rayv1.RayCluster) {
			var names []string
			for _, w := range rc.Spec.WorkerGroupSpecs {
				names = append(names, w.GroupName+":"+itoa(*w.Replicas)+":"+w.Template.Labels[labelQueue])
			}
			if got := strings.Join(names, ","); got != "group-a:2:root_queue,z:1:q1,b:3:q2" {
				t.Errorf("groups = %s", got)
			}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCluster("ray-fields0000000001")
			o := testBuildOptions()
			tt.tweak(c, &o)
			tt.check(t, mustBuild(t, c, o))
		})
	}
}

func TestBuildGPU(t *testing.T) {
	tests := []struct {
		gpuSpec      string
		wantGPUs     string // "" for none
		wantSelector map[string]string
		wantErr      string
	}{
		{"", "", nil, ""},
		{"ecs.gn7i-c8g1.2xlarge", "1", map[string]string{"rayfleet.io/gpu-type": "ecs.gn7i-c8g1.2xlarge"}, ""},
		{"ecs.gn7i-2x.8xlarge", "2", map[string]string{"rayfleet.io/gpu-type": "ecs.gn7i-2x.8xlarge"}, ""},
		{"cpu-only-pool", "", map[string]string{"pool": "cpu"}, ""},
		{"ecs.unknown", "", nil, `gpuSpec "ecs.unknown" is not a GPU type this server knows`},
	}
	for _, tt := range tests {
		for _, group := range []string{"head", "worker"} {
			t.Run(group+"/"+tt.gpuSpec, func(t *testing.T) {
				c := newTestCluster("ray-gpu0000000000001")
				if group == "head" {
					c.RunningSpec.Head.GPUSpec = tt.gpuSpec
				} else {
					c.RunningSpec.Workers[0].GPUSpec = tt.gpuSpec
				}
				rc, err := buildRayCluster(c, testBuildOptions())
				if tt.wantErr != "" {
					if _, ok := errors.AsType[*specError](err); !ok || !strings.Contains(err.Error(), tt.wantErr) {
						t.Fatalf("err = %v, want a specError with %q", err, tt.wantErr)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				tmpl := rc.Spec.HeadGroupSpec.Template
				other := rc.Spec.WorkerGroupSpecs[0].Template
				if group == "worker" {
					tmpl, other = other, tmpl
				}
				res := tmpl.Spec.Containers[0].Resources
				gpu := corev1.ResourceName("nvidia.com/gpu")
				if got := quantity(t, res.Limits, gpu); got != tt.wantGPUs {
					t.Errorf("gpu limit = %q, want %q", got, tt.wantGPUs)
				}
				if got := quantity(t, res.Requests, gpu); got != tt.wantGPUs {
					t.Errorf("gpu request = %q, want %q", got, tt.wantGPUs)
				}
				if !reflect.DeepEqual(tmpl.Spec.NodeSelector, tt.wantSelector) {
					t.Errorf("nodeSelector = %v, want %v", tmpl.Spec.NodeSelector, tt.wantSelector)
				}
				if _, ok := other.Spec.Containers[0].Resources.Limits[gpu]; ok || other.Spec.NodeSelector != nil {
					t.Errorf("the other group got GPUs too: %v", other.Spec)
				}
			})
		}
	}
}

// TestBuildSpecErrors: what the runtime cannot run is a specError (the
// cluster's Failure), with a message that names the field.
func TestBuildSpecErrors(t *testing.T) {
	tests := []struct {
		name  string
		tweak func(c *rayfleet.Cluster)
		want  string
	}{
		{"unknown cluster release", func(c *rayfleet.Cluster) { c.RunningSpec.ReleaseVersion = "ray-9" }, `headSpec: release version "ray-9" has no container image`},
		{"unknown group release", func(c *rayfleet.Cluster) { c.RunningSpec.Workers[0].ReleaseVersion = "ray-9" }, `workerSpec group "group-a": release version "ray-9"`},
		{"bad cpu", func(c *rayfleet.Cluster) { c.RunningSpec.Head.CPU = "lots" }, "headSpec.cpu"},
		{"bad memory", func(c *rayfleet.Cluster) { c.RunningSpec.Workers[0].Memory = "8" }, `workerSpec group "group-a".memory`},
		{"bad env", func(c *rayfleet.Cluster) { c.RunningSpec.Head.Env = "NOT A LINE" }, "headSpec.env"},
		{"bad params", func(c *rayfleet.Cluster) { c.RunningSpec.Workers[0].RayStartParams = "--a 'open" }, `workerSpec group "group-a" rayStartParams has an unterminated ' quote`},
		{"not an option", func(c *rayfleet.Cluster) { c.RunningSpec.Head.RayStartParams = "foo" }, "headSpec.rayStartParams"},
		{"gft without url", func(c *rayfleet.Cluster) { c.RunningSpec.Head.GFTEnabled = ptr.To(true) }, "redisUrl is required"},
		{"labels param", func(c *rayfleet.Cluster) { c.RunningSpec.Workers[0].RayStartParams = "--labels=a=b" }, "--labels is not supported"},
		{"redis address env without gft", func(c *rayfleet.Cluster) { c.RunningSpec.Head.Env = "RAY_REDIS_ADDRESS=r:6379" }, "RAY_REDIS_ADDRESS"},
		{"autoscaler v2 env without autoscaling", func(c *rayfleet.Cluster) { c.RunningSpec.Head.Env = "RAY_enable_autoscaler_v2=1" }, "needs headSpec.enableAutoScaling"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCluster("ray-err0000000000001")
			tt.tweak(c)
			_, err := buildRayCluster(c, testBuildOptions())
			if _, ok := errors.AsType[*specError](err); !ok || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want a specError with %q", err, tt.want)
			}
		})
	}
}

// TestValidateLikeKubeRay checks validateForKubeRay against the operator's
// own validation (same KubeRay version), case by case: rayfleet must
// refuse exactly what KubeRay would silently ignore.
func TestValidateLikeKubeRay(t *testing.T) {
	gft := func(c *rayfleet.Cluster) {
		c.RunningSpec.Head.GFTEnabled = ptr.To(true)
		c.RunningSpec.Head.GFTConfig = &rayfleet.GFTConfig{RedisURL: "redis:6379", RedisPassword: "p"}
	}
	auto := func(c *rayfleet.Cluster) {
		c.RunningSpec.Head.EnableAutoScaling = true
		c.RunningSpec.Workers[0].MinReplica, c.RunningSpec.Workers[0].MaxReplica = 1, 3
	}
	tests := []struct {
		name  string
		tweak func(c *rayfleet.Cluster)
	}{
		{"base", func(*rayfleet.Cluster) {}},
		{"labels on head", func(c *rayfleet.Cluster) { c.RunningSpec.Head.RayStartParams = "--labels=x=y" }},
		{"labels on worker", func(c *rayfleet.Cluster) { c.RunningSpec.Workers[0].RayStartParams = "--labels x=y" }},
		{"num-cpus param", func(c *rayfleet.Cluster) { c.RunningSpec.Head.RayStartParams = "--num-cpus=4" }},
		{"redis address env", func(c *rayfleet.Cluster) { c.RunningSpec.Head.Env = "RAY_REDIS_ADDRESS=x:1" }},
		{"redis address env on a worker", func(c *rayfleet.Cluster) { c.RunningSpec.Workers[0].Env = "RAY_REDIS_ADDRESS=x:1" }},
		{"gft", gft},
		{"gft and redis-password param", func(c *rayfleet.Cluster) { gft(c); c.RunningSpec.Head.RayStartParams = "--redis-password=x" }},
		{"redis-password param without gft", func(c *rayfleet.Cluster) { c.RunningSpec.Head.RayStartParams = "--redis-password=x" }},
		{"gft and REDIS_PASSWORD", func(c *rayfleet.Cluster) { gft(c); c.RunningSpec.Head.Env = "REDIS_PASSWORD=x" }},
		{"gft and RAY_REDIS_ADDRESS", func(c *rayfleet.Cluster) { gft(c); c.RunningSpec.Head.Env = "RAY_REDIS_ADDRESS=x:1" }},
		{"redis-username param", func(c *rayfleet.Cluster) { c.RunningSpec.Head.RayStartParams = "--redis-username=x" }},
		{"REDIS_USERNAME env", func(c *rayfleet.Cluster) { c.RunningSpec.Head.Env = "REDIS_USERNAME=x" }},
		{"autoscaler v2 env without autoscaling", func(c *rayfleet.Cluster) { c.RunningSpec.Head.Env = "RAY_enable_autoscaler_v2=true" }},
		{"autoscaler v2 env off without autoscaling", func(c *rayfleet.Cluster) { c.RunningSpec.Head.Env = "RAY_enable_autoscaler_v2=0" }},
		{"autoscaler v2 env with autoscaling", func(c *rayfleet.Cluster) { auto(c); c.RunningSpec.Head.Env = "RAY_enable_autoscaler_v2=1" }},
		{"autoscaling", auto},
		{"gpu", func(c *rayfleet.Cluster) { c.RunningSpec.Workers[0].GPUSpec = "ecs.gn7i-c8g1.2xlarge" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCluster("ray-validate00000001")
			tt.tweak(c)
			rc, err := buildUnchecked(c, testBuildOptions())
			if err != nil {
				t.Fatal(err)
			}
			ours := validateForKubeRay(rc)
			theirs := kuberayutils.ValidateRayClusterSpec(&rc.Spec, rc.Annotations)
			if (ours == nil) != (theirs == nil) {
				t.Errorf("rayfleet says %v, KubeRay says %v", ours, theirs)
			}
			if err := kuberayutils.ValidateRayClusterMetadata(rc.ObjectMeta); err != nil {
				t.Errorf("KubeRay refuses the metadata: %v", err)
			}
		})
	}
}

func TestBuildSecret(t *testing.T) {
	c := newTestCluster("ray-secret0000000001")
	if s := buildSecret(c, "ns", nil); s != nil {
		t.Fatalf("secret without GFT: %+v", s)
	}
	c.RunningSpec.Head.GFTEnabled = ptr.To(true)
	c.RunningSpec.Head.GFTConfig = &rayfleet.GFTConfig{RedisURL: "redis:6379"}
	if s := buildSecret(c, "ns", nil); s != nil {
		t.Fatalf("secret without credentials: %+v", s)
	}
	c.RunningSpec.Head.GFTConfig.RedisPassword = "s3cret"
	s := buildSecret(c, "ns", ownerRef(c.ID, "uid-1"))
	if s == nil {
		t.Fatal("no secret")
	}
	if s.Name != c.ID+"-redis" || s.Namespace != "ns" || string(s.Data["password"]) != "s3cret" || len(s.Data) != 1 {
		t.Errorf("secret = %+v", s)
	}
	if s.Labels[labelManagedBy] != managedByValue || s.Labels[labelCluster] != c.ID || s.Labels[labelInstance] != "" {
		t.Errorf("secret labels = %v", s.Labels)
	}
	if len(s.OwnerReferences) != 1 {
		t.Fatalf("owners = %+v", s.OwnerReferences)
	}
	o := s.OwnerReferences[0]
	if o.Kind != "RayCluster" || o.APIVersion != "ray.io/v1" || o.Name != c.ID || o.UID != "uid-1" || o.Controller != nil || o.BlockOwnerDeletion != nil {
		t.Errorf("owner = %+v", o)
	}
}

func TestToApply(t *testing.T) {
	c := newTestCluster("ray-apply00000000001")
	rc := mustBuild(t, c, testBuildOptions())
	u, err := toApply(rc)
	if err != nil {
		t.Fatal(err)
	}
	js := mustJSON(t, u.Object)
	for _, bad := range []string{"null", `"status"`, "creationTimestamp"} {
		if strings.Contains(js, bad) {
			t.Errorf("apply body contains %s: %s", bad, js)
		}
	}
	for _, want := range []string{`"suspend":false`, `"enableInTreeAutoscaling":false`, `"rayStartParams":{}`, `"apiVersion":"ray.io/v1"`} {
		if !strings.Contains(js, want) {
			t.Errorf("apply body lacks %s: %s", want, js)
		}
	}
	h1, err := contentHash(u.Object)
	if err != nil {
		t.Fatal(err)
	}
	u2, _ := toApply(mustBuild(t, c, testBuildOptions()))
	if h2, _ := contentHash(u2.Object); h1 != h2 {
		t.Errorf("hash not stable: %s != %s", h1, h2)
	}
	c.RunningSpec.Workers[0].Replica = 3
	u3, _ := toApply(mustBuild(t, c, testBuildOptions()))
	if h3, _ := contentHash(u3.Object); h1 == h3 {
		t.Error("hash did not change with the replicas")
	}
}

func TestRayVersion(t *testing.T) {
	for in, want := range map[string]string{
		"ray-1.0.0 (Ray 2.47.1, Python 3.12)":    "2.47.1",
		"ray-1.2.0 (Ray 2.55.1rc1, Python 3.12)": "2.55.1rc1",
		"custom":                                 "",
		"":                                       "",
	} {
		if got := rayVersion(in); got != want {
			t.Errorf("rayVersion(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestQuantitiesRoundTrip(t *testing.T) {
	// The API server stores quantities in canonical form; the builder's
	// must already be canonical or every apply would look like a change.
	c := newTestCluster("ray-quant00000000001")
	c.RunningSpec.Head.CPU, c.RunningSpec.Head.Memory = "0.25", "1536Mi"
	rc := mustBuild(t, c, testBuildOptions())
	for name, q := range rc.Spec.HeadGroupSpec.Template.Spec.Containers[0].Resources.Limits {
		parsed, err := resource.ParseQuantity(q.String())
		if err != nil || parsed.String() != q.String() {
			t.Errorf("%s: %s is not canonical (%v)", name, q.String(), err)
		}
	}
}
