package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rayfleet/rayfleet/api"
)

func (a *app) clusterCommand() *cobra.Command {
	cmd := group("cluster", "Create, list, start, stop and delete Ray clusters",
		`Ray clusters of a workspace. The workspace comes from -w, $RAYFLEET_WORKSPACE
or the profile. A new cluster starts at once (state Starting, then Running).`,
		`  rayfleet cluster create --name dev --workers 2 --worker-cpu 4 --worker-memory 16Gi
  rayfleet cluster list --state Running
  rayfleet cluster get ray-k7nm8ahl5te4tg91
  rayfleet cluster stop ray-k7nm8ahl5te4tg91`)
	cmd.AddCommand(a.clusterList(), a.clusterGet(), a.clusterEnv(), a.clusterCreate(), a.clusterUpdate(),
		a.clusterStart(), a.clusterStop(), a.clusterDelete())
	return cmd
}

func (a *app) clusterList() *cobra.Command {
	var o api.ListClustersOptions
	var all bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the clusters of the workspace, newest first",
		Long: `List the clusters of the workspace, newest first, one page at a time
(--page, --page-size) or all of them (--all). With --all -o json the output is
one object: the first page's requestId, every cluster, and totalCount.`,
		Example: `  rayfleet cluster list
  rayfleet cluster list --state Running --queue root_queue
  rayfleet cluster list --all -o json`,
		Args: exactArgs(),
	}
	f := cmd.Flags()
	f.StringVar(&o.State, "state", "", "only clusters in this state (Starting, Running, Stopping, Stopped, Error)")
	f.StringVar(&o.Name, "name", "", "only clusters whose name contains this")
	f.StringVar(&o.Creator, "creator", "", "only clusters created by this user id")
	f.StringVar(&o.QueueName, "queue", "", "only clusters using this queue")
	f.IntVar(&o.PageNum, "page", 0, "page number, from 1 (default 1)")
	f.IntVar(&o.PageSize, "page-size", 0, "clusters per page, 1-100 (default the server's, 20)")
	f.BoolVar(&all, "all", false, "list every page")
	cmd.RunE = a.wrap(func(cmd *cobra.Command, _ []string) error {
		if all && cmd.Flags().Changed("page") {
			return usagef("--all lists every page; leave out --page")
		}
		if o.PageNum < 0 || o.PageSize < 0 {
			return usagef("--page and --page-size must be positive")
		}
		c, ws, err := a.clientWS()
		if err != nil {
			return err
		}
		if all {
			return a.clusterListAll(cmd, c, ws, o)
		}
		resp, err := c.ListClusters(cmd.Context(), ws, o)
		if err != nil {
			return err
		}
		if a.json() {
			return a.printResponse()
		}
		if err := a.clusterTable(resp.RayClusters, ws); err != nil {
			return err
		}
		// TotalCount is a rayfleet extension; a server without it gives 0 and
		// no hint.
		page, size := max(resp.PageNum, 1), max(resp.PageSize, len(resp.RayClusters))
		if shown := (page-1)*size + len(resp.RayClusters); resp.TotalCount > shown {
			fmt.Fprintf(a.env.Stderr, "Showing %d of %d clusters; see more with --page %d, or --all.\n",
				len(resp.RayClusters), resp.TotalCount, page+1)
		}
		return nil
	})
	return cmd
}

// maxPages bounds --all against a server that never reports a last page.
const maxPages = 10000

func (a *app) clusterListAll(cmd *cobra.Command, c *api.Client, ws string, o api.ListClustersOptions) error {
	o.PageNum = 1
	if o.PageSize == 0 {
		o.PageSize = 100
	}
	var (
		items []api.ClusterSummary
		raws  = []json.RawMessage{}
		reqID string
		seen  = map[string]bool{}
	)
	for range maxPages {
		resp, err := c.ListClusters(cmd.Context(), ws, o)
		if err != nil {
			return err
		}
		if reqID == "" {
			reqID = resp.RequestID
		}
		var page struct {
			RayClusters []json.RawMessage `json:"rayClusters"`
		}
		if a.json() {
			if err := json.Unmarshal(a.rec.body(), &page); err != nil {
				return fmt.Errorf("decode ListRayCluster response: %w", err)
			}
		}
		for i, cl := range resp.RayClusters {
			// A cluster created while paging shifts the pages; skip repeats.
			if seen[cl.ClusterID] {
				continue
			}
			seen[cl.ClusterID] = true
			items = append(items, cl)
			if i < len(page.RayClusters) {
				raws = append(raws, page.RayClusters[i])
			}
		}
		n, size := len(resp.RayClusters), o.PageSize
		if resp.PageSize > 0 {
			size = resp.PageSize
		}
		if n == 0 || n < size || (resp.TotalCount > 0 && o.PageNum*size >= resp.TotalCount) {
			break
		}
		o.PageNum++
	}
	if a.json() {
		return a.printValue(struct {
			RequestID   string            `json:"requestId"`
			RayClusters []json.RawMessage `json:"rayClusters"`
			TotalCount  int               `json:"totalCount"`
		}{reqID, raws, len(raws)})
	}
	return a.clusterTable(items, ws)
}

func (a *app) clusterTable(items []api.ClusterSummary, ws string) error {
	if len(items) == 0 {
		fmt.Fprintf(a.env.Stdout, "No clusters in workspace %s.\n", ws)
		return nil
	}
	t := newTable(a.env.Stdout, "ID", "NAME", "STATE", "RELEASE", "HEAD", "WORKERS", "CREATED", "MESSAGE")
	for _, cl := range items {
		var workers int32
		for _, g := range cl.WorkerSpec {
			workers += g.Replica
		}
		t.row(cl.ClusterID, cl.Name, cl.State, cl.DisplayReleaseVersion,
			nodeSize(cl.HeadSpec.CPU, cl.HeadSpec.Memory, cl.HeadSpec.GPUSpec),
			strconv.Itoa(int(workers)), a.when(cl.CreateTime), trim(cl.Message, 60))
	}
	return t.flush()
}

// nodeSize is a node's resources in one short cell: "2cpu/8Gi".
func nodeSize(cpu, memory, gpu string) string {
	var parts []string
	if cpu != "" {
		parts = append(parts, cpu+"cpu")
	}
	if memory != "" {
		parts = append(parts, memory)
	}
	if gpu != "" {
		parts = append(parts, gpu)
	}
	return strings.Join(parts, "/")
}

func (a *app) clusterGet() *cobra.Command {
	return &cobra.Command{
		Use:   "get ID",
		Short: "Show a cluster: spec, state, endpoints and nodes",
		Example: `  rayfleet cluster get ray-k7nm8ahl5te4tg91
  rayfleet cluster get ray-k7nm8ahl5te4tg91 -o json | jq -r .submitToken`,
		Args: exactArgs("ID"),
		RunE: a.wrap(func(cmd *cobra.Command, args []string) error {
			cl, err := a.getCluster(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if a.json() {
				return a.printResponse()
			}
			return a.printCluster(cl)
		}),
	}
}

// clusterEnv prints the environment Ray's own job CLI reads (its --address
// and --headers, as RAY_API_SERVER_ADDRESS and RAY_JOB_HEADERS), so that
// `ray job submit` reaches the cluster through the gateway unchanged.
func (a *app) clusterEnv() *cobra.Command {
	return &cobra.Command{
		Use:   "env ID",
		Short: "Print shell exports that point Ray's job CLI (ray job submit, logs, list) at a cluster",
		Long: `Print shell exports that point Ray's job CLI at a running cluster through
the gateway: RAY_API_SERVER_ADDRESS (the cluster's jobUrl) and
RAY_JOB_HEADERS (its ray-token). They hold the cluster's token: treat the
output as a secret.`,
		Example: `  eval "$(rayfleet cluster env ray-k7nm8ahl5te4tg91)"
  ray job submit --working-dir . -- python script.py`,
		Args: exactArgs("ID"),
		RunE: a.wrap(func(cmd *cobra.Command, args []string) error {
			cl, err := a.getCluster(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			running := cl.State == "Starting" || cl.State == "Running"
			if cl.JobURL == "" || cl.SubmitToken == "" && !running {
				return fmt.Errorf("cluster %s is %s: it has endpoints only while it runs; start it with `rayfleet cluster start %s --wait`",
					cl.ClusterID, cl.State, cl.ClusterID)
			}
			if cl.SubmitToken == "" {
				return fmt.Errorf("cluster %s gives you no submitToken: your RAM policies do not allow its job API (emr-serverless-spark:UseRayJobAPI) or its Ray client (emr-serverless-spark:ConnectRayClient); ask the account's administrator",
					cl.ClusterID)
			}
			headers, err := json.Marshal(map[string]string{"ray-token": cl.SubmitToken})
			if err != nil {
				return err
			}
			fmt.Fprintf(a.env.Stdout, "export RAY_API_SERVER_ADDRESS=%s\nexport RAY_JOB_HEADERS=%s\n",
				shellQuote(cl.JobURL), shellQuote(string(headers)))
			return nil
		}),
	}
}

// getCluster calls GetRayCluster for a cluster given by id or name.
func (a *app) getCluster(ctx context.Context, arg string) (*api.Cluster, error) {
	c, ws, err := a.clientWS()
	if err != nil {
		return nil, err
	}
	id, err := resolveCluster(ctx, c, ws, arg)
	if err != nil {
		return nil, err
	}
	return c.GetCluster(ctx, ws, id)
}

// clusterIDPattern is what a cluster id looks like; anything else names a
// cluster by its name.
var clusterIDPattern = regexp.MustCompile(`^ray-[a-z0-9]{16}$`)

// resolveCluster turns a cluster id or a cluster's name into its id. Names
// are not unique: a name that more than one cluster has is refused with the
// candidates.
func resolveCluster(ctx context.Context, c *api.Client, ws, arg string) (string, error) {
	if clusterIDPattern.MatchString(arg) {
		return arg, nil
	}
	var ids []string
	for page := 1; ; page++ {
		l, err := c.ListClusters(ctx, ws, api.ListClustersOptions{PageNum: page, PageSize: 100, Name: arg})
		if err != nil {
			return "", err
		}
		for _, cl := range l.RayClusters {
			if cl.Name == arg {
				ids = append(ids, cl.ClusterID+" ("+cl.State+")")
			}
		}
		if len(l.RayClusters) < 100 || page*100 >= l.TotalCount {
			break
		}
	}
	switch len(ids) {
	case 0:
		return "", &notFoundError{msg: fmt.Sprintf("no cluster with id or name %q in workspace %s; list them with `rayfleet cluster list`", arg, ws)}
	case 1:
		return strings.Fields(ids[0])[0], nil
	default:
		return "", usagef("%d clusters are named %q, give one of their ids: %s", len(ids), arg, strings.Join(ids, ", "))
	}
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func (a *app) printCluster(cl *api.Cluster) error {
	w := a.env.Stdout
	t := newTable(w)
	t.row("ID:", cl.ClusterID)
	t.row("Name:", cl.Name)
	if cl.Description != "" {
		t.row("Description:", cl.Description)
	}
	t.row("State:", cl.State)
	t.row("Message:", cl.Message)
	t.row("Instance:", cl.InstanceID)
	t.row("Release:", cl.DisplayReleaseVersion)
	t.row("Network:", cl.NetworkServiceName)
	modified := "no"
	if cl.Modified {
		modified = "yes (changes wait for the next start: stop, then start)"
	}
	t.row("Modified:", modified)
	if len(cl.VolumeIDs) > 0 {
		t.row("Volumes:", strings.Join(cl.VolumeIDs, ", "))
	}
	if cl.ExtraParam != "" && cl.ExtraParam != "{}" {
		t.row("Extra params:", cl.ExtraParam)
	}
	t.row("Created:", a.when(cl.CreateTime))
	t.row("Started:", a.when(cl.StartTime))
	t.row("Changed:", a.when(cl.ModifiedTime))
	t.row("Creator:", person(cl.CreatorName, cl.Creator))
	t.row("Modifier:", person(cl.ModifierName, cl.Modifier))
	if err := t.flush(); err != nil {
		return err
	}

	h := cl.HeadSpec
	fmt.Fprintln(w, "\nHead:")
	t = newIndentedTable(w, "  ")
	t.row("Queue:", h.QueueName)
	t.row("Resources:", nodeSize(h.CPU, h.Memory, h.GPUSpec))
	if h.DisplayReleaseVersion != "" && h.DisplayReleaseVersion != cl.DisplayReleaseVersion {
		t.row("Release:", h.DisplayReleaseVersion)
	}
	autoscaling := "off"
	if h.EnableAutoScaling {
		autoscaling = fmt.Sprintf("on (idle workers leave after %ds)", h.IdleTimeoutSeconds)
	}
	t.row("Autoscaling:", autoscaling)
	if h.Env != "" {
		t.row("Env:", h.Env)
	}
	if h.RayStartParams != "" {
		t.row("Ray start params:", h.RayStartParams)
	}
	if h.GFTEnabled != nil {
		ft := yesNo(*h.GFTEnabled)
		if *h.GFTEnabled && h.GFTConfig != nil {
			ft += " (redis " + h.GFTConfig.RedisURL + ")"
		}
		t.row("GCS fault tolerance:", ft)
	}
	if err := t.flush(); err != nil {
		return err
	}

	fmt.Fprintln(w, "\nWorker groups:")
	if len(cl.WorkerSpec) == 0 {
		fmt.Fprintln(w, "  (none)")
	} else {
		t = newIndentedTable(w, "  ", "GROUP", "TYPE", "REPLICAS", "MIN", "MAX", "RESOURCES", "QUEUE")
		for _, g := range cl.WorkerSpec {
			t.row(g.GroupName, g.WorkerType, itoa(g.Replica), itoa(g.MinReplica), itoa(g.MaxReplica),
				nodeSize(g.CPU, g.Memory, g.GPUSpec), g.QueueName)
		}
		if err := t.flush(); err != nil {
			return err
		}
	}

	fmt.Fprintln(w, "\nEndpoints:")
	t = newIndentedTable(w, "  ")
	t.row("Dashboard:", cl.DashboardURL)
	t.row("Job URL:", cl.JobURL)
	if cl.JobURLInner != "" && cl.JobURLInner != cl.JobURL {
		t.row("Job URL (internal):", cl.JobURLInner)
	}
	t.row("gRPC:", cl.GrpcEndpoint)
	t.row("Submit token:", cl.SubmitToken)
	if err := t.flush(); err != nil {
		return err
	}

	fmt.Fprintln(w, "\nInstances:")
	if len(cl.Instances) == 0 {
		fmt.Fprintln(w, "  (none)")
		return nil
	}
	t = newIndentedTable(w, "  ", "INSTANCE", "TYPE", "PHASE", "CONTAINER", "REASON", "EXIT", "STARTED", "MESSAGE")
	for _, in := range cl.Instances {
		reason := first(in.ContainerStateReason, in.Reason)
		t.row(in.InstanceID, in.Type, in.Phase, in.ContainerState, reason, itoa(in.ContainerExitCode),
			a.when(in.StartTime), trim(first(in.ContainerStateMessage, in.Message), 60))
	}
	return t.flush()
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }

func person(name, id string) string {
	switch {
	case name != "" && id != "" && name != id:
		return name + " (" + id + ")"
	case id != "":
		return id
	}
	return name
}

// specFlags are the flags of cluster create and update that build a
// ClusterRequest.
type specFlags struct {
	file                                 string
	name, description, release, network  string
	headCPU, headMemory, queue           string
	workers                              int32
	workerCPU, workerMemory, workerGroup string
	autoscale                            bool
	minWorkers, maxWorkers, idleTimeout  int32
	env                                  []string
}

func (f *specFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVarP(&f.file, "file", "f", "", `request body as JSON (the CreateRayCluster fields), "-" for stdin; flags given override its fields`)
	fl.StringVar(&f.name, "name", "", "cluster name, 1-64 characters")
	fl.StringVar(&f.description, "description", "", "description")
	fl.StringVar(&f.release, "release-version", "", `engine version, as "rayfleet release-version list" shows it (default the server's)`)
	fl.StringVar(&f.network, "network-service", "vpc", "network service name")
	f.addNodes(cmd)
	fl.StringArrayVar(&f.env, "env", nil, "environment variable KEY=VALUE of every node (repeatable; replaces the env)")
}

// Names of the flags addNodes adds, by the part of the spec they change.
var (
	headFlagNames   = []string{"head-cpu", "head-memory", "queue", "autoscale", "idle-timeout"}
	workerFlagNames = []string{"workers", "worker-cpu", "worker-memory", "worker-group", "min-workers", "max-workers"}
)

// addNodes adds the flags that size the head and a worker group, shared by
// cluster create/update and the job's own cluster of job submit.
func (f *specFlags) addNodes(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.headCPU, "head-cpu", "2", "head node CPU cores")
	fl.StringVar(&f.headMemory, "head-memory", "8Gi", "head node memory")
	fl.StringVar(&f.queue, "queue", "root_queue", "queue of the head and of every worker group")
	fl.Int32Var(&f.workers, "workers", 0, "workers in the group (default 1; with --autoscale, the starting count, default --min-workers)")
	fl.StringVar(&f.workerCPU, "worker-cpu", "2", "CPU cores per worker")
	fl.StringVar(&f.workerMemory, "worker-memory", "8Gi", "memory per worker")
	fl.StringVar(&f.workerGroup, "worker-group", "group-1", "worker group the worker flags apply to (added if missing)")
	fl.BoolVar(&f.autoscale, "autoscale", false, "let Ray's autoscaler size the worker groups between --min-workers and --max-workers")
	fl.Int32Var(&f.minWorkers, "min-workers", 1, "autoscaling lower bound of the group")
	fl.Int32Var(&f.maxWorkers, "max-workers", 0, "autoscaling upper bound of the group (needed with --autoscale)")
	fl.Int32Var(&f.idleTimeout, "idle-timeout", 60, "seconds before an idle autoscaled worker is removed")
}

// newHead is the head the flags describe, defaults included.
func (f *specFlags) newHead() *api.HeadSpec {
	return &api.HeadSpec{
		QueueName: f.queue, CPU: f.headCPU, Memory: f.headMemory,
		EnableAutoScaling: f.autoscale, IdleTimeoutSeconds: f.idleTimeout,
	}
}

func (a *app) clusterCreate() *cobra.Command {
	var f specFlags
	cmd := &cobra.Command{
		Use:   "create --name NAME [flags]",
		Short: "Create a cluster and start it",
		Long: `Create a Ray cluster and start it. Without -f the flags describe a head node
and, when any worker flag is given, one worker group; flags left out take
their defaults. With -f FILE (or -f - for stdin) the file is the whole
CreateRayCluster body, and the flags given change it: head flags the head,
worker flags the group named by --worker-group (or the only group), --queue
and --env the head and every group.`,
		Example: `  rayfleet cluster create --name dev --wait
  rayfleet cluster create --name train --workers 4 --worker-cpu 8 --worker-memory 32Gi \
      --release-version "ray-1.0.0 (Ray 2.47.1, Python 3.12)" --env HF_HOME=/cache
  rayfleet cluster create --name elastic --autoscale --min-workers 1 --max-workers 10
  rayfleet cluster create -f spec.json --name copy-of-spec`,
		Args: exactArgs(),
	}
	f.add(cmd)
	var w waitFlags
	w.add(cmd, "Running")
	cmd.RunE = a.wrap(func(cmd *cobra.Command, _ []string) error {
		c, ws, err := a.clientWS()
		if err != nil {
			return err
		}
		req, err := a.clusterRequest(cmd, &f, nil)
		if err != nil {
			return err
		}
		resp, err := c.CreateCluster(cmd.Context(), ws, req)
		if err != nil {
			return err
		}
		if a.json() {
			if err := a.printResponse(); err != nil || !w.wait {
				return err
			}
		} else if !w.wait {
			fmt.Fprintf(a.env.Stdout, "Created cluster %s (Starting). Follow it with: rayfleet cluster get %s\n",
				resp.ClusterID, resp.ClusterID)
			return nil
		} else {
			fmt.Fprintf(a.env.Stdout, "Created cluster %s.\n", resp.ClusterID)
		}
		return a.waitFor(cmd.Context(), c, ws, resp.ClusterID, w, untilRunning)
	})
	return cmd
}

func (a *app) clusterUpdate() *cobra.Command {
	var f specFlags
	cmd := &cobra.Command{
		Use:   "update ID [flags]",
		Short: "Change a cluster's spec",
		Long: `Change a cluster. Only the flags given are sent. The API replaces the head
spec and the worker groups whole, so when a head or worker flag is given the
current spec is read first and only that field changed. With -f FILE the file
is the UpdateRayCluster body and the flags given change it.

On a running cluster, worker counts and autoscaling change at once; other
changes are stored, the cluster shows modified: yes, and they take effect at
its next start (stop, then start).`,
		Example: `  rayfleet cluster update ray-k7nm8ahl5te4tg91 --workers 6
  rayfleet cluster update ray-k7nm8ahl5te4tg91 --worker-group gpu --workers 2 --worker-cpu 8
  rayfleet cluster update ray-k7nm8ahl5te4tg91 --autoscale --max-workers 20
  rayfleet cluster update ray-k7nm8ahl5te4tg91 -f spec.json`,
		Args: exactArgs("ID"),
	}
	f.add(cmd)
	cmd.RunE = a.wrap(func(cmd *cobra.Command, args []string) error {
		c, ws, err := a.clientWS()
		if err != nil {
			return err
		}
		id, err := resolveCluster(cmd.Context(), c, ws, args[0])
		if err != nil {
			return err
		}
		current := func() (*api.Cluster, error) { return c.GetCluster(cmd.Context(), ws, id) }
		req, err := a.clusterRequest(cmd, &f, current)
		if err != nil {
			return err
		}
		if body, _ := json.Marshal(req); string(body) == "{}" {
			return usagef("nothing to update: give the flags to change or -f FILE (see %q)", cmd.CommandPath()+" --help")
		}
		resp, err := c.UpdateCluster(cmd.Context(), ws, id, req)
		if err != nil {
			return err
		}
		if a.json() {
			return a.printResponse()
		}
		fmt.Fprintf(a.env.Stdout, "Updated cluster %s. If it is running, see whether changes wait for a restart with: rayfleet cluster get %s\n",
			resp.ClusterID, resp.ClusterID)
		return nil
	})
	return cmd
}

// clusterRequest builds the body of create (current == nil) or update from
// -f and the flags. Each field is the flag if given, else the file's, else,
// on create, the flag's default; update sends only what was given. The API
// replaces headSpec and workerSpec whole, so update changes one field of them
// by starting from the current cluster.
func (a *app) clusterRequest(cmd *cobra.Command, f *specFlags, current func() (*api.Cluster, error)) (*api.ClusterRequest, error) {
	changed := cmd.Flags().Changed
	create := current == nil
	req := &api.ClusterRequest{}
	if f.file != "" {
		var err error
		if req, err = a.readSpec(f.file); err != nil {
			return nil, err
		}
	}
	setString := func(flag, v string, dst **string) {
		if changed(flag) {
			*dst = &v
		}
	}
	setString("name", f.name, &req.Name)
	setString("description", f.description, &req.Description)
	setString("release-version", f.release, &req.DisplayReleaseVersion)
	setString("network-service", f.network, &req.NetworkServiceName)
	if create {
		if req.Name == nil {
			return nil, usagef(`--name is required (or "name" in the -f file)`)
		}
		if req.NetworkServiceName == nil {
			req.NetworkServiceName = &f.network
		}
	}

	var envText string
	if changed("env") {
		for _, kv := range f.env {
			if k, _, ok := strings.Cut(kv, "="); !ok || strings.TrimSpace(k) == "" {
				return nil, usagef("--env %q: want KEY=VALUE", kv)
			}
		}
		envText = strings.Join(f.env, "\n")
	}

	var cur *api.Cluster
	getCurrent := func() (*api.Cluster, error) {
		if cur == nil {
			var err error
			if cur, err = current(); err != nil {
				return nil, err
			}
		}
		return cur, nil
	}

	headFlags := anyChanged(changed, headFlagNames...) || changed("env")
	if req.HeadSpec == nil {
		switch {
		case create:
			req.HeadSpec = f.newHead()
		case headFlags:
			cl, err := getCurrent()
			if err != nil {
				return nil, err
			}
			// Sent back as read. Responses never carry the GCS fault
			// tolerance Redis password; left out, the server keeps it.
			h := api.HeadSpec(cl.HeadSpec)
			req.HeadSpec = &h
		}
	}
	if h := req.HeadSpec; h != nil {
		h.Replica = 0 // a response field; the API takes no head count
		if changed("head-cpu") {
			h.CPU = f.headCPU
		}
		if changed("head-memory") {
			h.Memory = f.headMemory
		}
		if changed("queue") {
			h.QueueName = f.queue
		}
		if changed("autoscale") {
			h.EnableAutoScaling = f.autoscale
		}
		if changed("idle-timeout") {
			h.IdleTimeoutSeconds = f.idleTimeout
		}
		if changed("env") {
			h.Env = envText
		}
	}

	workerFlags := anyChanged(changed, workerFlagNames...)
	ownGroups := false // workerSpec built here rather than read from -f
	if req.WorkerSpec == nil && (workerFlags || !create && (changed("queue") || changed("env"))) {
		ownGroups = true
		groups := []api.WorkerSpec{}
		if !create {
			cl, err := getCurrent()
			if err != nil {
				return nil, err
			}
			for _, g := range cl.WorkerSpec {
				groups = append(groups, api.WorkerSpec(g))
			}
		}
		req.WorkerSpec = &groups
	}
	if workerFlags {
		autoscale := f.autoscale
		if !changed("autoscale") {
			switch {
			case req.HeadSpec != nil:
				autoscale = req.HeadSpec.EnableAutoScaling
			case !create:
				cl, err := getCurrent()
				if err != nil {
					return nil, err
				}
				autoscale = cl.HeadSpec.EnableAutoScaling
			}
		}
		if err := f.applyWorkers(changed, req, autoscale, cur); err != nil {
			return nil, err
		}
	}
	if req.WorkerSpec != nil {
		for i := range *req.WorkerSpec {
			g := &(*req.WorkerSpec)[i]
			if changed("queue") {
				g.QueueName = f.queue
			}
			if changed("env") {
				g.Env = envText
			}
		}
		// --queue or --env on a cluster without workers: nothing to send.
		if ownGroups && len(*req.WorkerSpec) == 0 {
			req.WorkerSpec = nil
		}
	}
	return req, nil
}

// applyWorkers applies the worker flags to one group: the one --worker-group
// names (added if missing), else the only one.
func (f *specFlags) applyWorkers(changed func(string) bool, req *api.ClusterRequest, autoscale bool, cur *api.Cluster) error {
	if (changed("min-workers") || changed("max-workers")) && !autoscale {
		return usagef("--min-workers and --max-workers need --autoscale")
	}
	if changed("workers") && f.workers < 1 {
		return usagef("--workers must be at least 1")
	}
	groups := *req.WorkerSpec
	idx := -1
	switch {
	case changed("worker-group"):
		for i, g := range groups {
			if g.GroupName == f.workerGroup {
				idx = i
			}
		}
	case len(groups) == 1:
		idx = 0
	case len(groups) > 1:
		names := make([]string, len(groups))
		for i, g := range groups {
			names[i] = g.GroupName
		}
		sort.Strings(names)
		return usagef("there are %d worker groups (%s); say which one with --worker-group", len(groups), strings.Join(names, ", "))
	}
	if idx >= 0 {
		g := &groups[idx]
		if changed("worker-cpu") {
			g.CPU = f.workerCPU
		}
		if changed("worker-memory") {
			g.Memory = f.workerMemory
		}
		if changed("workers") {
			g.Replica = f.workers
			if !autoscale {
				g.MinReplica, g.MaxReplica = f.workers, f.workers
			}
		}
		if changed("min-workers") {
			g.MinReplica = f.minWorkers
		}
		if changed("max-workers") {
			g.MaxReplica = f.maxWorkers
		}
		return nil
	}

	// A new group: its queue follows the head's unless --queue says otherwise.
	queue := f.queue
	switch {
	case changed("queue"):
	case req.HeadSpec != nil && req.HeadSpec.QueueName != "":
		queue = req.HeadSpec.QueueName
	case cur != nil && cur.HeadSpec.QueueName != "":
		queue = cur.HeadSpec.QueueName
	}
	g := api.WorkerSpec{
		GroupName: f.workerGroup, WorkerType: "CPU", QueueName: queue,
		CPU: f.workerCPU, Memory: f.workerMemory,
	}
	if autoscale {
		if !changed("max-workers") {
			return usagef("--autoscale needs --max-workers for the new worker group %q", f.workerGroup)
		}
		g.MinReplica, g.MaxReplica, g.Replica = f.minWorkers, f.maxWorkers, f.minWorkers
		if changed("workers") {
			g.Replica = f.workers
		}
	} else {
		n := int32(1)
		if changed("workers") {
			n = f.workers
		}
		g.Replica, g.MinReplica, g.MaxReplica = n, n, n
	}
	*req.WorkerSpec = append(groups, g)
	return nil
}

func anyChanged(changed func(string) bool, flags ...string) bool {
	for _, f := range flags {
		if changed(f) {
			return true
		}
	}
	return false
}

// requestFields are the fields of a cluster request; responseFields are
// those of a GetRayCluster response that a request does not take, so a file
// made from "cluster get -o json" is accepted without noise.
var (
	requestFields = []string{
		"name", "description", "displayReleaseVersion", "networkServiceName",
		"headSpec", "workerSpec", "extraParam", "volumeIds", "clientToken",
	}
	responseFields = []string{
		"requestId", "clusterId", "state", "message", "instanceId", "instances",
		"dashboardUrl", "grpcEndpoint", "jobUrl", "jobUrlInner", "submitToken", "modified",
		"createTime", "startTime", "modifiedTime", "creator", "creatorName", "modifier",
		"modifierName", "userId",
	}
)

// readSpec reads a ClusterRequest from a file or, for "-", stdin.
func (a *app) readSpec(path string) (*api.ClusterRequest, error) {
	var data []byte
	var err error
	name := path
	if path == "-" {
		name = "stdin"
		data, err = io.ReadAll(a.env.Stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, usagef("-f %s: %v", path, err)
	}
	var req api.ClusterRequest
	if err := json.Unmarshal(data, &req); err != nil {
		return nil, usagef("-f %s: not a cluster request: %v", name, err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, usagef("-f %s: not a JSON object: %v", name, err)
	}
	// Fields api.ClusterRequest does not know would be dropped silently,
	// typos included; say so.
	var unknown []string
	for k := range top {
		if !containsFold(requestFields, k) && !containsFold(responseFields, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		fmt.Fprintf(a.env.Stderr, "warning: %s: ignoring unknown fields: %s\n", name, strings.Join(unknown, ", "))
	}
	return &req, nil
}

// containsFold matches as encoding/json does: case-insensitively.
func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

func (a *app) clusterStart() *cobra.Command {
	var token string
	cmd := &cobra.Command{
		Use:   "start ID",
		Short: "Start a stopped cluster (a new instance, same spec)",
		Example: `  rayfleet cluster start ray-k7nm8ahl5te4tg91 --wait
  rayfleet cluster start ray-k7nm8ahl5te4tg91 --client-token "$(uuidgen)"`,
		Args: exactArgs("ID"),
	}
	cmd.Flags().StringVar(&token, "client-token", "", "idempotency token: repeating the call with it within 24h acts once")
	var w waitFlags
	w.add(cmd, "Running")
	cmd.RunE = a.wrap(func(cmd *cobra.Command, args []string) error {
		c, ws, err := a.clientWS()
		if err != nil {
			return err
		}
		if args[0], err = resolveCluster(cmd.Context(), c, ws, args[0]); err != nil {
			return err
		}
		if _, err := c.StartCluster(cmd.Context(), ws, args[0], &api.StartRequest{ClientToken: token}); err != nil {
			return err
		}
		if a.json() {
			if err := a.printResponse(); err != nil || !w.wait {
				return err
			}
		} else if !w.wait {
			fmt.Fprintf(a.env.Stdout, "Starting cluster %s. Follow it with: rayfleet cluster get %s\n", args[0], args[0])
			return nil
		}
		return a.waitFor(cmd.Context(), c, ws, args[0], w, untilRunning)
	})
	return cmd
}

func (a *app) clusterStop() *cobra.Command {
	var instance string
	cmd := &cobra.Command{
		Use:   "stop ID",
		Short: "Stop a cluster: its nodes go away, its spec stays",
		Example: `  rayfleet cluster stop ray-k7nm8ahl5te4tg91 --wait
  rayfleet cluster stop ray-k7nm8ahl5te4tg91 --instance-id ray-k7nm8ahl5te4tg91-ey7blpbg`,
		Args: exactArgs("ID"),
	}
	cmd.Flags().StringVar(&instance, "instance-id", "", "stop only if this is still the running instance")
	var w waitFlags
	w.add(cmd, "Stopped")
	cmd.RunE = a.wrap(func(cmd *cobra.Command, args []string) error {
		c, ws, err := a.clientWS()
		if err != nil {
			return err
		}
		if args[0], err = resolveCluster(cmd.Context(), c, ws, args[0]); err != nil {
			return err
		}
		if _, err := c.StopCluster(cmd.Context(), ws, args[0], &api.StopRequest{InstanceID: instance}); err != nil {
			return err
		}
		if a.json() {
			if err := a.printResponse(); err != nil || !w.wait {
				return err
			}
		} else if !w.wait {
			fmt.Fprintf(a.env.Stdout, "Stopping cluster %s.\n", args[0])
			return nil
		}
		return a.waitFor(cmd.Context(), c, ws, args[0], w, untilStopped)
	})
	return cmd
}

func (a *app) clusterDelete() *cobra.Command {
	return &cobra.Command{
		Use:     "delete ID",
		Short:   "Delete a cluster, in any state",
		Example: "  rayfleet cluster delete ray-k7nm8ahl5te4tg91",
		Args:    exactArgs("ID"),
		RunE: a.wrap(func(cmd *cobra.Command, args []string) error {
			c, ws, err := a.clientWS()
			if err != nil {
				return err
			}
			if args[0], err = resolveCluster(cmd.Context(), c, ws, args[0]); err != nil {
				return err
			}
			if _, err := c.DeleteCluster(cmd.Context(), ws, args[0]); err != nil {
				return err
			}
			if a.json() {
				return a.printResponse()
			}
			fmt.Fprintf(a.env.Stdout, "Deleted cluster %s.\n", args[0])
			return nil
		}),
	}
}
