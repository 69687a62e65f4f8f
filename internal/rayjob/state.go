package rayjob

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// The head's state API (Ray 2.60, python/ray/dashboard/modules/state/
// state_head.py), the part rayfleet reads to copy a cluster's logs:
//
//	GET /api/v0/nodes?detail=false&limit=N       the cluster's nodes
//	GET /api/v0/tasks?filter_keys=job_id&...       the tasks of a job, with the worker each ran on
//	GET /api/v0/logs?node_id=<id>&glob=*          the files of a node's log directory
//	GET /api/v0/logs/file?node_id=<id>&filename=<f>&lines=<n>
//	                                             the last n lines of one (-1: all), streamed
//
// The list answers are Ray's rest_response: {"result": bool, "msg": str,
// "data": {"result": ...}}. The file is streamed as text/plain by the
// node's own agent (log_agent.py's StreamLog), which resolves the name
// inside the node's log directory and refuses one outside it.

// Node is a node of the cluster as the state API lists it.
type Node struct {
	NodeID string `json:"node_id"`
	NodeIP string `json:"node_ip"`
	IsHead bool   `json:"is_head_node"`
	// State is ALIVE or DEAD; a dead node's files went with it.
	State string `json:"state"`
}

// NodeAlive is the State of a node that runs.
const NodeAlive = "ALIVE"

// stateReply is the envelope of the state API's list answers.
type stateReply[T any] struct {
	Result bool   `json:"result"`
	Msg    string `json:"msg"`
	Data   struct {
		Result T `json:"result"`
	} `json:"data"`
}

func getState[T any](ctx context.Context, c *Client, path string) (T, error) {
	var r stateReply[T]
	if err := c.getJSON(ctx, path, &r); err != nil {
		return r.Data.Result, err
	}
	if !r.Result {
		return r.Data.Result, fmt.Errorf("ray state API GET %s: %s", path, r.Msg)
	}
	return r.Data.Result, nil
}

// Nodes returns the cluster's nodes, dead ones too.
func (c *Client) Nodes(ctx context.Context) ([]Node, error) {
	r, err := getState[struct {
		Result []Node `json:"result"`
	}](ctx, c, "/api/v0/nodes?detail=false&limit=10000")
	return r.Result, err
}

// TaskWorker is where a task ran: a worker process of a node.
type TaskWorker struct {
	NodeID   string `json:"node_id"`
	WorkerID string `json:"worker_id"`
}

// JobWorkers returns where the tasks and actors of Ray job rayJobID (the
// hex id Ray gave the job, JobInfo.JobID) ran, as the tasks the head
// remembers say; a task not yet scheduled has empty ids. A worker's log
// files are named after the job it was started for, which a worker Ray
// keeps in its pool for any job is not ("ffffffff"), so this is how a job's
// worker logs are told.
func (c *Client) JobWorkers(ctx context.Context, rayJobID string) ([]TaskWorker, error) {
	q := url.Values{"filter_keys": {"job_id"}, "filter_predicates": {"="}, "filter_values": {rayJobID}, "detail": {"false"}, "limit": {"10000"}}
	r, err := getState[struct {
		Result []TaskWorker `json:"result"`
	}](ctx, c, "/api/v0/tasks?"+q.Encode())
	return r.Result, err
}

// NodeLogFiles returns the names of the files (and, ending in "/", the
// directories) at the top of a node's log directory.
func (c *Client) NodeLogFiles(ctx context.Context, nodeID string) ([]string, error) {
	// Ray sorts them into components (raylet, gcs_server, worker_out...);
	// the names are what matters here.
	byComponent, err := getState[map[string][]string](ctx, c, "/api/v0/logs?"+url.Values{"node_id": {nodeID}, "glob": {"*"}}.Encode())
	if err != nil {
		return nil, err
	}
	var out []string
	for _, files := range byComponent {
		out = append(out, files...)
	}
	return out, nil
}

// NodeLog writes the last lines lines of file, a name of NodeLogFiles, to
// w (every line when lines is -1). A file Ray cannot find is an error
// wrapping ErrNotFound only when the head says 404; Ray 2.60 answers 500
// for it.
func (c *Client) NodeLog(ctx context.Context, nodeID, file string, lines int, w io.Writer) error {
	path := "/api/v0/logs/file?" + url.Values{"node_id": {nodeID}, "filename": {file}, "lines": {strconv.Itoa(lines)}}.Encode()
	resp, err := c.send(ctx, http.MethodGet, path, nil, "")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return &Error{Method: http.MethodGet, Path: path, StatusCode: resp.StatusCode, Body: lastLines(string(data), 600)}
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("ray state API GET %s: %w", path, err)
	}
	return nil
}
