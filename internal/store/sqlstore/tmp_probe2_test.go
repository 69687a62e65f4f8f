package sqlstore

import (
	"encoding/json"
	"testing"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/store/storetest"
)

func BenchmarkDecodeSpec(b *testing.B) {
	c := storetest.NewCluster("a", "w", 1)
	spec, _ := json.Marshal(c.Spec)
	b.SetBytes(int64(len(spec)))
	for b.Loop() {
		var s rayfleet.ClusterSpec
		if err := json.Unmarshal(spec, &s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeInstances(b *testing.B) {
	c := storetest.NewCluster("a", "w", 1)
	inst, _ := json.Marshal(c.Instances)
	b.SetBytes(int64(len(inst)))
	for b.Loop() {
		var s []rayfleet.Instance
		if err := json.Unmarshal(inst, &s); err != nil {
			b.Fatal(err)
		}
	}
}
