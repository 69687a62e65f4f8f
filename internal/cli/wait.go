package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rayfleet/rayfleet/api"
)

// waitFlags are the flags of commands that can follow a cluster until it
// settles.
type waitFlags struct {
	wait     bool
	timeout  time.Duration
	interval time.Duration
}

func (w *waitFlags) add(cmd *cobra.Command, what string) {
	w.addWith(cmd, "follow the cluster until it is "+what+", showing progress; exit non-zero if it fails", 20*time.Minute)
}

func (w *waitFlags) addWith(cmd *cobra.Command, usage string, timeout time.Duration) {
	f := cmd.Flags()
	f.BoolVar(&w.wait, "wait", false, usage)
	f.DurationVar(&w.timeout, "wait-timeout", timeout, "give up waiting after this long (0: never)")
	f.DurationVar(&w.interval, "wait-interval", time.Second, "how often to look")
}

// goal says, from a cluster's state, whether waiting is over and whether
// it ended well.
type goal func(state string) (done bool, err error)

func untilRunning(state string) (bool, error) {
	switch state {
	case "Running":
		return true, nil
	case "Stopping", "Stopped":
		return true, errors.New("the cluster was stopped while starting")
	}
	return false, nil
}

func untilStopped(state string) (bool, error) {
	switch state {
	case "Stopped":
		return true, nil
	case "Starting", "Running":
		return true, errors.New("the cluster was started again while stopping")
	}
	return false, nil
}

// waitFor polls the cluster until goal says it is done. An Error state
// ends the wait with its message.
func (a *app) waitFor(ctx context.Context, c *api.Client, ws, id string, w waitFlags, g goal) error {
	state := ""
	err := a.follow(ctx, id, w, func(ctx context.Context) (string, bool, error) {
		cl, err := c.GetCluster(ctx, ws, id)
		if err != nil {
			return "", false, err
		}
		state = cl.State
		done, gerr := g(cl.State)
		if cl.State == "Error" {
			done, gerr = true, fmt.Errorf("cluster %s failed: %s", id, cl.Message)
		}
		return progressLine(cl), done, gerr
	})
	if err == nil {
		fmt.Fprintf(a.env.Stdout, "Cluster %s is %s.\n", id, state)
	}
	return err
}

// follow calls look every w.interval until it says it is done, showing its
// progress line on stderr: one line redrawn in place on a terminal, a plain
// line per change otherwise. look's error ends the wait: when done, it is
// how the wait ended (nil for well); otherwise the look itself failed.
func (a *app) follow(ctx context.Context, what string, w waitFlags, look func(context.Context) (line string, done bool, err error)) error {
	if w.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, w.timeout)
		defer cancel()
	}
	start := time.Now()
	last := ""
	spin := 0
	frames := []string{"|", "/", "-", `\`}
	endLine := func() {
		if a.env.IsTerminal {
			fmt.Fprintln(a.env.Stderr)
		}
	}
	gaveUp := func() error {
		return fmt.Errorf("gave up waiting for %s after %s (last: %s)", what, w.timeout, last)
	}
	for {
		line, done, err := look(ctx)
		if err != nil && !done {
			endLine()
			if ctx.Err() != nil && errors.Is(err, context.DeadlineExceeded) {
				return gaveUp()
			}
			return err
		}
		// Lines hold names and messages other users wrote.
		line = printable(line)
		if a.env.IsTerminal {
			fmt.Fprintf(a.env.Stderr, "\r\033[K%s %s (%s)", frames[spin%len(frames)], line, time.Since(start).Round(time.Second))
			spin++
		} else if line != last {
			fmt.Fprintf(a.env.Stderr, "%s %s\n", time.Now().Format("15:04:05"), line)
		}
		last = line
		if done {
			endLine()
			return err
		}
		select {
		case <-ctx.Done():
			endLine()
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return gaveUp()
			}
			return ctx.Err()
		case <-time.After(w.interval):
		}
	}
}

// progressLine is one line on where a cluster is: state, nodes up, message.
func progressLine(cl *api.Cluster) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", cl.ClusterID, cl.State)
	if n := len(cl.Instances); n > 0 {
		up := 0
		for _, in := range cl.Instances {
			if in.Phase == "Running" {
				up++
			}
		}
		fmt.Fprintf(&b, ", %d/%d nodes running", up, n)
	}
	if cl.Message != "" {
		fmt.Fprintf(&b, ": %s", cl.Message)
	}
	return b.String()
}
