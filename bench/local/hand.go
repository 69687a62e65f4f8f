package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rayfleet/rayfleet/bench/internal/benchproc"
)

// nodeTemplate is one node's `ray start` command line as rayfleet ran it
// for the warm-up cluster (the record's args: the ray executable first).
type nodeTemplate struct {
	head bool
	args []string
	env  []string // the node's environment but RAY_AUTH_TOKEN and the runtime's node marker
}

// handSide starts the template's nodes itself, as someone would by hand or
// with a script: the head, then, once its GCS port accepts connections,
// the workers, each `ray start --block` in its own process group with the
// environment rayfleet gives its nodes.
type handSide struct {
	dir, mark string
	opts      options
	tmpl      []nodeTemplate
	procs     []*handProc
}

type handProc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// round starts n clusters at once and waits until each head's state API
// shows 3 ALIVE nodes.
func (h *handSide) round(ctx context.Context, n, serverPID int) (sideResult, error) {
	var r sideResult
	ctx, cancel := context.WithTimeout(ctx, h.opts.timeout)
	defer cancel()
	if err := os.MkdirAll(h.dir, 0o700); err != nil {
		return r, err
	}
	var mu sync.Mutex // guards h.procs and the allocator
	alloc := newPorts()
	httpc := plainHTTP()
	s0 := takeSample(serverPID)
	cpu := followRayCPU(h.mark, serverPID)
	start := time.Now()
	type done struct {
		workers, gcsAfter, alive time.Duration
		polls, restarts          int
		err                      error
	}
	results := make([]done, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			d := &results[i]
			mu.Lock()
			argv, err := rewrite(h.tmpl, alloc, h.dir)
			mu.Unlock()
			if err != nil {
				d.err = err
				return
			}
			token := newToken()
			head, headArgs := -1, []string(nil)
			for j, t := range h.tmpl {
				if t.head {
					head, headArgs = j, argv[j]
				}
			}
			if head < 0 {
				d.err = errors.New("the template has no head")
				return
			}
			headStart := time.Now()
			hp, err := h.launch(&mu, headArgs, withToken(h.tmpl[head].env, token), fmt.Sprintf("c%d-head", i))
			if err != nil {
				d.err = err
				return
			}
			gcs := "127.0.0.1:" + flagValue(headArgs, "port")
			for !dialable(ctx, gcs) {
				select {
				case <-hp.done:
					d.err = fmt.Errorf("the head of cluster %d exited before its GCS answered: %v", i, hp.cmd.ProcessState)
					return
				default:
				}
				if err := benchproc.Sleep(ctx, h.opts.dial); err != nil {
					d.err = fmt.Errorf("cluster %d: GCS %s: %w", i, gcs, err)
					return
				}
			}
			type worker struct {
				argv, env []string
				name      string
				p         *handProc
				ended     time.Time
			}
			var workers []*worker
			for j, t := range h.tmpl {
				if t.head {
					continue
				}
				w := &worker{argv: argv[j], env: withToken(t.env, token), name: fmt.Sprintf("c%d-worker-%d", i, j)}
				if w.p, err = h.launch(&mu, w.argv, w.env, w.name); err != nil {
					d.err = err
					return
				}
				workers = append(workers, w)
			}
			d.workers, d.gcsAfter = time.Since(start), time.Since(headStart)
			url := "http://127.0.0.1:" + flagValue(headArgs, "dashboard-port") + "/api/v0/nodes?detail=false"
			for {
				d.polls++
				// A worker whose start fails (Ray gives up on a raylet
				// that does not come up in time on an overloaded machine)
				// is started again after the local runtime's first
				// back-off, as rayfleet does.
				for _, w := range workers {
					select {
					case <-w.p.done:
					default:
						continue
					}
					if w.ended.IsZero() {
						w.ended = time.Now()
					}
					if time.Since(w.ended) >= restartDelay {
						if w.p, err = h.launch(&mu, w.argv, w.env, w.name); err != nil {
							d.err = err
							return
						}
						w.ended = time.Time{}
						d.restarts++
					}
				}
				select {
				case <-hp.done:
					d.err = fmt.Errorf("the head of cluster %d exited: %v", i, hp.cmd.ProcessState)
					return
				default:
				}
				alive, qerr := aliveNodes(ctx, httpc, url, "Authorization", "Bearer "+token)
				if alive >= nodesPerCluster {
					d.alive = time.Since(start)
					return
				}
				if err := benchproc.Sleep(ctx, h.opts.poll); err != nil {
					d.err = fmt.Errorf("cluster %d: %d of %d nodes ALIVE (last answer: %w): %w", i, alive, nodesPerCluster, qerr, err)
					return
				}
			}
		})
	}
	wg.Wait()
	end := takeSample(serverPID)
	ray, procs := cpu.end()
	for _, d := range results {
		if d.err != nil {
			return r, d.err
		}
		r.workers, r.gcsAfter, r.alive = max(r.workers, d.workers), max(r.gcsAfter, d.gcsAfter), max(r.alive, d.alive)
		r.ready = r.alive
		r.polls += d.polls
		r.restarts += d.restarts
	}
	r.use = since(s0, end, ray, procs)
	return r, nil
}

// restartDelay is the local runtime's first restart back-off of a worker
// that exited (internal/runtime/local restartBase).
const restartDelay = 5 * time.Second

// launch starts one node as rayfleet's local runtime does: its own process
// group, output to a log file.
func (h *handSide) launch(mu *sync.Mutex, argv, env []string, name string) (*handProc, error) {
	dir := filepath.Join(h.dir, "logs")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(flagValue(argv, "temp-dir"), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, name+".log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := &exec.Cmd{Path: argv[0], Args: argv, Env: env, Dir: dir, Stdout: f, Stderr: f,
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true}}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &handProc{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	mu.Lock()
	h.procs = append(h.procs, p)
	mu.Unlock()
	return p, nil
}

// cleanup ends every node's process group (SIGTERM, SIGKILL after 10 s),
// checks that no process of the run is left, and removes the temp dirs.
func (h *handSide) cleanup(ctx context.Context, serverPID int) (time.Duration, error) {
	start := time.Now()
	for _, p := range h.procs {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	}
	deadline := time.After(10 * time.Second)
	for _, p := range h.procs {
		select {
		case <-p.done:
		case <-deadline:
		}
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	}
	h.procs = nil
	if err := benchproc.WaitNoneMarked(ctx, h.mark, serverPID, 10*time.Second); err != nil {
		return 0, fmt.Errorf("after the hand start's process groups were killed: %w", err)
	}
	if err := os.RemoveAll(h.dir); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// rewrite gives the template's command lines fresh ports and temp dirs
// (under tempRoot, names as long as rayfleet's), so that a round never
// collides with another; everything else stays as rayfleet ran it.
func rewrite(tmpl []nodeTemplate, alloc *ports, tempRoot string) ([][]string, error) {
	mapped := map[int]int{} // the template's port → this cluster's
	port := func(old int) (int, error) {
		if p, ok := mapped[old]; ok {
			return p, nil
		}
		p, err := alloc.one()
		mapped[old] = p
		return p, err
	}
	// The head first: the workers' --address names its GCS port.
	order := make([]int, 0, len(tmpl))
	for i, t := range tmpl {
		if t.head {
			order = append([]int{i}, order...)
		} else {
			order = append(order, i)
		}
	}
	out := make([][]string, len(tmpl))
	for _, i := range order {
		args := append([]string(nil), tmpl[i].args...)
		minOld, _ := strconv.Atoi(flagValue(args, "min-worker-port"))
		maxOld, _ := strconv.Atoi(flagValue(args, "max-worker-port"))
		lo := 0
		if minOld > 0 && maxOld >= minOld {
			var err error
			if lo, err = alloc.span(maxOld - minOld + 1); err != nil {
				return nil, err
			}
		}
		for j, a := range args {
			name, v, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
			if !ok || !strings.HasPrefix(a, "--") {
				continue
			}
			var err error
			var p int
			switch {
			case name == "temp-dir":
				args[j] = "--temp-dir=" + filepath.Join(tempRoot, "rayfleet-"+newToken()[:8])
			case name == "min-worker-port":
				args[j] = "--min-worker-port=" + strconv.Itoa(lo)
			case name == "max-worker-port":
				args[j] = "--max-worker-port=" + strconv.Itoa(lo+maxOld-minOld)
			case name == "address":
				host, ps, _ := net.SplitHostPort(v)
				old, _ := strconv.Atoi(ps)
				if p, err = port(old); err == nil {
					args[j] = "--address=" + net.JoinHostPort(host, strconv.Itoa(p))
				}
			case name == "port" || strings.HasSuffix(name, "-port"):
				old, _ := strconv.Atoi(v)
				if p, err = port(old); err == nil {
					args[j] = "--" + name + "=" + strconv.Itoa(p)
				}
			}
			if err != nil {
				return nil, err
			}
		}
		out[i] = args
	}
	return out, nil
}

// shape is a command line with its ports and temp dir blanked: two command
// lines of the same shape start the same node but for where.
func shape(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		name, v, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		switch {
		case !ok || !strings.HasPrefix(a, "--"):
			out[i] = a
		case name == "temp-dir":
			out[i] = "--temp-dir=<dir>"
		case name == "address":
			host, _, _ := net.SplitHostPort(v)
			out[i] = "--address=" + host + ":<port>"
		case name == "port" || strings.HasSuffix(name, "-port"):
			out[i] = "--" + name + "=<port>"
		default:
			out[i] = a
		}
	}
	return strings.Join(out, " ")
}

// flagValue is the value of --name=value in args ("" if absent); the last
// one wins, as in Ray's click options.
func flagValue(args []string, name string) string {
	v := ""
	for _, a := range args {
		if s, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			v = s
		}
	}
	return v
}

// ports hands out free ports, as the local runtime's allocator does:
// single ports from the kernel's ephemeral range, worker ranges of
// consecutive ports outside it.
type ports struct {
	taken  map[int]bool
	lo, hi int // the ephemeral range
}

func newPorts() *ports {
	p := &ports{taken: map[int]bool{}, lo: 32768, hi: 60999}
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			lo, err1 := strconv.Atoi(f[0])
			hi, err2 := strconv.Atoi(f[1])
			if err1 == nil && err2 == nil && lo <= hi {
				p.lo, p.hi = lo, hi
			}
		}
	}
	return p
}

func (p *ports) one() (int, error) {
	for range 50 {
		l, err := net.Listen("tcp", ":0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !p.taken[port] {
			p.taken[port] = true
			return port, nil
		}
	}
	return 0, errors.New("no free port")
}

func (p *ports) span(n int) (int, error) {
	var b [2]byte
	_, _ = rand.Read(b[:])
	starts := (65535 - 20000) / n
	first := int(b[0])<<8 | int(b[1])
	for k := range starts {
		lo := 20000 + ((first+k)%starts)*n
		if lo+n-1 >= p.lo && lo <= p.hi {
			continue
		}
		if p.free(lo, n) {
			for q := lo; q < lo+n; q++ {
				p.taken[q] = true
			}
			return lo, nil
		}
	}
	return 0, fmt.Errorf("no %d free consecutive ports", n)
}

func (p *ports) free(lo, n int) bool {
	for q := lo; q < lo+n; q++ {
		if p.taken[q] {
			return false
		}
	}
	for q := lo; q < lo+n; q++ {
		l, err := net.Listen("tcp", ":"+strconv.Itoa(q))
		if err != nil {
			return false
		}
		l.Close()
	}
	return true
}

// dialable reports whether addr accepts TCP connections (the local
// runtime's test before it starts the workers).
func dialable(ctx context.Context, addr string) bool {
	d := net.Dialer{Timeout: time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// withToken is env with the cluster's Ray token, last as the local runtime
// puts it.
func withToken(env []string, token string) []string {
	return append(append([]string(nil), env...), "RAY_AUTH_TOKEN="+token)
}

// newToken is a Ray token like the local runtime's: 256 random bits, hex.
func newToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
