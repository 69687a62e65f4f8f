package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/rayfleet/rayfleet/bench/internal/benchproc"
)

// headWatch asks the steady head's dashboard for /api/version directly,
// not through the gateway, every 2 s. On a machine others keep busy, Ray's
// Python processes may be starved for many seconds, and a call through the
// gateway then times out on the head's account: a call that failed while
// the head itself was slow or silent is the head's failure, not the
// gateway's.
type headWatch struct {
	mu   sync.Mutex
	slow [][2]time.Time // probes that failed or took longer than slowProbe
	done time.Time      // when the latest probe ended
}

const (
	probeEvery = 2 * time.Second
	slowProbe  = 5 * time.Second
	// probeLimit bounds a probe: it is slow by then.
	probeLimit = 15 * time.Second
)

// watchHead probes until ctx ends.
func (s *soak) watchHead(ctx context.Context) {
	hc := &http.Client{Timeout: probeLimit, Transport: &http.Transport{DisableKeepAlives: true}}
	for benchproc.Sleep(ctx, probeEvery) == nil {
		start := time.Now()
		err := s.probeHead(ctx, hc)
		end := time.Now()
		if ctx.Err() != nil {
			return
		}
		s.head.mu.Lock()
		if err != nil || end.Sub(start) > slowProbe {
			s.head.slow = append(s.head.slow, [2]time.Time{start, end})
		}
		s.head.done = end
		s.head.mu.Unlock()
	}
}

// probeHead asks the current steady head's dashboard for its version,
// with Ray's own token from the local runtime's record of the node.
func (s *soak) probeHead(ctx context.Context, hc *http.Client) error {
	cl, _ := s.steady.get()
	recs, _ := filepath.Glob(filepath.Join(s.srv.DataDir, "local", "clusters", cl.ClusterID, cl.InstanceID, "*-head.json"))
	if len(recs) != 1 {
		return fmt.Errorf("no record of the head of %s", cl.InstanceID)
	}
	b, err := os.ReadFile(recs[0])
	if err != nil {
		return err
	}
	var rec struct {
		AuthToken string `json:"authToken"`
		Ports     struct {
			Dashboard int `json:"dashboard"`
		} `json:"ports"`
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+strconv.Itoa(rec.Ports.Dashboard)+"/api/version", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+rec.AuthToken)
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("head's /api/version: %d", resp.StatusCode)
	}
	return nil
}

// slowDuring tells whether the head was slow or silent to a direct probe
// at some time from from to to. It waits for the probe under way at to
// to end, so that a head starved right then is seen.
func (h *headWatch) slowDuring(ctx context.Context, from, to time.Time) bool {
	deadline := time.Now().Add(probeLimit + probeEvery)
	for {
		h.mu.Lock()
		settled := h.done.After(to)
		overlap := false
		for _, sp := range h.slow {
			if sp[0].Before(to) && sp[1].After(from) {
				overlap = true
				break
			}
		}
		h.mu.Unlock()
		if overlap || settled || time.Now().After(deadline) || benchproc.Sleep(ctx, 100*time.Millisecond) != nil {
			return overlap
		}
	}
}

// viaHead is a call that reaches the steady head through the gateway:
// when it fails while the head itself was slow to a direct probe, the
// failure is noted as the head's, not counted against the server.
func (s *soak) viaHead(kind string, do func(context.Context) error) call {
	return call{kind, func(ctx context.Context) error {
		start := time.Now()
		err := do(ctx)
		if err != nil && ctx.Err() == nil && s.head.slowDuring(ctx, start, time.Now()) {
			s.tally.note(kind, "failed while the head itself was slow")
			return nil
		}
		return err
	}}
}
