package local

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// workerPorts is the size of each node's worker port range
// (--min-worker-port..--max-worker-port). Every Ray worker process of the
// node (one per running task slot or actor) holds one port of it, so it
// bounds the node's concurrent workers; Ray's own default is one shared
// range of 10000, which would let local clusters collide.
const workerPorts = 100

// portAllocator hands out ports no recorded node holds. A port is found
// free by binding it on every interface (Ray binds some of its ports on all
// of them) and released at once; the race with another program taking it
// before Ray binds it is accepted.
type portAllocator struct {
	taken map[int]bool
	// ephemeralLo and ephemeralHi bound the kernel's ephemeral range:
	// worker ranges stay out of it, where :0 binds (ours and everyone's)
	// would keep landing in them.
	ephemeralLo, ephemeralHi int
}

func newPortAllocator(taken map[int]bool) *portAllocator {
	a := &portAllocator{taken: taken, ephemeralLo: 32768, ephemeralHi: 60999}
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			lo, err1 := strconv.Atoi(f[0])
			hi, err2 := strconv.Atoi(f[1])
			if err1 == nil && err2 == nil && lo <= hi {
				a.ephemeralLo, a.ephemeralHi = lo, hi
			}
		}
	}
	return a
}

// one returns a free port from the kernel's ephemeral range.
func (a *portAllocator) one() (int, error) {
	for range 50 {
		l, err := net.Listen("tcp", ":0")
		if err != nil {
			return 0, fmt.Errorf("find a free port: %w", err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !a.taken[p] {
			a.taken[p] = true
			return p, nil
		}
	}
	return 0, errors.New("find a free port: every port the kernel offered is held by another node")
}

// span returns the first port of n consecutive free ports, aligned on n,
// between 20000 and 65535, outside the ephemeral range when possible.
func (a *portAllocator) span(n int) (int, error) {
	var outside, inside []int
	for lo := 20000; lo+n-1 <= 65535; lo += n {
		if lo+n-1 < a.ephemeralLo || lo > a.ephemeralHi {
			outside = append(outside, lo)
		} else {
			inside = append(inside, lo)
		}
	}
	rand.Shuffle(len(outside), func(i, j int) { outside[i], outside[j] = outside[j], outside[i] })
	rand.Shuffle(len(inside), func(i, j int) { inside[i], inside[j] = inside[j], inside[i] })
	for _, lo := range append(outside, inside...) {
		if a.spanFree(lo, n) {
			for p := lo; p < lo+n; p++ {
				a.taken[p] = true
			}
			return lo, nil
		}
	}
	return 0, fmt.Errorf("find %d free consecutive ports for Ray workers: none left", n)
}

func (a *portAllocator) spanFree(lo, n int) bool {
	for p := lo; p < lo+n; p++ {
		if a.taken[p] {
			return false
		}
	}
	for p := lo; p < lo+n; p++ {
		l, err := net.Listen("tcp", ":"+strconv.Itoa(p))
		if err != nil {
			return false
		}
		l.Close()
	}
	return true
}

// ports allocates every port of a node; head adds the GCS, dashboard and
// client server ports.
func (a *portAllocator) ports(head bool) (Ports, error) {
	var p Ports
	fields := []*int{&p.NodeManager, &p.ObjectManager, &p.DashboardAgentListen,
		&p.DashboardAgentGRPC, &p.MetricsExport, &p.RuntimeEnvAgent}
	if head {
		fields = append(fields, &p.GCS, &p.Dashboard, &p.ClientServer)
	}
	for _, f := range fields {
		port, err := a.one()
		if err != nil {
			return Ports{}, err
		}
		*f = port
	}
	lo, err := a.span(workerPorts)
	if err != nil {
		return Ports{}, err
	}
	p.MinWorker, p.MaxWorker = lo, lo+workerPorts-1
	return p, nil
}
