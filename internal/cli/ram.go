package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rayfleet/rayfleet/api"
)

// The user, key and policy commands speak RAM's admin API (RPC style,
// version api.RAMVersion), which the server serves on "/".

// ramRun makes one RAM call with the command's client and prints its
// answer: raw with -o json, else through show.
func (a *app) ramRun(cmd *cobra.Command, call func(ctx context.Context, c *api.Client) (any, error), show func() error) error {
	c, _, err := a.client()
	if err != nil {
		return err
	}
	if _, err := call(cmd.Context(), c); err != nil {
		return err
	}
	if a.json() {
		return a.printResponse()
	}
	return show()
}

func (a *app) done(format string, args ...any) func() error {
	return func() error {
		fmt.Fprintf(a.env.Stdout, format+"\n", args...)
		return nil
	}
}
