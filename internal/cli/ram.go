package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

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

// attachments is how many users hold a policy; 0 where the answer does not
// say (ListPoliciesForUser's).
func attachments(p api.RAMPolicy) int {
	if p.AttachmentCount == nil {
		return 0
	}
	return *p.AttachmentCount
}

func (a *app) done(format string, args ...any) func() error {
	return func() error {
		fmt.Fprintf(a.env.Stdout, format+"\n", args...)
		return nil
	}
}

func setIf(v url.Values, key, val string) {
	if val != "" {
		v.Set(key, val)
	}
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
			c, _, err := a.client()
			if err != nil {
				return err
			}
			r, err := c.CreateAccessKey(cmd.Context(), user)
			if err != nil {
				return err
			}
			if a.json() {
				return a.printResponse()
			}
			fmt.Fprintf(a.env.Stdout, "AccessKeyId:     %s\nAccessKeySecret: %s\nThe secret is shown only now: keep it safe (rayfleet profile can store it).\n",
				r.AccessKey.AccessKeyID, r.AccessKey.AccessKeySecret)
			return nil
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
			c, _, err := a.client()
			if err != nil {
				return err
			}
			r, err := c.CreatePolicyVersion(cmd.Context(), &api.CreatePolicyVersionRequest{
				PolicyName: args[0], PolicyDocument: d, SetAsDefault: setDefault, RotateStrategy: rotate,
			})
			if err != nil {
				return err
			}
			if a.json() {
				return a.printResponse()
			}
			fmt.Fprintf(a.env.Stdout, "Created version %s of policy %s.\n", r.PolicyVersion.VersionID, args[0])
			return nil
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

func (a *app) auditCommand() *cobra.Command {
	cmd := group("audit", "Read the account's audit log",
		`The audit log records every call that changed or tried to change
something, and every call a policy refused: when, who (user and access
key), from where, what on which resource, and the result. It is the root
user's to read.`,
		"  rayfleet audit list --user alice --result Forbidden.RAM")
	var user, action, result, since, until string
	var limit int
	list := &cobra.Command{
		Use: "list", Short: "List audit events, newest first", Args: exactArgs(),
		Example: "  rayfleet audit list\n  rayfleet audit list --since 2026-01-02T00:00:00Z --action emr-serverless-spark:DeleteRayCluster",
		RunE: a.wrap(func(cmd *cobra.Command, _ []string) error {
			c, _, err := a.client()
			if err != nil {
				return err
			}
			q := url.Values{"maxResults": {strconv.Itoa(limit)}}
			setIf(q, "userName", user)
			setIf(q, "action", action)
			setIf(q, "result", result)
			for _, tf := range []struct{ name, flag, v string }{{"startTime", "--since", since}, {"endTime", "--until", until}} {
				if tf.v == "" {
					continue
				}
				t, err := time.Parse(time.RFC3339, tf.v)
				if err != nil {
					if d, derr := time.ParseDuration(tf.v); derr == nil {
						t = time.Now().Add(-d)
					} else {
						return usagef("%s must be an RFC 3339 time (2026-01-02T15:04:05Z) or a duration ago (24h), not %q", tf.flag, tf.v)
					}
				}
				q.Set(tf.name, t.UTC().Format(time.RFC3339))
			}
			var r struct {
				Events []struct {
					EventTime, RequestID, UserName, AccessKeyID, Action, Resource, SourceIP, Result, Message string
				}
				NextToken string
			}
			if err := c.Do(cmd.Context(), "ListAuditEvents", http.MethodGet, "/api/v1/auditEvents", q, nil, &r); err != nil {
				return err
			}
			if a.json() {
				return a.printResponse()
			}
			if len(r.Events) == 0 {
				fmt.Fprintln(a.env.Stdout, "No audit events.")
				return nil
			}
			t := newTable(a.env.Stdout, "TIME", "USER", "ACTION", "RESOURCE", "RESULT", "SOURCE", "REQUEST")
			for _, e := range r.Events {
				t.row(e.EventTime, e.UserName, e.Action, e.Resource, e.Result, e.SourceIP, e.RequestID)
			}
			if err := t.flush(); err != nil {
				return err
			}
			if r.NextToken != "" {
				fmt.Fprintf(a.env.Stderr, "More events are older than these; raise --limit or narrow --since/--until.\n")
			}
			return nil
		}),
	}
	f := list.Flags()
	f.StringVar(&user, "user", "", "only this user's calls")
	f.StringVar(&action, "action", "", "only this action, e.g. emr-serverless-spark:DeleteRayCluster")
	f.StringVar(&result, "result", "", "only this result: OK or an error code such as Forbidden.RAM")
	f.StringVar(&since, "since", "", "only events at or after this time (RFC 3339, or a duration ago such as 24h)")
	f.StringVar(&until, "until", "", "only events before this time")
	f.IntVar(&limit, "limit", 50, "the most events to show (1-1000)")
	cmd.AddCommand(list)
	return cmd
}
