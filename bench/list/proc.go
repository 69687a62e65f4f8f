package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is a child process this benchmark started: a rayfleet server or the
// ceiling server. It is always stopped with SIGTERM first, so the rayfleet
// server closes its store cleanly, and killed only if it hangs.
type proc struct {
	name string
	cmd  *exec.Cmd
	addr string // host:port it listens on
	done chan struct{}
	err  error // exit status, valid once done is closed
}

// startProc runs cmd and waits until it reports its address: addrFrom is
// called on every line of the stream named by fromStderr and returns the
// address when the line holds it. Every line is also copied to logPath, so
// a failure can be diagnosed afterwards.
func startProc(ctx context.Context, name string, cmd *exec.Cmd, logPath string, fromStderr bool, addrFrom func(string) string) (*proc, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	// Pdeathsig: a benchmark killed hard (SIGKILL, a crash) must not leave
	// servers running; SIGTERM still lets rayfleet close its database.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	var pipe io.ReadCloser
	if fromStderr {
		cmd.Stdout = logf
		pipe, err = cmd.StderrPipe()
	} else {
		cmd.Stderr = logf
		pipe, err = cmd.StdoutPipe()
	}
	if err != nil {
		logf.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	addrc := make(chan string, 1)
	scanDone := make(chan struct{})
	go func() {
		defer close(scanDone)
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			if a := addrFrom(line); a != "" {
				select {
				case addrc <- a:
				default:
				}
			}
		}
		// Keep draining whatever is left so the child never blocks on a
		// full pipe.
		_, _ = io.Copy(logf, pipe)
	}()
	go func() {
		// Wait closes the pipe, so the scanner must have seen EOF first or
		// the last lines could be lost.
		<-scanDone
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	select {
	case a := <-addrc:
		p.addr = a
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("%s exited before listening (%w); see %s", name, p.err, logPath)
	case <-time.After(60 * time.Second):
		_ = p.stop() // the timeout is the error to report
		return nil, fmt.Errorf("%s did not report its address within 60s; see %s", name, logPath)
	case <-ctx.Done():
		_ = p.stop() // interrupted: the interruption is the error to report
		return nil, ctx.Err()
	}
}

// stop sends SIGTERM and waits for the exit; after the server's own grace
// period (30s) plus a margin it kills. It returns the exit error, if any.
func (p *proc) stop() error {
	if p == nil {
		return nil
	}
	select {
	case <-p.done:
		return p.err
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(40 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s ignored SIGTERM for 40s and was killed", p.name)
	}
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// rayfleetAddr finds the API address in rayfleet's JSON log line
// "rayfleet API listening".
func rayfleetAddr(line string) string {
	if !strings.Contains(line, "rayfleet API listening") {
		return ""
	}
	var v struct {
		Addr string `json:"addr"`
	}
	if json.Unmarshal([]byte(line), &v) != nil {
		return ""
	}
	return v.Addr
}

// ceilingAddr finds the address in the ceiling's "listening <addr>" line.
func ceilingAddr(line string) string {
	a, ok := strings.CutPrefix(line, "listening ")
	if !ok {
		return ""
	}
	return strings.TrimSpace(a)
}

// serverCmd builds the command that runs a rayfleet server on dataDir:
// the real binary, or (to take CPU/heap profiles of the same code) this
// program in its -serve-rayfleet mode.
func serverCmd(bin, self, cpuProfile, memProfile, dataDir, home string) *exec.Cmd {
	// The API role alone, as an API replica runs: the seeded clusters claim
	// states (Running, Starting...) that no node on this machine backs, and
	// a reconciler in the same process would spend the run "repairing" tens
	// of thousands of them, which is not what this benchmark measures.
	args := []string{"server", "--data-dir", dataDir, "--api-addr", "127.0.0.1:0", "--roles", "api"}
	var cmd *exec.Cmd
	if cpuProfile != "" || memProfile != "" {
		cmd = exec.Command(self, append([]string{"-serve-rayfleet", cpuProfile, memProfile}, args[1:]...)...)
	} else {
		cmd = exec.Command(bin, args...)
	}
	// The first start writes a CLI profile; keep it out of the user's home.
	cmd.Env = append(os.Environ(), "RAYFLEET_CONFIG="+filepath.Join(home, "cli-config.json"), "HOME="+home)
	return cmd
}

// waitReady polls /readyz until the server answers 200.
func waitReady(ctx context.Context, addr string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/readyz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server at %s not ready after 30s (last: %w)", addr, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// memStatus is a process's resident memory from /proc/<pid>/status, in
// KiB: current and peak, and the current split into anonymous memory (Go
// heap, SQLite's page caches) and file-backed pages (binary, mapped files).
type memStatus struct {
	RSS, HWM, Anon, File int64
}

func readMem(pid int) (memStatus, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return memStatus{}, err
	}
	var m memStatus
	for line := range strings.SplitSeq(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmRSS":
			m.RSS = n
		case "VmHWM":
			m.HWM = n
		case "RssAnon":
			m.Anon = n
		case "RssFile":
			m.File = n
		}
	}
	if m.RSS == 0 {
		return m, errors.New("no VmRSS in /proc/" + strconv.Itoa(pid) + "/status")
	}
	return m, nil
}

// clockTick is USER_HZ, which Linux fixes at 100 for /proc/<pid>/stat.
const clockTick = 100

// cpuTime is the user+system CPU time a process has used so far.
func cpuTime(pid int) (time.Duration, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; the fields after its
	// closing parenthesis are fixed: utime and stime are the 12th and 13th.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("unexpected /proc/pid/stat format")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, errors.New("unexpected /proc/pid/stat format")
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(u+st) * time.Second / clockTick, nil
}

// machineCPU is the busy time of all CPUs since boot, from the first line
// of /proc/stat: user, nice, system, irq, softirq and steal (idle and
// iowait are not busy).
func machineCPU() (time.Duration, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, errors.New("unexpected /proc/stat format")
	}
	var busy int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		n, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return 0, err
		}
		busy += n
	}
	return time.Duration(busy) * time.Second / clockTick, nil
}

// selfCPU is this process's user+system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// dbSize sums the sizes of the database files (the main file, its WAL and
// shared-memory index) in dir.
func dbSize(dir string) (int64, error) {
	var total int64
	for _, n := range []string{"rayfleet.db", "rayfleet.db-wal", "rayfleet.db-shm"} {
		st, err := os.Stat(filepath.Join(dir, n))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, err
		}
		total += st.Size()
	}
	return total, nil
}
