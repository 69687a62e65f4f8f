package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkHTTPProxy sends job API requests through the gateway to a head
// on loopback, 8 at a time, with the lookup cache on as internal/app runs
// it. bench/gateway measures the gateway process against nginx; this is
// for profiling the handler: go test -bench HTTPProxy -cpuprofile.
func BenchmarkHTTPProxy(b *testing.B) {
	head := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"version":"bench","ray_version":"2.47.1","ray_commit":"bench"}`))
	}))
	defer head.Close()
	f := newFleet()
	c := f.add(&fakeCluster{ws: "w-aaaaaaaaaaaaaaaa", id: "ray-aaaaaaaaaaaaaaaa", token: tokenA, dashboard: head.Listener.Addr().String()})
	cfg := Config{Lookup: f.lookup(), LookupCacheTTL: time.Hour}
	url := serve(b, cfg) + "/workspace/" + c.ws + "/raycluster/" + c.id + "/api/version"
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("GET", url, nil)
			req.Header.Set("ray-token", tokenA)
			res, err := hc.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 200 {
				b.Errorf("status %d", res.StatusCode)
				return
			}
		}
	})
}
