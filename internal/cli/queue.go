package cli

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rayfleet/rayfleet/api"
)

func (a *app) queueCommand() *cobra.Command {
	cmd := group("queue", "List, create, resize and delete the queues of a workspace",
		`Queues split a workspace's CU quota; cluster nodes name the queue they run in.
The workspace comes from -w, $RAYFLEET_WORKSPACE or the profile.`,
		`  rayfleet queue list
  rayfleet queue create dev_queue --cu 16 --description "for notebooks"
  rayfleet queue edit dev_queue --cu 32
  rayfleet queue delete dev_queue`)
	cmd.AddCommand(a.queueList(), a.queueCreate(), a.queueEdit(), a.queueDelete())
	return cmd
}

func (a *app) queueList() *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List the queues of the workspace with their capacity and use",
		Example: "  rayfleet queue list\n  rayfleet -w w-26ca1703f6d71e6e queue list -o json",
		Args:    exactArgs(),
		RunE: a.wrap(func(cmd *cobra.Command, _ []string) error {
			c, ws, err := a.clientWS()
			if err != nil {
				return err
			}
			resp, err := c.ListQueues(cmd.Context(), ws)
			if err != nil {
				return err
			}
			if a.json() {
				return a.printResponse()
			}
			if len(resp.Queues) == 0 {
				fmt.Fprintf(a.env.Stdout, "No queues in workspace %s.\n", ws)
				return nil
			}
			t := newTable(a.env.Stdout, "NAME", "CATEGORY", "STATUS", "MAX", "USED", "DESCRIPTION")
			for _, q := range resp.Queues {
				t.row(q.QueueName, q.QueueCategory, q.QueueStatus, resources(q.MaxResource),
					resources(q.UsedResource), trim(q.Description, 40))
			}
			return t.flush()
		}),
	}
}

// resources renders the API's resource JSON text ({"cpu":"64","memory":"256Gi"})
// as "64cpu/256Gi"; anything else is shown as sent.
func resources(s string) string {
	var r struct {
		CPU    json.RawMessage `json:"cpu"`
		Memory json.RawMessage `json:"memory"`
	}
	if json.Unmarshal([]byte(s), &r) != nil {
		return s
	}
	// cpu may be a string or a number; either way its text is the value.
	unquote := func(b json.RawMessage) string { return strings.Trim(string(b), `"`) }
	return nodeSize(unquote(r.CPU), unquote(r.Memory), "")
}

// queueFlags are shared by create and edit.
type queueFlags struct {
	cu          int64
	description string
}

func (f *queueFlags) add(cmd *cobra.Command) {
	cmd.Flags().Int64Var(&f.cu, "cu", 0, "capacity in CU (1 CU = 1 vCPU + 4 GiB)")
	cmd.Flags().StringVar(&f.description, "description", "", "description")
}

func (a *app) queueRequest(cmd *cobra.Command, f *queueFlags, ws, name string) (*api.QueueRequest, error) {
	if !cmd.Flags().Changed("cu") {
		return nil, usagef("--cu is required")
	}
	if f.cu < 1 {
		return nil, usagef("--cu must be at least 1")
	}
	n := api.FlexInt(f.cu)
	req := &api.QueueRequest{WorkspaceID: ws, WorkspaceQueueName: name, ResourceSpec: api.ResourceSpec{CU: &n}}
	if cmd.Flags().Changed("description") {
		req.Description = &f.description
	}
	return req, nil
}

func (a *app) queueCreate() *cobra.Command {
	var f queueFlags
	cmd := &cobra.Command{
		Use:     "create NAME --cu N [--description D]",
		Short:   "Create a queue in the workspace",
		Example: `  rayfleet queue create dev_queue --cu 16 --description "for notebooks"`,
		Args:    exactArgs("NAME"),
	}
	f.add(cmd)
	cmd.RunE = a.wrap(func(cmd *cobra.Command, args []string) error {
		c, ws, err := a.clientWS()
		if err != nil {
			return err
		}
		req, err := a.queueRequest(cmd, &f, ws, args[0])
		if err != nil {
			return err
		}
		if _, err := c.CreateQueue(cmd.Context(), req); err != nil {
			return err
		}
		if a.json() {
			return a.printResponse()
		}
		fmt.Fprintf(a.env.Stdout, "Created queue %s (%d CU) in workspace %s.\n", args[0], f.cu, ws)
		return nil
	})
	return cmd
}

func (a *app) queueEdit() *cobra.Command {
	var f queueFlags
	cmd := &cobra.Command{
		Use:     "edit NAME --cu N [--description D]",
		Short:   "Change a queue's capacity",
		Example: "  rayfleet queue edit dev_queue --cu 32",
		Args:    exactArgs("NAME"),
	}
	f.add(cmd)
	cmd.RunE = a.wrap(func(cmd *cobra.Command, args []string) error {
		c, ws, err := a.clientWS()
		if err != nil {
			return err
		}
		req, err := a.queueRequest(cmd, &f, ws, args[0])
		if err != nil {
			return err
		}
		if _, err := c.EditQueue(cmd.Context(), req); err != nil {
			return err
		}
		if a.json() {
			return a.printResponse()
		}
		fmt.Fprintf(a.env.Stdout, "Updated queue %s: %d CU.\n", args[0], f.cu)
		return nil
	})
	return cmd
}

func (a *app) queueDelete() *cobra.Command {
	return &cobra.Command{
		Use:     "delete NAME",
		Short:   "Delete a queue",
		Example: "  rayfleet queue delete dev_queue",
		Args:    exactArgs("NAME"),
		RunE: a.wrap(func(cmd *cobra.Command, args []string) error {
			c, ws, err := a.clientWS()
			if err != nil {
				return err
			}
			if _, err := c.DeleteQueue(cmd.Context(), ws, args[0]); err != nil {
				return err
			}
			if a.json() {
				return a.printResponse()
			}
			fmt.Fprintf(a.env.Stdout, "Deleted queue %s.\n", args[0])
			return nil
		}),
	}
}
