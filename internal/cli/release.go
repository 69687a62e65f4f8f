package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) releaseCommand() *cobra.Command {
	cmd := group("release-version", "List the Ray engine versions clusters can run",
		`Release versions are the Ray engines on offer: a Ray and Python version and
the image they run from. Clusters name one with --release-version, spelled as
the VERSION column shows it.`,
		"  rayfleet release-version list")
	cmd.AddCommand(a.releaseList())
	return cmd
}

func (a *app) releaseList() *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List release versions",
		Example: "  rayfleet release-version list\n  rayfleet release-version list -o json",
		Args:    exactArgs(),
		RunE: a.wrap(func(cmd *cobra.Command, _ []string) error {
			c, _, err := a.client()
			if err != nil {
				return err
			}
			resp, err := c.ListReleaseVersions(cmd.Context(), nil)
			if err != nil {
				return err
			}
			if a.json() {
				return a.printResponse()
			}
			if len(resp.ReleaseVersions) == 0 {
				fmt.Fprintln(a.env.Stdout, "No release versions.")
				return nil
			}
			t := newTable(a.env.Stdout, "VERSION", "RAY", "PYTHON", "STATE", "TYPE", "IMAGE")
			for _, r := range resp.ReleaseVersions {
				t.row(first(r.DisplayReleaseVersion, r.ReleaseVersion), r.RayVersion, r.PythonVersion,
					r.State, r.Type, r.Image)
			}
			return t.flush()
		}),
	}
}
