package kuberay

import (
	"strings"
	"testing"
	"time"

	rayv1 "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/rayfleet/rayfleet"
)

var (
	t0 = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	t1 = t0.Add(3 * time.Second)
)

// newPod returns a pod of c as KubeRay makes it from the builder's
// template, Running and Ready.
func newPod(c *rayfleet.Cluster, name, nodeType, group string) *corev1.Pod {
	container := headContainer
	if nodeType == nodeTypeWorker {
		container = workerContainer
	}
	labels := clusterLabels(c)
	labels[kuberayCluster] = c.ID
	labels[kuberayNodeType] = nodeType
	labels[kuberayGroup] = group
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: labels, CreationTimestamp: metav1.NewTime(t0)},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: container, Image: testImage}, {Name: "autoscaler", Image: testImage}}},
		Status: corev1.PodStatus{
			Phase:     corev1.PodRunning,
			StartTime: ptr.To(metav1.NewTime(t1)),
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
				{Type: corev1.PodReady, Status: corev1.ConditionTrue},
			},
			ContainerStatuses: []corev1.ContainerStatus{
				{Name: "autoscaler", Image: testImage, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}},
				{Name: container, Image: testImage, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}},
			},
		},
	}
}

func headPod(c *rayfleet.Cluster) *corev1.Pod {
	return newPod(c, c.ID+"-head-abcde", nodeTypeHead, "headgroup")
}

func workerPod(c *rayfleet.Cluster, n string) *corev1.Pod {
	return newPod(c, c.ID+"-group-a-worker-"+n, nodeTypeWorker, "group-a")
}

// unschedulable makes p Pending with the scheduler's word on it.
func unschedulable(p *corev1.Pod, msg string) *corev1.Pod {
	p.Status = corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{
		Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: msg,
	}}}
	return p
}

// waiting makes p's Ray container wait for reason.
func waiting(p *corev1.Pod, reason, msg string) *corev1.Pod {
	p.Status.Phase = corev1.PodPending
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}}
	p.Status.ContainerStatuses[1].State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}
	return p
}

func crashLooping(p *corev1.Pod, code int32, msg string) *corev1.Pod {
	p.Status.Conditions[1].Status = corev1.ConditionFalse
	cs := &p.Status.ContainerStatuses[1]
	cs.RestartCount = 4
	cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 1m20s restarting failed container"}}
	cs.LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: "Error", Message: msg}}
	return p
}

func TestInstanceOf(t *testing.T) {
	c := newTestCluster("ray-inst00000000001")
	tests := []struct {
		name string
		pod  *corev1.Pod
		want rayfleet.Instance
	}{{
		name: "running head",
		pod:  headPod(c),
		want: rayfleet.Instance{InstanceID: c.ID + "-head-abcde", Type: "Head", Phase: "Running", ContainerState: "Running", CreateTime: t0, StartTime: t1},
	}, {
		name: "running worker",
		pod:  workerPod(c, "x1"),
		want: rayfleet.Instance{InstanceID: c.ID + "-group-a-worker-x1", Type: "Worker", Group: "group-a", Phase: "Running", ContainerState: "Running", CreateTime: t0, StartTime: t1},
	}, {
		name: "unschedulable",
		pod:  unschedulable(headPod(c), "0/1 nodes are available: 1 Insufficient cpu."),
		want: rayfleet.Instance{InstanceID: c.ID + "-head-abcde", Type: "Head", Phase: "Pending", Reason: "Unschedulable",
			Message: "0/1 nodes are available: 1 Insufficient cpu.", CreateTime: t0},
	}, {
		name: "image pull",
		pod:  waiting(workerPod(c, "x2"), "ImagePullBackOff", `Back-off pulling image "nope"`),
		want: rayfleet.Instance{InstanceID: c.ID + "-group-a-worker-x2", Type: "Worker", Group: "group-a", Phase: "Pending",
			ContainerState: "Waiting", ContainerStateReason: "ImagePullBackOff", ContainerStateMessage: `Back-off pulling image "nope"`,
			CreateTime: t0, StartTime: t1},
	}, {
		name: "crash loop shows the last exit code",
		pod:  crashLooping(headPod(c), 137, "OOMKilled"),
		want: rayfleet.Instance{InstanceID: c.ID + "-head-abcde", Type: "Head", Phase: "Running", ContainerState: "Waiting",
			ContainerStateReason: "CrashLoopBackOff", ContainerStateMessage: "back-off 1m20s restarting failed container",
			ContainerExitCode: 137, CreateTime: t0, StartTime: t1},
	}, {
		name: "terminated, evicted",
		pod: func() *corev1.Pod {
			p := workerPod(c, "x3")
			p.Status.Phase, p.Status.Reason, p.Status.Message = corev1.PodFailed, "Evicted", "The node was low on resource: memory."
			p.Status.ContainerStatuses[1].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 143, Reason: "Error", Message: "killed"}}
			return p
		}(),
		want: rayfleet.Instance{InstanceID: c.ID + "-group-a-worker-x3", Type: "Worker", Group: "group-a", Phase: "Failed",
			Reason: "Evicted", Message: "The node was low on resource: memory.",
			ContainerState: "Terminated", ContainerStateReason: "Error", ContainerStateMessage: "killed", ContainerExitCode: 143,
			CreateTime: t0, StartTime: t1},
	}, {
		name: "terminating, phase not yet reported",
		pod: func() *corev1.Pod {
			p := workerPod(c, "x4")
			p.DeletionTimestamp = ptr.To(metav1.NewTime(t1))
			p.Status = corev1.PodStatus{}
			return p
		}(),
		want: rayfleet.Instance{InstanceID: c.ID + "-group-a-worker-x4", Type: "Worker", Group: "group-a", Phase: "Pending",
			Reason: "Terminating", CreateTime: t0},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := instanceOf(tt.pod); got != tt.want {
				t.Errorf("instanceOf =\n %+v\nwant\n %+v", got, tt.want)
			}
		})
	}
}

func TestPodFailureAndProgress(t *testing.T) {
	c := newTestCluster("ray-fail00000000001")
	tests := []struct {
		name         string
		pod          *corev1.Pod
		wantFailure  string // substring; "" for none
		wantProgress string // substring of podProgress
	}{
		{"ready head", headPod(c), "", "Running, not ready yet"},
		{"unschedulable head is progress", unschedulable(headPod(c), "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available."),
			"", "head pod " + c.ID + "-head-abcde Pending: 0/1 nodes are available: 1 Insufficient cpu."},
		{"unschedulable without message", func() *corev1.Pod {
			p := unschedulable(workerPod(c, "a"), "")
			return p
		}(), "", "Pending: Unschedulable"},
		{"ErrImagePull", waiting(headPod(c), "ErrImagePull", "rpc error: not found"), "head pod " + c.ID + "-head-abcde cannot pull image " + testImage + ": ErrImagePull: rpc error: not found", "ErrImagePull"},
		{"ImagePullBackOff on a worker", waiting(workerPod(c, "b"), "ImagePullBackOff", "Back-off"), "worker pod " + c.ID + "-group-a-worker-b cannot pull image", "ImagePullBackOff"},
		{"InvalidImageName", waiting(workerPod(c, "c"), "InvalidImageName", `couldn't parse image name "A B"`), "InvalidImageName: couldn't parse", ""},
		{"CreateContainerConfigError", waiting(headPod(c), "CreateContainerConfigError", `secret "x-redis" not found`),
			"container ray-head cannot start: CreateContainerConfigError: secret \"x-redis\" not found", ""},
		{"ContainerCreating is progress", waiting(headPod(c), "ContainerCreating", ""), "", "Pending: container ray-head ContainerCreating"},
		{"head crash loop", crashLooping(headPod(c), 1, "line 1\nGCS failed to start"),
			"head pod " + c.ID + "-head-abcde keeps crashing (restarted 4 times): ray-head exited with code 1 (Error): GCS failed to start", "CrashLoopBackOff"},
		{"worker crash loop is progress", crashLooping(workerPod(c, "d"), 1, "boom"), "", "container ray-worker CrashLoopBackOff"},
		{"failed pod", func() *corev1.Pod {
			p := headPod(c)
			p.Status.Phase, p.Status.Reason = corev1.PodFailed, "Evicted"
			return p
		}(), "", "head pod " + c.ID + "-head-abcde Failed: Evicted; KubeRay replaces it"},
		{"terminating pod with a bad image is no failure", func() *corev1.Pod {
			p := waiting(workerPod(c, "e"), "ErrImagePull", "x")
			p.DeletionTimestamp = ptr.To(metav1.NewTime(t1))
			return p
		}(), "", "is terminating"},
		{"init container image pull", func() *corev1.Pod {
			p := headPod(c)
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "init", Image: "busybox:nope",
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull"}}}}
			return p
		}(), "cannot pull image busybox:nope: ErrImagePull", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := podFailure(tt.pod)
			if tt.wantFailure == "" && f != "" || !strings.Contains(f, tt.wantFailure) {
				t.Errorf("podFailure = %q, want %q", f, tt.wantFailure)
			}
			if p := podProgress(tt.pod); !strings.Contains(p, tt.wantProgress) {
				t.Errorf("podProgress = %q, want %q", p, tt.wantProgress)
			}
		})
	}
}

func TestObservePods(t *testing.T) {
	c := newTestCluster("ray-obs000000000001")
	rc := mustBuild(t, c, testBuildOptions())
	old := *c
	old.InstanceID = c.ID + "-old00001"
	suspending := rc.DeepCopy()
	suspending.Spec.Suspend = ptr.To(true)
	suspending.Status.Conditions = []metav1.Condition{{Type: "RayClusterSuspending", Status: "True"}, {Type: "RayClusterSuspended", Status: "False"}}
	suspended := suspending.DeepCopy()
	suspended.Status.Conditions = []metav1.Condition{{Type: "RayClusterSuspending", Status: "False"}, {Type: "RayClusterSuspended", Status: "True"}}

	tests := []struct {
		name string
		c    *rayfleet.Cluster
		rc   *rayv1.RayCluster
		pods []*corev1.Pod
		// want
		exists            bool
		instance          string
		headReady         bool
		ready, desired    int
		failure, progress string // substrings; "" expects empty
		nodes             []string
	}{{
		name: "nothing", c: c, desired: 2, progress: "creating the RayCluster",
	}, {
		name: "RayCluster, no pods yet", c: c, rc: rc, instance: c.InstanceID, desired: 2,
		progress: "waiting for KubeRay to create the head pod",
	}, {
		name: "all ready", c: c, rc: rc, pods: []*corev1.Pod{workerPod(c, "b"), headPod(c), workerPod(c, "a")},
		exists: true, instance: c.InstanceID, headReady: true, ready: 2, desired: 2,
		nodes: []string{c.ID + "-head-abcde", c.ID + "-group-a-worker-a", c.ID + "-group-a-worker-b"},
	}, {
		name: "one worker unschedulable", c: c, rc: rc,
		pods:   []*corev1.Pod{headPod(c), workerPod(c, "a"), unschedulable(workerPod(c, "b"), "0/1 nodes are available: 1 Insufficient memory.")},
		exists: true, instance: c.InstanceID, headReady: true, ready: 1, desired: 2,
		progress: "1/2 workers ready; worker pod " + c.ID + "-group-a-worker-b Pending: 0/1 nodes are available: 1 Insufficient memory.",
	}, {
		name: "head unschedulable", c: c, rc: rc, pods: []*corev1.Pod{unschedulable(headPod(c), "0/1 nodes are available: 1 Insufficient cpu.")},
		exists: true, instance: c.InstanceID, desired: 2, progress: "Insufficient cpu",
	}, {
		name: "head crash loop is the failure", c: c, rc: rc,
		pods:   []*corev1.Pod{crashLooping(headPod(c), 1, "x"), waiting(workerPod(c, "a"), "ErrImagePull", "y")},
		exists: true, instance: c.InstanceID, desired: 2, failure: "head pod " + c.ID + "-head-abcde keeps crashing",
	}, {
		name: "worker image pull is a failure", c: c, rc: rc,
		pods:   []*corev1.Pod{headPod(c), waiting(workerPod(c, "a"), "ImagePullBackOff", "y")},
		exists: true, instance: c.InstanceID, headReady: true, desired: 2, failure: "cannot pull image",
	}, {
		name: "suspended with pods left", c: c, rc: suspended, pods: []*corev1.Pod{headPod(c)},
		exists: true, instance: c.InstanceID, desired: 2, progress: "suspending: 1 pod(s) left",
	}, {
		name: "suspending, no pods left but KubeRay not done", c: c, rc: suspending, exists: true, instance: c.InstanceID, desired: 2,
		progress: "suspending: waiting for KubeRay to finish",
	}, {
		name: "suspended, no pods", c: c, rc: suspended, instance: c.InstanceID, desired: 2,
		progress: "the RayCluster is suspended",
	}, {
		name: "pods of the previous instance", c: c, rc: rc, pods: []*corev1.Pod{headPod(&old), headPod(c)},
		exists: true, instance: old.InstanceID, headReady: true, desired: 2, progress: "ending 1 pod(s) of the previous instance " + old.InstanceID,
	}, {
		name: "RayCluster of the previous instance, no pods", c: c, rc: mustBuild(t, &old, testBuildOptions()),
		instance: old.InstanceID, desired: 2, progress: "waiting for KubeRay",
	}, {
		name: "redis cleanup pod counts for Exists only", c: c,
		pods:   []*corev1.Pod{newPod(c, c.ID+"-redis-cleanup-x", "redis-cleanup", "headgroup")},
		exists: true, instance: c.InstanceID, desired: 2, progress: "creating the RayCluster",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var pods []corev1.Pod
			for _, p := range tt.pods {
				pods = append(pods, *p)
			}
			o := observePods(tt.c, tt.rc, pods)
			if o.Exists != tt.exists || o.InstanceID != tt.instance || o.HeadReady != tt.headReady ||
				o.ReadyWorkers != tt.ready || o.DesiredWorkers != tt.desired {
				t.Errorf("exists %v instance %q headReady %v workers %d/%d; want %v %q %v %d/%d",
					o.Exists, o.InstanceID, o.HeadReady, o.ReadyWorkers, o.DesiredWorkers,
					tt.exists, tt.instance, tt.headReady, tt.ready, tt.desired)
			}
			checkSub := func(what, got, want string) {
				if want == "" && got != "" || !strings.Contains(got, want) {
					t.Errorf("%s = %q, want %q", what, got, want)
				}
			}
			checkSub("failure", o.Failure, tt.failure)
			checkSub("progress", o.Progress, tt.progress)
			if tt.nodes != nil {
				var names []string
				for _, n := range o.Nodes {
					names = append(names, n.InstanceID)
				}
				if strings.Join(names, ",") != strings.Join(tt.nodes, ",") {
					t.Errorf("nodes = %v, want %v", names, tt.nodes)
				}
			}
		})
	}
}

func TestDesiredWorkersUnderAutoscaling(t *testing.T) {
	c := newTestCluster("ray-auto00000000001")
	c.RunningSpec.Head.EnableAutoScaling = true
	c.RunningSpec.Workers[0].MinReplica, c.RunningSpec.Workers[0].MaxReplica = 1, 4
	rc := mustBuild(t, c, testBuildOptions())
	if got := desiredWorkers(c, rc); got != 2 {
		t.Errorf("desired = %d, want the spec's 2", got)
	}
	rc.Spec.WorkerGroupSpecs[0].Replicas = ptr.To[int32](4) // the autoscaler's choice
	if got := desiredWorkers(c, rc); got != 4 {
		t.Errorf("desired = %d, want the live 4", got)
	}
	rc.Spec.WorkerGroupSpecs[0].Replicas = ptr.To[int32](9)
	if got := desiredWorkers(c, rc); got != 4 {
		t.Errorf("desired = %d, want 4 (max)", got)
	}
	rc.Labels[labelInstance] = "another"
	if got := desiredWorkers(c, rc); got != 2 {
		t.Errorf("desired = %d, want the spec's 2 for a RayCluster of another instance", got)
	}
}

func TestRefOf(t *testing.T) {
	c := newTestCluster("ray-ref000000000001")
	nsLabels := func(ns string) map[string]string {
		if ns == "ours" {
			return map[string]string{labelManagedBy: managedByValue, labelAccount: "acc", labelWorkspace: "w-1"}
		}
		return nil
	}
	pod := headPod(c)
	if ref, ok := refOf(pod, nsLabels); !ok || ref.ID != c.ID || ref.AccountID != c.AccountID || ref.WorkspaceID != c.WorkspaceID {
		t.Errorf("pod ref = %+v %v", ref, ok)
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ours", Labels: map[string]string{kuberayCluster: "ray-x"}}}
	if ref, ok := refOf(svc, nsLabels); !ok || ref.ID != "ray-x" || ref.AccountID != "acc" || ref.WorkspaceID != "w-1" {
		t.Errorf("service ref = %+v %v", ref, ok)
	}
	svc.Namespace = "theirs"
	if ref, ok := refOf(svc, nsLabels); ok {
		t.Errorf("service in a foreign namespace: ref = %+v", ref)
	}
	if _, ok := refOf(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ours", Labels: nsLabels("ours")}}, nsLabels); ok {
		t.Error("a namespace names no cluster")
	}
}

func TestSuspendSettled(t *testing.T) {
	rc := &rayv1.RayCluster{}
	rc.Spec.Suspend = ptr.To(true)
	if suspendSettled(rc) {
		t.Error("settled with no status at all")
	}
	rc.Status.State = rayv1.Suspended //nolint:staticcheck // what KubeRay without status conditions reports
	if !suspendSettled(rc) {
		t.Error("not settled in state suspended without conditions")
	}
	rc.Status.Conditions = []metav1.Condition{{Type: "RayClusterSuspending", Status: "True"}}
	if suspendSettled(rc) {
		t.Error("settled while Suspending")
	}
	rc.Status.Conditions = []metav1.Condition{{Type: "RayClusterSuspending", Status: "False"}, {Type: "RayClusterSuspended", Status: "True"}}
	if !suspendSettled(rc) {
		t.Error("not settled when Suspended")
	}
}

func TestWantedWorkers(t *testing.T) {
	g := func(replicas *int32, lo, hi int32, hosts int32) rayv1.WorkerGroupSpec {
		return rayv1.WorkerGroupSpec{Replicas: replicas, MinReplicas: ptr.To(lo), MaxReplicas: ptr.To(hi), NumOfHosts: hosts}
	}
	rc := &rayv1.RayCluster{}
	rc.Spec.WorkerGroupSpecs = []rayv1.WorkerGroupSpec{
		g(ptr.To[int32](2), 0, 5, 1), // 2
		g(ptr.To[int32](9), 0, 3, 0), // clamped to 3, hosts default 1
		g(nil, 1, 3, 2),              // min 1, 2 hosts: 2
		g(ptr.To[int32](1), 4, 2, 1), // min > max: max 2
	}
	rc.Spec.WorkerGroupSpecs = append(rc.Spec.WorkerGroupSpecs, g(ptr.To[int32](5), 0, 5, 1))
	rc.Spec.WorkerGroupSpecs[4].Suspend = ptr.To(true) // 0
	if got := wantedWorkers(rc); got != 9 {
		t.Errorf("wantedWorkers = %d, want 9", got)
	}
}
