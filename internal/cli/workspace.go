package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rayfleet/rayfleet/api"
)

func (a *app) workspaceCommand() *cobra.Command {
	cmd := group("workspace", "List, create and delete workspaces",
		`Workspaces hold clusters and queues and carry a capacity quota in CU
(1 CU = 1 vCPU + 4 GiB). Creating one also creates its root_queue.`,
		`  rayfleet workspace list
  rayfleet workspace create research --cu 128
  rayfleet workspace delete w-26ca1703f6d71e6e`)
	cmd.AddCommand(a.workspaceList(), a.workspaceCreate(), a.workspaceUpdate(), a.workspaceDelete())
	return cmd
}

func (a *app) workspaceList() *cobra.Command {
	var (
		name      string
		max       int
		nextToken string
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List workspaces",
		Example: `  rayfleet workspace list
  rayfleet workspace list --name research -o json`,
		Args: exactArgs(),
	}
	cmd.Flags().StringVar(&name, "name", "", "only workspaces whose name contains this")
	cmd.Flags().IntVar(&max, "max-results", 0, "workspaces per page (default the server's)")
	cmd.Flags().StringVar(&nextToken, "next-token", "", "page to show, from a previous list")
	cmd.RunE = a.wrap(func(cmd *cobra.Command, _ []string) error {
		c, _, err := a.client()
		if err != nil {
			return err
		}
		resp, err := c.ListWorkspaces(cmd.Context(), name, max, nextToken)
		if err != nil {
			return err
		}
		if a.json() {
			return a.printResponse()
		}
		if len(resp.Workspaces) == 0 {
			fmt.Fprintln(a.env.Stdout, "No workspaces.")
			return nil
		}
		t := newTable(a.env.Stdout, "ID", "NAME", "STATUS", "RESOURCES", "CREATED")
		for _, w := range resp.Workspaces {
			t.row(w.WorkspaceID, w.WorkspaceName, w.WorkspaceStatus, w.ResourceSpec, a.when(w.CreateTime))
		}
		if err := t.flush(); err != nil {
			return err
		}
		if resp.NextToken != "" {
			fmt.Fprintf(a.env.Stderr, "More workspaces: --next-token %s\n", resp.NextToken)
		}
		return nil
	})
	return cmd
}

func (a *app) workspaceCreate() *cobra.Command {
	var cu int64
	cmd := &cobra.Command{
		Use:     "create NAME [--cu N]",
		Short:   "Create a workspace (and its root_queue)",
		Example: "  rayfleet workspace create research --cu 128",
		Args:    exactArgs("NAME"),
	}
	cmd.Flags().Int64Var(&cu, "cu", 64, "capacity quota in CU (1 CU = 1 vCPU + 4 GiB)")
	cmd.RunE = a.wrap(func(cmd *cobra.Command, args []string) error {
		if cu < 1 {
			return usagef("--cu must be at least 1")
		}
		c, _, err := a.client()
		if err != nil {
			return err
		}
		n := api.FlexInt(cu)
		resp, err := c.CreateWorkspace(cmd.Context(), &api.CreateWorkspaceRequest{
			WorkspaceName: args[0],
			ResourceSpec:  api.ResourceSpec{CU: &n},
		})
		if err != nil {
			return err
		}
		if a.json() {
			return a.printResponse()
		}
		fmt.Fprintf(a.env.Stdout, "Created workspace %s (%s). Use it with -w %s, or make it the default with: rayfleet profile set NAME --workspace %s\n",
			resp.WorkspaceID, args[0], resp.WorkspaceID, resp.WorkspaceID)
		return nil
	})
	return cmd
}

func (a *app) workspaceUpdate() *cobra.Command {
	var name string
	var cu int64
	cmd := &cobra.Command{
		Use:     "update ID [--name NAME] [--cu N]",
		Short:   "Rename a workspace or change its quota",
		Long:    "Rename a workspace or change its quota. The queues keep their limits: lower them first (rayfleet queue edit) to lower the quota below what they hold together; a quota raised is free for queues to take.",
		Example: "  rayfleet workspace update w-26ca1703f6d71e6e --cu 128",
		Args:    exactArgs("ID"),
	}
	cmd.Flags().StringVar(&name, "name", "", "the new name")
	cmd.Flags().Int64Var(&cu, "cu", 0, "the new capacity quota in CU (1 CU = 1 vCPU + 4 GiB)")
	cmd.RunE = a.wrap(func(cmd *cobra.Command, args []string) error {
		req := &api.UpdateWorkspaceRequest{WorkspaceID: args[0]}
		if cmd.Flags().Changed("name") {
			req.WorkspaceName = &name
		}
		if cmd.Flags().Changed("cu") {
			if cu < 1 {
				return usagef("--cu must be at least 1")
			}
			n := api.FlexInt(cu)
			req.CU = &n
		}
		if req.WorkspaceName == nil && req.CU == nil {
			return usagef("give --name, --cu or both")
		}
		c, _, err := a.client()
		if err != nil {
			return err
		}
		if _, err := c.UpdateWorkspace(cmd.Context(), req); err != nil {
			return err
		}
		if a.json() {
			return a.printResponse()
		}
		fmt.Fprintf(a.env.Stdout, "Updated workspace %s.\n", args[0])
		return nil
	})
	return cmd
}

func (a *app) workspaceDelete() *cobra.Command {
	return &cobra.Command{
		Use:     "delete ID",
		Short:   "Delete a workspace",
		Example: "  rayfleet workspace delete w-26ca1703f6d71e6e",
		Args:    exactArgs("ID"),
		RunE: a.wrap(func(cmd *cobra.Command, args []string) error {
			c, _, err := a.client()
			if err != nil {
				return err
			}
			if _, err := c.DeleteWorkspace(cmd.Context(), args[0]); err != nil {
				return err
			}
			if a.json() {
				return a.printResponse()
			}
			fmt.Fprintf(a.env.Stdout, "Deleted workspace %s.\n", args[0])
			return nil
		}),
	}
}
