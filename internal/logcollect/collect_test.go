package logcollect

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/logstore"
	"github.com/rayfleet/rayfleet/internal/rayjob"
)

const (
	headNode   = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	workerNode = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	deadNode   = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
	pooled     = "1111111111111111111111111111111111111111111111111111111a"
	own        = "2222222222222222222222222222222222222222222222222222222b"
	other      = "3333333333333333333333333333333333333333333333333333333c"
)

// fakeHead answers the job and state API as a Ray 2.60 head does, from
// maps it holds; driverFails makes the job API's log call fail as a log
// too long for it would.
type fakeHead struct {
	mu          sync.Mutex
	token       string
	driver      string
	driverFails bool
	nodes       []rayjob.Node
	workers     []rayjob.TaskWorker
	files       map[string]map[string]string // node -> name -> content
	broken      map[string]bool              // names listed that cannot be read
	asked       []string                     // files streamed, node/name?lines=n
}

func reply(w http.ResponseWriter, v any) {
	_ = json.NewEncoder(w).Encode(map[string]any{"result": true, "msg": "", "data": map[string]any{"result": v}})
}

func (f *fakeHead) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+f.token {
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	q := r.URL.Query()
	switch r.URL.Path {
	case "/api/jobs/rj-1":
		_ = json.NewEncoder(w).Encode(rayjob.JobInfo{SubmissionID: "rj-1", JobID: "02000000", Status: "RUNNING", DriverNodeID: headNode})
	case "/api/jobs/rj-1/logs":
		if f.driverFails {
			http.Error(w, "Traceback...\nMemoryError", http.StatusInternalServerError)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"logs": f.driver})
	case "/api/v0/nodes":
		reply(w, map[string]any{"total": len(f.nodes), "result": f.nodes})
	case "/api/v0/tasks":
		if q.Get("filter_keys") != "job_id" || q.Get("filter_predicates") != "=" || q.Get("filter_values") != "02000000" {
			http.Error(w, "bad filter "+q.Encode(), http.StatusBadRequest)
			return
		}
		reply(w, map[string]any{"total": len(f.workers), "result": f.workers})
	case "/api/v0/logs":
		var names []string
		for name := range f.files[q.Get("node_id")] {
			names = append(names, name)
		}
		reply(w, map[string][]string{"internal": names})
	case "/api/v0/logs/file":
		content, ok := f.files[q.Get("node_id")][q.Get("filename")]
		if !ok || f.broken[q.Get("filename")] {
			http.Error(w, "A file is not found at: /tmp/x/"+q.Get("filename"), http.StatusInternalServerError)
			return
		}
		f.asked = append(f.asked, q.Get("node_id")[:1]+"/"+q.Get("filename")+"?lines="+q.Get("lines"))
		if n, _ := strconv.Atoi(q.Get("lines")); n > 0 {
			lines := strings.SplitAfter(content, "\n")
			if lines[len(lines)-1] == "" {
				lines = lines[:len(lines)-1]
			}
			content = strings.Join(lines[max(0, len(lines)-n):], "")
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, content)
	default:
		http.NotFound(w, r)
	}
}

func newFakeHead(t *testing.T) (*fakeHead, rayjob.Client) {
	f := &fakeHead{
		token:  "t0k3n",
		driver: "hello from the driver\n",
		nodes: []rayjob.Node{
			{NodeID: headNode, IsHead: true, State: rayjob.NodeAlive},
			{NodeID: workerNode, State: rayjob.NodeAlive},
			{NodeID: deadNode, State: "DEAD"},
		},
		workers: []rayjob.TaskWorker{{NodeID: workerNode, WorkerID: pooled}, {NodeID: "", WorkerID: ""}},
		files: map[string]map[string]string{
			headNode: {
				"raylet.out": "raylet of the head\n", "raylet.err": "", "gcs_server.out": "gcs\n", "gcs_server.err": "",
				"dashboard.log": "dash\n", "dashboard_agent.log": "agent\n", "dashboard_JobHead.log": "jobs\n", "dashboard_DataHead.log": "no\n",
				"monitor.log": "autoscaler\n", "runtime_env_setup-02000000.log": "pip install\n", "runtime_env_setup-01000000.log": "no\n",
				"job-driver-rj-1.log": "hello from the driver\n", "python-core-worker-x_1.log": "no\n", "events/": "", "old/": "",
				"worker-" + own + "-02000000-7.out": "started for the job\n", "worker-" + other + "-01000000-8.out": "not the job's\n",
				"debug_state.txt": "no\n",
			},
			workerNode: {
				"raylet.out":                           "raylet of the worker\n",
				"worker-" + pooled + "-ffffffff-9.out": ":job_id:02000000\nran a task\n", "worker-" + pooled + "-ffffffff-9.err": "",
				"worker-" + other + "-ffffffff-10.out": ":job_id:03000000\n",
			},
			deadNode: {"raylet.out": "gone\n"},
		},
	}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, rayjob.Client{Address: srv.URL, Token: f.token}
}

func newStore(t *testing.T) *logstore.Dir {
	d, err := logstore.OpenDir(t.TempDir(), "rayfleet-logs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// stored returns every object of the store by key, with its content.
func stored(t *testing.T, s *logstore.Dir) map[string]string {
	t.Helper()
	ctx := context.Background()
	l, err := s.List(ctx, rayfleet.LogListOptions{MaxKeys: rayfleet.MaxLogKeys})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range l.Entries {
		rc, _, err := s.Open(ctx, e.Key)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		out[e.Key] = string(b)
	}
	return out
}

var job = rayfleet.Job{ID: "rj-1", WorkspaceID: "w-1", LogBucket: "rayfleet-logs", LogPath: "w-1/ray/logs/rj-1_default/"}

// TestCollect: the driver's log and the chosen files of every live node
// land under the job's log path, each asked for its last lines; a second
// collection replaces them, and one that cannot read a file keeps its
// earlier copy.
func TestCollect(t *testing.T) {
	ctx := context.Background()
	f, head := newFakeHead(t)
	s := newStore(t)
	c := &Collector{Store: s, MaxLines: 1000}
	if err := c.Collect(ctx, job, head); err != nil {
		t.Fatal(err)
	}
	p := job.LogPath
	h, w := p+"head-"+headNode+"/", p+"worker-"+workerNode+"/"
	want := map[string]string{
		p + "driver/rj-1_driver.log": "hello from the driver\n",
		h + "raylet.out":             "raylet of the head\n", h + "raylet.err": "", h + "gcs_server.out": "gcs\n", h + "gcs_server.err": "",
		h + "dashboard.log": "dash\n", h + "dashboard_agent.log": "agent\n", h + "dashboard_JobHead.log": "jobs\n",
		h + "monitor.log": "autoscaler\n", h + "runtime_env_setup-02000000.log": "pip install\n",
		h + "worker-" + own + "-02000000-7.out":    "started for the job\n",
		w + "raylet.out":                           "raylet of the worker\n",
		w + "worker-" + pooled + "-ffffffff-9.out": ":job_id:02000000\nran a task\n", w + "worker-" + pooled + "-ffffffff-9.err": "",
	}
	got := stored(t, s)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		var gk, wk []string
		for k := range got {
			gk = append(gk, k)
		}
		for k := range want {
			wk = append(wk, k)
		}
		slices.Sort(gk)
		slices.Sort(wk)
		t.Fatalf("stored\n  %s\nwant\n  %s", strings.Join(gk, "\n  "), strings.Join(wk, "\n  "))
	}
	for _, a := range f.asked {
		if !strings.HasSuffix(a, "?lines=1000") {
			t.Fatalf("asked %s, not for the last MaxLines lines", a)
		}
	}

	// Again, after the logs grew and one file went away.
	f.mu.Lock()
	f.driver += "more\n"
	f.files[headNode]["gcs_server.out"] += "later\n"
	f.files[workerNode]["raylet.out"] = "raylet of the worker, unread\n"
	f.broken = map[string]bool{"raylet.out": true}
	f.mu.Unlock()
	err := c.Collect(ctx, job, head)
	if err == nil || !strings.Contains(err.Error(), "raylet.out") {
		t.Fatalf("a collection that could not read a file: %v", err)
	}
	got = stored(t, s)
	if got[p+"driver/rj-1_driver.log"] != "hello from the driver\nmore\n" || got[h+"gcs_server.out"] != "gcs\nlater\n" {
		t.Fatalf("a second collection did not replace the copies: %q %q", got[p+"driver/rj-1_driver.log"], got[h+"gcs_server.out"])
	}
	if got[w+"raylet.out"] != "raylet of the worker\n" {
		t.Fatalf("a file that could not be read lost its copy: %q", got[w+"raylet.out"])
	}
}

// TestCollectBounds: a file longer than MaxBytes keeps its end from a
// whole line, after a line saying so; the driver's log comes from its
// node when the job API cannot give it.
func TestCollectBounds(t *testing.T) {
	ctx := context.Background()
	f, head := newFakeHead(t)
	var long strings.Builder
	for i := range 100 {
		fmt.Fprintf(&long, "line %03d\n", i) // 9 bytes a line
	}
	f.files[headNode]["raylet.out"] = long.String()
	f.files[headNode]["job-driver-rj-1.log"] = "from the node's file\n"
	f.driverFails = true
	s := newStore(t)
	c := &Collector{Store: s, MaxBytes: 40}
	if err := c.Collect(ctx, job, head); err != nil {
		t.Fatal(err)
	}
	got := stored(t, s)
	if want := "[rayfleet kept the last 36 bytes of this log; the 864 before them were left out]\nline 096\nline 097\nline 098\nline 099\n"; got[job.LogPath+"head-"+headNode+"/raylet.out"] != want {
		t.Fatalf("cut file:\n%q\nwant\n%q", got[job.LogPath+"head-"+headNode+"/raylet.out"], want)
	}
	if got[job.LogPath+"driver/rj-1_driver.log"] != "from the node's file\n" {
		t.Fatalf("driver log %q", got[job.LogPath+"driver/rj-1_driver.log"])
	}
}

func TestTail(t *testing.T) {
	c := &Collector{MaxBytes: 10}
	for _, tc := range []struct{ in, want string }{
		{"short\n", "short\n"},
		{"0123456789", "0123456789"},
		{"aaaa\nbbbb\ncccc\n", "[rayfleet kept the last 10 bytes of this log; the 5 before them were left out]\nbbbb\ncccc\n"},
		{"aaaaaa\nbbbbbbbbb\n", "[rayfleet kept the last 10 bytes of this log; the 7 before them were left out]\nbbbbbbbbb\n"},
		{"aaaaaaaaaaaaaaaaaaaaaaaaa", "[rayfleet kept the last 10 bytes of this log; the 15 before them were left out]\naaaaaaaaaa"},
		{"aaaaaaaaaaaaaaa\nb", "[rayfleet kept the last 1 bytes of this log; the 16 before them were left out]\nb"},
	} {
		if got := string(c.tail([]byte(tc.in), len(tc.in))); got != tc.want {
			t.Errorf("tail(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// Through the buffer, written in pieces: the same as whole.
	in := strings.Repeat("0123456\n", 50)
	b := &tailBuffer{max: 10, left: 1 << 20}
	for i := 0; i < len(in); i += 3 {
		_, _ = b.Write([]byte(in[i:min(i+3, len(in))]))
	}
	if got, want := string(c.tail(b.buf, b.total)), string(c.tail([]byte(in), len(in))); got != want {
		t.Fatalf("through the buffer %q, whole %q", got, want)
	}
	if len(b.buf) > 2*(10+1) {
		t.Fatalf("the buffer holds %d bytes", len(b.buf))
	}
	small := &tailBuffer{max: 10, left: 5}
	if _, err := small.Write([]byte("123456")); err == nil {
		t.Fatal("a head streaming more than allowed was not stopped")
	}
}

// TestCollectDistrustsTheHead: node ids and file names a head makes up do
// not lead outside the job's log path.
func TestCollectDistrustsTheHead(t *testing.T) {
	ctx := context.Background()
	f, head := newFakeHead(t)
	f.nodes = append(f.nodes, rayjob.Node{NodeID: "../../w-2", State: rayjob.NodeAlive}, rayjob.Node{NodeID: "dddddddd/../..", State: rayjob.NodeAlive})
	f.files[headNode]["../../../w-2/raylet.out"] = "evil"
	f.files[headNode]["..raylet.out"] = "evil"
	f.workers = append(f.workers, rayjob.TaskWorker{NodeID: headNode, WorkerID: "../x"})
	f.files[headNode]["worker-../x-ffffffff-1.out"] = "evil"
	s := newStore(t)
	err := (&Collector{Store: s}).Collect(ctx, job, head)
	if err == nil || !strings.Contains(err.Error(), "no node id") {
		t.Fatalf("odd node ids: %v", err)
	}
	for k, v := range stored(t, s) {
		if !strings.HasPrefix(k, job.LogPath) || v == "evil" {
			t.Fatalf("stored %s = %q", k, v)
		}
	}
}

// TestChoose: which files of a log directory are kept.
func TestChoose(t *testing.T) {
	files := []string{"raylet.out", "raylet.err", "raylet.out.1", "gcs_server.out", "dashboard.log", "dashboard_ServeHead.log",
		"dashboard_JobHead.err", "monitor.err", "log_monitor.log", "runtime_env_agent.log", "runtime_env_setup-01000000.log",
		"runtime_env_setup-02000000.log", "worker-" + own + "-02000000-7.out", "worker-" + own + "-02000000-7.err",
		"worker-" + pooled + "-ffffffff-9.out", "worker-" + other + "-ffffffff-10.out", "python-core-driver-02000000ff_1.log",
		"job-driver-rj-1.log", "events/", "raylet"}
	got := choose(files, "02000000", map[string]bool{pooled: true})
	want := []string{"dashboard.log", "dashboard_JobHead.err", "gcs_server.out", "monitor.err", "raylet.err", "raylet.out",
		"runtime_env_agent.log", "runtime_env_setup-02000000.log", "worker-" + pooled + "-ffffffff-9.out",
		"worker-" + own + "-02000000-7.err", "worker-" + own + "-02000000-7.out"}
	if !slices.Equal(got, want) {
		t.Fatalf("chose\n  %v\nwant\n  %v", got, want)
	}
	// Before Ray gave the job an id, no worker is the job's by name.
	for _, f := range choose(files, "", nil) {
		if strings.HasPrefix(f, "worker-") || strings.HasPrefix(f, "runtime_env_setup-") {
			t.Fatalf("chose %s for a job without a Ray job id", f)
		}
	}
}
