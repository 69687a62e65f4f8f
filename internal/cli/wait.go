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
	f := cmd.Flags()
	f.BoolVar(&w.wait, "wait", false, "follow the cluster until it is "+what+", showing progress; exit non-zero if it fails")
	f.DurationVar(&w.timeout, "wait-timeout", 20*time.Minute, "give up waiting after this long")
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

// waitFor polls the cluster until goal says it is done, showing progress:
// one line redrawn in place on a terminal, a plain line per change
// otherwise. An Error state ends the wait with its message.
func (a *app) waitFor(ctx context.Context, c *api.Client, ws, id string, w waitFlags, g goal) error {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	start := time.Now()
	last := ""
	spin := 0
	frames := []string{"|", "/", "-", `\`}
	for {
		cl, err := c.GetCluster(ctx, ws, id)
		if err != nil {
			if a.env.IsTerminal {
				fmt.Fprintln(a.env.Stderr)
			}
			if ctx.Err() != nil && errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("gave up waiting for %s after %s (last: %s)", id, w.timeout, last)
			}
			return err
		}
		line := progressLine(cl)
		if a.env.IsTerminal {
			fmt.Fprintf(a.env.Stderr, "\r\033[K%s %s (%s)", frames[spin%len(frames)], line, time.Since(start).Round(time.Second))
			spin++
		} else if line != last {
			fmt.Fprintf(a.env.Stderr, "%s %s\n", time.Now().Format("15:04:05"), line)
		}
		last = line
		done, gerr := g(cl.State)
		if cl.State == "Error" {
			done, gerr = true, fmt.Errorf("cluster %s failed: %s", id, cl.Message)
		}
		if done {
			if a.env.IsTerminal {
				fmt.Fprintln(a.env.Stderr)
			}
			if gerr == nil {
				fmt.Fprintf(a.env.Stdout, "Cluster %s is %s.\n", id, cl.State)
			}
			return gerr
		}
		select {
		case <-ctx.Done():
			if a.env.IsTerminal {
				fmt.Fprintln(a.env.Stderr)
			}
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("gave up waiting for %s after %s (last: %s)", id, w.timeout, last)
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
