package reconcile

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/rayjob"
)

// job returns a valid job to tweak: submitted at t0 to the Running
// cluster of cluster(), not handed to it yet.
func job(n int, tweak ...func(*rayfleet.Job)) rayfleet.Job {
	j := rayfleet.Job{
		ID: fmt.Sprintf("rj-%016d", n), AccountID: "1", WorkspaceID: "w-1", ClusterID: "ray-aaaaaaaaaaaaaaaa",
		Spec:   rayfleet.JobSpec{Entrypoint: "true", ClusterID: "ray-aaaaaaaaaaaaaaaa", ShutdownAfterJobFinishes: true},
		Status: rayfleet.JobSubmitted, ClusterState: rayfleet.JobClusterRunning, SubmitTime: t0, Version: 1,
	}
	for _, f := range tweak {
		f(&j)
	}
	return j
}

func handed(j *rayfleet.Job) { j.InstanceID, j.Status = "i-1", rayfleet.JobPending }

// temporary makes the job the owner of the cluster: it names none, and
// the cluster's id is derived from its own.
func temporary(j *rayfleet.Job) {
	j.Spec.ClusterID = ""
	j.ID = "rj-aaaaaaaaaaaaaaaa"
	j.ClusterID = rayfleet.TemporaryClusterID(j.ID)
}

func running(c *rayfleet.Cluster) { c.State = rayfleet.StateRunning }

func onRay(status, message string) map[string]rayjob.JobInfo {
	return map[string]rayjob.JobInfo{job(1).ID: {SubmissionID: job(1).ID, Status: status, Message: message, StartTime: t0.Add(time.Second).UnixMilli(), EndTime: t0.Add(time.Minute).UnixMilli()}}
}

func TestPlanJobTransitions(t *testing.T) {
	deadline := func(j *rayfleet.Job) { j.Spec.ActiveDeadlineSeconds = 60 }
	late := t0.Add(2 * time.Minute)
	for _, tc := range []struct {
		name    string
		c       *rayfleet.Cluster
		j       rayfleet.Job
		ray     map[string]rayjob.JobInfo
		now     time.Time
		do      jobDo
		status  rayfleet.JobStatus
		message string
		state   rayfleet.JobClusterState
	}{
		{"running cluster, free slot: hand over", cluster(running), job(1), nil, t0, jobHandOver, rayfleet.JobPending, "handing the job to Ray", rayfleet.JobClusterRunning},
		{"starting cluster: wait for it", cluster(), job(1), nil, t0, jobWrite, rayfleet.JobPending, "waiting for cluster ray-aaaaaaaaaaaaaaaa to start", rayfleet.JobClusterPending},
		{"failed cluster: Failed with why", cluster(func(c *rayfleet.Cluster) { c.State, c.Message = rayfleet.StateError, "head exited" }), job(1), nil, t0, jobWrite, rayfleet.JobFailed, "failed: head exited before the job started", rayfleet.JobClusterDeleted},
		{"stopped cluster: Failed", cluster(func(c *rayfleet.Cluster) { c.State = rayfleet.StateStopped }), job(1), nil, t0, jobWrite, rayfleet.JobFailed, "was stopped before the job started", rayfleet.JobClusterDeleted},
		{"cluster gone: Failed", nil, job(1), nil, t0, jobWrite, rayfleet.JobFailed, "was deleted before the job started", rayfleet.JobClusterDeleted},
		{"handed, not on Ray: submit", cluster(running), job(1, handed), map[string]rayjob.JobInfo{}, t0, jobSubmit, rayfleet.JobPending, "handing the job to Ray", rayfleet.JobClusterRunning},
		{"Ray runs it: Running with Ray's message", cluster(running), job(1, handed), onRay("RUNNING", "Job is currently running."), t0, jobWrite, rayfleet.JobRunning, "Job is currently running.", rayfleet.JobClusterRunning},
		{"Ray has it pending: Pending", cluster(running), job(1, handed), onRay("PENDING", "Job has not started yet."), t0, jobWrite, rayfleet.JobPending, "not started yet", rayfleet.JobClusterRunning},
		{"Ray says it failed: Failed with Ray's message", cluster(running), job(1, handed), onRay("FAILED", "Job entrypoint command failed with exit code 3"), t0, jobWrite, rayfleet.JobFailed, "exit code 3", rayfleet.JobClusterRunning},
		{"head does not answer: nothing changes", cluster(running), job(1, handed, func(j *rayfleet.Job) { j.Message = "was" }), nil, t0, jobWrite, rayfleet.JobPending, "was", rayfleet.JobClusterRunning},
		{"an older report of Ray's: the status stays", cluster(running), job(1, handed, func(j *rayfleet.Job) { j.Status = rayfleet.JobRunning }), onRay("PENDING", ""), t0, jobWrite, rayfleet.JobRunning, "", rayfleet.JobClusterRunning},
		{"instance replaced: Failed", cluster(running, func(c *rayfleet.Cluster) { c.InstanceID = "i-2" }), job(1, handed), nil, t0, jobWrite, rayfleet.JobFailed, "instance i-1 of cluster ray-aaaaaaaaaaaaaaaa that ran it ended", rayfleet.JobClusterRunning},
		{"cluster failed under it: Failed", cluster(func(c *rayfleet.Cluster) { c.State, c.Message = rayfleet.StateError, "head exited" }), job(1, handed), nil, t0, jobWrite, rayfleet.JobFailed, "failed: head exited before the job ended", rayfleet.JobClusterDeleted},
		{"cluster deleted under it: Failed", cluster(running, func(c *rayfleet.Cluster) { c.Deleted = true }), job(1, handed), onRay("RUNNING", ""), t0, jobWrite, rayfleet.JobFailed, "was deleted before the job ended", rayfleet.JobClusterDeleted},
		{"cancelled before handed: Cancelled", cluster(running), job(1, func(j *rayfleet.Job) { j.Stop, j.Status = rayfleet.JobStopCancel, rayfleet.JobCancelling }), nil, t0, jobWrite, rayfleet.JobCancelled, "cancelled before", ""},
		{"cancelled while Ray runs it: stop", cluster(running), job(1, handed, func(j *rayfleet.Job) { j.Stop, j.Status = rayfleet.JobStopCancel, rayfleet.JobCancelling }), onRay("RUNNING", "running"), t0, jobStop, rayfleet.JobCancelling, "running", rayfleet.JobClusterRunning},
		{"cancelled, Ray stopped it: Cancelled", cluster(running), job(1, handed, func(j *rayfleet.Job) { j.Stop, j.Status = rayfleet.JobStopCancel, rayfleet.JobCancelling }), onRay("STOPPED", "Job was intentionally stopped."), t0, jobWrite, rayfleet.JobCancelled, "intentionally stopped", rayfleet.JobClusterRunning},
		{"cancelled, cluster stopped: Cancelled", cluster(func(c *rayfleet.Cluster) { c.State = rayfleet.StateStopped }), job(1, handed, func(j *rayfleet.Job) { j.Stop, j.Status = rayfleet.JobStopCancel, rayfleet.JobCancelling }), nil, t0, jobWrite, rayfleet.JobCancelled, "cancelled; its cluster", rayfleet.JobClusterDeleted},
		{"deadline passed while Ray runs it: stop it", cluster(running), job(1, handed, deadline), onRay("RUNNING", ""), late, jobTimeout, rayfleet.JobCancelling, "activeDeadlineSeconds (60s from submission) passed", rayfleet.JobClusterRunning},
		{"deadline's stop done: Timeout", cluster(running), job(1, handed, deadline, func(j *rayfleet.Job) { j.Stop, j.Status = rayfleet.JobStopTimeout, rayfleet.JobCancelling }), onRay("STOPPED", ""), late, jobWrite, rayfleet.JobTimeout, "Ray stopped it", rayfleet.JobClusterRunning},
		{"deadline passed before handed: Timeout", cluster(), job(1, deadline), nil, late, jobWrite, rayfleet.JobTimeout, "before it was handed to Ray", ""},
		{"deadline passed, head silent: record the stop", cluster(running), job(1, handed, deadline), nil, late, jobTimeout, rayfleet.JobCancelling, "stopping it on Ray", rayfleet.JobClusterRunning},
		{"succeeded before the deadline was seen: Succeeded", cluster(running), job(1, handed, deadline), onRay("SUCCEEDED", "done"), late, jobWrite, rayfleet.JobSucceeded, "done", rayfleet.JobClusterRunning},
		{"temporary cluster not made: make it", nil, job(1, temporary, func(j *rayfleet.Job) { j.ClusterState = rayfleet.JobClusterSubmitted }), nil, t0, jobMakeCluster, rayfleet.JobPending, "", rayfleet.JobClusterSubmitted},
		{"temporary cluster made and gone: Failed", nil, job(1, temporary, func(j *rayfleet.Job) { j.ClusterState = rayfleet.JobClusterPending }), nil, t0, jobWrite, rayfleet.JobFailed, "was deleted before the job started", rayfleet.JobClusterDeleted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := &jobView{Cluster: tc.c, Jobs: []rayfleet.Job{tc.j}, Ray: tc.ray, Now: tc.now, MaxRunning: 10}
			p := planJobs(v)
			if len(p.Steps) != 1 {
				t.Fatalf("%d steps", len(p.Steps))
			}
			s := p.Steps[0]
			if s.Do != tc.do || s.Status != tc.status || !strings.Contains(s.Message, tc.message) || s.ClusterState != tc.state {
				t.Fatalf("got do=%v status=%s message=%q clusterState=%q", s.Do, s.Status, s.Message, s.ClusterState)
			}
			if s.Status.Final() != !s.End.IsZero() && s.End.IsZero() {
				t.Fatalf("final status %s without an end time", s.Status)
			}
			if !tc.j.Status.CanBecome(s.Status) {
				t.Fatalf("%s cannot become %s", tc.j.Status, s.Status)
			}
		})
	}
}

// TestPlanJobRayTimes: a job Ray reports takes Ray's start and end.
func TestPlanJobRayTimes(t *testing.T) {
	p := planJobs(&jobView{Cluster: cluster(running), Jobs: []rayfleet.Job{job(1, handed)}, Ray: onRay("SUCCEEDED", "ok"), Now: t0.Add(time.Hour), MaxRunning: 1})
	s := p.Steps[0]
	if !s.Start.Equal(t0.Add(time.Second)) || !s.End.Equal(t0.Add(time.Minute)) {
		t.Fatalf("start %v end %v", s.Start, s.End)
	}
}

// TestPlanJobSlots: jobs beyond the cluster's limit wait, saying for what,
// and the first waiting ones get the slots left, in submission order.
func TestPlanJobSlots(t *testing.T) {
	jobs := []rayfleet.Job{job(1, handed), job(2), job(3), job(4)}
	p := planJobs(&jobView{Cluster: cluster(running), Jobs: jobs, Ray: onRay("RUNNING", ""), Now: t0, MaxRunning: 2})
	got := map[string]jobStep{}
	for _, s := range p.Steps {
		got[s.Job.ID] = s
	}
	if s := got[job(2).ID]; s.Do != jobHandOver {
		t.Fatalf("the first waiting job: %v %q", s.Do, s.Message)
	}
	for _, n := range []int{3, 4} {
		if s := got[job(n).ID]; s.Do != jobWrite || s.Message != "waiting for one of the 1 running jobs on cluster ray-aaaaaaaaaaaaaaaa to end" {
			t.Fatalf("job %d: %v %q", n, s.Do, s.Message)
		}
	}
	if p.Requeue != pollJobs {
		t.Fatalf("requeue %v", p.Requeue)
	}
	// A job that ends frees its slot in the same pass.
	p = planJobs(&jobView{Cluster: cluster(running), Jobs: jobs[:2], Ray: onRay("SUCCEEDED", ""), Now: t0, MaxRunning: 1})
	if p.Steps[0].Status != rayfleet.JobSucceeded || p.Steps[1].Do != jobHandOver {
		t.Fatalf("after the running job ended: %+v", p.Steps)
	}
}

// TestPlanTemporaryCluster: an ended job's cluster is deleted at once when
// the job never ran on it or timed out, ttlSecondsAfterFinished after it
// ended with shutdownAfterJobFinishes, never without; one gone is
// recorded.
func TestPlanTemporaryCluster(t *testing.T) {
	end := t0.Add(time.Minute)
	ended := func(status rayfleet.JobStatus, ran bool) func(*rayfleet.Job) {
		return func(j *rayfleet.Job) {
			j.Status, j.EndTime, j.Spec.TTLSecondsAfterFinished = status, end, 30
			if ran {
				j.InstanceID = "i-1"
			}
		}
	}
	c := cluster(running, func(c *rayfleet.Cluster) { c.ID = rayfleet.TemporaryClusterID(job(1, temporary).ID) })
	for _, tc := range []struct {
		name    string
		c       *rayfleet.Cluster
		owner   rayfleet.Job
		now     time.Time
		do      clusterDo
		requeue time.Duration
	}{
		{"succeeded, within its ttl: wait", c, job(1, temporary, ended(rayfleet.JobSucceeded, true)), end.Add(10 * time.Second), clusterKeep, 20 * time.Second},
		{"succeeded, ttl passed: delete", c, job(1, temporary, ended(rayfleet.JobSucceeded, true)), end.Add(30 * time.Second), clusterDelete, 0},
		{"never ran on it: delete at once", c, job(1, temporary, ended(rayfleet.JobCancelled, false)), end, clusterDelete, 0},
		{"timed out: delete at once", c, job(1, temporary, ended(rayfleet.JobTimeout, true)), end, clusterDelete, 0},
		{"kept after the job: keep", c, job(1, temporary, ended(rayfleet.JobFailed, true), func(j *rayfleet.Job) { j.Spec.ShutdownAfterJobFinishes = false }), end.Add(time.Hour), clusterKeep, 0},
		{"gone already: record it", nil, job(1, temporary, ended(rayfleet.JobSucceeded, true)), end, clusterGone, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := planJobs(&jobView{Cluster: tc.c, Owner: &tc.owner, Now: tc.now, MaxRunning: 1})
			if p.Cluster != tc.do || p.Requeue != tc.requeue {
				t.Fatalf("got %v, requeue %v", p.Cluster, p.Requeue)
			}
		})
	}
}

// TestPlanJobProperties: whatever a pass sees, no job's status goes back,
// a final status comes with an end time, no more jobs hold the cluster's
// slots than its limit, and the slots go in submission order.
func TestPlanJobProperties(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		c := cluster(func(c *rayfleet.Cluster) {
			c.State = rapid.SampledFrom([]rayfleet.State{rayfleet.StateStarting, rayfleet.StateRunning, rayfleet.StateStopping, rayfleet.StateStopped, rayfleet.StateError}).Draw(rt, "state")
			c.InstanceID = rapid.SampledFrom([]string{"i-1", "i-2"}).Draw(rt, "instance")
			c.Deleted = rapid.Bool().Draw(rt, "deleted")
		})
		if rapid.Bool().Draw(rt, "no row") {
			c = nil
		}
		n := rapid.IntRange(0, 8).Draw(rt, "jobs")
		var jobs []rayfleet.Job
		var ray map[string]rayjob.JobInfo
		if rapid.Bool().Draw(rt, "head answers") {
			ray = map[string]rayjob.JobInfo{}
		}
		for i := range n {
			j := job(i, func(j *rayfleet.Job) {
				j.Status = rapid.SampledFrom([]rayfleet.JobStatus{rayfleet.JobSubmitted, rayfleet.JobPending, rayfleet.JobRunning, rayfleet.JobCancelling}).Draw(rt, "status")
				j.InstanceID = rapid.SampledFrom([]string{"", "i-1", "i-2"}).Draw(rt, "job instance")
				j.Stop = rapid.SampledFrom([]rayfleet.JobStop{rayfleet.JobStopNone, rayfleet.JobStopCancel, rayfleet.JobStopTimeout}).Draw(rt, "stop")
				j.Spec.ActiveDeadlineSeconds = rapid.SampledFrom([]int32{0, 30, 600}).Draw(rt, "deadline")
			})
			if ray != nil && rapid.Bool().Draw(rt, "on Ray") {
				ray[j.ID] = rayjob.JobInfo{SubmissionID: j.ID, Status: rapid.SampledFrom([]string{"PENDING", "RUNNING", "STOPPED", "SUCCEEDED", "FAILED"}).Draw(rt, "ray status")}
			}
			jobs = append(jobs, j)
		}
		limit := rapid.IntRange(1, 4).Draw(rt, "limit")
		v := &jobView{Cluster: c, Jobs: jobs, Ray: ray, Now: t0.Add(time.Duration(rapid.IntRange(0, 120).Draw(rt, "seconds")) * time.Second), MaxRunning: limit}
		p := planJobs(v)
		if len(p.Steps) != len(jobs) {
			rt.Fatalf("%d steps for %d jobs", len(p.Steps), len(jobs))
		}
		holding, waitingSkipped := 0, false
		for i, s := range p.Steps {
			j := s.Job
			if !j.Status.CanBecome(s.Status) {
				rt.Fatalf("step %d: %s cannot become %s", i, j.Status, s.Status)
			}
			if s.Status.Final() && s.End.IsZero() {
				rt.Fatalf("step %d: %s without an end", i, s.Status)
			}
			if (s.Do == jobHandOver || s.Do == jobSubmit) && (c == nil || c.State != rayfleet.StateRunning || c.Deleted) {
				rt.Fatalf("step %d: %v on a cluster that is not running", i, s.Do)
			}
			onCurrent := c != nil && j.InstanceID == c.InstanceID && j.InstanceID != ""
			if s.Do == jobHandOver || onCurrent && !s.Status.Final() {
				holding++
			}
			if j.InstanceID == "" && !s.Status.Final() {
				if s.Do == jobHandOver && waitingSkipped {
					rt.Fatalf("step %d handed over after an earlier waiting job was not", i)
				}
				waitingSkipped = waitingSkipped || s.Do != jobHandOver
			}
		}
		if holding > max(limit, countHolding(v)) {
			rt.Fatalf("%d jobs hold slots of %d", holding, limit)
		}
	})
}

// countHolding is how many jobs held the cluster's slots before the pass
// (a pass never takes a slot from a job that holds one).
func countHolding(v *jobView) int {
	n := 0
	for _, j := range v.Jobs {
		if v.Cluster != nil && j.InstanceID != "" && j.InstanceID == v.Cluster.InstanceID {
			n++
		}
	}
	return n
}
