package httpapi

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/api"
)

// FuzzClusterBody feeds arbitrary bodies through the Create/Update decoder
// and the spec validation: they must never panic, and every failure must be
// an API error for the caller, never an internal one.
func FuzzClusterBody(f *testing.F) {
	for _, seed := range []string{
		`{"name":"a","headSpec":{"cpu":"2","memory":"8Gi"},"workerSpec":[{"groupName":"g","replica":2,"cpu":"1","memory":"4Gi"}]}`,
		`{"name":"a","headSpec":{"cpu":"0.5","memory":"512Mi","enableAutoScaling":true},"workerSpec":[{"groupName":"g","replica":2,"minReplica":1,"maxReplica":3,"cpu":"500m","memory":"1G"}]}`,
		`{"name":5}`, `[]`, `{`, `{"workerSpec":null}`, `{"extraParam":"{\"a\":1}","env":"A=B"}`,
		`{"headSpec":{"cpu":"1e9","memory":"1Ei","env":"=x\nK V=1","gftEnabled":true}}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r := &request{Request: httptest.NewRequest("POST", "/", strings.NewReader(body)), body: []byte(body)}
		var in api.ClusterRequest
		if err := decode(r, &in); err != nil {
			if code := rayfleet.ErrorCode(err); code != rayfleet.EINVALID {
				t.Fatalf("decode error code %s: %v", code, err)
			}
			return
		}
		spec := toPatch(&in).Apply(rayfleet.ClusterSpec{})
		if err := spec.Validate(); err != nil {
			if code := rayfleet.ErrorCode(err); code != rayfleet.EINVALID {
				t.Fatalf("validate error code %s: %v", code, err)
			}
			return
		}
		// A valid spec always has computable needs.
		for q, need := range spec.Needs() {
			if need.MilliCPU <= 0 || need.MemoryBytes <= 0 {
				t.Fatalf("valid spec needs nothing in queue %q: %+v", q, need)
			}
		}
	})
}
