package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/rayfleet/rayfleet/api"
	"github.com/rayfleet/rayfleet/api/signer"
	"github.com/rayfleet/rayfleet/bench/internal/benchproc"
	"github.com/rayfleet/rayfleet/bench/internal/benchreport"
)

// The real-Ray step (-real-ray): a `rayfleet server` with the local runtime
// on real Ray starts a one-node cluster, and its head's dashboard is asked
// for /api/version and /api/jobs/ directly (with the head's Ray token, as
// the head runs with token authentication) and through a `rayfleet
// gateway` process (with the cluster's submitToken), as the synthetic
// upstream is. Its figures are reported beside the synthetic ones; the
// goals are judged on those alone.

// realRayPaths are the requests of the real-Ray step: the small answer a
// job client asks first, and the job list (empty: no job is submitted).
var realRayPaths = []string{"/api/version", "/api/jobs/"}

// realRayMark goes into the environment of every process of the step (the
// server passes it on to Ray's), so that none is left behind.
const realRayMark = "RAYFLEET_BENCH_GATEWAY_RUN"

// realRay is the real-Ray step's processes and what it read of the head.
type realRay struct {
	dir, mark string
	server    *benchproc.LocalServer
	gateway   *benchproc.Proc
	api       *api.Client
	ws        string

	clusterID, jobURL, submitToken string
	head                           headRecord
	rayVersion                     string
}

// headRecord is the part of the local runtime's node record
// (<data>/local/clusters/<id>/<instance>/<node>.json) the step reads: the
// head's dashboard port and Ray token, and its process.
type headRecord struct {
	Type  string `json:"type"`
	PID   int    `json:"pid"`
	Ports struct {
		Dashboard int `json:"dashboard"`
	} `json:"ports"`
	AuthToken string `json:"authToken"`
}

// runRealRay starts the step's processes, measures and stops everything it
// started.
func runRealRay(ctx context.Context, o options, bin string) (rs []stepResult, info realRayInfo, err error) {
	ray := o.ray
	if ray == "" {
		if ray, err = benchproc.PyenvRay(ctx); err != nil {
			return nil, info, err
		}
	}
	// Short: Ray's unix sockets live under the nodes' temp dirs, and their
	// paths must stay under 108 bytes.
	dir, err := os.MkdirTemp("/tmp", "rfg-")
	if err != nil {
		return nil, info, err
	}
	rr := &realRay{dir: dir, mark: realRayMark + "=" + dir}
	defer func() {
		if e := rr.stop(); e != nil && err == nil {
			err = e
		}
		if o.keep || err != nil {
			fmt.Fprintln(os.Stderr, "bench/gateway: kept", dir)
		} else {
			os.RemoveAll(dir)
		}
	}()
	fmt.Fprintf(os.Stderr, "bench/gateway: real Ray (%s): starting a server and a one-node cluster\n", ray)
	started := time.Now()
	if err := rr.start(ctx, bin, ray); err != nil {
		return nil, info, err
	}
	info = realRayInfo{ray: ray, rayVersion: rr.rayVersion, startup: time.Since(started)}
	fmt.Fprintf(os.Stderr, "bench/gateway: real Ray: cluster %s Running and answering after %s; head dashboard on 127.0.0.1:%d\n",
		rr.clusterID, info.startup.Round(time.Second), rr.head.Ports.Dashboard)
	direct := target{name: "direct", base: "http://127.0.0.1:" + fmt.Sprint(rr.head.Ports.Dashboard),
		header: http.Header{"Authorization": {"Bearer " + rr.head.AuthToken}}}
	gw := target{name: "rayfleet gateway", base: rr.jobURL, header: http.Header{"Ray-Token": {rr.submitToken}}, proxyPID: rr.gateway.PID()}
	if err := checkRealRay(ctx, direct, gw); err != nil {
		return nil, info, err
	}
	// The server's process tree holds Ray's processes (the local runtime
	// starts them); the head's tree is the upstream.
	srcs := cpuSources{upstreamPID: rr.head.PID, upstreamTree: true, serverPID: rr.server.PID()}
	for round := 1; round <= o.realRayRounds; round++ {
		order := []target{direct, gw}
		if round%2 == 0 {
			order[0], order[1] = order[1], order[0]
		}
		for _, path := range realRayPaths {
			for _, c := range o.realRayClients {
				for _, t := range order {
					r, err := runStep(ctx, t, path, c, o.warmup, o.duration, srcs)
					if err != nil {
						return nil, info, err
					}
					r.round = round
					fmt.Fprintf(os.Stderr, "bench/gateway: real Ray round %d %-16s %-12s %3d clients: %8.0f req/s  p50 %s  p99 %s  errors %d  other load %s\n",
						round, t.name, path, c, r.rps(), benchreport.Dur(r.p(50)), benchreport.Dur(r.p(99)), r.errs, r.otherLoad())
					rs = append(rs, r)
				}
			}
		}
	}
	return rs, info, nil
}

// realRayInfo is what the report says of the step besides its figures.
type realRayInfo struct {
	ray, rayVersion string
	startup         time.Duration
}

func (rr *realRay) start(ctx context.Context, bin, ray string) error {
	if out, err := exec.CommandContext(ctx, ray, "--version").Output(); err == nil {
		rr.rayVersion = strings.TrimSpace(string(out))
	}
	var err error
	if rr.server, err = benchproc.StartLocalServer(ctx, bin, ray, rr.dir, rr.mark); err != nil {
		return err
	}
	rr.api = &api.Client{
		Endpoint:    rr.server.Addr,
		Credentials: signer.Credentials{AccessKeyID: rr.server.Cred.AccessKeyID, AccessKeySecret: rr.server.Cred.AccessKeySecret},
		HTTP:        &http.Client{Timeout: time.Minute},
	}
	rr.ws = rr.server.Cred.WorkspaceID
	name := "bench-real-ray"
	created, err := rr.api.CreateCluster(ctx, rr.ws, &api.ClusterRequest{Name: &name, HeadSpec: &api.HeadSpec{CPU: "1", Memory: "2Gi"}})
	if err != nil {
		return fmt.Errorf("create a cluster: %w", err)
	}
	rr.clusterID = created.ClusterID
	// Ray's start takes 10-60 s on a busy machine.
	deadline := time.Now().Add(5 * time.Minute)
	var cl *api.Cluster
	for {
		if cl, err = rr.api.GetCluster(ctx, rr.ws, rr.clusterID); err != nil {
			return fmt.Errorf("get the cluster: %w", err)
		}
		if cl.State == "Running" {
			break
		}
		if cl.State == "Error" || time.Now().After(deadline) {
			return fmt.Errorf("the cluster is %s (%s), not Running; see %s", cl.State, cl.Message, filepath.Join(rr.dir, "server.log"))
		}
		if err := benchproc.Sleep(ctx, 250*time.Millisecond); err != nil {
			return err
		}
	}
	if rr.head, err = readHead(rr.server.DataDir, rr.clusterID); err != nil {
		return err
	}
	// A gateway of its own, as for the synthetic upstream, so that its CPU
	// is its own; the server's in-process gateway stays idle.
	gwAddr, err1 := benchproc.FreeAddr()
	gwGRPC, err2 := benchproc.FreeAddr()
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	gwCmd := exec.Command(bin, "gateway", "--data-dir", rr.server.DataDir, "--gateway-listen", gwAddr, "--gateway-grpc-listen", gwGRPC, "--log-level", "warn")
	gwCmd.Env = append(os.Environ(), "HOME="+filepath.Join(rr.dir, "home"), rr.mark)
	if rr.gateway, err = benchproc.Start(ctx, "rayfleet gateway", gwCmd, filepath.Join(rr.dir, "gateway.log"), benchproc.Combined, benchproc.Contains("rayfleet gateway: dashboard and job API on")); err != nil {
		return err
	}
	u, err := url.Parse(cl.JobURL)
	if err != nil {
		return fmt.Errorf("jobUrl: %w", err)
	}
	if u.Host == "" {
		return fmt.Errorf("jobUrl %q has no host", cl.JobURL)
	}
	u.Host = gwAddr
	rr.jobURL, rr.submitToken = u.String(), cl.SubmitToken
	// Running needs the head alone; the job API answers once the
	// dashboard's modules are up.
	for {
		code, body, err := get(ctx, rr.jobURL+"/api/jobs/", http.Header{"Ray-Token": {rr.submitToken}})
		switch {
		case err == nil && code == http.StatusOK:
			return nil
		case time.Now().After(deadline) && err != nil:
			return fmt.Errorf("the head's job API through the gateway: %w", err)
		case time.Now().After(deadline):
			return fmt.Errorf("the head's job API through the gateway: %d %.200s", code, body)
		}
		if err := benchproc.Sleep(ctx, 250*time.Millisecond); err != nil {
			return err
		}
	}
}

// readHead reads the head's node record of cluster id.
func readHead(dataDir, id string) (headRecord, error) {
	files, err := filepath.Glob(filepath.Join(dataDir, "local", "clusters", id, "*", "*.json"))
	if err != nil {
		return headRecord{}, err
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return headRecord{}, err
		}
		var rec headRecord
		if err := json.Unmarshal(b, &rec); err != nil {
			return headRecord{}, fmt.Errorf("%s: %w", f, err)
		}
		if rec.Type == "Head" {
			if rec.PID == 0 || rec.Ports.Dashboard == 0 || rec.AuthToken == "" {
				return headRecord{}, fmt.Errorf("%s: the head's record has no pid, dashboard port or token", f)
			}
			return rec, nil
		}
	}
	return headRecord{}, fmt.Errorf("no head record of cluster %s under %s", id, dataDir)
}

// checkRealRay makes sure both ways answer each path with 200 and the
// same JSON, and that each refuses a request without its token: the head
// as Ray's token authentication does, the gateway with 401.
func checkRealRay(ctx context.Context, direct, gw target) error {
	for _, path := range realRayPaths {
		var bodies []string
		for _, t := range []target{direct, gw} {
			code, body, err := get(ctx, t.url(path), t.header)
			if err != nil {
				return fmt.Errorf("%s %s: %w", t.name, path, err)
			}
			if code != http.StatusOK {
				return fmt.Errorf("%s %s: %d %.200s", t.name, path, code, body)
			}
			var v any
			if err := json.Unmarshal(body, &v); err != nil {
				return fmt.Errorf("%s %s: not JSON: %w", t.name, path, err)
			}
			canon, _ := json.Marshal(v)
			bodies = append(bodies, string(canon))
		}
		if bodies[0] != bodies[1] {
			return fmt.Errorf("%s: the gateway answered %.200s, the head %.200s", path, bodies[1], bodies[0])
		}
	}
	for _, t := range []target{direct, gw} {
		code, _, err := get(ctx, t.url(realRayPaths[0]), nil)
		if err != nil {
			return fmt.Errorf("%s without a token: %w", t.name, err)
		}
		if code != http.StatusUnauthorized {
			return fmt.Errorf("%s answered a request without a token with %d, not 401", t.name, code)
		}
	}
	return nil
}

func get(ctx context.Context, u string, h http.Header) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, nil, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, body, err
}

// stop ends the gateway, stops the cluster through the API (Ray's
// processes outlive the server by design), stops the server and kills
// whatever of the step is left.
func (rr *realRay) stop() error {
	var errs []error
	if err := rr.gateway.Stop(); err != nil && !isSignal(err) {
		errs = append(errs, fmt.Errorf("stop the gateway: %w", err))
	}
	if rr.api != nil && rr.clusterID != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if _, err := rr.api.StopCluster(ctx, rr.ws, rr.clusterID, &api.StopRequest{}); err != nil {
			errs = append(errs, fmt.Errorf("stop the cluster: %w", err))
		} else if err := benchproc.WaitNoneMarked(ctx, rr.mark, rr.server.PID(), time.Minute); err != nil {
			errs = append(errs, fmt.Errorf("after StopRayCluster: %w", err))
		}
	}
	if rr.server != nil {
		if err := rr.server.Stop(); err != nil && !isSignal(err) {
			errs = append(errs, fmt.Errorf("stop the server: %w", err))
		}
	}
	benchproc.KillMarked(rr.mark, 0)
	return errors.Join(errs...)
}

// realRayRow is the step's figures for one path and client count, one per
// round.
type realRayRow struct {
	path                               string
	clients                            int
	directP50, directP99, gwP50, gwP99 []float64
	added                              []float64
	directRPS, gwRPS                   []float64
	gatewayCPU, upstreamCPU, other     []float64 // per request (µs), and cores
	errs                               int
}

func realRayRows(rs []stepResult) []*realRayRow {
	byKey := indexSteps(rs)
	var rows []*realRayRow
	find := map[string]*realRayRow{}
	for _, r := range rs {
		if r.target != "rayfleet gateway" {
			continue
		}
		d, ok := byKey[key(r.round, "direct", r.path, r.clients)]
		if !ok {
			continue
		}
		k := key(0, "", r.path, r.clients)
		row := find[k]
		if row == nil {
			row = &realRayRow{path: r.path, clients: r.clients}
			find[k] = row
			rows = append(rows, row)
		}
		row.errs += r.errs + d.errs
		row.directP50 = append(row.directP50, float64(d.p(50)))
		row.directP99 = append(row.directP99, float64(d.p(99)))
		row.gwP50 = append(row.gwP50, float64(r.p(50)))
		row.gwP99 = append(row.gwP99, float64(r.p(99)))
		row.added = append(row.added, float64(r.p(50)-d.p(50)))
		row.directRPS = append(row.directRPS, d.rps())
		row.gwRPS = append(row.gwRPS, r.rps())
		if r.ok > 0 {
			row.gatewayCPU = append(row.gatewayCPU, float64(r.proxyCPU)/float64(r.ok)/1e3)
			row.upstreamCPU = append(row.upstreamCPU, float64(r.upstreamCPU)/float64(r.ok)/1e3)
		}
		row.other = append(row.other, r.otherCPU.Seconds()/r.window.Seconds(), d.otherCPU.Seconds()/d.window.Seconds())
	}
	slices.SortStableFunc(rows, func(a, b *realRayRow) int {
		if a.clients != b.clients {
			return a.clients - b.clients
		}
		return slices.Index(realRayPaths, a.path) - slices.Index(realRayPaths, b.path)
	})
	return rows
}
