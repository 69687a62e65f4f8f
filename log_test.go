package rayfleet

import "testing"

func TestLogKeys(t *testing.T) {
	j := &Job{ID: "rj-abc", WorkspaceID: "w-1"}
	if got := JobDriverLogKey(j); got != "w-1/ray/logs/rj-abc_default/driver/rj-abc_driver.log" {
		t.Fatalf("driver log key %q", got)
	}
	if got := JobNodeLogKey(j, "ab12", true, "raylet.out"); got != "w-1/ray/logs/rj-abc_default/head-ab12/raylet.out" {
		t.Fatalf("head log key %q", got)
	}
	if got := JobNodeLogKey(j, "cd34", false, "raylet.err"); got != "w-1/ray/logs/rj-abc_default/worker-cd34/raylet.err" {
		t.Fatalf("worker log key %q", got)
	}
	j.LogPath = "w-1/elsewhere/"
	if got := JobDriverLogKey(j); got != "w-1/elsewhere/driver/rj-abc_driver.log" {
		t.Fatalf("a stored log path is not used: %q", got)
	}
	for _, k := range []string{JobDriverLogKey(j), "a", "a/b.c", "w-1/ray/logs/rj-1_default/head-x/worker-1-2-3.out", "ünï/côdé"} {
		if err := ValidLogKey(k); err != nil {
			t.Errorf("%q: %v", k, err)
		}
	}
	for _, k := range []string{"", "/a", "a/", "a//b", "../a", "a/..", "a/./b", ".a", "a/.b", "a\\b", "a\tb", "a\x7fb", "\xc3"} {
		if ErrorCode(ValidLogKey(k)) != EINVALID {
			t.Errorf("%q accepted", k)
		}
	}
	for _, b := range []string{"rayfleet-logs", "abc", "a1-b2"} {
		if err := ValidLogBucket(b); err != nil {
			t.Errorf("%q: %v", b, err)
		}
	}
}
