package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rayfleet/rayfleet/api"
	"github.com/rayfleet/rayfleet/internal/rayjob"
)

func (a *app) jobCommand() *cobra.Command {
	cmd := group("job", "Submit, follow, list and cancel Ray jobs",
		`Ray jobs of a workspace. A job runs on an existing cluster (--cluster) or on
a cluster of its own, made for it from the head and worker flags and deleted
after it ends. "job submit -- ENTRYPOINT" reads like "ray job submit".`,
		`  rayfleet job submit --cluster dev --working-dir . --wait -- python script.py
  rayfleet job list
  rayfleet job logs rj-k7nm8ahl5te4tg91 --follow`)
	cmd.AddCommand(a.jobSubmit(), a.jobGet(), a.jobList(), a.jobCancel(), a.jobLogs())
	return cmd
}

// jobEndedError is a job that ended otherwise than the command wanted:
// exit 5.
type jobEndedError struct{ id, status, want string }

func (e *jobEndedError) Error() string {
	return fmt.Sprintf("job %s ended %s, not %s; its driver log: rayfleet job logs %s", e.id, e.status, e.want, e.id)
}

// gatewayError is a failure talking to a cluster through the gateway, not
// to the rayfleet server: describe must not blame the server's address.
type gatewayError struct{ err error }

func (e *gatewayError) Error() string { return e.err.Error() }
func (e *gatewayError) Unwrap() error { return e.err }

func jobEnded(status string) bool {
	switch status {
	case "Succeeded", "Failed", "Cancelled", "Timeout":
		return true
	}
	return false
}

type submitFlags struct {
	cluster, name, workingDir, runtimeEnv, metadata string
	numCPUs, numGPUs, memory, resources             string
	release, network                                string
	deadline, ttl                                   time.Duration
	noShutdown                                      bool
	nodes                                           specFlags
}

func (a *app) jobSubmit() *cobra.Command {
	var f submitFlags
	var w waitFlags
	cmd := &cobra.Command{
		Use:   "submit [flags] -- ENTRYPOINT...",
		Short: "Submit a Ray job to a cluster, or to a cluster of its own",
		Long: `Submit a Ray job. The entrypoint comes after "--", as with "ray job submit":
several words are joined into one shell command, each quoted where the shell
would split or expand it; a single word is taken as a whole command line.

With --cluster NAME|ID the job runs on that cluster, which must be starting
or running. Without it the job gets a cluster of its own, sized by the same
head and worker flags as "cluster create"; it is deleted when the job ends
(after --ttl-after-finished), or kept with --no-shutdown.

--working-dir is a local directory or a URI (gcs://..., https://.../code.zip).
A local directory is uploaded to the cluster's head through the gateway as
"ray job submit --working-dir" does, and the job gets its gcs:// URI; that
needs --cluster, since a job's own cluster does not exist before the job.

--wait follows the job until it ends, showing its status and message on
stderr, and prints how it ended. It exits 0 when the job Succeeded and 5
when it ended Failed, Cancelled or Timeout. With -o json the output is the
SubmitRayJob response, or with --wait the GetRayJob response at the end.`,
		Example: `  rayfleet job submit --cluster dev --working-dir . --wait -- python script.py
  rayfleet job submit --name once --head-cpu 4 --head-memory 16Gi --workers 2 \
      -- python -c "import ray; ray.init(); print(ray.cluster_resources())"
  rayfleet job submit --cluster dev --runtime-env-json '{"pip":["emoji"]}' -o json -- python app.py`,
	}
	fl := cmd.Flags()
	fl.StringVar(&f.cluster, "cluster", "", "run on this existing cluster (name or id); without it the job gets a cluster of its own")
	fl.StringVar(&f.name, "name", "", "job name")
	fl.StringVar(&f.workingDir, "working-dir", "", "the job's working directory: a local directory (uploaded; needs --cluster) or a URI")
	fl.StringVar(&f.runtimeEnv, "runtime-env-json", "", `Ray runtime env as JSON, e.g. '{"env_vars":{"K":"V"},"pip":["emoji"]}'`)
	fl.StringVar(&f.metadata, "metadata-json", "", `job metadata as a JSON object of strings`)
	fl.StringVar(&f.numCPUs, "entrypoint-num-cpus", "", "CPUs the driver reserves, e.g. 0.5")
	fl.StringVar(&f.numGPUs, "entrypoint-num-gpus", "", "GPUs the driver reserves")
	fl.StringVar(&f.memory, "entrypoint-memory", "", "memory the driver reserves, e.g. 4Gi or bytes")
	fl.StringVar(&f.resources, "entrypoint-resources", "", `custom resources the driver reserves, JSON, e.g. '{"accel":1}'`)
	fl.StringVar(&f.release, "release-version", "", `engine version of the job's own cluster (default the server's)`)
	fl.StringVar(&f.network, "network-service", "", "network service name")
	fl.DurationVar(&f.deadline, "active-deadline", 0, "stop the job this long after submission (status Timeout), e.g. 2h")
	fl.DurationVar(&f.ttl, "ttl-after-finished", 0, "delete the job's own cluster this long after the job ends")
	fl.BoolVar(&f.noShutdown, "no-shutdown", false, "keep the job's own cluster after the job ends")
	f.nodes.addNodes(cmd)
	w.addWith(cmd, "follow the job until it ends, showing progress; exit 5 unless it Succeeded", 0)
	cmd.RunE = a.wrap(func(cmd *cobra.Command, args []string) error {
		entrypoint, err := entrypointOf(cmd, args)
		if err != nil {
			return err
		}
		req, err := f.request(cmd.Flags().Changed, entrypoint)
		if err != nil {
			return err
		}
		c, ws, err := a.clientWS()
		if err != nil {
			return err
		}
		if f.cluster != "" {
			if req.ClusterID, err = resolveCluster(cmd.Context(), c, ws, f.cluster); err != nil {
				return err
			}
		}
		if dir := localDir(req.WorkingDir); dir != "" {
			if req.WorkingDir, err = a.uploadWorkingDir(cmd.Context(), c, ws, req.ClusterID, dir, f.runtimeEnv); err != nil {
				return err
			}
		}
		resp, err := c.SubmitJob(cmd.Context(), ws, req)
		if err != nil {
			return err
		}
		switch {
		case !w.wait && a.json():
			return a.printResponse()
		case !w.wait:
			fmt.Fprintf(a.env.Stdout, "Submitted job %s. Follow it with: rayfleet job get %s, or rayfleet job logs %s --follow\n",
				resp.SubmissionID, resp.SubmissionID, resp.SubmissionID)
			return nil
		case !a.json():
			fmt.Fprintf(a.env.Stdout, "Submitted job %s.\n", resp.SubmissionID)
		}
		return a.waitJob(cmd.Context(), c, ws, resp.SubmissionID, w, "Succeeded")
	})
	return cmd
}

// request builds the SubmitRayJob body from the flags, refusing flags that
// do not go together.
func (f *submitFlags) request(changed func(string) bool, entrypoint string) (*api.SubmitJobRequest, error) {
	deadline, err := seconds("--active-deadline", f.deadline)
	if err != nil {
		return nil, err
	}
	ttl, err := seconds("--ttl-after-finished", f.ttl)
	if err != nil {
		return nil, err
	}
	req := &api.SubmitJobRequest{
		Name: f.name, Entrypoint: entrypoint, RuntimeEnvJSON: f.runtimeEnv, MetadataJSON: f.metadata,
		WorkingDir: f.workingDir, DisplayReleaseVersion: f.release, NetworkServiceName: f.network,
		EntrypointNumCPUs: f.numCPUs, EntrypointNumGPUs: f.numGPUs, EntrypointMemory: f.memory,
		EntrypointResources: f.resources, ActiveDeadlineSeconds: deadline, TTLSecondsAfterFinished: ttl,
	}
	// Ray's job CLI uploads a local working_dir of the runtime env too.
	if req.WorkingDir == "" && f.runtimeEnv != "" {
		var env struct {
			WorkingDir string `json:"working_dir"`
		}
		if json.Unmarshal([]byte(f.runtimeEnv), &env) == nil && localDir(env.WorkingDir) != "" {
			req.WorkingDir = env.WorkingDir
		}
	}
	if f.cluster != "" {
		var own []string
		for _, n := range append(append([]string{"release-version", "no-shutdown", "ttl-after-finished"}, headFlagNames...), workerFlagNames...) {
			if changed(n) {
				own = append(own, "--"+n)
			}
		}
		if len(own) > 0 {
			return nil, usagef("%s describe a cluster of the job's own, and --cluster runs the job on an existing one: give one or the other",
				strings.Join(own, ", "))
		}
		return req, nil
	}
	if localDir(req.WorkingDir) != "" {
		return nil, usagef("--working-dir %s is a local directory, which is uploaded to the head of the job's cluster; "+
			"a job's own cluster does not exist before the job is submitted. Give a URI (gcs://..., https://.../code.zip), "+
			"or run the job on an existing cluster with --cluster", req.WorkingDir)
	}
	head, workers, err := f.nodes.jobNodes(changed)
	if err != nil {
		return nil, err
	}
	req.HeadSpec, req.WorkerSpec = head, workers
	if f.noShutdown {
		req.ShutdownAfterJobFinishes = new(bool)
	}
	return req, nil
}

// seconds turns a duration flag into the API's whole seconds.
func seconds(flag string, d time.Duration) (int32, error) {
	if d < 0 || d > math.MaxInt32*time.Second || d > 0 && d < time.Second {
		return 0, usagef("%s must be between 1s and %d seconds, not %s", flag, math.MaxInt32, d)
	}
	return int32(d / time.Second), nil
}

// jobNodes builds the head and the worker group of a job's own cluster from
// the flags cluster create takes, with the same defaults.
func (f *specFlags) jobNodes(changed func(string) bool) (*api.JobHeadSpec, []api.JobWorkerSpec, error) {
	req := &api.ClusterRequest{HeadSpec: f.newHead(), WorkerSpec: &[]api.WorkerSpec{}}
	if anyChanged(changed, workerFlagNames...) {
		if err := f.applyWorkers(changed, req, f.autoscale, nil); err != nil {
			return nil, nil, err
		}
	}
	h := req.HeadSpec
	head := &api.JobHeadSpec{
		CPU: h.CPU, Memory: h.Memory, QueueName: h.QueueName,
		EnableAutoScaling: h.EnableAutoScaling, IdleTimeoutSeconds: h.IdleTimeoutSeconds,
	}
	var workers []api.JobWorkerSpec
	for _, g := range *req.WorkerSpec {
		workers = append(workers, api.JobWorkerSpec{
			CPU: g.CPU, Memory: g.Memory, QueueName: g.QueueName, GroupName: g.GroupName, WorkerType: g.WorkerType,
			Replica: g.Replica, MinReplica: g.MinReplica, MaxReplica: g.MaxReplica,
		})
	}
	return head, workers, nil
}

// entrypointOf is the job's command: the arguments after "--" (or all of
// them), one shell command line.
func entrypointOf(cmd *cobra.Command, args []string) (string, error) {
	if at := cmd.ArgsLenAtDash(); at > 0 {
		return "", usagef("%s: unexpected argument %q before \"--\" (see %q)", cmd.CommandPath(), args[0], cmd.CommandPath()+" --help")
	}
	switch len(args) {
	case 0:
		return "", usagef("%s: give the entrypoint after \"--\", e.g. rayfleet job submit --cluster dev -- python script.py", cmd.CommandPath())
	case 1:
		return args[0], nil
	}
	words := make([]string, len(args))
	for i, s := range args {
		words[i] = s
		if s == "" || strings.ContainsAny(s, " \t\n'\"\\$`&|;<>()*?[]#~!{}") {
			words[i] = shellQuote(s)
		}
	}
	return strings.Join(words, " "), nil
}

// localDir is path when it names a local directory rather than a URI.
func localDir(path string) string {
	if path == "" || strings.Contains(path, "://") {
		return ""
	}
	return path
}

// headClient is a client of the cluster's job API through the gateway,
// with its submit token, as Ray's job CLI reaches it.
func headClient(cl *api.Cluster, timeout time.Duration) *rayjob.Client {
	return &rayjob.Client{
		Address: cl.JobURL,
		Header:  http.Header{"ray-token": {cl.SubmitToken}},
		HTTP:    &http.Client{Timeout: timeout},
	}
}

// uploadWorkingDir sends a local directory to the cluster's head, the
// runtime env's excludes left out, and returns its gcs:// URI.
func (a *app) uploadWorkingDir(ctx context.Context, c *api.Client, ws, clusterID, dir, runtimeEnv string) (string, error) {
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return "", usagef("--working-dir %s is neither a local directory nor a URI (gcs://..., https://.../code.zip)", dir)
	}
	var env struct {
		Excludes []string `json:"excludes"`
	}
	if runtimeEnv != "" {
		if err := json.Unmarshal([]byte(runtimeEnv), &env); err != nil {
			return "", usagef("--runtime-env-json: %v", err)
		}
	}
	cl, err := c.GetCluster(ctx, ws, clusterID)
	if err != nil {
		return "", err
	}
	if cl.JobURL == "" || cl.SubmitToken == "" {
		return "", fmt.Errorf("cluster %s is %s: a local --working-dir is uploaded to its head, which answers only while it runs; "+
			"start it with `rayfleet cluster start %s --wait`, or give a URI", cl.ClusterID, cl.State, cl.ClusterID)
	}
	uri, err := headClient(cl, 10*time.Minute).UploadWorkingDir(ctx, rayjob.WorkingDir{Path: dir, Excludes: env.Excludes})
	if err != nil {
		return "", &gatewayError{fmt.Errorf("upload --working-dir %s to cluster %s: %w", dir, cl.ClusterID, err)}
	}
	return uri, nil
}

// waitJob follows a job until it ends, and wants it to end in want.
func (a *app) waitJob(ctx context.Context, c *api.Client, ws, id string, w waitFlags, want string) error {
	var j *api.Job
	err := a.follow(ctx, id, w, func(ctx context.Context) (string, bool, error) {
		var err error
		if j, err = c.GetJob(ctx, ws, id); err != nil {
			return "", false, err
		}
		return jobLine(j), jobEnded(j.Status), nil
	})
	if err != nil {
		return err
	}
	if a.json() {
		if err := a.printResponse(); err != nil {
			return err
		}
	} else {
		line := fmt.Sprintf("Job %s %s", id, j.Status)
		if j.Message != "" {
			line += ": " + j.Message
		}
		fmt.Fprintln(a.env.Stdout, printable(line))
	}
	if j.Status != want {
		return &jobEndedError{id: id, status: j.Status, want: want}
	}
	return nil
}

// jobLine is one line on where a job is: status, its cluster's, message.
func jobLine(j *api.Job) string {
	line := j.SubmissionID + " " + j.Status
	if j.ClusterState != "" && !jobEnded(j.Status) {
		line += " (cluster " + j.ClusterState + ")"
	}
	if j.Message != "" {
		line += ": " + j.Message
	}
	return line
}

func (a *app) jobGet() *cobra.Command {
	return &cobra.Command{
		Use:   "get ID",
		Short: "Show a job: status, message, entrypoint, cluster and times",
		Example: `  rayfleet job get rj-k7nm8ahl5te4tg91
  rayfleet job get rj-k7nm8ahl5te4tg91 -o json | jq -r .status`,
		Args: exactArgs("ID"),
		RunE: a.wrap(func(cmd *cobra.Command, args []string) error {
			c, ws, err := a.clientWS()
			if err != nil {
				return err
			}
			j, err := c.GetJob(cmd.Context(), ws, args[0])
			if err != nil {
				return err
			}
			if a.json() {
				return a.printResponse()
			}
			return a.printJob(j)
		}),
	}
}

func (a *app) printJob(j *api.Job) error {
	t := newTable(a.env.Stdout)
	t.row("ID:", j.SubmissionID)
	t.row("Name:", j.Name)
	t.row("Status:", j.Status)
	t.row("Message:", j.Message)
	t.row("Entrypoint:", j.Entrypoint)
	t.row("Cluster:", first(j.ClusterID, "-")+" ("+first(j.ClusterState, "-")+")")
	if j.WorkingDir != "" {
		t.row("Working dir:", j.WorkingDir)
	}
	if j.RuntimeEnvJSON != "" {
		t.row("Runtime env:", j.RuntimeEnvJSON)
	}
	if j.MetadataJSON != "" {
		t.row("Metadata:", j.MetadataJSON)
	}
	if s := driverNeeds(j); s != "" {
		t.row("Driver reserves:", s)
	}
	if j.ActiveDeadlineSeconds > 0 {
		t.row("Deadline:", (time.Duration(j.ActiveDeadlineSeconds)*time.Second).String()+" after submission")
	}
	// A job's own cluster has the id of the job's (see docs/api.md).
	if j.ClusterID == "ray-"+strings.TrimPrefix(j.SubmissionID, "rj-") {
		fate := "kept after the job ends (delete it with: rayfleet cluster delete " + j.ClusterID + ")"
		if j.ShutdownAfterJobFinishes {
			fate = fmt.Sprintf("deleted %s after the job ends", time.Duration(j.TTLSecondsAfterFinished)*time.Second)
		}
		t.row("Own cluster:", fate)
	}
	t.row("Submitted:", a.when(j.SubmitTime))
	t.row("Started:", a.when(j.StartTime))
	t.row("Ended:", a.when(j.EndTime))
	t.row("Duration:", duration(j.Duration))
	t.row("CU hours:", strconv.FormatFloat(j.CUHours, 'f', 4, 64))
	t.row("Dashboard:", j.DashboardURL)
	t.row("Logs stored at:", j.LogBucketName+"/"+j.LogPath)
	t.row("Creator:", j.CreatorName)
	return t.flush()
}

func driverNeeds(j *api.Job) string {
	var parts []string
	for _, p := range []struct{ v, unit string }{
		{j.EntrypointNumCPUs, " cpu"}, {j.EntrypointNumGPUs, " gpu"}, {j.EntrypointMemory, ""}, {j.EntrypointResources, ""},
	} {
		if p.v != "" {
			parts = append(parts, p.v+p.unit)
		}
	}
	return strings.Join(parts, ", ")
}

func duration(secs int64) string {
	if secs <= 0 {
		return "-"
	}
	return (time.Duration(secs) * time.Second).String()
}

func (a *app) jobList() *cobra.Command {
	var o api.ListJobsOptions
	var since, until string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the jobs of the workspace, newest first",
		Example: `  rayfleet job list
  rayfleet job list --name nightly --since 24h
  rayfleet job list -o json | jq -r '.rayJobs[] | .submissionId + " " + .status'`,
		Args: exactArgs(),
	}
	f := cmd.Flags()
	f.StringVar(&o.Name, "name", "", "only jobs of this name")
	f.StringVar(&o.SubmissionID, "submission-id", "", "only the job of this id")
	f.StringVar(&since, "since", "", "only jobs submitted at or after this time (RFC 3339, or a duration ago such as 24h)")
	f.StringVar(&until, "until", "", "only jobs submitted before this time")
	f.Int32Var(&o.PageNum, "page", 0, "page number, from 1 (default 1)")
	f.Int32Var(&o.PageSize, "page-size", 0, "jobs per page (default the server's)")
	cmd.RunE = a.wrap(func(cmd *cobra.Command, _ []string) error {
		if o.PageNum < 0 || o.PageSize < 0 {
			return usagef("--page and --page-size must be positive")
		}
		var r api.TimeRange
		for _, b := range []struct {
			flag, v string
			dst     **int64
		}{{"--since", since, &r.StartTime}, {"--until", until, &r.EndTime}} {
			if b.v == "" {
				continue
			}
			t, err := parseWhen(b.flag, b.v, a.now())
			if err != nil {
				return err
			}
			ms := t.UnixMilli()
			*b.dst = &ms
		}
		if r.StartTime != nil || r.EndTime != nil {
			o.SubmitTime = &r
		}
		c, ws, err := a.clientWS()
		if err != nil {
			return err
		}
		resp, err := c.ListJobs(cmd.Context(), ws, o)
		if err != nil {
			return err
		}
		if a.json() {
			return a.printResponse()
		}
		if len(resp.RayJobs) == 0 {
			fmt.Fprintf(a.env.Stdout, "No jobs in workspace %s.\n", ws)
			return nil
		}
		t := newTable(a.env.Stdout, "ID", "NAME", "STATUS", "CLUSTER", "QUEUE", "SUBMITTED", "DURATION", "CREATOR")
		for _, j := range resp.RayJobs {
			t.row(j.SubmissionID, j.Name, j.Status, j.ClusterState, j.ResourceQueue, a.when(j.SubmitTime), duration(j.Duration), j.CreatorName)
		}
		if err := t.flush(); err != nil {
			return err
		}
		page, size := max(int(resp.PageNum), 1), max(int(resp.PageSize), len(resp.RayJobs))
		if shown := (page-1)*size + len(resp.RayJobs); int(resp.TotalCount) > shown {
			fmt.Fprintf(a.env.Stderr, "Showing %d of %d jobs; see more with --page %d.\n", len(resp.RayJobs), resp.TotalCount, page+1)
		}
		return nil
	})
	return cmd
}

func (a *app) jobCancel() *cobra.Command {
	var w waitFlags
	cmd := &cobra.Command{
		Use:     "cancel ID",
		Short:   "Cancel a job: Ray stops it, and it ends Cancelled",
		Example: `  rayfleet job cancel rj-k7nm8ahl5te4tg91 --wait`,
		Args:    exactArgs("ID"),
	}
	w.addWith(cmd, "follow the job until it is Cancelled; exit 5 if it ends otherwise", 5*time.Minute)
	cmd.RunE = a.wrap(func(cmd *cobra.Command, args []string) error {
		c, ws, err := a.clientWS()
		if err != nil {
			return err
		}
		if _, err := c.CancelJob(cmd.Context(), ws, args[0]); err != nil {
			return err
		}
		switch {
		case w.wait:
			return a.waitJob(cmd.Context(), c, ws, args[0], w, "Cancelled")
		case a.json():
			return a.printResponse()
		}
		fmt.Fprintf(a.env.Stdout, "Cancelling job %s. Follow it with: rayfleet job get %s\n", args[0], args[0])
		return nil
	})
	return cmd
}

func (a *app) jobLogs() *cobra.Command {
	var follow bool
	var w waitFlags
	cmd := &cobra.Command{
		Use:   "logs ID",
		Short: "Print a job's driver log, or follow it with --follow",
		Long: `Print the driver log of a job, read from its cluster's head through the
gateway as "ray job logs" does. --follow prints the log as it grows until
the job ends, waiting first for a job that has not reached Ray yet.

The head has the log only while the job's cluster runs. Once the cluster is
gone the job's logs are in the log store (see "Logs stored at" in
"rayfleet job get"), read with the ListRayLogs and GetRayLog operations;
this command does not read them yet. With -o json the output is
{"submissionId": ..., "logs": ...}.`,
		Example: `  rayfleet job logs rj-k7nm8ahl5te4tg91
  rayfleet job logs rj-k7nm8ahl5te4tg91 --follow`,
		Args: exactArgs("ID"),
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "print the log as it grows, until the job ends")
	cmd.Flags().DurationVar(&w.interval, "wait-interval", time.Second, "how often to look while the job has not reached Ray")
	cmd.RunE = a.wrap(func(cmd *cobra.Command, args []string) error {
		if follow && a.json() {
			return usagef("--follow prints the log as text as it comes; leave out -o json")
		}
		c, ws, err := a.clientWS()
		if err != nil {
			return err
		}
		id := args[0]
		if !follow {
			j, err := c.GetJob(cmd.Context(), ws, id)
			if err != nil {
				return err
			}
			hc, err := a.jobHead(cmd.Context(), c, ws, j)
			if err != nil {
				return err
			}
			logs, err := hc.Logs(cmd.Context(), id)
			if err != nil {
				return a.logsError(j, err)
			}
			if a.json() {
				return a.printValue(map[string]string{"submissionId": id, "logs": logs})
			}
			_, err = fmt.Fprint(a.env.Stdout, logs)
			return err
		}
		// Until Ray has the job there is nothing to tail: follow its status
		// on stderr meanwhile.
		var hc *rayjob.Client
		var j *api.Job
		err = a.follow(cmd.Context(), id, w, func(ctx context.Context) (string, bool, error) {
			var err error
			if j, err = c.GetJob(ctx, ws, id); err != nil {
				return "", false, err
			}
			waiting := "waiting for the job to reach Ray: " + jobLine(j)
			if hc, err = a.jobHead(ctx, c, ws, j); err != nil {
				var nf *notFoundError
				if errors.As(err, &nf) && !jobEnded(j.Status) {
					return waiting, false, nil
				}
				return jobLine(j), true, err
			}
			switch _, err := hc.Job(ctx, id); {
			case err == nil:
				return jobLine(j), true, nil
			case errors.Is(err, rayjob.ErrNotFound) && !jobEnded(j.Status):
				return waiting, false, nil
			}
			return jobLine(j), true, a.logsError(j, err)
		})
		if err != nil {
			return err
		}
		if err := hc.Tail(cmd.Context(), id, a.env.Stdout); err != nil {
			return a.logsError(j, err)
		}
		return nil
	})
	return cmd
}

// jobHead is a client of the head of the job's cluster, or says why that
// head cannot be asked.
func (a *app) jobHead(ctx context.Context, c *api.Client, ws string, j *api.Job) (*rayjob.Client, error) {
	var cl *api.Cluster
	if j.ClusterID != "" {
		var err error
		cl, err = c.GetCluster(ctx, ws, j.ClusterID)
		var ae *api.Error
		if err != nil && !(errors.As(err, &ae) && apiExitCode(ae) == exitNotFound) {
			return nil, err
		}
	}
	if cl == nil || cl.JobURL == "" || cl.SubmitToken == "" {
		return nil, storedLogs(j)
	}
	return headClient(cl, 2*time.Minute), nil
}

// logsError explains a failure to read a job's log from its head.
func (a *app) logsError(j *api.Job, err error) error {
	if !errors.Is(err, rayjob.ErrNotFound) {
		return &gatewayError{fmt.Errorf("read the log of job %s from cluster %s: %w", j.SubmissionID, j.ClusterID, err)}
	}
	if !jobEnded(j.Status) && j.StartTime == 0 {
		return &notFoundError{msg: fmt.Sprintf("job %s has not reached Ray yet (%s); follow it with: rayfleet job logs %s --follow",
			j.SubmissionID, jobLine(j), j.SubmissionID)}
	}
	// The cluster runs, but another instance than the job's.
	return storedLogs(j)
}

// storedLogs says where the log of a job whose head is gone is kept.
func storedLogs(j *api.Job) error {
	return &notFoundError{msg: fmt.Sprintf("the cluster %s of job %s no longer runs the job (cluster %s), so its head has no log to give; "+
		"the job's logs are kept in the log store at %s/%s, read with the ListRayLogs and GetRayLog operations (not yet by this command)",
		first(j.ClusterID, "-"), j.SubmissionID, first(j.ClusterState, "-"), j.LogBucketName, j.LogPath)}
}

// parseWhen reads a time flag: RFC 3339, or a duration before now.
func parseWhen(flag, v string, now time.Time) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, v)
	if err == nil {
		return t, nil
	}
	if d, derr := time.ParseDuration(v); derr == nil {
		return now.Add(-d), nil
	}
	return time.Time{}, usagef("%s must be an RFC 3339 time (2026-01-02T15:04:05Z) or a duration ago (24h), not %q", flag, v)
}
