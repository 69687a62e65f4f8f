// Package benchproc runs and measures the processes a benchmark program
// under bench/ starts: servers and proxies stopped cleanly when the run
// ends (a `rayfleet server` with the local runtime among them), the
// processes of a run found by a marker in their environment, and the CPU
// time they, the load generator and the rest of the machine use. It reads
// Linux's /proc and imports no rayfleet package.
package benchproc

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Output names the output streams of a child that Start watches for the
// line saying it is ready; the others go to the log file unread.
type Output int

const (
	// Combined watches stdout and stderr together.
	Combined Output = iota
	// Stdout watches stdout only.
	Stdout
	// Stderr watches stderr only.
	Stderr
)

// Proc is a child process a benchmark started. It is always stopped with
// SIGTERM first, so a rayfleet process closes its store cleanly, and
// killed only if it hangs.
type Proc struct {
	Name string
	// Ready is what the ready function of Start returned for the line that
	// showed the process ready (an address it listens on, for instance).
	Ready string
	cmd   *exec.Cmd
	done  chan struct{}
	err   error // exit status, valid once done is closed
}

// Contains is a ready function for Start: a line is the ready one when it
// contains s.
func Contains(s string) func(line string) string {
	return func(line string) string {
		if strings.Contains(line, s) {
			return line
		}
		return ""
	}
}

// Start runs cmd with its output copied to logPath, so a failure can be
// diagnosed afterwards, and waits until ready, called on every line of the
// watched output, returns something other than ""; that becomes the
// Proc's Ready. With a nil ready it returns as soon as cmd has started.
func Start(ctx context.Context, name string, cmd *exec.Cmd, logPath string, watch Output, ready func(line string) string) (*Proc, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	// A benchmark killed hard (SIGKILL, a crash) must not leave servers
	// running; SIGTERM still lets rayfleet close its database.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGTERM
	pr, pw := io.Pipe()
	switch watch {
	case Stdout:
		cmd.Stdout, cmd.Stderr = pw, logf
	case Stderr:
		cmd.Stdout, cmd.Stderr = logf, pw
	default:
		cmd.Stdout, cmd.Stderr = pw, pw
	}
	if err := cmd.Start(); err != nil {
		pw.Close()
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{Name: name, cmd: cmd, done: make(chan struct{})}
	readyc := make(chan string, 1)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			if ready == nil {
				continue
			}
			if v := ready(line); v != "" {
				select {
				case readyc <- v:
				default:
				}
			}
		}
		// Keep draining whatever is left (a line too long to scan) so the
		// child never blocks on a full pipe.
		_, _ = io.Copy(logf, pr)
	}()
	go func() {
		p.err = cmd.Wait()
		pw.Close()
		// The last lines are in the log before it is closed.
		<-scanned
		logf.Close()
		close(p.done)
	}()
	if ready == nil {
		return p, nil
	}
	select {
	case v := <-readyc:
		p.Ready = v
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("%s exited before it was ready (%w); see %s", name, p.err, logPath)
	case <-time.After(60 * time.Second):
		_ = p.Stop() // the timeout is the error to report
		return nil, fmt.Errorf("%s was not ready within 60s; see %s", name, logPath)
	case <-ctx.Done():
		_ = p.Stop() // interrupted: the interruption is the error to report
		return nil, ctx.Err()
	}
}

// PID is the process id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Signal sends sig to the process: SIGQUIT, say, for the stacks of a Go
// program's goroutines (it exits after printing them).
func (p *Proc) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is the exit error, valid once Done is closed.
func (p *Proc) Err() error { return p.err }

// Stop sends SIGTERM and waits for the exit; after a rayfleet server's own
// grace period (30s) plus a margin it kills. It returns the exit error, if
// any. A nil Proc (one never started) stops at once.
func (p *Proc) Stop() error {
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
		return fmt.Errorf("%s ignored SIGTERM for 40s and was killed", p.Name)
	}
}
