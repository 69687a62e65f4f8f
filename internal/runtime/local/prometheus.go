package local

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// prometheusEnv points a head's dashboard at the Prometheus server at url:
// Ray's metrics module (python/ray/dashboard/modules/metrics/metrics_head.py,
// as of Ray 2.60) reads RAY_PROMETHEUS_HOST once at start, answers
// /api/prometheus_health by asking <url>/api/v1/query?query=vector(1), and
// its data module queries the same server. Ray appends "/api/v1/..." to
// the value as a string, so a trailing slash is dropped. Only heads run a
// dashboard; nil for workers and for no url.
func prometheusEnv(typ, url string) []string {
	url = strings.TrimRight(url, "/")
	if typ != typeHead || url == "" {
		return nil
	}
	return []string{"RAY_PROMETHEUS_HOST=" + url}
}

// targetGroup is one entry of a Prometheus file_sd file
// (https://prometheus.io/docs/guides/file-sd/): the addresses to scrape
// and the labels every series scraped from them gets.
type targetGroup struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

// scrapeTargets returns a target group per running node of recs: its metrics
// export port (--metrics-export-port, where Ray's dashboard agent serves
// /metrics on every interface) on host, labelled with what names the node
// in the API. recs is sorted in place (by cluster, instance, then head
// first), so that the same nodes always give the same bytes.
func scrapeTargets(host string, recs []record) []targetGroup {
	sort.Slice(recs, func(i, j int) bool {
		a, b := &recs[i], &recs[j]
		if a.Cluster != b.Cluster {
			return a.Cluster < b.Cluster
		}
		if a.Instance != b.Instance {
			return a.Instance < b.Instance
		}
		if (a.Type == typeHead) != (b.Type == typeHead) {
			return a.Type == typeHead
		}
		if a.Group != b.Group {
			return a.Group < b.Group
		}
		return a.Index < b.Index
	})
	out := []targetGroup{}
	for i := range recs {
		rec := &recs[i]
		if !rec.running() || rec.Ports.MetricsExport == 0 {
			continue
		}
		labels := map[string]string{
			"clusterId":   rec.Cluster,
			"instanceId":  rec.Instance,
			"workspaceId": rec.WorkspaceID,
			"node":        rec.Node,
			"role":        strings.ToLower(rec.Type),
		}
		if rec.Group != "" {
			labels["group"] = rec.Group
		}
		out = append(out, targetGroup{
			Targets: []string{net.JoinHostPort(host, strconv.Itoa(rec.Ports.MetricsExport))},
			Labels:  labels,
		})
	}
	return out
}

// targetsWriter keeps DataDir/local/prometheus/targets.json equal to the
// scrape targets of the nodes running now. It is owned by the watcher
// (New writes the first version before the watcher starts), which calls
// update after every poll: a file rewritten only when the nodes changed,
// from the records that say what runs, rather than a second account of it
// kept by every start and stop.
type targetsWriter struct {
	path    string
	last    []byte // what the file holds; nil until written
	failing bool   // the last write failed (logged once until one works)
	logger  *slog.Logger
}

// update writes groups to the file if they differ from what it holds,
// atomically (a temp file renamed over it): Prometheus watches the file
// and would read a half-written one as invalid JSON.
func (w *targetsWriter) update(groups []targetGroup) {
	b, err := json.MarshalIndent(groups, "", "  ")
	if err != nil {
		panic(fmt.Sprintf("encode scrape targets: %v", err)) // strings only: cannot fail
	}
	b = append(b, '\n')
	if w.last != nil && bytes.Equal(b, w.last) {
		return
	}
	if err := writeAtomic(w.path, b); err != nil {
		if !w.failing {
			w.logger.Error("local runtime: write Prometheus scrape targets", "path", w.path, "err", err)
		}
		w.failing = true
		return
	}
	w.last, w.failing = b, false
}

// writeAtomic replaces path with b, readable by others (a Prometheus
// server running as another user that may reach the directory).
func writeAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".new"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// scrapeTargets returns the scrape targets of every node the runtime holds.
func (r *Runtime) scrapeTargets() []targetGroup {
	r.mu.Lock()
	var recs []record
	for _, cs := range r.clusters {
		for _, rec := range cs.nodes {
			recs = append(recs, *rec)
		}
	}
	r.mu.Unlock()
	return scrapeTargets(r.cfg.Host, recs)
}

// targetsPath is the file_sd file of the runtime's nodes.
func (l layout) targetsPath() string { return filepath.Join(l.root, "prometheus", "targets.json") }
