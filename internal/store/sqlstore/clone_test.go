package sqlstore

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/store/storetest"
)

// references lists the fields reachable from t that share memory when
// copied by value (slices, pointers, maps...), as "Type.Field".
func references(t reflect.Type, seen map[reflect.Type]bool, out *[]string) {
	if seen[t] || t == reflect.TypeFor[time.Time]() { // a Time's *Location is immutable
		return
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			switch f.Type.Kind() {
			case reflect.Slice, reflect.Pointer, reflect.Map, reflect.Interface, reflect.Chan, reflect.Func, reflect.UnsafePointer:
				*out = append(*out, t.Name()+"."+f.Name)
			}
			references(f.Type, seen, out)
		}
	case reflect.Slice, reflect.Pointer, reflect.Array:
		references(t.Elem(), seen, out)
	case reflect.Map:
		references(t.Key(), seen, out)
		references(t.Elem(), seen, out)
	}
}

// TestCloneCoversEveryField fails when a field that a shallow copy would
// share is added to the spec types: cloneSpec must learn to copy it, or
// clusters listed from a snapshot would share memory with it.
func TestCloneCoversEveryField(t *testing.T) {
	for _, tc := range []struct {
		typ  reflect.Type
		want []string
	}{
		{reflect.TypeFor[rayfleet.ClusterSpec](), []string{"ClusterSpec.VolumeIDs", "ClusterSpec.Workers", "HeadSpec.GFTConfig", "HeadSpec.GFTEnabled"}},
	} {
		var got []string
		references(tc.typ, map[reflect.Type]bool{}, &got)
		slices.Sort(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s holds references %v; cloneSpec copies %v: update it and this test", tc.typ, got, tc.want)
		}
	}
}

func TestCloneSpecIsDeep(t *testing.T) {
	orig := storetest.NewCluster("a", "w", 1).Spec
	c := cloneSpec(orig)
	c.Workers[0].CPU = "changed"
	c.VolumeIDs[0] = "changed"
	*c.Head.GFTEnabled = false
	c.Head.GFTConfig.RedisURL = "changed"
	if !reflect.DeepEqual(orig, storetest.NewCluster("a", "w", 1).Spec) {
		t.Fatal("changing a clone changed the original")
	}
	var empty rayfleet.ClusterSpec
	empty.Workers = []rayfleet.WorkerSpec{}
	if got := cloneSpec(empty); got.Workers == nil || got.VolumeIDs != nil {
		t.Fatal("cloneSpec does not keep nil and empty lists apart")
	}
}
