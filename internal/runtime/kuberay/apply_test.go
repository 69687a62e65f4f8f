package kuberay

import (
	"testing"

	rayv1 "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/rayfleet/rayfleet"
)

// TestAppliedUnchanged: the memo lets an Apply skip the render only for
// the very object it applied, unchanged, from the very same inputs; any
// one difference makes it render.
func TestAppliedUnchanged(t *testing.T) {
	r := &Runtime{applied: map[string]appliedSpec{}}
	c := newTestCluster("ray-memo0001")
	r.cfg.NetworkLabels = func(c *rayfleet.Cluster) map[string]string { return map[string]string{"net": "a"} }
	in, err := r.inputsOf(c)
	if err != nil {
		t.Fatal(err)
	}
	const key = "ns/ray-memo0001"
	current := func() *rayv1.RayCluster {
		return &rayv1.RayCluster{ObjectMeta: metav1.ObjectMeta{
			Name: c.ID, Namespace: "ns", UID: "uid-1", Generation: 3,
			Labels:      map[string]string{labelInstance: c.InstanceID},
			Annotations: map[string]string{annotationSpecHash: "hash-1"},
		}}
	}
	if r.appliedUnchanged(key, in, current()) || r.builtBefore(key, in) {
		t.Fatal("unchanged with no memo")
	}
	r.applied[key] = appliedSpec{hash: "hash-1", generation: 3, uid: "uid-1", inputs: in}
	if !r.appliedUnchanged(key, in, current()) {
		t.Fatal("not unchanged: same object, same inputs")
	}
	if !r.builtBefore(key, in) {
		t.Fatal("not built before: same inputs")
	}
	if r.appliedUnchanged(key, in, nil) {
		t.Error("unchanged with no RayCluster")
	}
	if r.appliedUnchanged("ns/other", in, current()) {
		t.Error("unchanged under another key")
	}

	objects := map[string]func(*rayv1.RayCluster){
		"another uid":      func(rc *rayv1.RayCluster) { rc.UID = types.UID("uid-2") },
		"no uid":           func(rc *rayv1.RayCluster) { rc.UID = "" },
		"edited":           func(rc *rayv1.RayCluster) { rc.Generation = 4 },
		"older generation": func(rc *rayv1.RayCluster) { rc.Generation = 2 },
		"another hash":     func(rc *rayv1.RayCluster) { rc.Annotations[annotationSpecHash] = "hash-2" },
		"no hash":          func(rc *rayv1.RayCluster) { delete(rc.Annotations, annotationSpecHash) },
		"another instance": func(rc *rayv1.RayCluster) { rc.Labels[labelInstance] = "other" },
	}
	for name, edit := range objects {
		rc := current()
		edit(rc)
		if r.appliedUnchanged(key, in, rc) {
			t.Errorf("%s: unchanged", name)
		}
	}

	clusters := map[string]func(){
		"replica":    func() { c.RunningSpec.Workers[0].Replica++ },
		"worker env": func() { c.RunningSpec.Workers[0].Env = `{"A":"1"}` },
		"head cpu":   func() { c.RunningSpec.Head.CPU = "2" },
		"gft": func() {
			c.RunningSpec.Head.GFTEnabled = new(true)
			c.RunningSpec.Head.GFTConfig = &rayfleet.GFTConfig{RedisURL: "redis:6379", RedisPassword: "p"}
		},
		"release":       func() { c.RunningSpec.ReleaseVersion = "ray-1.2.0 (Ray 2.55.1, Python 3.12)" },
		"another group": func() { c.RunningSpec.Workers = append(c.RunningSpec.Workers, c.RunningSpec.Workers[0]) },
		"instance":      func() { c.InstanceID = "other" },
		"account":       func() { c.AccountID = "other" },
		"network": func() {
			r.cfg.NetworkLabels = func(*rayfleet.Cluster) map[string]string { return map[string]string{"net": "b"} }
		},
	}
	for name, edit := range clusters {
		saved, savedNet := *c, r.cfg.NetworkLabels
		saved.RunningSpec.Workers = append([]rayfleet.WorkerSpec(nil), c.RunningSpec.Workers...)
		edit()
		in2, err := r.inputsOf(c)
		if err != nil {
			t.Fatal(err)
		}
		if r.appliedUnchanged(key, in2, current()) {
			t.Errorf("%s changed: unchanged", name)
		}
		if r.builtBefore(key, in2) {
			t.Errorf("%s changed: built before", name)
		}
		*c, r.cfg.NetworkLabels = saved, savedNet
	}
	// The fields an Apply does not build from change nothing.
	c.Version, c.State, c.Message, c.Spec.Workers = c.Version+1, "RUNNING", "x", nil
	in3, err := r.inputsOf(c)
	if err != nil {
		t.Fatal(err)
	}
	if !r.appliedUnchanged(key, in3, current()) {
		t.Error("a status write made it render")
	}
}
