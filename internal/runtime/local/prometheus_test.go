package local

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rayfleet/rayfleet/internal/poll"
	"github.com/rayfleet/rayfleet/internal/reconcile"
)

func TestPrometheusEnv(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		typ, url string
		want     []string
	}{
		{typeHead, "http://127.0.0.1:9090", []string{"RAY_PROMETHEUS_HOST=http://127.0.0.1:9090"}},
		{typeHead, "http://prom.example:9090/prefix/", []string{"RAY_PROMETHEUS_HOST=http://prom.example:9090/prefix"}},
		{typeHead, "", nil},
		{typeWorker, "http://127.0.0.1:9090", nil},
	} {
		if got := prometheusEnv(tc.typ, tc.url); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("prometheusEnv(%s, %q) = %q, want %q", tc.typ, tc.url, got, tc.want)
		}
	}
}

// readTargets reads the runtime's file_sd file.
func readTargets(t *testing.T, dir string) []targetGroup {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "local", "prometheus", "targets.json"))
	if err != nil {
		t.Fatal(err)
	}
	var out []targetGroup
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("targets.json: %v\n%s", err, b)
	}
	return out
}

// TestScrapeTargetsFollowTheNodes: the file_sd file is there (empty) as
// soon as the runtime is, lists every running node's metrics export port
// with the labels that name it, follows a scale-down and a stop, and the
// head (only) is told where Prometheus is, under the spec's env lines.
func TestScrapeTargetsFollowTheNodes(t *testing.T) {
	t.Parallel()
	dir := dataDir(t)
	r := newRuntime(t, dir, func(c *Config) { c.PrometheusURL = "http://127.0.0.1:9090/" })
	if got := readTargets(t, dir); len(got) != 0 {
		t.Fatalf("targets before any node: %+v", got)
	}
	c := testCluster("ray-scrapetargets01")
	applyUntil(t, r, c, "head ready with 2 workers", ready)

	want := func() []targetGroup {
		var out []targetGroup
		for _, rec := range nodeRecords(r, c) {
			if !rec.running() {
				continue
			}
			labels := map[string]string{"clusterId": c.ID, "instanceId": c.InstanceID, "workspaceId": c.WorkspaceID,
				"node": rec.Node, "role": "head"}
			if rec.Type == typeWorker {
				labels["role"], labels["group"] = "worker", "cpu"
			}
			out = append(out, targetGroup{Targets: []string{"127.0.0.1:" + strconv.Itoa(rec.Ports.MetricsExport)}, Labels: labels})
		}
		return out
	}
	poll.Until(t, 5*time.Second, "3 scrape targets", func() bool { return reflect.DeepEqual(readTargets(t, dir), want()) })

	recs := nodeRecords(r, c)
	headEnv, workerEnv := logged(t, recs[0].Log, "env "), logged(t, recs[1].Log, "env ")
	if !slices.Contains(headEnv, "RAY_PROMETHEUS_HOST=http://127.0.0.1:9090") {
		t.Errorf("head env lacks RAY_PROMETHEUS_HOST: %q", headEnv)
	}
	if slices.ContainsFunc(workerEnv, func(kv string) bool { return strings.HasPrefix(kv, "RAY_PROMETHEUS_HOST=") }) {
		t.Errorf("worker env has RAY_PROMETHEUS_HOST: %q", workerEnv)
	}

	c.RunningSpec.Workers[0].Replica = 1
	applyUntil(t, r, c, "1 worker", func(o reconcile.Observation) bool { return ready(o) && len(o.Nodes) == 2 })
	poll.Until(t, 5*time.Second, "2 scrape targets", func() bool { return reflect.DeepEqual(readTargets(t, dir), want()) })

	suspendUntilGone(t, r, c, false)
	poll.Until(t, 5*time.Second, "no scrape targets", func() bool { return len(readTargets(t, dir)) == 0 })

	// A spec's env line points its head at another Prometheus: the last
	// value of a name is the one a process gets.
	env, err := nodeEnv(append([]string{"PATH=/bin"}, prometheusEnv(typeHead, "http://a:9090")...),
		nodeSpec{typ: typeHead, env: "RAY_PROMETHEUS_HOST=http://b:9090"}, "m", "")
	if err != nil {
		t.Fatal(err)
	}
	var last string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "RAY_PROMETHEUS_HOST="); ok {
			last = v
		}
	}
	if last != "http://b:9090" {
		t.Fatalf("the spec's RAY_PROMETHEUS_HOST does not win: %q", env)
	}
}
