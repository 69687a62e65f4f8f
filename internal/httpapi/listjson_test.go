package httpapi

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/rayfleet/rayfleet/api"
)

// awkward are strings encoding/json escapes or replaces, and plain ones.
var awkward = []string{
	"", "plain", `quote " and \ backslash`, "line\nbreak\ttab\rreturn\bback\ffeed", "\x00\x01\x1f\x7f",
	"<html> & 'x'", "日本語 ü", "\u2028\u2029", "bad \xff\xfe utf-8 \xe2\x82", "emoji 😀",
}

// fill sets every field reachable from v at random: each string one of
// awkward, numbers positive, negative or zero, pointers and slices nil or
// not, so both sides of every omitempty are met.
func fill(rng *rand.Rand, v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(awkward[rng.IntN(len(awkward))])
	case reflect.Bool:
		v.SetBool(rng.IntN(2) == 0)
	case reflect.Int32:
		v.SetInt([]int64{0, 1, -7, 1 << 30}[rng.IntN(4)])
	case reflect.Int, reflect.Int64:
		v.SetInt([]int64{0, 1, -7, 1764300000000}[rng.IntN(4)])
	case reflect.Pointer:
		if rng.IntN(3) == 0 {
			v.SetZero()
			return
		}
		v.Set(reflect.New(v.Type().Elem()))
		fill(rng, v.Elem())
	case reflect.Slice:
		if rng.IntN(4) == 0 {
			v.SetZero()
			return
		}
		n := rng.IntN(4)
		v.Set(reflect.MakeSlice(v.Type(), n, n))
		for i := range n {
			fill(rng, v.Index(i))
		}
	case reflect.Struct:
		for i := range v.NumField() {
			fill(rng, v.Field(i))
		}
	default:
		panic("fill: unhandled kind " + v.Kind().String())
	}
}

// encodeListResponse encodes a whole answer as the handler does.
func encodeListResponse(r *api.ListClustersResponse) jsonBody {
	w := newListWriter(r.RequestID, len(r.RayClusters))
	for i := range r.RayClusters {
		w.add(&r.RayClusters[i])
	}
	body := w.finish(r.TotalCount, r.PageNum, r.PageSize)
	if r.RayClusters == nil { // encoding/json's null, which no handler sends
		body = bytes.Replace(body, []byte(`"rayClusters":[]`), []byte(`"rayClusters":null`), 1)
	}
	return body
}

func TestListJSONMatchesEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 2000 {
		var r api.ListClustersResponse
		fill(rng, reflect.ValueOf(&r).Elem())
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false) // as writeJSON
		if err := enc.Encode(&r); err != nil {
			t.Fatal(err)
		}
		if got := encodeListResponse(&r); !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("case %d:\n got %s\nwant %s", i, got, want.Bytes())
		}
	}
}

func BenchmarkListJSON(b *testing.B) {
	r := &api.ListClustersResponse{RequestID: "5B3D8A2E-9F1C-4E7A-B6D0-3C2F1E0A9B8D", TotalCount: 10000, PageNum: 7, PageSize: 100}
	for i := range 100 {
		r.RayClusters = append(r.RayClusters, api.ClusterSummary{
			ClusterID: "ray-" + string(rune('a'+i%26)) + "k3j5h6g7f8d9s0a1", Name: "etl-nightly-00042", Description: "nightly ETL for the sales mart",
			DisplayReleaseVersion: "esr-3.3.0 (Ray 2.47.1, Python 3.12)", NetworkServiceName: "default", State: "Running",
			InstanceID:   "ray-k3j5h6g7f8d9s0a1-x8y7z6w5",
			HeadSpec:     api.SummaryHeadSpec{QueueName: "root_queue", CPU: "2", Memory: "8Gi", Replica: 1},
			WorkerSpec:   []api.SummaryWorkerSpec{{GroupName: "worker-group-1", WorkerType: "CPU", Replica: 4, MinReplica: 4, MaxReplica: 4, QueueName: "root_queue", CPU: "8", Memory: "32Gi"}},
			DashboardURL: "https://ray.example.com/workspace/w-1/raycluster/ray-1/dashboard/?token=0123456789abcdef0123456789abcdef",
			CreateTime:   1764300000000, StartTime: 1764300001000, ModifiedTime: 1764300002000,
			Creator: "204857362819475610", CreatorName: "root", Modifier: "204857362819475610", ModifierName: "root", UserID: "1234567890123456",
		})
	}
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("by hand", func(b *testing.B) {
		for b.Loop() {
			encodeListResponse(r)
		}
	})
}
