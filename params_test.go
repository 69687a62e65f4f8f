package rayfleet

import (
	"reflect"
	"testing"
)

func TestSplitRayStartParams(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		ok   bool
	}{
		{"", nil, true},
		{"--num-cpus=0 --num-gpus=0", []string{"--num-cpus=0", "--num-gpus=0"}, true},
		{`--resources='{"GPU_A": 1}'`, []string{`--resources={"GPU_A": 1}`}, true},
		{`--labels "a b" c\ d`, []string{"--labels", "a b", "c d"}, true},
		{`--x 'unterminated`, nil, false},
		{`--x "unterminated`, nil, false},
		{`--x \`, nil, false},
	} {
		got, err := SplitRayStartParams(tc.in)
		if (err == nil) != tc.ok || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("SplitRayStartParams(%q) = %q, %v", tc.in, got, err)
		}
	}
	spec := ClusterSpec{Name: "a", Head: HeadSpec{CPU: "1", Memory: "1Gi", RayStartParams: `--x 'open`}}
	if ErrorCode(spec.Validate()) != EINVALID {
		t.Fatal("an unbalanced quote in rayStartParams passed validation")
	}
}
