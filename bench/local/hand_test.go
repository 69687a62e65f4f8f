package main

import (
	"strings"
	"testing"
)

// TestRewriteKeepsTheCommandLines: the hand start's command lines differ
// from rayfleet's only in ports and temp dirs, every port is new, and the
// workers name the new head's GCS.
func TestRewriteKeepsTheCommandLines(t *testing.T) {
	tmpl := []nodeTemplate{
		{args: strings.Fields("/env/bin/ray start --block --address=127.0.0.1:40001 --node-manager-port=40011 --min-worker-port=21000 --max-worker-port=21099 --num-cpus=1 --temp-dir=/tmp/r/rayfleet-0000aaaa")},
		{head: true, args: strings.Fields("/env/bin/ray start --head --block --port=40001 --dashboard-port=40002 --node-manager-port=40003 --min-worker-port=22000 --max-worker-port=22099 --num-cpus=1 --temp-dir=/tmp/r/rayfleet-0000bbbb")},
	}
	out, err := rewrite(tmpl, newPorts(), "/tmp/h")
	if err != nil {
		t.Fatal(err)
	}
	for i := range tmpl {
		if got, want := shape(out[i]), shape(tmpl[i].args); got != want {
			t.Errorf("node %d: shape %q, want %q", i, got, want)
		}
		for _, name := range []string{"port", "dashboard-port", "node-manager-port", "min-worker-port", "temp-dir"} {
			if v := flagValue(out[i], name); v != "" && v == flagValue(tmpl[i].args, name) {
				t.Errorf("node %d: --%s=%s kept", i, name, v)
			}
		}
		if !strings.HasPrefix(flagValue(out[i], "temp-dir"), "/tmp/h/rayfleet-") || len(flagValue(out[i], "temp-dir")) != len("/tmp/h/rayfleet-0000aaaa") {
			t.Errorf("node %d: temp dir %q", i, flagValue(out[i], "temp-dir"))
		}
	}
	if got, want := flagValue(out[0], "address"), "127.0.0.1:"+flagValue(out[1], "port"); got != want {
		t.Errorf("worker --address=%s, want the new head's GCS %s", got, want)
	}
	lo, hi := flagValue(out[0], "min-worker-port"), flagValue(out[0], "max-worker-port")
	if lo == "" || hi == "" || lo == hi {
		t.Errorf("worker ports %s-%s", lo, hi)
	}
}
