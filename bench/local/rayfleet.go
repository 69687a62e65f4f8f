package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rayfleet/rayfleet/api"
	"github.com/rayfleet/rayfleet/api/signer"
	"github.com/rayfleet/rayfleet/bench/internal/benchproc"
)

// rayfleetSide drives one real `rayfleet server` process for the whole
// run, as a long-running server would be.
type rayfleetSide struct {
	bin, ray, dir, mark string
	opts                options
	tmpl                []nodeTemplate // once the warm-up read it: every round's nodes must have its shape

	proc *benchproc.LocalServer
	api  *api.Client
	ws   string
	// Nodes' HTTP is plain and short-lived: no keep-alive, so that both
	// sides open a connection per request alike.
	http *http.Client
}

func (s *rayfleetSide) dataDir() string { return s.proc.DataDir }

func (s *rayfleetSide) pid() int {
	if s.proc == nil {
		return 0
	}
	return s.proc.PID()
}

func (s *rayfleetSide) start(ctx context.Context) (err error) {
	if s.proc, err = benchproc.StartLocalServer(ctx, s.bin, s.ray, s.dir, s.mark); err != nil {
		return err
	}
	s.api = &api.Client{
		Endpoint:    s.proc.Addr,
		Credentials: signer.Credentials{AccessKeyID: s.proc.Cred.AccessKeyID, AccessKeySecret: s.proc.Cred.AccessKeySecret},
		HTTP:        &http.Client{Timeout: time.Minute},
	}
	s.ws = s.proc.Cred.WorkspaceID
	s.http = plainHTTP()
	return nil
}

// plainHTTP is the client both sides ask the heads' state API with: a
// connection per request, as the local runtime's own probe.
func plainHTTP() *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
}

// stop ends the server (SIGTERM). Its nodes are already gone: every round
// stops its clusters.
func (s *rayfleetSide) stop() error {
	if s.proc == nil {
		return nil
	}
	err := s.proc.Stop()
	s.proc = nil
	var ee *exec.ExitError
	if errors.As(err, &ee) && !ee.Exited() {
		return nil // ended by the SIGTERM
	}
	return err
}

// settle waits until the server is idle (under 2 ms of CPU in 250 ms, for
// at most 3 s), so that the end of the previous round (deletes, temp dirs
// removed) is not counted in the next.
func (s *rayfleetSide) settle(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	for time.Since(start) < 3*time.Second {
		a, err := benchproc.CPUTime(s.pid())
		if err != nil {
			return 0, err
		}
		if err := benchproc.Sleep(ctx, 250*time.Millisecond); err != nil {
			return 0, err
		}
		b, err := benchproc.CPUTime(s.pid())
		if err != nil {
			return 0, err
		}
		if b-a < 2*time.Millisecond {
			break
		}
	}
	return time.Since(start), nil
}

// clusterRequest is every benchmark cluster: a head of 1 CPU and 2 GiB and
// one group of 2 workers of the same size.
func clusterRequest(name string) *api.ClusterRequest {
	return &api.ClusterRequest{
		Name:     &name,
		HeadSpec: &api.HeadSpec{QueueName: "root_queue", CPU: "1", Memory: "2Gi"},
		WorkerSpec: &[]api.WorkerSpec{{
			GroupName: "group-1", Replica: 2, QueueName: "root_queue", CPU: "1", Memory: "2Gi",
		}},
	}
}

// nodesPerCluster is what "every node alive" counts: the head and 2 workers.
const nodesPerCluster = 3

// sideResult is one side's figures for one round, as durations since the
// first create (rayfleet) or the first `ray start` (by hand).
type sideResult struct {
	created time.Duration // rayfleet: every create call answered
	running time.Duration // rayfleet: the API says every cluster is Running
	// workers: every worker's `ray start` was launched (by hand: by this
	// program; rayfleet: the node records' start times).
	workers time.Duration
	alive   time.Duration // every cluster's head shows 3 ALIVE nodes in Ray's state API
	ready   time.Duration // the side's end: every cluster Running (rayfleet) and alive
	// gcsAfter is, over the clusters, the longest wait from the head's
	// start to the start of its last worker.
	gcsAfter time.Duration
	polls    int
	restarts int // workers started again after their start failed
	use      usage
	clean    time.Duration
}

// template creates one cluster, waits until every node is alive, reads the
// nodes' command lines from the records rayfleet wrote, and stops it.
func (s *rayfleetSide) template(ctx context.Context) ([]nodeTemplate, sideResult, error) {
	r, err := s.round(ctx, 1)
	if err != nil {
		return nil, r, fmt.Errorf("warm-up: %w", err)
	}
	recs, err := s.records()
	if err != nil {
		return nil, r, err
	}
	if len(recs) != 1 {
		return nil, r, fmt.Errorf("warm-up: records of %d clusters, want 1", len(recs))
	}
	var tmpl []nodeTemplate
	for _, nodes := range recs {
		for _, rec := range nodes {
			env, err := nodeEnv(rec.PID)
			if err != nil {
				return nil, r, fmt.Errorf("warm-up node %s: %w", rec.Node, err)
			}
			tmpl = append(tmpl, nodeTemplate{head: rec.Type == "Head", args: rec.Args, env: env})
		}
	}
	if r.clean, err = s.cleanup(ctx); err != nil {
		return nil, r, err
	}
	return tmpl, r, nil
}

// nodeRecord is the part of the local runtime's node record
// (<data>/local/clusters/<id>/<instance>/<node>.json) that the benchmark
// reads.
type nodeRecord struct {
	Type      string    `json:"type"`
	Node      string    `json:"node"`
	PID       int       `json:"pid"`
	Restarts  int       `json:"restarts"`
	Args      []string  `json:"args"`
	AuthToken string    `json:"authToken"`
	Created   time.Time `json:"createTime"`
	Started   time.Time `json:"startTime"`
}

// records reads the node records of every cluster, head first.
func (s *rayfleetSide) records() (map[string][]nodeRecord, error) {
	files, err := filepath.Glob(filepath.Join(s.dataDir(), "local", "clusters", "*", "*", "*.json"))
	if err != nil {
		return nil, err
	}
	out := map[string][]nodeRecord{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var rec nodeRecord
		if err := json.Unmarshal(b, &rec); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		id := filepath.Base(filepath.Dir(filepath.Dir(f)))
		out[id] = append(out[id], rec)
	}
	for _, recs := range out {
		sort.Slice(recs, func(i, j int) bool {
			if (recs[i].Type == "Head") != (recs[j].Type == "Head") {
				return recs[i].Type == "Head"
			}
			return recs[i].Node < recs[j].Node
		})
	}
	return out, nil
}

// round creates n clusters at once and waits until the API says each is
// Running and its head's state API, through the gateway, shows 3 ALIVE
// nodes.
func (s *rayfleetSide) round(ctx context.Context, n int) (sideResult, error) {
	var r sideResult
	ctx, cancel := context.WithTimeout(ctx, s.opts.timeout)
	defer cancel()
	s0 := takeSample(s.pid())
	cpu := followRayCPU(s.mark, s.pid())
	start := time.Now()
	type done struct {
		created, running, alive, ready time.Duration
		polls                          int
		err                            error
	}
	results := make([]done, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			d := &results[i]
			res, err := s.api.CreateCluster(ctx, s.ws, clusterRequest(fmt.Sprintf("bench-%d", i)))
			if err != nil {
				d.err = fmt.Errorf("create: %w", err)
				return
			}
			d.created = time.Since(start)
			// Both conditions are polled side by side: Ray's nodes may all be
			// ALIVE before the API says Running, and the other way round.
			var cl *api.Cluster
			var qerr error
			alive := 0
			for {
				d.polls++
				// Asked until the end, so that a cluster that fails after
				// Running (a head that dies) ends the round.
				if cl, err = s.api.GetCluster(ctx, s.ws, res.ClusterID); err != nil {
					d.err = err
					return
				}
				switch {
				case cl.State == "Running" && d.running == 0:
					d.running = time.Since(start)
				case cl.State == "Error":
					d.err = fmt.Errorf("cluster %s in Error: %s", cl.ClusterID, cl.Message)
					return
				}
				if d.alive == 0 && cl.JobURL != "" && cl.SubmitToken != "" {
					alive, qerr = aliveNodes(ctx, s.http, cl.JobURL+"/api/v0/nodes?detail=false", "ray-token", cl.SubmitToken)
					if alive >= nodesPerCluster {
						d.alive = time.Since(start)
					}
				}
				if d.running > 0 && d.alive > 0 {
					d.ready = max(d.running, d.alive)
					return
				}
				if err := benchproc.Sleep(ctx, s.opts.poll); err != nil {
					d.err = fmt.Errorf("cluster %s %s (%s), %d of %d nodes ALIVE (last answer: %w): %w",
						cl.ClusterID, cl.State, cl.Message, alive, nodesPerCluster, qerr, err)
					return
				}
			}
		})
	}
	wg.Wait()
	end := takeSample(s.pid())
	ray, procs := cpu.end()
	for _, d := range results {
		if d.err != nil {
			return r, d.err
		}
		r.created, r.running, r.alive, r.ready = max(r.created, d.created), max(r.running, d.running), max(r.alive, d.alive), max(r.ready, d.ready)
		r.polls += d.polls
	}
	r.use = since(s0, end, ray, procs)
	recs, err := s.records()
	if err != nil {
		return r, err
	}
	for id, nodes := range recs {
		var head time.Time
		for _, rec := range nodes {
			if rec.Type == "Head" {
				head = rec.Started
				continue
			}
			r.workers = max(r.workers, rec.Started.Sub(start))
			r.restarts += rec.Restarts
			if !head.IsZero() {
				r.gcsAfter = max(r.gcsAfter, rec.Started.Sub(head))
			}
		}
		if len(nodes) != nodesPerCluster {
			return r, fmt.Errorf("cluster %s has %d node records, want %d", id, len(nodes), nodesPerCluster)
		}
		for j := range s.tmpl {
			if got, want := shape(nodes[j].Args), shape(s.tmpl[j].args); got != want {
				return r, fmt.Errorf("cluster %s node %s ran\n  %s\nnot the warm-up's\n  %s", id, nodes[j].Node, got, want)
			}
		}
	}
	return r, nil
}

// cleanup stops every cluster through the API, waits until each is
// Stopped and no process of the run but the server is left, then deletes
// them.
func (s *rayfleetSide) cleanup(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, s.opts.timeout)
	defer cancel()
	l, err := s.api.ListClusters(ctx, s.ws, api.ListClustersOptions{PageSize: 100})
	if err != nil {
		return 0, err
	}
	for _, c := range l.RayClusters {
		if _, err := s.api.StopCluster(ctx, s.ws, c.ClusterID, &api.StopRequest{}); err != nil {
			return 0, fmt.Errorf("stop %s: %w", c.ClusterID, err)
		}
	}
	for _, c := range l.RayClusters {
		for {
			cl, err := s.api.GetCluster(ctx, s.ws, c.ClusterID)
			if err != nil {
				return 0, err
			}
			if cl.State == "Stopped" {
				break
			}
			if err := benchproc.Sleep(ctx, 100*time.Millisecond); err != nil {
				return 0, fmt.Errorf("cluster %s %s after stop: %w", c.ClusterID, cl.State, err)
			}
		}
	}
	if err := benchproc.WaitNoneMarked(ctx, s.mark, s.pid(), 10*time.Second); err != nil {
		return 0, fmt.Errorf("rayfleet's clusters are Stopped: %w", err)
	}
	for _, c := range l.RayClusters {
		if _, err := s.api.DeleteCluster(ctx, s.ws, c.ClusterID); err != nil {
			return 0, fmt.Errorf("delete %s: %w", c.ClusterID, err)
		}
	}
	for {
		l, err := s.api.ListClusters(ctx, s.ws, api.ListClustersOptions{PageSize: 1})
		if err != nil {
			return 0, err
		}
		if l.TotalCount == 0 {
			break
		}
		if err := benchproc.Sleep(ctx, 100*time.Millisecond); err != nil {
			return 0, fmt.Errorf("%d clusters still listed after delete: %w", l.TotalCount, err)
		}
	}
	return time.Since(start), nil
}

// aliveNodes asks Ray's state API at url how many nodes are ALIVE, with
// the token in header.
func aliveNodes(ctx context.Context, c *http.Client, url, header, token string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set(header, token)
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("state API: %d %.200s", resp.StatusCode, body)
	}
	var out struct {
		Data struct {
			Result struct {
				Result []struct {
					State string `json:"state"`
				} `json:"result"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return 0, fmt.Errorf("state API: %w", err)
	}
	alive := 0
	for _, n := range out.Data.Result.Result {
		if n.State == "ALIVE" {
			alive++
		}
	}
	return alive, nil
}

// nodeEnv is the environment of a node rayfleet started, read from the
// process itself, so that the hand start runs with exactly what the local
// runtime gives its nodes; without the runtime's node marker and Ray's
// token, which the hand start sets per cluster.
func nodeEnv(pid int) ([]string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return nil, err
	}
	var env []string
	for kv := range strings.SplitSeq(strings.TrimRight(string(b), "\x00"), "\x00") {
		if !strings.HasPrefix(kv, "RAYFLEET_LOCAL_NODE=") && !strings.HasPrefix(kv, "RAY_AUTH_TOKEN=") {
			env = append(env, kv)
		}
	}
	return env, nil
}
