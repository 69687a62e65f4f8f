package cli

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/spf13/cobra"
)

func setIf(v url.Values, key, val string) {
	if val != "" {
		v.Set(key, val)
	}
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
				t, err := parseWhen(tf.flag, tf.v, time.Now())
				if err != nil {
					return err
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
