package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/rayfleet/rayfleet/api"
)

// attachments is how many users hold a policy; 0 where the answer does not
// say (ListPoliciesForUser's).
func attachments(p api.RAMPolicy) int {
	if p.AttachmentCount == nil {
		return 0
	}
	return *p.AttachmentCount
}

// readDocument reads a policy document from a file, or stdin for "-".
func (a *app) readDocument(path string) (string, error) {
	if path == "" {
		return "", usagef("--document is required: a file with the policy document, or - for stdin")
	}
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(a.env.Stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return "", fmt.Errorf("read policy document: %w", err)
	}
	return string(bytes.TrimSpace(data)), nil
}

func (a *app) policyCommand() *cobra.Command {
	cmd := group("policy", "Manage RAM policies and who holds them",
		`Policies say what users may do: RAM policy documents whose actions are
emr-serverless-spark:<Operation> and whose resources are "*" or ARNs of
workspaces and clusters. System policies (AliyunEMRServerlessSparkFullAccess,
AliyunEmrServerlessSparkReadOnlyAccess, AliyunRAMFullAccess,
AdministratorAccess) are built in; custom ones keep up to five versions.`,
		"  rayfleet policy create ray-reader --document reader.json\n  rayfleet policy attach ray-reader --user alice\n  rayfleet policy attach AliyunEMRServerlessSparkFullAccess --type System --user alice")
	// Each command has its own --type: flags of sibling commands bound to
	// one variable would share the default of the last one registered.
	var doc, desc, getType, listType, attachType, user, rotate string
	var setDefault bool
	create := &cobra.Command{
		Use: "create NAME", Short: "Create a custom policy", Args: exactArgs("NAME"),
		RunE: a.wrap(func(cmd *cobra.Command, args []string) error {
			d, err := a.readDocument(doc)
			if err != nil {
				return err
			}
			return a.ramRun(cmd, func(ctx context.Context, c *api.Client) (any, error) {
				return c.CreatePolicy(ctx, &api.CreatePolicyRequest{PolicyName: args[0], PolicyDocument: d, Description: desc})
			}, a.done("Created policy %s.", args[0]))
		}),
	}
	create.Flags().StringVar(&doc, "document", "", "file holding the policy document (- for stdin)")
	create.Flags().StringVar(&desc, "description", "", "what the policy is for")
	get := &cobra.Command{
		Use: "get NAME", Short: "Show a policy and its document", Args: exactArgs("NAME"),
		RunE: a.wrap(func(cmd *cobra.Command, args []string) error {
			var r *api.GetPolicyResponse
			return a.ramRun(cmd, func(ctx context.Context, c *api.Client) (_ any, err error) {
				r, err = c.GetPolicy(ctx, args[0], getType)
				return r, err
			}, func() error {
				p := r.Policy
				fmt.Fprintf(a.env.Stdout, "Name:         %s\nType:         %s\nDescription:  %s\nVersion:      %s\nAttached to:  %d users\nDocument:\n",
					p.PolicyName, p.PolicyType, cell(p.Description), p.DefaultVersion, attachments(p))
				var buf bytes.Buffer
				if json.Indent(&buf, []byte(r.DefaultPolicyVersion.PolicyDocument), "  ", "  ") != nil {
					buf.WriteString(r.DefaultPolicyVersion.PolicyDocument)
				}
				fmt.Fprintf(a.env.Stdout, "  %s\n", buf.String())
				return nil
			})
		}),
	}
	get.Flags().StringVar(&getType, "type", "Custom", "Custom or System")
	list := &cobra.Command{
		Use: "list", Short: "List system and custom policies", Args: exactArgs(),
		RunE: a.wrap(func(cmd *cobra.Command, _ []string) error {
			var r *api.ListPoliciesResponse
			return a.ramRun(cmd, func(ctx context.Context, c *api.Client) (_ any, err error) {
				r, err = c.ListPolicies(ctx, listType, "", 1000)
				return r, err
			}, func() error {
				t := newTable(a.env.Stdout, "NAME", "TYPE", "VERSION", "USERS", "DESCRIPTION")
				for _, p := range r.Policies.Policy {
					t.row(p.PolicyName, p.PolicyType, p.DefaultVersion, strconv.Itoa(attachments(p)), trim(p.Description, 60))
				}
				return t.flush()
			})
		}),
	}
	list.Flags().StringVar(&listType, "type", "", "only Custom or only System policies")
	del := &cobra.Command{
		Use: "delete NAME", Short: "Delete a custom policy (detach it first)", Args: exactArgs("NAME"),
		RunE: a.wrap(func(cmd *cobra.Command, args []string) error {
			return a.ramRun(cmd, func(ctx context.Context, c *api.Client) (any, error) {
				return c.DeletePolicy(ctx, args[0])
			}, a.done("Deleted policy %s.", args[0]))
		}),
	}
	version := &cobra.Command{
		Use: "version NAME", Short: "Add a version of a custom policy", Args: exactArgs("NAME"),
		Example: "  rayfleet policy version ray-reader --document reader-v2.json --set-default",
		RunE: a.wrap(func(cmd *cobra.Command, args []string) error {
			d, err := a.readDocument(doc)
			if err != nil {
				return err
			}
			var r *api.PolicyVersionResponse
			return a.ramRun(cmd, func(ctx context.Context, c *api.Client) (_ any, err error) {
				r, err = c.CreatePolicyVersion(ctx, &api.CreatePolicyVersionRequest{
					PolicyName: args[0], PolicyDocument: d, SetAsDefault: setDefault, RotateStrategy: rotate,
				})
				return r, err
			}, func() error {
				fmt.Fprintf(a.env.Stdout, "Created version %s of policy %s.\n", r.PolicyVersion.VersionID, args[0])
				return nil
			})
		}),
	}
	version.Flags().StringVar(&doc, "document", "", "file holding the policy document (- for stdin)")
	version.Flags().BoolVar(&setDefault, "set-default", false, "make it the version in force")
	version.Flags().StringVar(&rotate, "rotate", "", "DeleteOldestNonDefaultVersionWhenLimitExceeded to make room past five versions")
	attach := func(use, verb string, call func(c *api.Client, ctx context.Context, policyType, policyName, userName string) (*api.CapitalRequestIDResponse, error)) *cobra.Command {
		c := &cobra.Command{
			Use: use + " NAME --user USER", Short: verb + " a policy to or from a user", Args: exactArgs("NAME"),
			RunE: a.wrap(func(cmd *cobra.Command, args []string) error {
				if user == "" {
					return usagef("--user is required")
				}
				return a.ramRun(cmd, func(ctx context.Context, c *api.Client) (any, error) {
					return call(c, ctx, attachType, args[0], user)
				}, a.done("%s policy %s for user %s.", verb, args[0], user))
			}),
		}
		c.Flags().StringVar(&user, "user", "", "the user")
		c.Flags().StringVar(&attachType, "type", "Custom", "Custom or System")
		return c
	}
	cmd.AddCommand(create, get, list, del, version,
		attach("attach", "Attached", (*api.Client).AttachPolicyToUser), attach("detach", "Detached", (*api.Client).DetachPolicyFromUser))
	return cmd
}
