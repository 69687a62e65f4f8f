package kuberay

import (
	"reflect"
	"strings"
	"testing"

	"github.com/rayfleet/rayfleet"
)

func TestParseRayStartParams(t *testing.T) {
	tests := []struct {
		in      string
		want    map[string]string
		wantErr string
	}{
		{"", map[string]string{}, ""},
		{"   \n ", map[string]string{}, ""},
		{"--num-cpus=4", map[string]string{"num-cpus": "4"}, ""},
		{"--num-cpus 4", map[string]string{"num-cpus": "4"}, ""},
		{"--disable-usage-stats", map[string]string{"disable-usage-stats": "true"}, ""},
		{"--block --num-gpus=1", map[string]string{"block": "true", "num-gpus": "1"}, ""},
		{"--object-store-memory 100000000 --include-dashboard false",
			map[string]string{"object-store-memory": "100000000", "include-dashboard": "false"}, ""},
		{`--resources='{"A": 1, "B": 2}'`, map[string]string{"resources": `{"A": 1, "B": 2}`}, ""},
		{`--resources "{\"A\": 1}"`, map[string]string{"resources": `{"A": 1}`}, ""},
		{"--metrics-export-port=8080 --metrics-export-port=9090", map[string]string{"metrics-export-port": "9090"}, ""},
		{"--x=", map[string]string{"x": ""}, ""},
		{"--x=a=b", map[string]string{"x": "a=b"}, ""},
		{"--temp -1", map[string]string{"temp": "-1"}, ""},
		{"--a \\\n --b", map[string]string{"a": "true", "b": "true"}, ""},
		{"num-cpus=4", nil, `"num-cpus=4" is not a --option`},
		{"--num-cpus 4 8", nil, `"8" is not a --option`},
		{"-v", nil, `"-v" is not a --option`},
		{"--", nil, `"--" is not a --option`},
		{"--=3", nil, "has no option name"},
		{"--a 'b", nil, "unterminated ' quote"},
		{`--a "b`, nil, `unterminated " quote`},
		{`--a b\`, nil, "lone backslash"},
	}
	for _, tt := range tests {
		got, err := parseRayStartParams(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseRayStartParams(%q) err = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseRayStartParams(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestSplitWords(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{`a b  c`, []string{"a", "b", "c"}},
		{`'a b' "c d"`, []string{"a b", "c d"}},
		{`a\ b`, []string{"a b"}},
		{`"a\"b" "\$x" "\q"`, []string{`a"b`, "$x", `\q`}},
		{`''`, []string{""}},
		{"a\tb\nc", []string{"a", "b", "c"}},
	}
	for _, tt := range tests {
		got, err := rayfleet.SplitRayStartParams(tt.in)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("rayfleet.SplitRayStartParams(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}
