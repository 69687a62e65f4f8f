package local

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
)

// procStat is what /proc/<pid>/stat tells about a process.
type procStat struct {
	state byte   // R, S, D, Z...
	pgid  int    // process group
	start uint64 // start time, clock ticks since boot
}

// readStat reads /proc/<pid>/stat. The command name (field 2) may hold
// spaces and parentheses, so fields are counted from the last ')'.
func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return procStat{}, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(b[i+2:]))
	// f[0] is field 3 (state); pgrp is field 5, starttime field 22.
	if len(f) < 20 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	pgid, err1 := strconv.Atoi(f[2])
	start, err2 := strconv.ParseUint(f[19], 10, 64)
	if err1 != nil || err2 != nil || len(f[0]) != 1 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	return procStat{state: f[0][0], pgid: pgid, start: start}, nil
}

// readBootID returns the kernel's boot id: a start time in clock ticks only
// names a process within one boot.
func readBootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// hasMarker reports whether the environment of pid holds the node marker.
func hasMarker(pid int, marker string) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return false
	}
	want := []byte(markerEnv + "=" + marker)
	for _, kv := range bytes.Split(b, []byte{0}) {
		if bytes.Equal(kv, want) {
			return true
		}
	}
	return false
}

// procEntry is one process seen in a /proc scan.
type procEntry struct {
	pid int
	procStat
}

// scanProcs lists every process whose stat can be read.
func scanProcs() []procEntry {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []procEntry
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readStat(pid)
		if err != nil {
			continue
		}
		out = append(out, procEntry{pid, st})
	}
	return out
}

// leaderState is what became of a node's leader process (the pid we started).
type leaderState int

const (
	leaderRunning leaderState = iota
	leaderGone                // ended, exit status unknown (not our child, or pid reused)
	leaderReaped              // ended and reaped by us: status is known
)

// checkLeader looks at the process of rec without ever touching a process
// that is not rec's: the pid must still carry the recorded start time (and
// boot) before it is reaped or called alive.
func checkLeader(rec *record, bootID string) (leaderState, syscall.WaitStatus) {
	if rec.PID <= 0 {
		return leaderGone, 0
	}
	st, err := readStat(rec.PID)
	if err != nil || st.start != rec.ProcStart || rec.BootID != bootID {
		return leaderGone, 0
	}
	if st.state != 'Z' && st.state != 'X' {
		return leaderRunning, 0
	}
	// A zombie with our start time: if it is our child, reap it for its
	// status; otherwise its parent will, and the status is not ours to know.
	var ws syscall.WaitStatus
	pid, err := syscall.Wait4(rec.PID, &ws, syscall.WNOHANG, nil)
	for errors.Is(err, syscall.EINTR) { // a signal came in: the child is still there to reap
		pid, err = syscall.Wait4(rec.PID, &ws, syscall.WNOHANG, nil)
	}
	if err == nil && pid == rec.PID {
		return leaderReaped, ws
	}
	return leaderGone, 0
}

// members returns the processes of rec's process group that are rec's: in
// the group, started no earlier than the leader, with the node's marker in
// their environment or, for the processes Ray starts with an environment of
// its own (its dashboard agent and runtime env agent), in the node's
// working directory (inherited by every child, and the node's alone). They
// are what is left to end once the leader is gone (Ray processes that
// outlived `ray start`).
func members(procs []procEntry, rec *record, bootID string) []int {
	if rec.PGID <= 0 || rec.BootID != bootID {
		return nil
	}
	dir := ""
	if rec.Log != "" {
		dir, _ = filepath.Abs(filepath.Dir(rec.Log))
	}
	var out []int
	for _, p := range procs {
		if p.pgid != rec.PGID || p.start < rec.ProcStart || p.state == 'Z' || p.state == 'X' {
			continue
		}
		if hasMarker(p.pid, rec.marker()) || dir != "" && cwdOf(p.pid) == dir {
			out = append(out, p.pid)
		}
	}
	return out
}

// cwdOf returns the working directory of pid, "" if it cannot be read.
func cwdOf(pid int) string {
	d, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/cwd")
	return d
}

// signalNode sends sig to rec's process group when its leader still is the
// recorded process (a live or unreaped leader holds the group id, so the id
// cannot have been reused), or else to each verified member. It never
// signals a pid that does not match its record.
func signalNode(rec *record, bootID string, procs []procEntry, sig syscall.Signal) {
	if rec.PID > 0 {
		if st, err := readStat(rec.PID); err == nil && st.start == rec.ProcStart && rec.BootID == bootID {
			_ = syscall.Kill(-rec.PGID, sig)
			return
		}
	}
	for _, pid := range members(procs, rec, bootID) {
		_ = syscall.Kill(pid, sig)
	}
}

// findByMarker returns the leader of the process group started for rec,
// for a record written before its pid was: the process that carries the
// marker and leads its own group.
func findByMarker(procs []procEntry, rec *record) (procEntry, bool) {
	for _, p := range procs {
		if p.pid == p.pgid && p.state != 'Z' && hasMarker(p.pid, rec.marker()) {
			return p, true
		}
	}
	return procEntry{}, false
}

// startProcess starts argv in its own process group with output to logPath
// and returns its pid and stat. The process is not waited for by os/exec:
// the watcher reaps it (see watch.go), so the os.Process is released.
func startProcess(argv, env []string, dir, logPath string) (int, procStat, error) {
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return 0, procStat{}, fmt.Errorf("open log: %w", err)
	}
	defer f.Close()
	fmt.Fprintf(f, "rayfleet: starting %s\n", shellQuote(argv))
	cmd := &exec.Cmd{
		Path:   argv[0],
		Args:   argv,
		Env:    env,
		Dir:    dir,
		Stdout: f,
		Stderr: f,
		// Its own group: Suspend ends the node and every Ray process it
		// started with one signal, and a terminal's ^C to rayfleet does not
		// reach the nodes.
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	if err := cmd.Start(); err != nil {
		return 0, procStat{}, err
	}
	pid := cmd.Process.Pid
	// The child is not reaped yet, so its /proc entry exists even if it has
	// already exited.
	st, err := readStat(pid)
	if err != nil {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		var ws syscall.WaitStatus
		_, _ = syscall.Wait4(pid, &ws, 0, nil)
		_ = cmd.Process.Release()
		return 0, procStat{}, fmt.Errorf("read the new process's start time: %w", err)
	}
	_ = cmd.Process.Release()
	return pid, st, nil
}

// exitOf turns a wait status into an exit code, reason and message as a
// container's would read: a signal is 128+signal.
func exitOf(ws syscall.WaitStatus) (int, string, string) {
	switch {
	case ws.Signaled():
		return 128 + int(ws.Signal()), "Killed", "killed by signal: " + ws.Signal().String()
	case ws.ExitStatus() == 0:
		return 0, "Completed", "exited with code 0"
	default:
		return ws.ExitStatus(), "Error", fmt.Sprintf("exited with code %d", ws.ExitStatus())
	}
}

// lastLine returns what a person most wants to see of a node that died,
// from the tail of its log (at most 300 bytes): when `ray start --block`
// ended because one of Ray's own processes did, Ray's report of which ones
// and how ("Some Ray subprocesses exited unexpectedly:" and a line per
// process with its exit code), else the last non-empty line. Terminal
// colours and the logger's "<date> <time> ERR scripts.py:87 -- " prefix
// are dropped.
func lastLine(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	const tail = 64 << 10
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(fi.Size()-tail, 0)
	buf := make([]byte, fi.Size()-off)
	n, _ := f.ReadAt(buf, off)
	lines := strings.Split(ansiEscape.ReplaceAllString(string(buf[:n]), ""), "\n")
	for i := range lines {
		lines[i] = strings.TrimSpace(logPrefix.ReplaceAllString(lines[i], ""))
	}
	cut := func(s string) string {
		if len(s) > 300 {
			return s[:300] + "..."
		}
		return s
	}
	// Ray's report of its own processes: the last one in the log.
	for i := len(lines) - 1; i >= 0; i-- {
		if lines[i] != "Some Ray subprocesses exited unexpectedly:" {
			continue
		}
		var dead []string
		for _, l := range lines[i+1:] {
			if !strings.Contains(l, "[exit code=") {
				break
			}
			dead = append(dead, l)
		}
		if len(dead) > 0 {
			return cut("Ray's own processes exited unexpectedly: " + strings.Join(dead, ", "))
		}
	}
	for i := len(lines) - 1; i >= 0; i-- {
		if lines[i] != "" {
			return cut(lines[i])
		}
	}
	return ""
}

var (
	ansiEscape = regexp.MustCompile("\x1b\\[[0-9;]*[A-Za-z]")
	// logPrefix is the start of a line of Ray's CLI logger:
	// "2026-12-07 17:47:29,216\tERR scripts.py:87 -- ".
	logPrefix = regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+\s+[A-Z]+ [\w.]+:\d+ -- `)
)

// removeTempDir removes a node's Ray temp directory, only if it is one this
// runtime made (under root, named rayfleet-...).
func removeTempDir(root, dir string) error {
	if dir == "" || filepath.Dir(dir) != filepath.Clean(root) || !strings.HasPrefix(filepath.Base(dir), "rayfleet-") {
		return nil
	}
	if err := os.RemoveAll(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
