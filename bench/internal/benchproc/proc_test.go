package benchproc

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStartWatchesOneStreamAndLogsBoth(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "child.log")
	cmd := exec.Command("sh", "-c", `echo "to stdout"; echo "listening 127.0.0.1:9" >&2; exec sleep 60`)
	addr := func(line string) string {
		a, _ := strings.CutPrefix(line, "listening ")
		if a == line {
			return ""
		}
		return a
	}
	p, err := Start(context.Background(), "child", cmd, logPath, Stderr, addr)
	if err != nil {
		t.Fatal(err)
	}
	if p.Ready != "127.0.0.1:9" {
		t.Errorf("Ready = %q, want the address from stderr", p.Ready)
	}
	if p.PID() <= 0 {
		t.Errorf("PID = %d", p.PID())
	}
	if err := p.Stop(); err == nil {
		t.Error("Stop of a process ended by SIGTERM returned no exit error")
	}
	select {
	case <-p.Done():
	default:
		t.Fatal("Done is open after Stop returned")
	}
	data, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"to stdout\n", "listening 127.0.0.1:9\n"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("log %q lacks %q", data, want)
		}
	}
}

func TestStartReportsAnExitBeforeReady(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "child.log")
	cmd := exec.Command("sh", "-c", "echo starting; exit 3")
	_, err := Start(context.Background(), "child", cmd, logPath, Combined, Contains("ready"))
	if err == nil || !strings.Contains(err.Error(), "exited before it was ready") || !strings.Contains(err.Error(), logPath) {
		t.Fatalf("err = %v, want an exit before ready naming the log", err)
	}
}

func TestStopOfNilProc(t *testing.T) {
	var p *Proc
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
}

func TestCPUTimes(t *testing.T) {
	if _, err := CPUTime(os.Getpid()); err != nil {
		t.Errorf("CPUTime of this process: %v", err)
	}
	busy, err := MachineCPU()
	if err != nil || busy <= 0 {
		t.Errorf("MachineCPU = %v, %v; want a positive busy time", busy, err)
	}
	// Read after busy: the steal in it is at most what busy was then
	// plus what passed between the two reads, which is far less.
	if steal, err := StealCPU(); err != nil || steal < 0 || steal > busy+time.Second {
		t.Errorf("StealCPU = %v, %v; want a part of the busy time %v", steal, err, busy)
	}
	if _, err := CPUTime(-1); err == nil {
		t.Error("CPUTime of pid -1 returned no error")
	}
}
