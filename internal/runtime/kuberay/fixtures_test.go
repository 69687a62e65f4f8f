package kuberay

import (
	"encoding/json"
	"strconv"
	"testing"

	"github.com/rayfleet/rayfleet"
)

// Test fixtures: builders that return a valid object to tweak.

const (
	testRelease = "ray-1.0.0 (Ray 2.47.1, Python 3.12)"
	testImage   = "rayproject/ray:2.47.1-py312"
)

func testImages(release string) (string, bool) {
	switch release {
	case testRelease:
		return testImage, true
	case "ray-1.2.0 (Ray 2.55.1, Python 3.12)":
		return "rayproject/ray:2.55.1-py312", true
	}
	return "", false
}

var testGPUTypes = map[string]GPUType{
	"ecs.gn7i-c8g1.2xlarge": {GPUs: 1, Resource: "nvidia.com/gpu", NodeSelector: map[string]string{"rayfleet.io/gpu-type": "ecs.gn7i-c8g1.2xlarge"}},
	"ecs.gn7i-2x.8xlarge":   {GPUs: 2, Resource: "nvidia.com/gpu", NodeSelector: map[string]string{"rayfleet.io/gpu-type": "ecs.gn7i-2x.8xlarge"}},
	"cpu-only-pool":         {GPUs: 0, NodeSelector: map[string]string{"pool": "cpu"}},
}

// newTestCluster returns a running cluster with a 1-CPU head and one
// worker group of two 1-CPU workers.
func newTestCluster(id string) *rayfleet.Cluster {
	spec := rayfleet.ClusterSpec{
		Name:           "test " + id,
		ReleaseVersion: testRelease,
		Head:           rayfleet.HeadSpec{QueueName: "root_queue", CPU: "1", Memory: "2Gi"},
		Workers: []rayfleet.WorkerSpec{{
			GroupName: "group-a", Replica: 2, QueueName: "root_queue", CPU: "1", Memory: "2Gi",
		}},
	}
	return &rayfleet.Cluster{
		ID: id, AccountID: "1234567890123456", WorkspaceID: "w-0123456789abcdef",
		Spec: spec, RunningSpec: spec, Desired: rayfleet.RunStateRunning,
		InstanceID: id + "-inst0001", State: rayfleet.StateStarting,
	}
}

func testBuildOptions() buildOptions {
	return buildOptions{Namespace: "rayfleet-w-0123456789abcdef", Image: testImages, GPUTypes: testGPUTypes}
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func itoa(n int32) string { return strconv.FormatInt(int64(n), 10) }
