package httpapi

import (
	"encoding/json"
	"testing"

	"github.com/rayfleet/rayfleet/api"
)

// An update body's gftConfig without redisPassword asks to keep the stored
// password; one with it, even "", sets it.
func TestPatchRedisPassword(t *testing.T) {
	for _, tc := range []struct {
		body     string
		keep     bool
		password string
	}{
		{`{"headSpec":{"cpu":"2","gftConfig":{"redisUrl":"redis:6379"}}}`, true, ""},
		{`{"headSpec":{"cpu":"2","gftConfig":{"redisUrl":"redis:6379","redisPassword":""}}}`, false, ""},
		{`{"headSpec":{"cpu":"2","gftConfig":{"redisUrl":"redis:6379","redisPassword":"n3w"}}}`, false, "n3w"},
	} {
		var in api.ClusterRequest
		if err := json.Unmarshal([]byte(tc.body), &in); err != nil {
			t.Fatal(err)
		}
		p := toPatch(&in)
		if p.KeepRedisPassword != tc.keep || p.Head == nil || p.Head.GFTConfig == nil || p.Head.GFTConfig.RedisPassword != tc.password {
			t.Errorf("%s: keep %v, head %+v", tc.body, p.KeepRedisPassword, p.Head)
		}
	}
	if p := toPatch(&api.ClusterRequest{HeadSpec: &api.HeadSpec{CPU: "2"}}); p.KeepRedisPassword {
		t.Error("a head without gftConfig keeps a password")
	}
}
