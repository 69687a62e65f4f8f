package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/rayfleet/rayfleet/api"
)

func (a *app) logsCommand() *cobra.Command {
	cmd := group("logs", "Read the logs of a Ray job",
		`A job's logs are kept after its cluster is gone: its driver's log and the
Ray logs of its cluster's nodes, under the job's log path
(<workspace>/ray/logs/<submissionId>_default/). "list" shows them as
directories and files; "get" prints one.`,
		"  rayfleet logs list rj-k7nm8ahl5te4tg91\n  rayfleet logs get rj-k7nm8ahl5te4tg91 w-26ca1703f6d71e6e/ray/logs/rj-k7nm8ahl5te4tg91_default/driver/rj-k7nm8ahl5te4tg91_driver.log")
	cmd.AddCommand(a.logsList(), a.logsGet())
	return cmd
}

func (a *app) logsList() *cobra.Command {
	var o api.ListLogsOptions
	var all bool
	cmd := &cobra.Command{
		Use:   "list SUBMISSION_ID",
		Short: "List a job's log files",
		Long: `Lists the files under the job's log path, or under --prefix, one level at
a time (a directory ends in "/"); --all lists every file below. Long
listings come in pages of --max-keys: the last line says how to ask for
the next.`,
		Example: "  rayfleet logs list rj-k7nm8ahl5te4tg91\n  rayfleet logs list rj-k7nm8ahl5te4tg91 --all -o json",
		Args:    exactArgs("SUBMISSION_ID"),
		RunE: a.wrap(func(cmd *cobra.Command, args []string) error {
			c, ws, err := a.clientWS()
			if err != nil {
				return err
			}
			if !all {
				o.Delimiter = "/"
			}
			resp, err := c.ListLogs(cmd.Context(), ws, args[0], o)
			if err != nil {
				return err
			}
			if a.json() {
				return a.printResponse()
			}
			if len(resp.Data.ObjectList) == 0 {
				fmt.Fprintln(a.env.Stdout, "No log files under "+resp.Data.Prefix)
				return nil
			}
			t := newTable(a.env.Stdout, "PATH", "SIZE", "MODIFIED")
			for _, e := range resp.Data.ObjectList {
				size, mod := strconv.FormatInt(e.Size, 10), ""
				if e.IsDir {
					size = "-"
				} else if e.TimeModified > 0 {
					mod = time.UnixMilli(e.TimeModified).UTC().Format(time.RFC3339)
				}
				t.row(e.Path, size, mod)
			}
			if err := t.flush(); err != nil {
				return err
			}
			if resp.Data.IsTruncated {
				fmt.Fprintf(a.env.Stdout, "More follow: add --marker %s\n", resp.Data.NextMarker)
			}
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVar(&o.Prefix, "prefix", "", "list under this path (default: the job's log path)")
	f.StringVar(&o.Marker, "marker", "", "list what comes after this path (a previous page's last)")
	f.Int64Var(&o.MaxKeys, "max-keys", 0, "entries a page, 1 to 999 (default 100)")
	f.BoolVar(&all, "all", false, "every file below, not one level")
	return cmd
}

func (a *app) logsGet() *cobra.Command {
	var urlOnly bool
	cmd := &cobra.Command{
		Use:   "get SUBMISSION_ID PATH",
		Short: "Print one of a job's log files",
		Long: `Prints a log file, a PATH of "rayfleet logs list". With --url it prints
the file's signed URL instead, which opens it for a while (15 minutes by
default) to anyone who has it, with no other credential.`,
		Example: "  rayfleet logs get rj-k7nm8ahl5te4tg91 w-26ca1703f6d71e6e/ray/logs/rj-k7nm8ahl5te4tg91_default/driver/rj-k7nm8ahl5te4tg91_driver.log",
		Args:    exactArgs("SUBMISSION_ID", "PATH"),
		RunE: a.wrap(func(cmd *cobra.Command, args []string) error {
			c, ws, err := a.clientWS()
			if err != nil {
				return err
			}
			resp, err := c.GetLog(cmd.Context(), ws, args[0], api.GetLogOptions{Path: args[1]})
			if err != nil {
				return err
			}
			if a.json() {
				return a.printResponse()
			}
			if urlOnly {
				fmt.Fprintln(a.env.Stdout, resp.Data.AccessURL)
				return nil
			}
			req, err := http.NewRequestWithContext(cmd.Context(), http.MethodGet, resp.Data.AccessURL, nil)
			if err != nil {
				return err
			}
			r, err := (&http.Client{Timeout: 10 * time.Minute}).Do(req)
			if err != nil {
				return err
			}
			defer r.Body.Close()
			if r.StatusCode != http.StatusOK {
				var e api.ErrorResponse
				b, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
				if json.Unmarshal(b, &e) != nil || e.Code == "" {
					return fmt.Errorf("download %s: HTTP %d", args[1], r.StatusCode)
				}
				return &api.Error{StatusCode: r.StatusCode, RequestID: e.RequestID, Code: e.Code, Message: e.Message}
			}
			_, err = io.Copy(a.env.Stdout, r.Body)
			return err
		}),
	}
	cmd.Flags().BoolVar(&urlOnly, "url", false, "print the file's signed URL, not the file")
	return cmd
}
