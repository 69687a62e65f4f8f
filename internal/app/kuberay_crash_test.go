package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	rayv1 "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kptr "k8s.io/utils/ptr"
	ctrlclient "sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/rayfleet/rayfleet/api"
	"github.com/rayfleet/rayfleet/api/signer"
	"github.com/rayfleet/rayfleet/internal/kubetest"
	"github.com/rayfleet/rayfleet/internal/poll"
	"github.com/rayfleet/rayfleet/internal/store/sqlstore"
)

// TestKubeRayKill9Converges kills rayfleet (its own process, runtime
// kuberay) with SIGKILL right after creates, stops and deletes, starts it
// again, and checks that Kubernetes ends up holding exactly what the API
// says: one RayCluster per cluster, exactly its pods, of its current
// instance, and nothing of a deleted cluster.
func TestKubeRayKill9Converges(t *testing.T) {
	stack := kubetest.Need(t)
	t.Parallel()
	dir := t.TempDir()
	bin := rayfleetBinary(t)
	srv := &serverProcess{t: t, bin: bin, dir: dir, addr: freeAddr(t),
		args: []string{"--runtime", "kuberay", "--kubeconfig", stack.Kubeconfig, "--log-level", "info"}}
	kube := kubeClient(t, stack)
	var ns string
	t.Cleanup(func() {
		srv.stop()
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
			t.Logf("server log:\n%s", log)
		}
		if ns != "" {
			_ = kube.Delete(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		}
	})
	srv.start()
	cred := readCredentials(t, filepath.Join(dir, "data"))
	ws := cred.WorkspaceID
	ns = "rayfleet-" + ws
	c := &api.Client{Endpoint: srv.addr, Credentials: signer.Credentials{AccessKeyID: cred.AccessKeyID, AccessKeySecret: cred.AccessKeySecret}}
	ctx := context.Background()

	create := func(name string) string {
		t.Helper()
		resp, err := c.CreateCluster(ctx, ws, &api.ClusterRequest{Name: ptr(name), HeadSpec: &api.HeadSpec{CPU: "500m", Memory: "1Gi"},
			WorkerSpec: &[]api.WorkerSpec{{GroupName: "g", Replica: 1, CPU: "500m", Memory: "512Mi"}}})
		if err != nil {
			t.Fatal(err)
		}
		return resp.ClusterID
	}
	running := func(id string) *api.Cluster {
		t.Helper()
		return waitState(t, c, ws, id, "Running", func(cl *api.Cluster) bool {
			if cl.State == "Error" {
				t.Fatalf("cluster %s failed: %s", id, cl.Message)
			}
			return runningWith(1)(cl)
		})
	}
	gone := func(id string) {
		t.Helper()
		var apiErr *api.Error
		if _, err := c.GetCluster(ctx, ws, id); !errors.As(err, &apiErr) || apiErr.Code != "ResourceNotFound" {
			t.Fatalf("deleted cluster %s: %v", id, err)
		}
		poll.UntilSeen(t, kubeWait, "nothing of "+id+" left", func() (bool, string) {
			left := leftovers(t, kube, ns, id)
			return len(left) == 0, strings.Join(left, ", ")
		}, kubeEvery)
	}
	// exactly checks the namespace holds one RayCluster per cluster of
	// want, no other, and exactly the pods of the running ones' current
	// instances: a head and a worker each.
	exactly := func(want map[string]string) { // cluster id → current instance, "" when stopped
		t.Helper()
		poll.UntilSeen(t, kubeWait, fmt.Sprintf("exactly the objects of %v", want), func() (bool, string) {
			var rcs rayv1.RayClusterList
			var pods corev1.PodList
			if err := kube.List(ctx, &rcs, ctrlclient.InNamespace(ns)); err != nil {
				t.Fatal(err)
			}
			if err := kube.List(ctx, &pods, ctrlclient.InNamespace(ns)); err != nil {
				t.Fatal(err)
			}
			var got, wantNames []string
			for _, rc := range rcs.Items {
				got = append(got, rc.Name)
			}
			for id := range want {
				wantNames = append(wantNames, id)
			}
			slices.Sort(got)
			slices.Sort(wantNames)
			if !slices.Equal(got, wantNames) {
				return false, fmt.Sprintf("RayClusters %v, want %v", got, wantNames)
			}
			for _, rc := range rcs.Items {
				inst := want[rc.Name]
				if suspended := kptr.Deref(rc.Spec.Suspend, false); suspended != (inst == "") {
					return false, fmt.Sprintf("RayCluster %s suspended=%v", rc.Name, suspended)
				}
				if inst != "" && rc.Labels["rayfleet.io/instance"] != inst {
					return false, fmt.Sprintf("RayCluster %s of instance %s, want %s", rc.Name, rc.Labels["rayfleet.io/instance"], inst)
				}
			}
			count := map[string]int{}
			for _, p := range pods.Items {
				id, inst := p.Labels["rayfleet.io/cluster"], p.Labels["rayfleet.io/instance"]
				if want[id] == "" || inst != want[id] || p.DeletionTimestamp != nil {
					return false, fmt.Sprintf("pod %s of cluster %s instance %s (deleting: %v)", p.Name, id, inst, p.DeletionTimestamp != nil)
				}
				count[id+"/"+p.Labels["ray.io/node-type"]]++
			}
			for id, inst := range want {
				if inst != "" && (count[id+"/head"] != 1 || count[id+"/worker"] != 1) {
					return false, fmt.Sprintf("cluster %s has %d head and %d worker pods", id, count[id+"/head"], count[id+"/worker"])
				}
			}
			return true, ""
		}, kubeEvery)
	}

	// 1. One cluster up, two more created, and the server killed at once.
	a := create("a")
	running(a)
	b, cc := create("b"), create("c")
	srv.kill9()

	// 2. After a restart all three run, each with exactly its objects.
	srv.start()
	inst := map[string]string{}
	for _, id := range []string{a, b, cc} {
		inst[id] = running(id).InstanceID
	}
	exactly(inst)
	before, err := c.GetCluster(ctx, ws, cc)
	if err != nil {
		t.Fatal(err)
	}

	// 3. Stop one, delete another, create a fourth, and kill the server
	// before it can act.
	if _, err := c.StopCluster(ctx, ws, a, &api.StopRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteCluster(ctx, ws, b); err != nil {
		t.Fatal(err)
	}
	d := create("d")
	srv.kill9()
	srv.start()

	// 4. a is Stopped with no pod, b is gone with everything of it, c kept
	// running untouched, d runs.
	waitState(t, c, ws, a, "Stopped", func(cl *api.Cluster) bool { return cl.State == "Stopped" && len(cl.Instances) == 0 })
	gone(b)
	after := running(cc)
	if after.InstanceID != before.InstanceID || fmt.Sprint(startTimes(after)) != fmt.Sprint(startTimes(before)) {
		t.Fatalf("c was not kept as it ran: before %s %v, after %s %v", before.InstanceID, startTimes(before), after.InstanceID, startTimes(after))
	}
	exactly(map[string]string{a: "", cc: inst[cc], d: running(d).InstanceID})

	// 5. Delete everything, kill the server in the middle, and restart:
	// nothing is left, in Kubernetes or in the store.
	for _, id := range []string{a, cc, d} {
		if _, err := c.DeleteCluster(ctx, ws, id); err != nil {
			t.Fatal(err)
		}
	}
	srv.kill9()
	srv.start()
	for _, id := range []string{a, cc, d} {
		gone(id)
	}
	exactly(map[string]string{})
	poll.UntilSeen(t, kubeWait, "every row purged", func() (bool, string) {
		// Read the store the way the server does, once it let go of it.
		srv.stop()
		st, err := sqlstore.OpenSQLite(ctx, filepath.Join(dir, "data", "rayfleet.db"))
		if err != nil {
			t.Fatal(err)
		}
		refs, err := st.ListClusterRefs(ctx)
		st.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(refs) == 0 {
			return true, ""
		}
		srv.start()
		return false, fmt.Sprintf("rows %v", refs)
	}, kubeEvery)
}
