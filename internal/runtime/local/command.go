package local

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/rayfleet/rayfleet"
)

// nodeSpec is one node to start: what the cluster spec says of it.
type nodeSpec struct {
	typ    string // typeHead or typeWorker
	group  string // worker group; "" for the head
	index  int    // worker index in its group
	name   string
	cpu    string
	memory string
	gpu    string // gpuSpec
	env    string
	params string // rayStartParams
}

func headNodeName(cluster string) string { return cluster + "-head" }

func workerNodeName(cluster, group string, i int) string {
	return fmt.Sprintf("%s-%s-worker-%d", cluster, group, i)
}

func headSpec(c *rayfleet.Cluster) nodeSpec {
	h := c.RunningSpec.Head
	return nodeSpec{typ: typeHead, name: headNodeName(c.ID), cpu: h.CPU, memory: h.Memory,
		gpu: h.GPUSpec, env: h.Env, params: h.RayStartParams}
}

func workerSpec(c *rayfleet.Cluster, w rayfleet.WorkerSpec, i int) nodeSpec {
	return nodeSpec{typ: typeWorker, group: w.GroupName, index: i, name: workerNodeName(c.ID, w.GroupName, i),
		cpu: w.CPU, memory: w.Memory, gpu: w.GPUSpec, env: w.Env, params: w.RayStartParams}
}

// specError is a spec the runtime cannot start (unparsable env or
// rayStartParams): a Failure, not something to retry.
type specError struct{ msg string }

func (e *specError) Error() string { return e.msg }

// field names the spec a node comes from, as the API spells it.
func (n nodeSpec) field() string {
	if n.typ == typeHead {
		return "headSpec"
	}
	return "workerSpec group " + strconv.Quote(n.group)
}

// objectStoreFraction is the share of a node's memory given to its object
// store: what Ray takes by default of the memory it sees, which in a
// container (KubeRay) is the memory limit. On a shared machine Ray would
// see all the machine's memory and give each node 30% of that.
const objectStoreFraction = 0.3

// minObjectStore is the smallest object store Ray accepts (75 MiB).
const minObjectStore = 75 << 20

// rayArgs builds the arguments after the ray executable. Ray's click
// options keep the last value given, so rayStartParams, appended last,
// override anything here.
//
// --num-cpus and --num-gpus are integers in every `ray start` from 2.47 to
// 2.55 (click type=int), so the spec's CPU is rounded down, to at least 1:
// a node of "0.5" CPU still runs tasks, as its pod would. --memory is
// bytes. --num-gpus is always given, 0 included, or each local node would
// claim every GPU of the machine.
func rayArgs(n nodeSpec, p Ports, host, gcsAddr, tempDir string, gpus int) ([]string, error) {
	params, err := rayfleet.SplitRayStartParams(n.params)
	if err != nil {
		return nil, &specError{fmt.Sprintf("%s.rayStartParams %s", n.field(), err)}
	}
	args := []string{"start"}
	if n.typ == typeHead {
		args = append(args, "--head", "--block",
			"--node-ip-address="+host,
			"--port="+strconv.Itoa(p.GCS),
			"--include-dashboard=true",
			"--dashboard-host=127.0.0.1",
			"--dashboard-port="+strconv.Itoa(p.Dashboard),
			"--ray-client-server-port="+strconv.Itoa(p.ClientServer))
	} else {
		args = append(args, "--block", "--address="+gcsAddr, "--node-ip-address="+host)
	}
	args = append(args,
		"--node-manager-port="+strconv.Itoa(p.NodeManager),
		"--object-manager-port="+strconv.Itoa(p.ObjectManager),
		"--dashboard-agent-listen-port="+strconv.Itoa(p.DashboardAgentListen),
		"--dashboard-agent-grpc-port="+strconv.Itoa(p.DashboardAgentGRPC),
		"--metrics-export-port="+strconv.Itoa(p.MetricsExport),
		"--runtime-env-agent-port="+strconv.Itoa(p.RuntimeEnvAgent),
		"--min-worker-port="+strconv.Itoa(p.MinWorker),
		"--max-worker-port="+strconv.Itoa(p.MaxWorker))
	if milli, err := rayfleet.ParseCPU(n.cpu); err == nil {
		args = append(args, "--num-cpus="+strconv.FormatInt(max(milli/1000, 1), 10))
	}
	if mem, err := rayfleet.ParseMemory(n.memory); err == nil {
		store := max(int64(float64(mem)*objectStoreFraction), minObjectStore)
		args = append(args, "--memory="+strconv.FormatInt(mem, 10),
			"--object-store-memory="+strconv.FormatInt(store, 10))
	}
	args = append(args, "--num-gpus="+strconv.Itoa(max(gpus, 0)),
		"--temp-dir="+tempDir,
		"--disable-usage-stats")
	return append(args, params...), nil
}

// nodeEnv is the node's environment: rayfleet's own, the spec's env lines
// over it, then what the runtime owns: Ray's token authentication with the
// instance's token, and the marker that names the node.
func nodeEnv(base []string, n nodeSpec, marker, token string) ([]string, error) {
	lines, err := rayfleet.ParseEnv(n.env)
	if err != nil {
		return nil, &specError{fmt.Sprintf("%s.env %s", n.field(), err)}
	}
	env := make([]string, 0, len(base)+len(lines)+3)
	for _, kv := range base {
		if !ownedEnv(kv) {
			env = append(env, kv)
		}
	}
	// Ray 2.60 drains a node for up to 30 s on SIGTERM before it ends its
	// processes, longer than the stop grace, so a stop would always end in
	// SIGKILL; rayfleet stops whole nodes on purpose and does not wait for
	// that. An env line of the spec may turn it back on.
	env = append(env, "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S=0")
	// The dashboard's pages ask for Grafana's health and for platform
	// events whatever the setup; with no Grafana next to local nodes and
	// the events module off (Ray's default) they get 500 and 404 answers.
	// Grafana is declared absent (the metrics tab hides) and the events
	// module answers (empty, there is no Kubernetes here). Env lines of
	// the spec may set either.
	env = append(env, "RAY_GRAFANA_HOST=DISABLED", "RAY_DASHBOARD_INGEST_PLATFORM_EVENTS=1")
	for _, kv := range lines {
		if !ownedEnv(kv[0] + "=") {
			env = append(env, kv[0]+"="+kv[1])
		}
	}
	// Last, so no env line can change them. RAY_AUTH_TOKEN comes before
	// the token file and ~/.ray/auth_token in Ray's token loader, and with
	// RAY_AUTH_MODE=token every head, worker, driver and the dashboard
	// require it (Ray 2.52 and later; older ones ignore both).
	if token != "" {
		env = append(env, "RAY_AUTH_MODE=token", "RAY_AUTH_TOKEN="+token)
	}
	return append(env, markerEnv+"="+marker), nil
}

// withPath puts dir (the ray executable's, a Python environment's bin/)
// first on PATH, so that `python` in a job's entrypoint and every Ray
// process the node starts is the Python that runs the node's Ray, not
// whatever the server's PATH finds first.
func withPath(env []string, dir string) []string {
	out := make([]string, 0, len(env)+1)
	path := dir
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			if v != "" {
				path = dir + string(os.PathListSeparator) + v
			}
			continue
		}
		out = append(out, kv)
	}
	return append(out, "PATH="+path)
}

// ownedEnv reports whether kv sets a variable the runtime owns: the node
// marker and Ray's authentication settings.
func ownedEnv(kv string) bool {
	for _, p := range []string{markerEnv + "=", "RAY_AUTH_MODE=", "RAY_AUTH_TOKEN=", "RAY_AUTH_TOKEN_PATH="} {
		if strings.HasPrefix(kv, p) {
			return true
		}
	}
	return false
}

// newAuthToken makes a Ray token for one cluster instance: 256 random bits,
// hex. Only rayfleet (the node records, mode 0600 under a 0700 directory)
// and its gateway hold it.
func newAuthToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // never fails on Linux
	}
	return hex.EncodeToString(b)
}

// tempDirFor returns the node's Ray temp directory: short, because Ray puts
// unix sockets under it (session_<date>_<pid>/sockets/raylet) and socket
// paths break above 107 bytes; DataDir paths are often longer than that.
func tempDirFor(root, cluster, instance, node string) string {
	sum := sha256.Sum256([]byte(cluster + "/" + instance + "/" + node))
	return filepath.Join(root, "rayfleet-"+hex.EncodeToString(sum[:4]))
}
