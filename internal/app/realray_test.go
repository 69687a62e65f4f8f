package app

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/api"
	"github.com/rayfleet/rayfleet/internal/poll"
	"github.com/rayfleet/rayfleet/internal/raytest"
)

// rayNode is one node as Ray's state API (/api/v0/nodes) shows it.
type rayNode struct {
	NodeID    string             `json:"node_id"`
	IsHead    bool               `json:"is_head_node"`
	State     string             `json:"state"`
	Resources map[string]float64 `json:"resources_total"`
}

// rayNodes asks the cluster's head, through the gateway's job API door
// with the cluster's token, for Ray's own list of nodes.
func rayNodes(t *testing.T, cl *api.Cluster) []rayNode {
	t.Helper()
	code, body := gatewayGet(t, http.DefaultClient, cl.JobURL+"/api/v0/nodes?detail=false&limit=1000", cl.SubmitToken)
	if code != 200 {
		t.Fatalf("state API: %d %s", code, body)
	}
	var out struct {
		Data struct {
			Result struct {
				Result []rayNode `json:"result"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("state API: %v: %s", err, body)
	}
	return out.Data.Result.Result
}

func aliveNodes(nodes []rayNode) []rayNode {
	var out []rayNode
	for _, n := range nodes {
		if n.State == "ALIVE" {
			out = append(out, n)
		}
	}
	return out
}

// runPython runs a driver script with the test environment's Python and
// returns its stdout.
func runPython(t *testing.T, script string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, raytest.Python(t), append([]string{"-c", script}, args...)...)
	cmd.Dir = t.TempDir()
	cmd.Env = append(cleanRayEnv(), "HOME="+cmd.Dir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v\nstdout: %s\nstderr: %s", err, out, stderr.String())
	}
	return string(out)
}

// cleanRayEnv is the test's environment without Ray settings of its own: a
// user's machine knows nothing of a cluster's Ray token.
func cleanRayEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RAY_") {
			env = append(env, kv)
		}
	}
	return env
}

// onNode runs a remote function pinned to node through the gateway's Ray
// client door and returns the id of the node it ran on.
const onNode = `
import sys, ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
address, token, node = sys.argv[1:4]
ray.init(address, _metadata=[("ray-token", token)])

@ray.remote(num_cpus=1)
def where():
    return ray.get_runtime_context().get_node_id()

print(ray.get(where.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)).remote()))
`

// portFlags are the `ray start` flags that name a port.
var portFlag = regexp.MustCompile(`--([a-z-]*port)=(\d+)`)

// nodeFacts are what the process table tells of a cluster's nodes: the
// ports, temp dirs and object store sockets their command lines name.
type nodeFacts struct {
	ports, tempDirs, stores map[string]bool
}

func factsOf(ps []raytest.Process) nodeFacts {
	f := nodeFacts{ports: map[string]bool{}, tempDirs: map[string]bool{}, stores: map[string]bool{}}
	for _, p := range ps {
		for _, m := range portFlag.FindAllStringSubmatch(p.Cmdline, -1) {
			f.ports[m[2]] = true
		}
		for _, arg := range strings.Fields(p.Cmdline) {
			if v, ok := strings.CutPrefix(arg, "--temp-dir="); ok {
				f.tempDirs[v] = true
			}
			if v, ok := strings.CutPrefix(arg, "--store_socket_name="); ok {
				f.stores[v] = true
			}
		}
	}
	return f
}

func shared(a, b map[string]bool) []string {
	var out []string
	for k := range a {
		if b[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// TestLocalRuntimeWithRealRay drives one cluster of the local runtime
// through its life with real Ray, checking each step against what Ray
// itself reports and against the process table.
func TestLocalRuntimeWithRealRay(t *testing.T) {
	needRay(t)
	srv, cred := testServer(t)
	c := client(srv, cred)
	ctx := context.Background()
	ws := cred.WorkspaceID
	const gib = 1 << 30

	// Create: head (1 CPU, 2Gi) + "cpu" 1 worker (1 CPU, 2Gi) + "gpu" 1
	// worker (1 CPU, 3Gi, one GPU of the configured type).
	workers := []api.WorkerSpec{
		{GroupName: "cpu", Replica: 1, MinReplica: 1, MaxReplica: 3, CPU: "1", Memory: "2Gi"},
		{GroupName: "gpu", Replica: 1, MinReplica: 1, MaxReplica: 1, CPU: "1", Memory: "3Gi", GPUSpec: "ecs.gn6i-c4g1.xlarge"},
	}
	resp, err := c.CreateCluster(ctx, ws, &api.ClusterRequest{Name: ptr("real"),
		HeadSpec: &api.HeadSpec{CPU: "1", Memory: "2Gi"}, WorkerSpec: &workers})
	if err != nil {
		t.Fatal(err)
	}
	id := resp.ClusterID
	allUp := func(n int) func(*api.Cluster) bool {
		return func(cl *api.Cluster) bool {
			if cl.State == "Error" {
				t.Fatalf("cluster failed: %s", cl.Message)
			}
			return cl.State == "Running" && len(aliveNodes(rayNodes(t, cl))) == n
		}
	}
	cl := waitCluster(t, c, ws, id, allUp(3))
	first := cl.InstanceID

	// Ray shows the three nodes with the resources of the spec.
	nodes := aliveNodes(rayNodes(t, cl))
	var head rayNode
	var gpuWorker, cpuWorker []rayNode
	for _, n := range nodes {
		switch {
		case n.IsHead:
			head = n
		case n.Resources["GPU"] > 0:
			gpuWorker = append(gpuWorker, n)
		default:
			cpuWorker = append(cpuWorker, n)
		}
	}
	want := func(n rayNode, cpu, mem, gpu float64) {
		t.Helper()
		store := float64(int64(mem * 0.3))
		if n.Resources["CPU"] != cpu || n.Resources["memory"] != mem || n.Resources["object_store_memory"] != store || n.Resources["GPU"] != gpu {
			t.Errorf("node %s: resources %v, want CPU %v memory %v object store %v GPU %v", n.NodeID, n.Resources, cpu, mem, store, gpu)
		}
	}
	if head.NodeID == "" || len(cpuWorker) != 1 || len(gpuWorker) != 1 {
		t.Fatalf("nodes %+v", nodes)
	}
	want(head, 1, 2*gib, 0)
	want(cpuWorker[0], 1, 2*gib, 0)
	want(gpuWorker[0], 1, 3*gib, 1)
	for _, in := range cl.Instances {
		if in.RayVersion != "2.60.0" || !strings.HasPrefix(in.PythonVersion, "3.11.") {
			t.Errorf("node %s reports Ray %q Python %q", in.InstanceID, in.RayVersion, in.PythonVersion)
		}
	}

	// A remote task pinned to a worker runs there (through the Ray client).
	if got := strings.TrimSpace(runPython(t, onNode, cl.GrpcEndpoint, cl.SubmitToken, cpuWorker[0].NodeID)); got != cpuWorker[0].NodeID {
		t.Fatalf("the task ran on %q, want the worker %s", got, cpuWorker[0].NodeID)
	}

	// Live scale of the "cpu" group 1→3→1: Ray's node count follows.
	scale := func(n int32) {
		t.Helper()
		w := append([]api.WorkerSpec(nil), workers...)
		w[0].Replica = n
		if _, err := c.UpdateCluster(ctx, ws, id, &api.ClusterRequest{WorkerSpec: &w}); err != nil {
			t.Fatal(err)
		}
	}
	scale(3)
	waitCluster(t, c, ws, id, allUp(5))
	scale(1)
	cl = waitCluster(t, c, ws, id, allUp(3))
	if cl.InstanceID != first {
		t.Fatalf("scaling changed the instance: %s → %s", first, cl.InstanceID)
	}

	// Stop: Stopped, and nothing of the cluster left in the process table.
	running := raytest.Of(raytest.Processes(testRoot), id)
	if len(running) < 6 {
		t.Fatalf("only %d processes of the running cluster found:%s", len(running), raytest.Names(running))
	}
	facts := factsOf(running)
	if _, err := c.StopCluster(ctx, ws, id, &api.StopRequest{}); err != nil {
		t.Fatal(err)
	}
	waitCluster(t, c, ws, id, func(cl *api.Cluster) bool { return cl.State == "Stopped" })
	if left := raytest.Of(raytest.Processes(testRoot), id); len(left) != 0 {
		t.Fatalf("processes left after the stop:%s", raytest.Names(left))
	}
	for dir := range facts.tempDirs {
		if left := raytest.Processes(dir); len(left) != 0 {
			t.Fatalf("processes under %s after the stop:%s", dir, raytest.Names(left))
		}
	}

	// Start: a new instance, Running again with its nodes.
	if _, err := c.StartCluster(ctx, ws, id, &api.StartRequest{}); err != nil {
		t.Fatal(err)
	}
	cl = waitCluster(t, c, ws, id, allUp(3))
	if cl.InstanceID == first {
		t.Fatalf("start kept the instance %s", first)
	}

	// A second cluster at once shares no port, temp dir, session or object
	// store with the first.
	other := runningCluster(t, c, ws, "other")
	a, b := factsOf(raytest.Of(raytest.Processes(testRoot), id)), factsOf(raytest.Of(raytest.Processes(testRoot), other.ClusterID))
	if len(a.ports) < 10 || len(b.ports) < 10 || len(a.tempDirs) == 0 || len(b.stores) == 0 {
		t.Fatalf("too little found in the command lines: %+v %+v", a, b)
	}
	for what, s := range map[string][]string{"ports": shared(a.ports, b.ports), "temp dirs": shared(a.tempDirs, b.tempDirs),
		"object stores": shared(a.stores, b.stores)} {
		if len(s) > 0 {
			t.Errorf("the two clusters share %s %v", what, s)
		}
	}
	session := func(cl *api.Cluster) string {
		_, body := gatewayGet(t, http.DefaultClient, cl.JobURL+"/api/version", cl.SubmitToken)
		var v struct {
			Session string `json:"session_name"`
		}
		_ = json.Unmarshal([]byte(body), &v)
		return v.Session
	}
	if sa, sb := session(cl), session(other); sa == "" || sa == sb {
		t.Errorf("sessions %q and %q", sa, sb)
	}

	// Delete: nothing of it left, not even its temp directories.
	dirs := factsOf(raytest.Of(raytest.Processes(testRoot), id)).tempDirs
	if _, err := c.DeleteCluster(ctx, ws, id); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, rayWait, "the deleted cluster's processes to end", func() bool { return len(raytest.Of(raytest.Processes(testRoot), id)) == 0 })
	poll.Until(t, rayWait, "the deleted cluster's temp dirs to go", func() bool {
		for d := range dirs {
			if _, err := os.Stat(d); err == nil {
				return false
			}
		}
		return true
	})
	poll.Until(t, rayWait, "the deleted cluster's directory to go", func() bool {
		_, err := os.Stat(filepath.Join(srv.Config.DataDir, "local", "clusters", id))
		return os.IsNotExist(err)
	})
	if n := len(aliveNodes(rayNodes(t, other))); n != 1 {
		t.Errorf("the other cluster has %d nodes after the delete, want its head", n)
	}
}

// TestReleaseVersionMustMatchRay: a release whose Ray version is not the
// one installed ends the start in Error naming both, and runs nothing.
func TestReleaseVersionMustMatchRay(t *testing.T) {
	needRay(t)
	srv, cred := testServer(t)
	c := client(srv, cred)
	resp, err := c.CreateCluster(context.Background(), cred.WorkspaceID, &api.ClusterRequest{Name: ptr("old"),
		DisplayReleaseVersion: ptr("ray-1.2.0 (Ray 2.55.1, Python 3.12)"), HeadSpec: &api.HeadSpec{CPU: "1", Memory: "2Gi"}})
	if err != nil {
		t.Fatal(err)
	}
	cl := waitCluster(t, c, cred.WorkspaceID, resp.ClusterID, func(cl *api.Cluster) bool { return cl.State == "Error" })
	for _, w := range []string{"Ray 2.55.1 on Python 3.12", "is Ray 2.60.0 on Python 3.11", `"ray-1.3.0 (Ray 2.60.0, Python 3.11)"`} {
		if !strings.Contains(cl.Message, w) {
			t.Errorf("message %q lacks %q", cl.Message, w)
		}
	}
	if ps := raytest.Of(raytest.Processes(testRoot), resp.ClusterID); len(ps) != 0 {
		t.Errorf("processes of a cluster that must not start:%s", raytest.Names(ps))
	}
}

// TestReleaseEnvironmentIsMade: with --ray-envs pip, a release whose Ray
// is not the installed one gets its own environment under the data
// directory (made once, its progress in the cluster's message), and its
// nodes run that Ray.
func TestReleaseEnvironmentIsMade(t *testing.T) {
	needRay(t)
	if testing.Short() {
		t.Skip("-short: installs Ray from the package index")
	}
	srv, cred := testServer(t, func(cfg *Config) {
		cfg.RayEnvs = "pip"
		cfg.ReleaseVersions = append(cfg.ReleaseVersions, rayfleet.ReleaseVersion{Version: "ray-0.9.0", RayVersion: "2.59.0",
			PythonVersion: "3.11", Image: "rayproject/ray:2.59.0-py311"})
	})
	c := client(srv, cred)
	resp, err := c.CreateCluster(context.Background(), cred.WorkspaceID, &api.ClusterRequest{Name: ptr("older"),
		DisplayReleaseVersion: ptr("ray-0.9.0 (Ray 2.59.0, Python 3.11)"), HeadSpec: &api.HeadSpec{CPU: "1", Memory: "2Gi"}})
	if err != nil {
		t.Fatal(err)
	}
	sawProgress := false
	cl := waitCluster(t, c, cred.WorkspaceID, resp.ClusterID, func(cl *api.Cluster) bool {
		if strings.Contains(cl.Message, "making a Python environment with Ray 2.59.0 for Python 3.11") {
			sawProgress = true
		}
		if cl.State == "Error" {
			t.Fatalf("cluster failed: %s", cl.Message)
		}
		return cl.State == "Running"
	})
	if !sawProgress {
		t.Error("the message never said the environment was being made")
	}
	for _, in := range cl.Instances {
		if in.RayVersion != "2.59.0" {
			t.Errorf("node %s runs Ray %q, want 2.59.0", in.InstanceID, in.RayVersion)
		}
	}
	code, body := gatewayGet(t, http.DefaultClient, cl.JobURL+"/api/version", cl.SubmitToken)
	if code != 200 || !strings.Contains(body, `"ray_version": "2.59.0"`) {
		t.Fatalf("the head says %d %s", code, body)
	}
	if _, err := os.Stat(filepath.Join(srv.Config.DataDir, "ray-envs", "ray-2.59.0-py3.11", ".complete")); err != nil {
		t.Fatalf("the environment: %v", err)
	}
}
