package main

import (
	"context"
	"testing"
	"time"
)

func TestHeadSlowDuring(t *testing.T) {
	t0 := time.Now().Add(-time.Minute)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	h := &headWatch{slow: [][2]time.Time{{at(10), at(20)}}, done: at(40)}
	ctx := context.Background()
	for _, c := range []struct {
		from, to int
		want     bool
	}{
		{0, 5, false},   // before the slow probe
		{5, 12, true},   // ends while it ran
		{15, 30, true},  // starts while it ran
		{21, 39, false}, // after it, probes since all quick
	} {
		if got := h.slowDuring(ctx, at(c.from), at(c.to)); got != c.want {
			t.Errorf("slowDuring(%d s, %d s) = %v, want %v", c.from, c.to, got, c.want)
		}
	}
}
