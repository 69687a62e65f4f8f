package rayfleet

import "testing"

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
