package httpapi

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rayfleet/rayfleet"
)

// Metrics are the API's Prometheus metrics.
type Metrics struct {
	requests     *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	authFailures *prometheus.CounterVec
}

// NewMetrics registers the API metrics on reg, including a gauge of clusters
// by state read from count at scrape time.
func NewMetrics(reg prometheus.Registerer, count func(context.Context) (map[rayfleet.State]int, error)) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rayfleet_api_requests_total", Help: "API requests by operation and result code (OK for success).",
		}, []string{"action", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "rayfleet_api_request_duration_seconds", Help: "API request latency by operation.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"action"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rayfleet_api_auth_failures_total",
			Help: "API requests refused for their credentials (bad signature, unknown or disabled key, stale or replayed request), by code; the log names each source.",
		}, []string{"code"}),
	}
	reg.MustRegister(m.requests, m.latency, m.authFailures, &clusterCollector{count: count,
		desc: prometheus.NewDesc("rayfleet_clusters", "Ray clusters (not deleted) by state.", []string{"state"}, nil)})
	return m
}

func (m *Metrics) observe(action, code string, d time.Duration) {
	m.requests.WithLabelValues(action, code).Inc()
	m.latency.WithLabelValues(action).Observe(d.Seconds())
}

type clusterCollector struct {
	count func(context.Context) (map[rayfleet.State]int, error)
	desc  *prometheus.Desc
}

func (c *clusterCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *clusterCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := c.count(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	for _, s := range []rayfleet.State{rayfleet.StateStarting, rayfleet.StateRunning, rayfleet.StateStopping, rayfleet.StateStopped, rayfleet.StateError} {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[s]), string(s))
	}
}

// metrics is next behind MetricsToken: without the bearer token the
// answer is 401 in the API's error format.
func (h *Handler) metrics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.MetricsToken != "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(h.MetricsToken)) != 1 {
				id := newRequestID()
				_, body := h.errorBody(rayfleet.Errorf(EMETRICSTOKEN,
					"GET /metrics needs the header Authorization: Bearer <token>, the token being the contents of the server's metrics token file (<data-dir>/metrics-token unless --metrics-token-file names another)."), id, "")
				writeJSON(w, http.StatusUnauthorized, body, id)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// EMETRICSTOKEN refuses a scrape of /metrics without its token.
const EMETRICSTOKEN = "InvalidMetricsToken"
