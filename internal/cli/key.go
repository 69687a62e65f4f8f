package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rayfleet/rayfleet/api"
)

func (a *app) keyCommand() *cobra.Command {
	cmd := group("key", "Manage access keys",
		`Access keys sign requests. A user holds at most two; the secret is shown
only when the key is created. A disabled or deleted key is refused from the
next request on. Without --user, the commands act on your own user.`,
		"  rayfleet key create --user alice\n  rayfleet key disable LTAI... --user alice")
	var user string
	userFlag := func(c *cobra.Command) *cobra.Command {
		c.Flags().StringVar(&user, "user", "", "the user whose keys to manage (default: your own)")
		return c
	}
	create := userFlag(&cobra.Command{
		Use: "create", Short: "Create an access key and show its secret, once", Args: exactArgs(),
		RunE: a.wrap(func(cmd *cobra.Command, _ []string) error {
			var r *api.CreateAccessKeyResponse
			return a.ramRun(cmd, func(ctx context.Context, c *api.Client) (_ any, err error) {
				r, err = c.CreateAccessKey(ctx, user)
				return r, err
			}, func() error {
				fmt.Fprintf(a.env.Stdout, "AccessKeyId:     %s\nAccessKeySecret: %s\nThe secret is shown only now: keep it safe (rayfleet profile can store it).\n",
					r.AccessKey.AccessKeyID, r.AccessKey.AccessKeySecret)
				return nil
			})
		}),
	})
	list := userFlag(&cobra.Command{
		Use: "list", Short: "List access keys", Args: exactArgs(),
		RunE: a.wrap(func(cmd *cobra.Command, _ []string) error {
			var r *api.ListAccessKeysResponse
			return a.ramRun(cmd, func(ctx context.Context, c *api.Client) (_ any, err error) {
				r, err = c.ListAccessKeys(ctx, user)
				return r, err
			}, func() error {
				t := newTable(a.env.Stdout, "ACCESS KEY ID", "STATUS", "CREATED")
				for _, k := range r.AccessKeys.AccessKey {
					t.row(k.AccessKeyID, k.Status, k.CreateDate)
				}
				return t.flush()
			})
		}),
	})
	status := func(use, short, value, verb string) *cobra.Command {
		return userFlag(&cobra.Command{
			Use: use + " ACCESS_KEY_ID", Short: short, Args: exactArgs("ACCESS_KEY_ID"),
			RunE: a.wrap(func(cmd *cobra.Command, args []string) error {
				return a.ramRun(cmd, func(ctx context.Context, c *api.Client) (any, error) {
					return c.UpdateAccessKey(ctx, user, args[0], value)
				}, a.done("%s access key %s.", verb, args[0]))
			}),
		})
	}
	del := userFlag(&cobra.Command{
		Use: "delete ACCESS_KEY_ID", Short: "Delete an access key", Args: exactArgs("ACCESS_KEY_ID"),
		RunE: a.wrap(func(cmd *cobra.Command, args []string) error {
			return a.ramRun(cmd, func(ctx context.Context, c *api.Client) (any, error) {
				return c.DeleteAccessKey(ctx, user, args[0])
			}, a.done("Deleted access key %s.", args[0]))
		}),
	})
	cmd.AddCommand(create, list, status("disable", "Disable an access key", "Inactive", "Disabled"),
		status("enable", "Enable an access key", "Active", "Enabled"), del)
	return cmd
}
