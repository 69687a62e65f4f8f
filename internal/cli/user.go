package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rayfleet/rayfleet/api"
)

// pagedUser is a user as "user list -o json" prints the users of several
// pages gathered in one list: by the Go names of the fields (UserID where
// the wire says UserId), every field present.
type pagedUser struct {
	UserID, UserName, DisplayName, Comments, CreateDate, UpdateDate string
}

func pagedUsers(us []api.RAMUser) []pagedUser {
	out := make([]pagedUser, len(us))
	for i, u := range us {
		out[i] = pagedUser(u)
	}
	return out
}

func (a *app) userCommand() *cobra.Command {
	cmd := group("user", "Manage the account's RAM users",
		`RAM users are the people and programs of the account. Each signs with
access keys of its own (rayfleet key) and may do what its policies allow
(rayfleet policy attach). Only the root user, or a user allowed ram:*
actions, manages them.`,
		"  rayfleet user create alice --display-name \"Alice\"\n  rayfleet user list")
	var display, comments, newName string
	create := &cobra.Command{
		Use: "create NAME", Short: "Create a RAM user", Args: exactArgs("NAME"),
		Example: "  rayfleet user create alice --display-name Alice --comments \"data science\"",
		RunE: a.wrap(func(cmd *cobra.Command, args []string) error {
			var r api.UserResponse
			return a.ramRun(cmd, func(ctx context.Context, c *api.Client) (any, error) {
				resp, err := c.CreateUser(ctx, &api.CreateUserRequest{UserName: args[0], DisplayName: display, Comments: comments})
				r = *resp
				return resp, err
			}, a.done("Created user %s (%s).", args[0], r.User.UserID))
		}),
	}
	create.Flags().StringVar(&display, "display-name", "", "display name (the creatorName of what the user makes)")
	create.Flags().StringVar(&comments, "comments", "", "a note on the user")
	get := &cobra.Command{
		Use: "get NAME", Short: "Show a RAM user and its policies", Args: exactArgs("NAME"),
		RunE: a.wrap(func(cmd *cobra.Command, args []string) error {
			c, _, err := a.client()
			if err != nil {
				return err
			}
			r, err := c.GetUser(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if a.json() {
				return a.printResponse()
			}
			p, err := c.ListPoliciesForUser(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			u := r.User
			fmt.Fprintf(a.env.Stdout, "Name:      %s\nUID:       %s\nDisplay:   %s\nComments:  %s\nCreated:   %s\nUpdated:   %s\nPolicies:\n",
				u.UserName, u.UserID, u.DisplayName, cell(u.Comments), u.CreateDate, u.UpdateDate)
			t := newIndentedTable(a.env.Stdout, "  ", "POLICY", "TYPE", "ATTACHED")
			for _, x := range p.Policies.Policy {
				t.row(x.PolicyName, x.PolicyType, x.AttachDate)
			}
			return t.flush()
		}),
	}
	list := &cobra.Command{
		Use: "list", Short: "List the account's users", Args: exactArgs(),
		RunE: a.wrap(func(cmd *cobra.Command, _ []string) error {
			c, _, err := a.client()
			if err != nil {
				return err
			}
			var all []api.RAMUser
			marker := ""
			for {
				r, err := c.ListUsers(cmd.Context(), marker, 1000)
				if err != nil {
					return err
				}
				if a.json() && marker == "" && !r.IsTruncated {
					return a.printResponse()
				}
				all = append(all, r.Users.User...)
				if !r.IsTruncated {
					break
				}
				marker = r.Marker
			}
			if a.json() {
				return a.printValue(map[string]any{"Users": map[string]any{"User": pagedUsers(all)}})
			}
			t := newTable(a.env.Stdout, "NAME", "UID", "DISPLAY NAME", "CREATED")
			for _, u := range all {
				t.row(u.UserName, u.UserID, u.DisplayName, u.CreateDate)
			}
			return t.flush()
		}),
	}
	update := &cobra.Command{
		Use: "update NAME", Short: "Rename a user or change its display name or comments", Args: exactArgs("NAME"),
		Example: "  rayfleet user update alice --display-name \"Alice L.\"",
		RunE: a.wrap(func(cmd *cobra.Command, args []string) error {
			req := &api.UpdateUserRequest{UserName: args[0]}
			f := cmd.Flags()
			if f.Changed("new-name") {
				req.NewUserName = &newName
			}
			if f.Changed("display-name") {
				req.NewDisplayName = &display
			}
			if f.Changed("comments") {
				req.NewComments = &comments
			}
			return a.ramRun(cmd, func(ctx context.Context, c *api.Client) (any, error) {
				return c.UpdateUser(ctx, req)
			}, a.done("Updated user %s.", args[0]))
		}),
	}
	update.Flags().StringVar(&newName, "new-name", "", "the user's new name")
	update.Flags().StringVar(&display, "display-name", "", "the new display name")
	update.Flags().StringVar(&comments, "comments", "", "the new comments")
	del := &cobra.Command{
		Use: "delete NAME", Short: "Delete a user (delete its keys and detach its policies first)", Args: exactArgs("NAME"),
		RunE: a.wrap(func(cmd *cobra.Command, args []string) error {
			return a.ramRun(cmd, func(ctx context.Context, c *api.Client) (any, error) {
				return c.DeleteUser(ctx, args[0])
			}, a.done("Deleted user %s.", args[0]))
		}),
	}
	cmd.AddCommand(create, get, list, update, del)
	return cmd
}
