package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rayfleet/rayfleet/bench/internal/benchreport"
)

// median of the rounds' values.
func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func report(results []measured, o options, git, machine string, started time.Time) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# bench/create\n\n")
	p("- started %s UTC, %s in all\n", started.UTC().Format("2006-01-02 15:04"), time.Since(started).Round(time.Second))
	p("- git: %s\n- machine: %s\n", git, machine)
	p("- %d rounds; each size on a fresh data dir per round; %d creates measured after %d of warm-up, %d client(s)\n\n",
		o.rounds, o.creates, o.warmup, o.clients)
	p("| round | clusters before | p50 | p99 | creates/s | seeding |\n|---:|---:|---:|---:|---:|---:|\n")
	bySize := map[int][2][]time.Duration{}
	for _, m := range results {
		p("| %d | %d | %s | %s | %.0f | %s |\n", m.round, m.size, benchreport.Dur(m.p50), benchreport.Dur(m.p99), m.rps, m.seedTime.Round(time.Millisecond))
		v := bySize[m.size]
		v[0], v[1] = append(v[0], m.p50), append(v[1], m.p99)
		bySize[m.size] = v
	}
	small, large := bySize[o.small], bySize[o.large]
	p50s, p50l, p99s, p99l := median(small[0]), median(large[0]), median(small[1]), median(large[1])
	r50, r99 := float64(p50l)/float64(p50s), float64(p99l)/float64(p99s)
	p("\nMedians of the rounds: %d clusters p50 %s p99 %s; %d clusters p50 %s p99 %s.\n\n",
		o.small, benchreport.Dur(p50s), benchreport.Dur(p99s), o.large, benchreport.Dur(p50l), benchreport.Dur(p99l))
	p("| goal | measured | met |\n|---|---|---|\n")
	p("| p50 with %d clusters ≤ %.1f × p50 with %d | %.2f × | %s |\n", o.large, goalRatio, o.small, r50, benchreport.YesNo(r50 <= goalRatio))
	p("| p99 with %d clusters ≤ %.1f × p99 with %d | %.2f × | %s |\n", o.large, goalRatio, o.small, r99, benchreport.YesNo(r99 <= goalRatio))
	return b.String()
}
