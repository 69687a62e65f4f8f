package local

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/reconcile"
)

// Observe reports what exists of c: every node record (of any instance,
// the current one first, head first), whether the current instance's head
// answers on its dashboard, its workers, and why it cannot come up if it
// cannot. Right after the first Apply it reports Exists with the head
// Running but HeadReady false ("waiting for the head's dashboard ...").
func (r *Runtime) Observe(ctx context.Context, c *rayfleet.Cluster) (reconcile.Observation, error) {
	if err := checkIDs(c, false); err != nil {
		return reconcile.Observation{}, err
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return reconcile.Observation{}, errClosed
	}
	var failure, waiting string
	if cs := r.clusters[c.ID]; cs != nil {
		waiting = cs.waiting
	}
	if cs := r.clusters[c.ID]; cs != nil && cs.failureInstance == c.InstanceID {
		failure = cs.specFailure
		if failure == "" {
			failure = cs.rayProblem
		}
	}
	r.mu.Unlock()
	recs := r.snapshot(c.ID, c.InstanceID)

	var obs reconcile.Observation
	for _, w := range c.RunningSpec.Workers {
		obs.DesiredWorkers += int(w.Replica)
	}
	obs.Failure = failure
	var head *record
	var restarting *record
	stopping := 0
	for i := range recs {
		rec := &recs[i]
		if rec.Exited && rec.StopReason == stopScaleDown {
			continue // scaled away; Apply forgets it
		}
		obs.Nodes = append(obs.Nodes, instanceOf(rec))
		if rec.running() && rec.StopReason != "" {
			stopping++
		}
		if rec.Instance != c.InstanceID {
			continue
		}
		switch {
		case rec.Type == typeHead:
			head = rec
		case rec.running() && rec.StopReason == "":
			obs.ReadyWorkers++
		case rec.Exited && restarting == nil:
			restarting = rec
		}
	}
	obs.Exists = len(recs) > 0
	if obs.Exists {
		obs.InstanceID = recs[0].Instance
	}

	switch {
	case stopping > 0:
		obs.Progress = fmt.Sprintf("stopping: %d node(s) still running", stopping)
	case failure != "":
	case head == nil && waiting != "":
		obs.Progress = waiting
	case head == nil || head.PID == 0 && !head.Exited:
		obs.Progress = "starting the head"
	case head.Exited && head.StopReason == "":
		why := ""
		if head.Reason == "Lost" || head.Reason == "StartError" {
			why = " (" + head.Message + ")"
		}
		msg := ""
		if line := lastLine(head.Log); line != "" {
			msg = ": " + line
		}
		obs.Failure = fmt.Sprintf("head node exited with code %d%s%s; logs: %s", head.ExitCode, why, msg, head.Log)
	case head.Exited:
		obs.Progress = "the head was stopped"
	default:
		dash := dashboardAddr(head)
		var rayVersion string
		obs.HeadReady, rayVersion = r.probeDashboard(ctx, dash, head.AuthToken)
		// The dashboard answers before `ray start` is done (the head's
		// raylet may not have registered yet, and a GCS that dies then fails
		// the node with "timed out during startup"): the head is ready once
		// `ray start` says the runtime started.
		if obs.HeadReady && !r.saidStarted(head) {
			obs.HeadReady = false
		}
		switch {
		case obs.HeadReady && head.RayVersion != "" && rayVersion != head.RayVersion:
			obs.HeadReady = false
			obs.Failure = fmt.Sprintf("the head's dashboard reports Ray %s, but the node was started with Ray %s (%s); "+
				"the ray executable changed under it: start the cluster again", rayVersion, head.RayVersion, head.Args[0])
		case !obs.HeadReady:
			obs.Progress = "waiting for the head's dashboard on " + dash
		case obs.ReadyWorkers < obs.DesiredWorkers:
			obs.Progress = fmt.Sprintf("%d/%d workers running", obs.ReadyWorkers, obs.DesiredWorkers)
			if restarting != nil {
				obs.Progress += fmt.Sprintf("; %s %s, restarting in %s", restarting.Node, restarting.Message,
					max(restarting.Ended.Add(restartDelay(restarting)).Sub(r.cfg.Now()), 0).Round(time.Second))
			}
		}
	}
	return obs, nil
}

// HeadEndpoints returns host:port of the dashboard and of the Ray client
// server of c's current head, for the gateway; ok is false while the
// instance has no running head.
func (r *Runtime) HeadEndpoints(c *rayfleet.Cluster) (dashboard, client string, ok bool) {
	head, ok := r.currentHead(c)
	if !ok {
		return "", "", false
	}
	return dashboardAddr(&head), net.JoinHostPort(r.cfg.Host, strconv.Itoa(head.Ports.ClientServer)), true
}

// JobAPI returns the base URL of the job API of c's current head (its
// dashboard, on loopback) and the instance's Ray token, for the control
// plane; ok is false while the instance has no running head.
func (r *Runtime) JobAPI(c *rayfleet.Cluster) (baseURL, token string, ok bool) {
	head, ok := r.currentHead(c)
	if !ok {
		return "", "", false
	}
	return "http://" + dashboardAddr(&head), head.AuthToken, true
}

// HeadToken returns Ray's authentication token of c's current instance, for
// the gateway and the control plane to send to its head; "" while the
// instance has no running head (or runs without token authentication).
func (r *Runtime) HeadToken(c *rayfleet.Cluster) string {
	head, _ := r.currentHead(c)
	return head.AuthToken
}

func (r *Runtime) currentHead(c *rayfleet.Cluster) (record, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cs := r.clusters[c.ID]
	if cs == nil {
		return record{}, false
	}
	head := cs.nodes[c.InstanceID+"/"+headNodeName(c.ID)]
	if head == nil || !head.running() {
		return record{}, false
	}
	return *head, true
}

// dashboardAddr is where the head's dashboard listens: always loopback
// (--dashboard-host=127.0.0.1), the gateway is the way in from outside.
func dashboardAddr(head *record) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(head.Ports.Dashboard))
}

// probeDashboard reports whether the head's dashboard answers GET
// /api/version (with the instance's token), and the Ray version it reports.
func (r *Runtime) probeDashboard(ctx context.Context, addr, token string) (bool, string) {
	var v struct {
		RayVersion string `json:"ray_version"`
	}
	ok := r.getJSON(ctx, "http://"+addr+"/api/version", token, &v)
	return ok, v.RayVersion
}

// saidStarted reports whether the node's `ray start` printed "Ray runtime
// started." (Ray's scripts.py, once Node() has started every process of the
// node and its raylet has registered with the GCS). It is read from the
// node's log until then, and recorded in the node's record after.
func (r *Runtime) saidStarted(rec *record) bool {
	if rec.RayStarted {
		return true
	}
	f, err := os.Open(rec.Log)
	if err != nil {
		return false
	}
	defer f.Close()
	buf := make([]byte, 256<<10) // the line comes within the first few KiB
	n, _ := io.ReadFull(f, buf)
	if !bytes.Contains(buf[:n], []byte("Ray runtime started.")) {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if cs := r.clusters[rec.Cluster]; cs != nil {
		if live := cs.nodes[rec.key()]; live != nil && live.PID == rec.PID {
			live.RayStarted = true
			r.saveLocked(live)
		}
	}
	return true
}

// getJSON GETs url with the token and decodes a 200 answer into out.
func (r *Runtime) getJSON(ctx context.Context, url, token string, out any) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := r.probe.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(out) == nil
}

// instanceOf shows a node as instances[] does, like a pod.
func instanceOf(rec *record) rayfleet.Instance {
	in := rayfleet.Instance{
		InstanceID: rec.Node, Type: rec.Type, Group: rec.Group,
		CreateTime: rec.Created, StartTime: rec.Started,
		RayVersion: rec.RayVersion, PythonVersion: rec.PythonVersion,
	}
	switch {
	case rec.Exited:
		in.Phase = "Failed"
		if rec.ExitCode == 0 {
			in.Phase = "Succeeded"
		}
		in.ContainerState = "Terminated"
		in.ContainerExitCode = int32(rec.ExitCode)
		in.Reason, in.ContainerStateReason = rec.Reason, rec.Reason
		in.ContainerStateMessage = rec.Message
		if rec.ExitCode != 0 {
			in.Message = lastLine(rec.Log)
			if in.Message == "" {
				in.Message = rec.Message
			}
		}
	case rec.PID == 0:
		in.Phase, in.ContainerState, in.ContainerStateReason = "Pending", "Waiting", "Starting"
	default:
		in.Phase, in.ContainerState = "Running", "Running"
		if rec.StopReason != "" {
			in.ContainerStateMessage = "stopping"
		}
	}
	return in
}
