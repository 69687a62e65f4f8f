package reconcile

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/rayjob"
	"github.com/rayfleet/rayfleet/internal/service"
	"github.com/rayfleet/rayfleet/internal/store"
)

// fakeHead is the job API of one Ray head, in memory: a job per
// submission id, in the status the test sets; a second submit of an id is
// refused as Ray refuses it.
type fakeHead struct {
	mu      sync.Mutex
	jobs    map[string]*rayjob.JobInfo
	submits map[string]int // POSTs per id, refused ones included
	down    bool           // every call fails
	srv     *httptest.Server
}

func newFakeHead(t *testing.T) *fakeHead {
	h := &fakeHead{jobs: map[string]*rayjob.JobInfo{}, submits: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/jobs/", func(w http.ResponseWriter, r *http.Request) {
		var req rayjob.SubmitRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		h.submits[req.SubmissionID]++
		if _, ok := h.jobs[req.SubmissionID]; ok {
			http.Error(w, "Traceback ... ValueError: Job with submission_id "+req.SubmissionID+" already exists.", http.StatusBadRequest)
			return
		}
		if strings.Contains(req.Entrypoint, "refuse") {
			http.Error(w, "runtime_env is not valid", http.StatusBadRequest)
			return
		}
		h.jobs[req.SubmissionID] = &rayjob.JobInfo{SubmissionID: req.SubmissionID, Status: rayfleet.RayJobPending, Message: "Job has not started yet.", StartTime: time.Now().UnixMilli()}
		_ = json.NewEncoder(w).Encode(map[string]string{"submission_id": req.SubmissionID})
	})
	mux.HandleFunc("GET /api/jobs/", func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		defer h.mu.Unlock()
		out := []rayjob.JobInfo{}
		for _, j := range h.jobs {
			out = append(out, *j)
		}
		_ = json.NewEncoder(w).Encode(out)
	})
	mux.HandleFunc("POST /api/jobs/{id}/stop", func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		defer h.mu.Unlock()
		j := h.jobs[r.PathValue("id")]
		if j == nil {
			http.NotFound(w, r)
			return
		}
		stopped := !rayFinal(j.Status)
		if stopped {
			j.Status, j.Message, j.EndTime = rayfleet.RayJobStopped, "Job was intentionally stopped.", time.Now().UnixMilli()
		}
		_ = json.NewEncoder(w).Encode(map[string]bool{"stopped": stopped})
	})
	mux.HandleFunc("GET /api/jobs/{id}", func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		defer h.mu.Unlock()
		if j := h.jobs[r.PathValue("id")]; j != nil {
			_ = json.NewEncoder(w).Encode(j)
		} else {
			http.NotFound(w, r)
		}
	})
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		down := h.down
		h.mu.Unlock()
		if down || r.Header.Get("Authorization") != "Bearer t0ken" {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// set makes Ray report job id as status (ending it when final).
func (h *fakeHead) set(id, status, message string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	j := h.jobs[id]
	j.Status, j.Message = status, message
	if rayFinal(status) {
		j.EndTime = time.Now().UnixMilli()
	}
}

func (h *fakeHead) status(id string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if j := h.jobs[id]; j != nil {
		return j.Status
	}
	return ""
}

func (h *fakeHead) submitted(id string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.submits[id]
}

// fakeHeads are the heads of the fake runtime's clusters, one per
// instance, answering while the instance has nodes.
type fakeHeads struct {
	t     *testing.T
	rt    *fakeRuntime
	mu    sync.Mutex
	heads map[string]*fakeHead
}

func (f *fakeHeads) of(instance string) *fakeHead {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.heads[instance] == nil {
		f.heads[instance] = newFakeHead(f.t)
	}
	return f.heads[instance]
}

func (f *fakeHeads) JobAPI(c *rayfleet.Cluster) (string, string, bool) {
	f.rt.mu.Lock()
	n := f.rt.nodes[c.ID]
	f.rt.mu.Unlock()
	if n == nil || n.instance != c.InstanceID {
		return "", "", false
	}
	return f.of(c.InstanceID).srv.URL, "t0ken", true
}

// endings records the JobEnded hook's calls.
type endings struct {
	mu    sync.Mutex
	calls map[string]int
	heads map[string]string
}

func (e *endings) JobEnded(_ context.Context, j rayfleet.Job, head rayjob.Client) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls[j.ID]++
	e.heads[j.ID] = head.Address
}

type jobEnv struct {
	*env
	heads  *fakeHeads
	runner *JobRunner
	ended  *endings
}

func newJobEnv(t *testing.T, maxRunning int) *jobEnv {
	e := &jobEnv{env: newEnv(t)}
	e.heads = &fakeHeads{t: t, rt: e.rt, heads: map[string]*fakeHead{}}
	e.ended = &endings{calls: map[string]int{}, heads: map[string]string{}}
	e.runner = &JobRunner{Store: e.st, Heads: e.heads, Clusters: e.svc, Now: e.clock.now, MaxRunning: maxRunning, Ended: e.ended}
	return e
}

// pass runs the runner on a cluster's jobs until a pass changes none.
func (e *jobEnv) pass(t *testing.T, clusterID string) {
	t.Helper()
	ref := Ref{AccountID: e.p.AccountID, WorkspaceID: e.ws, ID: clusterID}
	for range 10 {
		before := e.jobVersions(t)
		if _, err := e.runner.Reconcile(context.Background(), ref); err != nil {
			t.Fatalf("job pass: %v", err)
		}
		if e.jobVersions(t) == before {
			return
		}
	}
	t.Fatal("the jobs did not settle")
}

func (e *jobEnv) jobVersions(t *testing.T) int64 {
	t.Helper()
	js, _, err := e.st.ListJobs(context.Background(), store.JobFilter{AccountID: e.p.AccountID, WorkspaceID: e.ws})
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, j := range js {
		n += j.Version
	}
	return n
}

func (e *jobEnv) job(t *testing.T, id string) rayfleet.Job {
	t.Helper()
	j, err := e.st.GetJob(context.Background(), e.p.AccountID, e.ws, id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func (e *jobEnv) submit(t *testing.T, spec rayfleet.JobSpec) string {
	t.Helper()
	o, err := e.svc.SubmitJob(context.Background(), e.p, e.ws, spec, "")
	if err != nil {
		t.Fatal(err)
	}
	return o.ID
}

func wantJob(t *testing.T, j rayfleet.Job, status rayfleet.JobStatus, message string) {
	t.Helper()
	if j.Status != status || !strings.Contains(j.Message, message) {
		t.Fatalf("job %s: %s %q, want %s %q", j.ID, j.Status, j.Message, status, message)
	}
}

// TestJobsOnACluster: jobs on a cluster are handed to its head in
// submission order, at most MaxRunning at a time, each submitted once;
// Ray's statuses and messages become theirs; a cancelled one is stopped on
// Ray; each end is told to the hook once, with the head.
func TestJobsOnACluster(t *testing.T) {
	e := newJobEnv(t, 2)
	ctx := context.Background()
	id := e.create(t, 0)
	c := e.settle(t, id)
	var jobs []string
	for range 3 {
		jobs = append(jobs, e.submit(t, rayfleet.JobSpec{Entrypoint: "python main.py", ClusterID: id, RuntimeEnvJSON: `{"env_vars":{"A":"1"}}`, ShutdownAfterJobFinishes: true}))
	}
	e.pass(t, id)
	head := e.heads.of(c.InstanceID)
	for _, j := range jobs[:2] {
		if head.status(j) != rayfleet.RayJobPending || head.submitted(j) != 1 {
			t.Fatalf("job %s on Ray: %q, submitted %d times", j, head.status(j), head.submitted(j))
		}
	}
	wantJob(t, e.job(t, jobs[2]), rayfleet.JobPending, "waiting for one of the 2 running jobs on cluster "+id+" to end")
	if head.submitted(jobs[2]) != 0 {
		t.Fatal("the third job went to Ray beyond the limit")
	}
	first := e.job(t, jobs[0])
	if first.InstanceID != c.InstanceID || first.Held.MilliCPU != 2000 || first.ClusterState != rayfleet.JobClusterRunning {
		t.Fatalf("a handed job: instance %s, held %v, clusterState %s", first.InstanceID, first.Held, first.ClusterState)
	}

	head.set(jobs[0], rayfleet.RayJobRunning, "Job is currently running.")
	e.pass(t, id)
	wantJob(t, e.job(t, jobs[0]), rayfleet.JobRunning, "Job is currently running.")
	head.set(jobs[0], rayfleet.RayJobSucceeded, "Job finished successfully.")
	e.pass(t, id)
	done := e.job(t, jobs[0])
	wantJob(t, done, rayfleet.JobSucceeded, "Job finished successfully.")
	if done.EndTime.IsZero() || done.StartTime.IsZero() {
		t.Fatalf("times of an ended job: %v %v", done.StartTime, done.EndTime)
	}
	if head.submitted(jobs[2]) != 1 {
		t.Fatal("the third job did not get the freed slot")
	}

	if err := e.svc.CancelJob(ctx, e.p, e.ws, jobs[1]); err != nil {
		t.Fatal(err)
	}
	wantJob(t, e.job(t, jobs[1]), rayfleet.JobCancelling, "cancelling")
	e.pass(t, id)
	wantJob(t, e.job(t, jobs[1]), rayfleet.JobCancelled, "intentionally stopped")
	if err := e.svc.CancelJob(ctx, e.p, e.ws, jobs[1]); err != nil {
		t.Fatalf("cancelling a cancelled job again: %v", err)
	}
	wantCode(t, e.svc.CancelJob(ctx, e.p, e.ws, jobs[0]), rayfleet.EDENIED)

	head.set(jobs[2], rayfleet.RayJobFailed, "Job entrypoint command failed with exit code 1")
	e.pass(t, id)
	wantJob(t, e.job(t, jobs[2]), rayfleet.JobFailed, "exit code 1")
	for _, j := range jobs {
		if e.ended.calls[j] != 1 || e.ended.heads[j] != head.srv.URL {
			t.Fatalf("hook for %s: %d calls, head %q", j, e.ended.calls[j], e.ended.heads[j])
		}
		if head.submitted(j) != 1 {
			t.Fatalf("job %s submitted %d times", j, head.submitted(j))
		}
	}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if rayfleet.ErrorCode(err) != code {
		t.Fatalf("want %s, got %v", code, err)
	}
}

// TestJobSubmitAfterACrash: a job given its instance but not submitted (the
// head did not answer, or the process died between) is submitted by the
// next pass, of this runner or a new one; a job the head has already is
// never submitted again.
func TestJobSubmitAfterACrash(t *testing.T) {
	e := newJobEnv(t, 10)
	id := e.create(t, 0)
	c := e.settle(t, id)
	head := e.heads.of(c.InstanceID)
	j := e.submit(t, rayfleet.JobSpec{Entrypoint: "true", ClusterID: id})
	head.mu.Lock()
	head.down = true
	head.mu.Unlock()
	ref := Ref{AccountID: e.p.AccountID, WorkspaceID: e.ws, ID: id}
	if _, err := e.runner.Reconcile(context.Background(), ref); err == nil {
		t.Fatal("a submit to a head that is down succeeded")
	}
	if got := e.job(t, j); got.InstanceID != c.InstanceID {
		t.Fatalf("the instance was not recorded before the submit: %+v", got)
	}
	head.mu.Lock()
	head.down = false
	head.mu.Unlock()
	restarted := &JobRunner{Store: e.st, Heads: e.heads, Clusters: e.svc, Now: e.clock.now}
	e.runner = restarted
	e.pass(t, id)
	e.runner = &JobRunner{Store: e.st, Heads: e.heads, Clusters: e.svc, Now: e.clock.now}
	e.pass(t, id)
	if head.submitted(j) != 1 || head.status(j) != rayfleet.RayJobPending {
		t.Fatalf("after the restarts: submitted %d times, %q", head.submitted(j), head.status(j))
	}
	// Ray refusing a job for good ends it, with Ray's answer.
	bad := e.submit(t, rayfleet.JobSpec{Entrypoint: "refuse me", ClusterID: id})
	e.pass(t, id)
	wantJob(t, e.job(t, bad), rayfleet.JobFailed, "Ray refused the job: runtime_env is not valid")
}

// TestJobOfAStoppedCluster: a cluster stopped under a running job ends it
// Failed, saying why; a job waiting for a stopped cluster fails too.
func TestJobOfAStoppedCluster(t *testing.T) {
	e := newJobEnv(t, 1)
	ctx := context.Background()
	id := e.create(t, 0)
	e.settle(t, id)
	a := e.submit(t, rayfleet.JobSpec{Entrypoint: "sleep 100", ClusterID: id})
	b := e.submit(t, rayfleet.JobSpec{Entrypoint: "sleep 100", ClusterID: id})
	e.pass(t, id)
	if _, err := e.svc.StopCluster(ctx, e.p, e.ws, id, "", ""); err != nil {
		t.Fatal(err)
	}
	e.settle(t, id)
	e.pass(t, id)
	wantJob(t, e.job(t, a), rayfleet.JobFailed, "its cluster "+id+" was stopped before the job ended")
	wantJob(t, e.job(t, b), rayfleet.JobFailed, "its cluster "+id+" was stopped before the job started")
	_, err := e.svc.SubmitJob(ctx, e.p, e.ws, rayfleet.JobSpec{Entrypoint: "true", ClusterID: id}, "")
	wantCode(t, err, rayfleet.EDENIED)
}

// TestTemporaryClusterJob: a job without a cluster gets one of its own,
// visible as job-<id>, is handed to it once it runs, and its cluster is
// deleted ttlSecondsAfterFinished after it ends.
func TestTemporaryClusterJob(t *testing.T) {
	e := newJobEnv(t, 10)
	ctx := context.Background()
	j := e.submit(t, rayfleet.JobSpec{Entrypoint: "true", Head: &rayfleet.HeadSpec{CPU: "1", Memory: "2Gi"}, ShutdownAfterJobFinishes: true, TTLSecondsAfterFinished: 30})
	cid := rayfleet.TemporaryClusterID(j)
	if got := e.job(t, j); got.ClusterID != cid || got.ClusterState != rayfleet.JobClusterSubmitted || got.Status != rayfleet.JobSubmitted {
		t.Fatalf("submitted: %+v", got)
	}
	e.pass(t, cid)
	got := e.job(t, j)
	wantJob(t, got, rayfleet.JobPending, "waiting for cluster "+cid+" to start")
	if got.ClusterState != rayfleet.JobClusterPending {
		t.Fatalf("clusterState %s while its cluster starts", got.ClusterState)
	}
	cl, err := e.svc.GetCluster(ctx, e.p, e.ws, cid)
	if err != nil || cl.Spec.Name != "job-"+j || cl.Spec.Head.CPU != "1" {
		t.Fatalf("the job's cluster: %+v %v", cl, err)
	}
	c := e.settle(t, cid)
	e.pass(t, cid)
	head := e.heads.of(c.InstanceID)
	head.set(j, rayfleet.RayJobSucceeded, "done")
	e.pass(t, cid)
	wantJob(t, e.job(t, j), rayfleet.JobSucceeded, "done")
	if _, err := e.svc.GetCluster(ctx, e.p, e.ws, cid); err != nil {
		t.Fatalf("the cluster went before its ttl: %v", err)
	}
	e.clock.add(31 * time.Second)
	e.pass(t, cid)
	if _, err := e.svc.GetCluster(ctx, e.p, e.ws, cid); rayfleet.ErrorCode(err) != rayfleet.ENOTFOUND {
		t.Fatalf("the cluster is still there after its ttl: %v", err)
	}
	if got := e.job(t, j); got.ClusterState != rayfleet.JobClusterDeleted || head.submitted(j) != 1 {
		t.Fatalf("after the ttl: clusterState %s, submitted %d times", got.ClusterState, head.submitted(j))
	}
	e.settle(t, cid)
	if e.rt.has(cid) {
		t.Fatal("the job's cluster kept nodes")
	}
}

// TestTemporaryClusterWaitsForRoom: a job's cluster that does not fit its
// queue now waits, the job Pending saying why, until room is freed; one
// that could never fit is refused at submission.
func TestTemporaryClusterWaitsForRoom(t *testing.T) {
	e := newJobEnv(t, 10)
	ctx := context.Background()
	big, err := e.svc.CreateCluster(ctx, e.p, e.ws, rayfleet.ClusterPatch{Name: ptr("big"), Head: &rayfleet.HeadSpec{CPU: "60", Memory: "8Gi"}}, "")
	if err != nil {
		t.Fatal(err)
	}
	j := e.submit(t, rayfleet.JobSpec{Entrypoint: "true", Head: &rayfleet.HeadSpec{CPU: "8", Memory: "8Gi"}})
	cid := rayfleet.TemporaryClusterID(j)
	e.pass(t, cid)
	got := e.job(t, j)
	wantJob(t, got, rayfleet.JobPending, "waiting for room for its cluster: ")
	if got.ClusterState != rayfleet.JobClusterSubmitted {
		t.Fatalf("clusterState %s while it waits for room", got.ClusterState)
	}
	if _, err := e.svc.DeleteCluster(ctx, e.p, e.ws, big.ClusterID, ""); err != nil {
		t.Fatal(err)
	}
	e.settle(t, big.ClusterID)
	e.pass(t, cid)
	if got := e.job(t, j); got.ClusterState != rayfleet.JobClusterPending {
		t.Fatalf("after room was freed: %s %q", got.ClusterState, got.Message)
	}
	_, err = e.svc.SubmitJob(ctx, e.p, e.ws, rayfleet.JobSpec{Entrypoint: "true", Head: &rayfleet.HeadSpec{CPU: "65", Memory: "8Gi"}}, "")
	wantCode(t, err, rayfleet.EQUOTA)
}

// TestJobDeadline: activeDeadlineSeconds counts from submission: a job Ray
// runs past it is stopped on Ray and ends Timeout, and its cluster is
// deleted at once, its ttl notwithstanding.
func TestJobDeadline(t *testing.T) {
	e := newJobEnv(t, 10)
	ctx := context.Background()
	j := e.submit(t, rayfleet.JobSpec{Entrypoint: "sleep 1000", Head: &rayfleet.HeadSpec{CPU: "1", Memory: "2Gi"}, ActiveDeadlineSeconds: 60, ShutdownAfterJobFinishes: true, TTLSecondsAfterFinished: 3600})
	cid := rayfleet.TemporaryClusterID(j)
	e.pass(t, cid)
	c := e.settle(t, cid)
	e.pass(t, cid)
	head := e.heads.of(c.InstanceID)
	head.set(j, rayfleet.RayJobRunning, "running")
	e.pass(t, cid)
	e.clock.add(61 * time.Second)
	e.pass(t, cid)
	wantJob(t, e.job(t, j), rayfleet.JobTimeout, "activeDeadlineSeconds (60s from submission) passed")
	if head.status(j) != rayfleet.RayJobStopped {
		t.Fatalf("on Ray the job is %s", head.status(j))
	}
	if _, err := e.svc.GetCluster(ctx, e.p, e.ws, cid); rayfleet.ErrorCode(err) != rayfleet.ENOTFOUND {
		t.Fatalf("the timed-out job's cluster is still there: %v", err)
	}
}

// TestJobInfo: GetRayJob's view of a job: its cluster's spec, the
// dashboard of the instance it runs on, CU-hours of what the cluster held.
func TestJobInfo(t *testing.T) {
	e := newJobEnv(t, 10)
	ctx := context.Background()
	id := e.create(t, 1)
	c := e.settle(t, id)
	j := e.submit(t, rayfleet.JobSpec{Entrypoint: "true", ClusterID: id})
	e.pass(t, id)
	e.heads.of(c.InstanceID).set(j, rayfleet.RayJobRunning, "running")
	e.pass(t, id)
	e.clock.add(time.Hour)
	info, err := e.svc.GetJob(ctx, e.p, e.ws, j)
	if err != nil {
		t.Fatal(err)
	}
	// The head's default 2 CPU / 8Gi and one 1 CPU / 1Gi worker: 3 CPU,
	// 9Gi, so 3 CU.
	if info.Held != (rayfleet.Resources{MilliCPU: 3000, MemoryBytes: 9 * rayfleet.GiB}) || info.CUHours < 2.9 || info.CUHours > 3.1 {
		t.Fatalf("held %v, %f CU-hours after an hour", info.Held, info.CUHours)
	}
	if len(info.ClusterSpec.Workers) != 1 || !strings.HasSuffix(info.DashboardURL, "#/jobs/"+j) && info.DashboardURL != "" {
		t.Fatalf("cluster spec %+v, dashboard %q", info.ClusterSpec, info.DashboardURL)
	}
	if info.LogBucket != service.DefaultLogBucket || info.LogPath != e.ws+"/ray/logs/"+j+"_default/" {
		t.Fatalf("logs at %s %s", info.LogBucket, info.LogPath)
	}
}

// runnings records the JobRunning hook's calls.
type runnings struct {
	mu    sync.Mutex
	calls map[string]int
}

func (r *runnings) Collect(_ context.Context, j rayfleet.Job, head rayjob.Client) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if head.Address != "" {
		r.calls[j.ID]++
	}
	return nil
}

// Running is told of the jobs that run on their cluster's instance, and
// of no other.
func TestJobRunningHook(t *testing.T) {
	e := newJobEnv(t, 2)
	id := e.create(t, 0)
	c := e.settle(t, id)
	running := e.submit(t, rayfleet.JobSpec{Entrypoint: "python a.py", ClusterID: id, ShutdownAfterJobFinishes: true})
	pending := e.submit(t, rayfleet.JobSpec{Entrypoint: "python b.py", ClusterID: id, ShutdownAfterJobFinishes: true})
	e.pass(t, id)
	e.heads.of(c.InstanceID).set(running, rayfleet.RayJobRunning, "Job is currently running.")
	e.pass(t, id)
	wantJob(t, e.job(t, running), rayfleet.JobRunning, "Job is currently running.")
	hook := &runnings{calls: map[string]int{}}
	e.runner.Running = hook
	e.runner.init()
	e.runner.eachRunning(context.Background())
	e.runner.eachRunning(context.Background())
	if hook.calls[running] != 2 || hook.calls[pending] != 0 {
		t.Fatalf("Running was told %v, want the running job twice and the pending one never", hook.calls)
	}
}
