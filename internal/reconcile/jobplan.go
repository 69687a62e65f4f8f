package reconcile

import (
	"fmt"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/rayjob"
)

// jobView is what one pass of the job runner sees of one cluster and its
// jobs.
type jobView struct {
	// Cluster is the cluster's row (deleted rows included); nil when there
	// is none: purged, or a job's temporary cluster not made yet.
	Cluster *rayfleet.Cluster
	// Jobs are the cluster's unfinished jobs, in the order they were
	// submitted: the order they get its slots in.
	Jobs []rayfleet.Job
	// Owner is the job the cluster was made for, when it is a temporary
	// cluster, finished or not (an unfinished owner is in Jobs too).
	Owner *rayfleet.Job
	// Ray is what the head reports of its jobs, by submission id; nil when
	// it was not asked (no job is on it) or did not answer.
	Ray map[string]rayjob.JobInfo
	Now time.Time
	// MaxRunning is how many jobs the cluster runs at once.
	MaxRunning int
}

// jobDo is what a step does besides writing the job.
type jobDo int

const (
	jobWrite       jobDo = iota // write the job, nothing more
	jobHandOver                 // give the job the current instance, then submit it
	jobSubmit                   // submit the job (given the instance already)
	jobStop                     // ask Ray to stop the job
	jobTimeout                  // record the deadline's stop, then ask Ray to stop the job
	jobMakeCluster              // make the job's temporary cluster; the outcome is written
)

func (d jobDo) String() string {
	return [...]string{"write", "hand over", "submit", "stop", "timeout", "make cluster"}[d]
}

// jobStep is the decision for one job: what to do and how to write it.
// A zero Start or End, or an empty ClusterState, keeps the stored one.
type jobStep struct {
	Job          *rayfleet.Job
	Do           jobDo
	Status       rayfleet.JobStatus
	Message      string
	Start, End   time.Time
	ClusterState rayfleet.JobClusterState
}

// apply writes the step over j (a copy of Job as stored) and reports
// whether that changed it. A hand-over gives the job the cluster's current
// instance and records what the cluster holds, for metering.
func (s *jobStep) apply(j *rayfleet.Job, c *rayfleet.Cluster) bool {
	before := *j
	j.Status, j.Message = s.Status, s.Message
	if !s.Start.IsZero() {
		j.StartTime = s.Start
	}
	if !s.End.IsZero() {
		j.EndTime = s.End
	}
	if s.ClusterState != "" {
		j.ClusterState = s.ClusterState
	}
	switch s.Do {
	case jobHandOver:
		j.InstanceID, j.Held = c.InstanceID, c.RunningSpec.Total()
	case jobTimeout:
		j.Stop = rayfleet.JobStopTimeout
	}
	return j.Status != before.Status || j.Message != before.Message || !j.StartTime.Equal(before.StartTime) ||
		!j.EndTime.Equal(before.EndTime) || j.ClusterState != before.ClusterState || j.InstanceID != before.InstanceID ||
		j.Held != before.Held || j.Stop != before.Stop
}

// clusterDo is what a pass does to the temporary cluster of a job that
// has ended.
type clusterDo int

const (
	clusterKeep   clusterDo = iota
	clusterDelete           // delete it
	clusterGone             // record on the job that it is gone
)

// jobPlan is the outcome of one pass.
type jobPlan struct {
	Steps   []jobStep
	Cluster clusterDo
	// Requeue asks for another pass after this long (0: only on wakes and
	// at the periodic resync).
	Requeue time.Duration
}

// How often a pass looks again. Jobs on Ray are followed closely (a
// status, a slot freed); a cluster starting wakes the runner when it
// runs, so the poll only catches what no wake reported.
const (
	pollJobs       = time.Second
	pollClusterUp  = 5 * time.Second
	pollQueueSpace = 3 * time.Second
)

// planJobs decides, from what a pass sees, what to do to each job and to
// a temporary cluster. It is pure.
func planJobs(v *jobView) jobPlan {
	var p jobPlan
	c := v.Cluster
	alive := c != nil && !c.Deleted
	onCurrent := func(j *rayfleet.Job) bool {
		return j.InstanceID != "" && alive && c.InstanceID == j.InstanceID && c.State == rayfleet.StateRunning
	}
	soon := func(d time.Duration) {
		if d > 0 && (p.Requeue == 0 || d < p.Requeue) {
			p.Requeue = d
		}
	}
	// First the jobs handed to an instance: they hold the slots.
	running := 0
	for i := range v.Jobs {
		j := &v.Jobs[i]
		if j.InstanceID == "" {
			continue
		}
		s := planHanded(v, j, onCurrent(j))
		if !s.Status.Final() {
			running++
			soon(pollJobs)
		}
		p.Steps = append(p.Steps, s)
	}
	// Then those waiting, in submission order, for the slots left.
	slots := v.MaxRunning - running
	for i := range v.Jobs {
		j := &v.Jobs[i]
		if j.InstanceID != "" {
			continue
		}
		s, wait := planWaiting(v, j, &slots, running)
		if s.Do == jobHandOver {
			soon(pollJobs)
		}
		soon(wait)
		if d := j.Spec.ActiveDeadlineSeconds; d > 0 && !s.Status.Final() {
			soon(j.SubmitTime.Add(time.Duration(d) * time.Second).Sub(v.Now))
		}
		p.Steps = append(p.Steps, s)
	}
	for i := range p.Steps {
		// A status never goes back (a report of Ray's older than what
		// was recorded, a job that cannot be as read): it stays.
		if s := &p.Steps[i]; !s.Job.Status.CanBecome(s.Status) {
			s.Status, s.End = s.Job.Status, time.Time{}
		}
	}
	if o := v.Owner; o != nil && o.Status.Final() && o.ClusterState != rayfleet.JobClusterDeleted {
		switch at, ok := deleteAt(o); {
		case !alive:
			p.Cluster = clusterGone
		case !ok:
		case !v.Now.Before(at):
			p.Cluster = clusterDelete
		default:
			soon(at.Sub(v.Now))
		}
	}
	return p
}

// clusterStateOf is the clusterState a job shows of c: Pending while it
// starts, Running, and Deleted once it is gone or has no nodes (stopped,
// failed).
func clusterStateOf(c *rayfleet.Cluster) rayfleet.JobClusterState {
	switch {
	case c == nil || c.Deleted:
		return rayfleet.JobClusterDeleted
	case c.State == rayfleet.StateStarting:
		return rayfleet.JobClusterPending
	case c.State == rayfleet.StateRunning:
		return rayfleet.JobClusterRunning
	}
	return rayfleet.JobClusterDeleted
}

// deleteAt is when an ended job's temporary cluster is deleted: at once
// when the job never ran on it or ran out of time, ttlSecondsAfterFinished
// after the job ended when shutdownAfterJobFinishes, never otherwise.
func deleteAt(j *rayfleet.Job) (time.Time, bool) {
	switch {
	case j.InstanceID == "" || j.Status == rayfleet.JobTimeout:
		return j.EndTime, true
	case j.Spec.ShutdownAfterJobFinishes:
		return j.EndTime.Add(time.Duration(j.Spec.TTLSecondsAfterFinished) * time.Second), true
	}
	return time.Time{}, false
}

// timedOut reports whether j's activeDeadlineSeconds, counted from its
// submission, have passed.
func timedOut(j *rayfleet.Job, now time.Time) bool {
	d := j.Spec.ActiveDeadlineSeconds
	return d > 0 && !now.Before(j.SubmitTime.Add(time.Duration(d)*time.Second))
}

// ended is the final status of a job that ends without Ray's word: as its
// stop asked, or Failed.
func ended(j *rayfleet.Job) rayfleet.JobStatus {
	switch j.Stop {
	case rayfleet.JobStopCancel:
		return rayfleet.JobCancelled
	case rayfleet.JobStopTimeout:
		return rayfleet.JobTimeout
	}
	return rayfleet.JobFailed
}

// planHanded decides for a job handed to an instance of the cluster.
// onCurrent says that instance still runs.
func planHanded(v *jobView, j *rayfleet.Job, onCurrent bool) jobStep {
	s := jobStep{Job: j, Status: j.Status, Message: j.Message}
	if !onCurrent {
		s.Status, s.End, s.ClusterState = ended(j), v.Now, clusterStateOf(v.Cluster)
		s.Message = lostWhy(v.Cluster, j)
		return s
	}
	s.ClusterState = rayfleet.JobClusterRunning
	if v.Ray == nil {
		// The head does not answer now: the job is where it was, unless
		// its time is up, which is recorded (and the stop asked) anyway.
		if timedOut(j, v.Now) && j.Stop == rayfleet.JobStopNone {
			s.Do, s.Status, s.Message = jobTimeout, rayfleet.JobCancelling, deadlineMessage(j, "stopping it on Ray")
		}
		return s
	}
	info, known := v.Ray[j.ID]
	switch {
	case !known && j.Stop != rayfleet.JobStopNone:
		s.Status, s.End = ended(j), v.Now
		s.Message = "stopped before Ray started it"
	case !known && timedOut(j, v.Now):
		s.Status, s.End, s.Message = rayfleet.JobTimeout, v.Now, deadlineMessage(j, "before Ray started it")
	case !known:
		// Given the instance but not on its head: submit (again, if a
		// crash came between; Submit finds a job Ray has).
		s.Do, s.Status, s.Message = jobSubmit, rayfleet.JobPending, "handing the job to Ray on cluster "+j.ClusterID
	default:
		stop := j.Stop
		if stop == rayfleet.JobStopNone && timedOut(j, v.Now) && !rayFinal(info.Status) {
			stop, s.Do = rayfleet.JobStopTimeout, jobTimeout
		}
		st, ok := rayfleet.JobStatusOfRay(info.Status, stop)
		if !ok {
			s.Message = fmt.Sprintf("Ray reports status %q, which rayfleet does not know", info.Status)
			return s
		}
		s.Status, s.Message = st, info.Message
		switch {
		case s.Do == jobTimeout:
			s.Message = deadlineMessage(j, "stopping it on Ray")
		case st == rayfleet.JobTimeout:
			s.Message = deadlineMessage(j, "Ray stopped it")
		}
		if info.StartTime > 0 {
			s.Start = time.UnixMilli(info.StartTime).UTC()
		}
		if st.Final() {
			s.End = v.Now
			if info.EndTime > 0 {
				s.End = time.UnixMilli(info.EndTime).UTC()
			}
		} else if stop != rayfleet.JobStopNone && s.Do == jobWrite {
			s.Do = jobStop
		}
	}
	return s
}

func rayFinal(status string) bool {
	st, ok := rayfleet.JobStatusOfRay(status, rayfleet.JobStopNone)
	return ok && st.Final()
}

// lostWhy says why a job handed to an instance ended without Ray's word:
// the instance is gone.
func lostWhy(c *rayfleet.Cluster, j *rayfleet.Job) string {
	var why string
	switch {
	case c == nil || c.Deleted:
		why = fmt.Sprintf("its cluster %s was deleted", j.ClusterID)
	case c.InstanceID != j.InstanceID:
		why = fmt.Sprintf("the instance %s of cluster %s that ran it ended (the cluster was stopped or restarted)", j.InstanceID, c.ID)
	case c.State == rayfleet.StateError:
		why = fmt.Sprintf("its cluster %s failed: %s", c.ID, c.Message)
	default:
		why = fmt.Sprintf("its cluster %s was stopped", c.ID)
	}
	switch j.Stop {
	case rayfleet.JobStopCancel:
		return "cancelled; " + why + " before Ray reported the job stopped"
	case rayfleet.JobStopTimeout:
		return deadlineMessage(j, "and "+why+" before Ray reported the job stopped")
	}
	return why + " before the job ended"
}

func deadlineMessage(j *rayfleet.Job, what string) string {
	return fmt.Sprintf("activeDeadlineSeconds (%ds from submission) passed: %s", j.Spec.ActiveDeadlineSeconds, what)
}

// planWaiting decides for a job not handed to any instance yet, and
// returns when to look again for it. slots counts the cluster's free job
// slots; running are those taken.
func planWaiting(v *jobView, j *rayfleet.Job, slots *int, running int) (jobStep, time.Duration) {
	c := v.Cluster
	s := jobStep{Job: j, Status: rayfleet.JobPending, Message: j.Message}
	failed := func(why string) (jobStep, time.Duration) {
		s.Status, s.End, s.ClusterState, s.Message = rayfleet.JobFailed, v.Now, clusterStateOf(c), why+" before the job started"
		return s, 0
	}
	switch {
	case j.Stop == rayfleet.JobStopCancel:
		s.Status, s.End, s.Message = rayfleet.JobCancelled, v.Now, "cancelled before it was handed to Ray"
		return s, 0
	case j.Stop == rayfleet.JobStopTimeout || timedOut(j, v.Now):
		s.Status, s.End, s.Message = rayfleet.JobTimeout, v.Now, deadlineMessage(j, "before it was handed to Ray")
		return s, 0
	case c == nil && j.OwnsCluster() && j.ClusterState == rayfleet.JobClusterSubmitted:
		// Its cluster is to be made; the effect writes how that went.
		s.Do, s.ClusterState = jobMakeCluster, rayfleet.JobClusterSubmitted
		return s, pollQueueSpace
	case c == nil || c.Deleted:
		return failed(fmt.Sprintf("its cluster %s was deleted", j.ClusterID))
	}
	switch c.State {
	case rayfleet.StateStarting:
		s.ClusterState, s.Message = rayfleet.JobClusterPending, fmt.Sprintf("waiting for cluster %s to start", c.ID)
		return s, pollClusterUp
	case rayfleet.StateRunning:
	case rayfleet.StateError:
		return failed(fmt.Sprintf("its cluster %s failed: %s", c.ID, c.Message))
	default:
		return failed(fmt.Sprintf("its cluster %s was stopped", c.ID))
	}
	s.ClusterState = rayfleet.JobClusterRunning
	if *slots <= 0 {
		s.Message = fmt.Sprintf("waiting for one of the %d running jobs on cluster %s to end", running, c.ID)
		return s, pollJobs
	}
	*slots--
	s.Do, s.Message = jobHandOver, "handing the job to Ray on cluster "+c.ID
	return s, 0
}
