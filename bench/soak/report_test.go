package main

import (
	"testing"
	"time"
)

func samplesEvery(d, every time.Duration, f func(at time.Duration) sample) []sample {
	var out []sample
	for at := time.Duration(0); at < d; at += every {
		s := f(at)
		s.at = at
		out = append(out, s)
	}
	return out
}

func TestWindowsPutTheTailInTheLast(t *testing.T) {
	ss := samplesEvery(31*time.Minute, 15*time.Second, func(time.Duration) sample { return sample{} })
	ws := windows(ss, 31*time.Minute, 5*time.Minute)
	if len(ws) != 6 {
		t.Fatalf("%d windows, want 6", len(ws))
	}
	for i, w := range ws[:5] {
		if len(w.samples) != 20 {
			t.Errorf("window %d has %d samples, want 20", i, len(w.samples))
		}
	}
	if got := len(ws[5].samples); got != 24 {
		t.Errorf("last window has %d samples, want 24 (20 and the minute after)", got)
	}
	if ws[5].to != 31*time.Minute {
		t.Errorf("last window ends at %s", ws[5].to)
	}
}

func TestJudge(t *testing.T) {
	const mib = 1024
	flat := func(at time.Duration) sample {
		// Noise that is no trend: what a level server looks like.
		n := int64(at/(15*time.Second)) % 3
		return sample{rssKiB: (60 + n) * mib, goroutines: 80 + 5*n, fds: 30 + n}
	}
	cases := []struct {
		name string
		f    func(at time.Duration) sample
		want map[string]bool
	}{
		{"level", flat, map[string]bool{"RSS": true, "goroutines": true, "open files": true}},
		{"warm-up growth is not judged", func(at time.Duration) sample {
			s := flat(at)
			if at < 5*time.Minute {
				s.rssKiB /= 2
				s.goroutines /= 2
			}
			return s
		}, map[string]bool{"RSS": true, "goroutines": true, "open files": true}},
		{"small figures get the fixed allowance", func(at time.Duration) sample {
			s := flat(at)
			if at >= 25*time.Minute {
				s.rssKiB += 19 * mib // 30% of 60 MiB, under 20 MiB
				s.goroutines += 19
				s.fds += 9
			}
			return s
		}, map[string]bool{"RSS": true, "goroutines": true, "open files": true}},
		{"a leak of each", func(at time.Duration) sample {
			s := flat(at)
			k := int64(at / time.Minute)
			s.rssKiB += k * 3 * mib / 2 // 37 MiB over the 25 minutes judged
			s.goroutines += 2 * k
			s.fds += k
			return s
		}, map[string]bool{"RSS": false, "goroutines": false, "open files": false}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			checks := judge(windows(samplesEvery(30*time.Minute, 15*time.Second, c.f), 30*time.Minute, 5*time.Minute))
			if len(checks) != len(c.want) {
				t.Fatalf("%d checks, want %d", len(checks), len(c.want))
			}
			for _, ch := range checks {
				if ch.level != c.want[ch.bound.name] {
					t.Errorf("%s: level = %v (first %.1f, last %.1f, bound %s), want %v",
						ch.bound.name, ch.level, ch.first, ch.last, ch.bound, c.want[ch.bound.name])
				}
			}
		})
	}
}

func TestJudgeNeedsASteadyWindow(t *testing.T) {
	ws := windows(nil, 10*time.Minute, 5*time.Minute)
	if checks := judge(ws); checks != nil {
		t.Errorf("judged %d figures on a warm-up and one window", len(checks))
	}
}
