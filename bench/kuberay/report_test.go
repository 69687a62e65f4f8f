package main

import (
	"strings"
	"testing"
	"time"
)

func round(n int, base, rf time.Duration) roundResult {
	return roundResult{n: n, base: sideResult{ready: base}, rf: sideResult{ready: rf}}
}

// The goal is judged on the median of each N's rounds.
func TestSummaries(t *testing.T) {
	r := &report{rounds: []roundResult{
		round(1, 100*time.Millisecond, 100*time.Millisecond), // 1.00
		round(50, 5*time.Second, 6*time.Second),              // 1.20
		round(1, 100*time.Millisecond, 300*time.Millisecond), // 3.00
		round(1, 200*time.Millisecond, 100*time.Millisecond), // 0.50
		round(50, 5*time.Second, 5*time.Second),              // 1.00
	}}
	got := r.summaries()
	if len(got) != 2 || got[0].n != 1 || got[1].n != 50 {
		t.Fatalf("summaries: %+v", got)
	}
	if s := got[0]; s.rounds != 3 || s.medianRatio != 1.0 || s.ratios != "1.00, 3.00, 0.50" ||
		s.medianBase != 100*time.Millisecond || s.medianRF != 100*time.Millisecond {
		t.Errorf("N=1 (odd rounds: the middle one): %+v", s)
	}
	if s := got[1]; s.rounds != 2 || s.medianRatio < 1.0999 || s.medianRatio > 1.1001 || s.medianRF != 5500*time.Millisecond {
		t.Errorf("N=50 (even rounds: the mean of the middle two): %+v", s)
	}
	md := r.markdown()
	if !strings.Contains(md, "| 1 | 3 | 0.100 s | 0.100 s | 1.00, 3.00, 0.50 | **1.00×** | yes |") ||
		!strings.Contains(md, "| 50 | 2 | 5.000 s | 5.500 s | 1.20, 1.00 | **1.10×** | yes |") {
		t.Errorf("the report's medians:\n%s", md)
	}
}

// Without a baseline (-no-baseline) there is no ratio to judge.
func TestSummariesWithoutBaseline(t *testing.T) {
	r := &report{rounds: []roundResult{round(300, 0, 30*time.Second)}}
	s := r.summaries()[0]
	if s.ratios != "" {
		t.Errorf("ratios without a baseline: %q", s.ratios)
	}
	md := r.markdown()
	if strings.Contains(md, "Inf") || !strings.Contains(md, "– (no baseline)") {
		t.Errorf("the report without a baseline:\n%s", md)
	}
}
