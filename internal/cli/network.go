package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rayfleet/rayfleet/api"
)

func (a *app) networkCommand() *cobra.Command {
	cmd := group("network-service", "List and create the network services of a workspace",
		`Network services are named network profiles of a workspace ("vpc" by default)
that clusters attach to with --network-service. The workspace comes from -w,
$RAYFLEET_WORKSPACE or the profile.`,
		`  rayfleet network-service list
  rayfleet network-service create private --vpc-id vpc-1 --vswitch-id vsw-1 --vswitch-id vsw-2`)
	cmd.AddCommand(a.networkList(), a.networkCreate())
	return cmd
}

func (a *app) networkList() *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List the network services of the workspace",
		Example: "  rayfleet network-service list",
		Args:    exactArgs(),
		RunE: a.wrap(func(cmd *cobra.Command, _ []string) error {
			c, ws, err := a.clientWS()
			if err != nil {
				return err
			}
			resp, err := c.ListNetworkServices(cmd.Context(), ws)
			if err != nil {
				return err
			}
			if a.json() {
				return a.printResponse()
			}
			if len(resp.NetworkServices) == 0 {
				fmt.Fprintf(a.env.Stdout, "No network services in workspace %s.\n", ws)
				return nil
			}
			t := newTable(a.env.Stdout, "NAME", "ID", "STATE", "TYPE", "VPC", "VSWITCHES", "SECURITY GROUP")
			for _, n := range resp.NetworkServices {
				t.row(n.Name, n.NetworkServiceID, n.State, n.Type, n.VpcID,
					strings.Join(n.VSwitchIDs, ","), n.SecurityGroupID)
			}
			return t.flush()
		}),
	}
}

func (a *app) networkCreate() *cobra.Command {
	var req api.CreateNetworkServiceRequest
	cmd := &cobra.Command{
		Use:     "create NAME [--vpc-id V] [--vswitch-id S]... [--security-group-id G]",
		Short:   "Create a network service in the workspace",
		Example: "  rayfleet network-service create private --vpc-id vpc-1 --vswitch-id vsw-1 --security-group-id sg-1",
		Args:    exactArgs("NAME"),
	}
	f := cmd.Flags()
	f.StringVar(&req.VpcID, "vpc-id", "", "VPC id")
	f.StringArrayVar(&req.VSwitchIDs, "vswitch-id", nil, "vSwitch id (repeatable)")
	f.StringVar(&req.SecurityGroupID, "security-group-id", "", "security group id")
	f.StringVar(&req.Type, "type", "", "network service type (default the server's)")
	cmd.RunE = a.wrap(func(cmd *cobra.Command, args []string) error {
		c, ws, err := a.clientWS()
		if err != nil {
			return err
		}
		req.Name = args[0]
		resp, err := c.CreateNetworkService(cmd.Context(), ws, &req)
		if err != nil {
			return err
		}
		if a.json() {
			return a.printResponse()
		}
		fmt.Fprintf(a.env.Stdout, "Created network service %s in workspace %s (operation %s).\n", args[0], ws, resp.OperationID)
		return nil
	})
	return cmd
}
