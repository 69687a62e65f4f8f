package rayfleet

import (
	"strings"
	"testing"
)

// The Redis password of GCS fault tolerance is write-only: an update that
// leaves it out keeps the stored one for the same Redis, and only for it.
func TestApplyKeepsRedisPassword(t *testing.T) {
	stored := ClusterSpec{Head: HeadSpec{CPU: "2", GFTConfig: &GFTConfig{RedisURL: "redis:6379", RedisUsername: "ray", RedisPassword: "s3cret"}}}
	for _, tc := range []struct {
		name string
		head HeadSpec
		keep bool
		want string // the password after the update; "-" for no gftConfig
	}{
		{"left out, same Redis", HeadSpec{CPU: "4", GFTConfig: &GFTConfig{RedisURL: "redis:6379", RedisUsername: "ray"}}, true, "s3cret"},
		{"a new one", HeadSpec{CPU: "4", GFTConfig: &GFTConfig{RedisURL: "redis:6379", RedisUsername: "ray", RedisPassword: "n3w"}}, false, "n3w"},
		{"removed with \"\"", HeadSpec{CPU: "4", GFTConfig: &GFTConfig{RedisURL: "redis:6379", RedisUsername: "ray"}}, false, ""},
		{"left out, another Redis", HeadSpec{CPU: "4", GFTConfig: &GFTConfig{RedisURL: "other:6379", RedisUsername: "ray"}}, true, ""},
		{"left out, another user", HeadSpec{CPU: "4", GFTConfig: &GFTConfig{RedisURL: "redis:6379", RedisUsername: "admin"}}, true, ""},
		{"no gftConfig", HeadSpec{CPU: "4"}, true, "-"},
	} {
		got := ClusterPatch{Head: &tc.head, KeepRedisPassword: tc.keep}.Apply(stored)
		switch g := got.Head.GFTConfig; {
		case tc.want == "-" && g != nil, tc.want != "-" && (g == nil || g.RedisPassword != tc.want):
			t.Errorf("%s: gftConfig %+v, want password %q", tc.name, g, tc.want)
		}
		if got.Head.CPU != "4" {
			t.Errorf("%s: head cpu %q", tc.name, got.Head.CPU)
		}
	}
	if stored.Head.GFTConfig.RedisPassword != "s3cret" {
		t.Error("Apply changed the stored spec")
	}
}

// GCS fault tolerance off is the same spec however it is spelled, so a head
// read back and sent again does not mark a running cluster modified; turning
// it on, or naming a Redis, does.
func TestRestartRequiredGFTOff(t *testing.T) {
	off, on := false, true
	base := ClusterSpec{Name: "c", Head: HeadSpec{CPU: "2", Memory: "8Gi"}}
	with := func(enabled *bool, cfg *GFTConfig) ClusterSpec {
		s := base
		s.Head.GFTEnabled, s.Head.GFTConfig = enabled, cfg
		return s
	}
	for _, tc := range []struct {
		name string
		new  ClusterSpec
		want bool
	}{
		{"false", with(&off, nil), false},
		{"empty gftConfig", with(nil, &GFTConfig{}), false},
		{"false and empty gftConfig", with(&off, &GFTConfig{}), false},
		{"on", with(&on, &GFTConfig{RedisURL: "redis:6379"}), true},
		{"a Redis, off", with(&off, &GFTConfig{RedisURL: "redis:6379"}), true},
	} {
		if got := RestartRequired(base, tc.new); got != tc.want {
			t.Errorf("%s: RestartRequired = %v, want %v", tc.name, got, tc.want)
		}
		if got := RestartRequired(tc.new, base); got != tc.want {
			t.Errorf("%s, the other way: RestartRequired = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// Replica bounds: 1 <= minReplica <= maxReplica in every case; bounds left
// out (0) are the replica of a group of fixed size, and refused under
// autoscaling, where a range cannot be guessed.
func TestReplicaBounds(t *testing.T) {
	for _, tc := range []struct {
		name            string
		autoscaling     bool
		replica, lo, hi int32
		wantLo, wantHi  int32 // after FillReplicaBounds
		wantErr         string
	}{
		{"fixed, left out", false, 3, 0, 0, 3, 3, ""},
		{"fixed, given", false, 3, 1, 5, 1, 5, ""},
		{"fixed, min alone above replica", false, 2, 4, 0, 4, 4, ""},
		{"fixed, max alone below replica", false, 5, 0, 2, 2, 2, ""},
		{"fixed, min above max", false, 3, 5, 2, 5, 2, "minReplica <= maxReplica, got 5 > 2"},
		{"fixed, negative", false, 3, -1, 4, -1, 4, "minReplica must be at least 1"},
		{"autoscaling", true, 2, 1, 10, 1, 10, ""},
		{"autoscaling, left out", true, 2, 0, 0, 0, 0, "minReplica must be at least 1 when autoscaling is on"},
		{"autoscaling, max left out", true, 2, 1, 0, 1, 0, "maxReplica must be at least 1 when autoscaling is on"},
		{"autoscaling, min above max", true, 2, 4, 3, 4, 3, "minReplica <= maxReplica, got 4 > 3"},
		{"autoscaling, replica out of range", true, 5, 1, 3, 1, 3, "minReplica <= replica <= maxReplica"},
	} {
		s := ClusterSpec{Name: "c", Head: HeadSpec{CPU: "1", Memory: "2Gi", EnableAutoScaling: tc.autoscaling},
			Workers: []WorkerSpec{{GroupName: "g", Replica: tc.replica, MinReplica: tc.lo, MaxReplica: tc.hi, CPU: "1", Memory: "2Gi"}}}
		s.FillReplicaBounds()
		if w := s.Workers[0]; w.MinReplica != tc.wantLo || w.MaxReplica != tc.wantHi {
			t.Errorf("%s: filled to %d..%d, want %d..%d", tc.name, w.MinReplica, w.MaxReplica, tc.wantLo, tc.wantHi)
		}
		err := s.Validate()
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.wantErr != "" && (ErrorCode(err) != EINVALID || !strings.Contains(ErrorMessage(err), tc.wantErr)):
			t.Errorf("%s: %v, want InvalidParameter with %q", tc.name, err, tc.wantErr)
		}
	}
}
