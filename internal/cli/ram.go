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
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rayfleet/rayfleet/api"
	"github.com/rayfleet/rayfleet/api/signer"
)

// The user, key and policy commands speak RAM's admin API (RPC style,
// version 2015-05-01), which the server serves on "/".
const ramVersion = "2015-05-01"

// ram calls one RAM operation with its parameters and decodes the answer
// into out (nil to discard).
func (a *app) ram(ctx context.Context, action string, params url.Values, out any) error {
	c, _, err := a.client()
	if err != nil {
		return err
	}
	u := strings.TrimRight(c.Endpoint, "/")
	if !strings.Contains(u, "://") {
		u = "http://" + u
	}
	u += "/"
	if len(params) > 0 {
		u += "?" + params.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", action, err)
	}
	req.Header.Set("x-acs-action", action)
	req.Header.Set("x-acs-version", ramVersion)
	req.Header.Set("accept", "application/json")
	req.Header.Set("user-agent", c.UserAgent)
	if err := signer.SignACS3(req, nil, c.Credentials, time.Now(), signer.NewNonce()); err != nil {
		return fmt.Errorf("sign %s: %w", action, err)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", action, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s: read response: %w", action, err)
	}
	if resp.StatusCode >= 400 {
		var e api.ErrorResponse
		if json.Unmarshal(data, &e) != nil || e.Code == "" {
			return &api.Error{StatusCode: resp.StatusCode, Code: "HTTP" + strconv.Itoa(resp.StatusCode), Message: strings.TrimSpace(string(data))}
		}
		return &api.Error{StatusCode: resp.StatusCode, RequestID: e.RequestID, Code: e.Code, Message: e.Message}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s: decode response: %w", action, err)
	}
	return nil
}

// RAM's answers, as far as the commands show them.
type ramUser struct {
	UserID, UserName, DisplayName, Comments, CreateDate, UpdateDate string
}

type ramPolicy struct {
	PolicyName, PolicyType, Description, DefaultVersion, CreateDate, UpdateDate, AttachDate string
	AttachmentCount                                                                         int
}

// ramRun runs one RAM call and prints its answer: raw with -o json, else
// through show.
func (a *app) ramRun(cmd *cobra.Command, action string, params url.Values, out any, show func() error) error {
	if err := a.ram(cmd.Context(), action, params, out); err != nil {
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
			var r struct{ User ramUser }
			q := url.Values{"UserName": {args[0]}}
			setIf(q, "DisplayName", display)
			setIf(q, "Comments", comments)
			return a.ramRun(cmd, "CreateUser", q, &r, a.done("Created user %s (%s).", args[0], r.User.UserID))
		}),
	}
	create.Flags().StringVar(&display, "display-name", "", "display name (the creatorName of what the user makes)")
	create.Flags().StringVar(&comments, "comments", "", "a note on the user")
	get := &cobra.Command{
		Use: "get NAME", Short: "Show a RAM user and its policies", Args: exactArgs("NAME"),
		RunE: a.wrap(func(cmd *cobra.Command, args []string) error {
			var r struct{ User ramUser }
			if err := a.ram(cmd.Context(), "GetUser", url.Values{"UserName": {args[0]}}, &r); err != nil {
				return err
			}
			if a.json() {
				return a.printResponse()
			}
			var p struct{ Policies struct{ Policy []ramPolicy } }
			if err := a.ram(cmd.Context(), "ListPoliciesForUser", url.Values{"UserName": {args[0]}}, &p); err != nil {
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
			var all []ramUser
			marker := ""
			for {
				var r struct {
					IsTruncated bool
					Marker      string
					Users       struct{ User []ramUser }
				}
				q := url.Values{"MaxItems": {"1000"}}
				setIf(q, "Marker", marker)
				if err := a.ram(cmd.Context(), "ListUsers", q, &r); err != nil {
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
				return a.printValue(map[string]any{"Users": map[string]any{"User": all}})
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
			q := url.Values{"UserName": {args[0]}}
			f := cmd.Flags()
			if f.Changed("new-name") {
				q.Set("NewUserName", newName)
			}
			if f.Changed("display-name") {
				q.Set("NewDisplayName", display)
			}
			if f.Changed("comments") {
				q.Set("NewComments", comments)
			}
			var r struct{ User ramUser }
			return a.ramRun(cmd, "UpdateUser", q, &r, a.done("Updated user %s.", args[0]))
		}),
	}
	update.Flags().StringVar(&newName, "new-name", "", "the user's new name")
	update.Flags().StringVar(&display, "display-name", "", "the new display name")
	update.Flags().StringVar(&comments, "comments", "", "the new comments")
	del := &cobra.Command{
		Use: "delete NAME", Short: "Delete a user (delete its keys and detach its policies first)", Args: exactArgs("NAME"),
		RunE: a.wrap(func(cmd *cobra.Command, args []string) error {
			return a.ramRun(cmd, "DeleteUser", url.Values{"UserName": {args[0]}}, nil, a.done("Deleted user %s.", args[0]))
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
	params := func(id string) url.Values {
		q := url.Values{}
		setIf(q, "UserName", user)
		setIf(q, "UserAccessKeyId", id)
		return q
	}
	create := userFlag(&cobra.Command{
		Use: "create", Short: "Create an access key and show its secret, once", Args: exactArgs(),
		RunE: a.wrap(func(cmd *cobra.Command, _ []string) error {
			var r struct {
				AccessKey struct{ AccessKeyID, AccessKeySecret, Status, CreateDate string }
			}
			if err := a.ram(cmd.Context(), "CreateAccessKey", params(""), &r); err != nil {
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
			var r struct {
				AccessKeys struct {
					AccessKey []struct{ AccessKeyID, Status, CreateDate string }
				}
			}
			return a.ramRun(cmd, "ListAccessKeys", params(""), &r, func() error {
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
				q := params(args[0])
				q.Set("Status", value)
				return a.ramRun(cmd, "UpdateAccessKey", q, nil, a.done("%s access key %s.", verb, args[0]))
			}),
		})
	}
	del := userFlag(&cobra.Command{
		Use: "delete ACCESS_KEY_ID", Short: "Delete an access key", Args: exactArgs("ACCESS_KEY_ID"),
		RunE: a.wrap(func(cmd *cobra.Command, args []string) error {
			return a.ramRun(cmd, "DeleteAccessKey", params(args[0]), nil, a.done("Deleted access key %s.", args[0]))
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
			q := url.Values{"PolicyName": {args[0]}, "PolicyDocument": {d}}
			setIf(q, "Description", desc)
			return a.ramRun(cmd, "CreatePolicy", q, nil, a.done("Created policy %s.", args[0]))
		}),
	}
	create.Flags().StringVar(&doc, "document", "", "file holding the policy document (- for stdin)")
	create.Flags().StringVar(&desc, "description", "", "what the policy is for")
	get := &cobra.Command{
		Use: "get NAME", Short: "Show a policy and its document", Args: exactArgs("NAME"),
		RunE: a.wrap(func(cmd *cobra.Command, args []string) error {
			var r struct {
				Policy               ramPolicy
				DefaultPolicyVersion struct{ VersionID, PolicyDocument string }
			}
			return a.ramRun(cmd, "GetPolicy", url.Values{"PolicyName": {args[0]}, "PolicyType": {getType}}, &r, func() error {
				p := r.Policy
				fmt.Fprintf(a.env.Stdout, "Name:         %s\nType:         %s\nDescription:  %s\nVersion:      %s\nAttached to:  %d users\nDocument:\n",
					p.PolicyName, p.PolicyType, cell(p.Description), p.DefaultVersion, p.AttachmentCount)
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
			var r struct{ Policies struct{ Policy []ramPolicy } }
			q := url.Values{"MaxItems": {"1000"}}
			setIf(q, "PolicyType", listType)
			return a.ramRun(cmd, "ListPolicies", q, &r, func() error {
				t := newTable(a.env.Stdout, "NAME", "TYPE", "VERSION", "USERS", "DESCRIPTION")
				for _, p := range r.Policies.Policy {
					t.row(p.PolicyName, p.PolicyType, p.DefaultVersion, strconv.Itoa(p.AttachmentCount), trim(p.Description, 60))
				}
				return t.flush()
			})
		}),
	}
	list.Flags().StringVar(&listType, "type", "", "only Custom or only System policies")
	del := &cobra.Command{
		Use: "delete NAME", Short: "Delete a custom policy (detach it first)", Args: exactArgs("NAME"),
		RunE: a.wrap(func(cmd *cobra.Command, args []string) error {
			return a.ramRun(cmd, "DeletePolicy", url.Values{"PolicyName": {args[0]}}, nil, a.done("Deleted policy %s.", args[0]))
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
			q := url.Values{"PolicyName": {args[0]}, "PolicyDocument": {d}, "SetAsDefault": {strconv.FormatBool(setDefault)}}
			setIf(q, "RotateStrategy", rotate)
			var r struct{ PolicyVersion struct{ VersionID string } }
			if err := a.ram(cmd.Context(), "CreatePolicyVersion", q, &r); err != nil {
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
	attach := func(use, action, verb string) *cobra.Command {
		c := &cobra.Command{
			Use: use + " NAME --user USER", Short: verb + " a policy to or from a user", Args: exactArgs("NAME"),
			RunE: a.wrap(func(cmd *cobra.Command, args []string) error {
				if user == "" {
					return usagef("--user is required")
				}
				q := url.Values{"PolicyName": {args[0]}, "PolicyType": {attachType}, "UserName": {user}}
				return a.ramRun(cmd, action, q, nil, a.done("%s policy %s for user %s.", verb, args[0], user))
			}),
		}
		c.Flags().StringVar(&user, "user", "", "the user")
		c.Flags().StringVar(&attachType, "type", "Custom", "Custom or System")
		return c
	}
	cmd.AddCommand(create, get, list, del, version,
		attach("attach", "AttachPolicyToUser", "Attached"), attach("detach", "DetachPolicyFromUser", "Detached"))
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
