package main

import (
	"sync"
	"time"

	"github.com/rayfleet/rayfleet/bench/internal/benchproc"
)

// markerEnv names the run in the environment of every process it starts:
// the rayfleet server, which passes its environment on to the nodes it
// starts, and the hand-started nodes. Every Ray process inherits it, so the
// process table tells this run's Ray processes from those of anyone else
// on the machine.
const markerEnv = "RAYFLEET_BENCH_LOCAL"

// usage is where the machine's CPU went in one side of a round, from the
// first create or start to the end.
type usage struct {
	wall    time.Duration
	machine time.Duration // every CPU's busy time, steal included
	steal   time.Duration
	server  time.Duration // the rayfleet server
	ray     time.Duration // every Ray process of the side, as last seen
	bench   time.Duration // this program
	procs   int           // Ray processes counted in ray
}

type sample struct {
	at                            time.Time
	machine, steal, server, bench time.Duration
}

func takeSample(serverPID int) sample {
	s := sample{at: time.Now(), bench: benchproc.SelfCPU()}
	s.machine, _ = benchproc.MachineCPU()
	s.steal, _ = benchproc.StealCPU()
	if serverPID > 0 {
		s.server, _ = benchproc.CPUTime(serverPID)
	}
	return s
}

// rayCPU follows the CPU time of the run's Ray processes during one side
// of a round: it looks every 500 ms and keeps each process's last figure,
// so that a process that exits before the end (a worker whose start Ray
// gave up on) is counted up to its last look. Every Ray process of a side
// starts after the side does (the round before ended them all), so its
// whole CPU time is the side's.
type rayCPU struct {
	mark   string
	except int
	mu     sync.Mutex
	seen   map[int]time.Duration
	stop   chan struct{}
	done   chan struct{}
}

func followRayCPU(mark string, except int) *rayCPU {
	c := &rayCPU{mark: mark, except: except, seen: map[int]time.Duration{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-c.stop:
				return
			case <-t.C:
				c.look()
			}
		}
	}()
	return c
}

func (c *rayCPU) look() {
	for _, pid := range benchproc.Marked(c.mark, c.except) {
		if d, err := benchproc.CPUTime(pid); err == nil {
			c.mu.Lock()
			c.seen[pid] = max(c.seen[pid], d)
			c.mu.Unlock()
		}
	}
}

// end stops following, looks a last time, and returns the CPU time and
// the number of processes seen.
func (c *rayCPU) end() (time.Duration, int) {
	close(c.stop)
	<-c.done
	c.look()
	var sum time.Duration
	for _, d := range c.seen {
		sum += d
	}
	return sum, len(c.seen)
}

// since is the usage from a to b, with the Ray processes' CPU.
func since(a, b sample, ray time.Duration, procs int) usage {
	return usage{wall: b.at.Sub(a.at), machine: b.machine - a.machine, steal: b.steal - a.steal,
		server: b.server - a.server, bench: b.bench - a.bench, ray: ray, procs: procs}
}

// other is the machine's busy time that none of the run's processes used:
// other people's work on a shared machine, and the steal.
func (u usage) other() time.Duration {
	return max(u.machine-u.server-u.ray-u.bench, 0)
}

func (u usage) cores(d time.Duration) float64 {
	if u.wall <= 0 {
		return 0
	}
	return d.Seconds() / u.wall.Seconds()
}

func (u usage) otherCores() float64 { return u.cores(u.other()) }
