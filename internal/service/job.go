package service

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/store"
)

// DefaultLogBucket is the log store's bucket when none is configured.
const DefaultLogBucket = rayfleet.DefaultLogBucket

// JobInfo is a job as the API shows it: with the spec of the cluster it
// runs on and the addresses of that cluster while it runs the job.
type JobInfo struct {
	rayfleet.Job
	// ClusterSpec is the job's cluster: the temporary cluster's spec, or
	// the named cluster's as it is now (zero once that cluster is gone).
	ClusterSpec rayfleet.ClusterSpec
	// DashboardURL opens the job in its cluster's dashboard while the
	// cluster runs the instance the job was handed to.
	DashboardURL string
	Duration     time.Duration
	CUHours      float64
}

// SubmitJob stores a new job. The job runner hands it to its cluster, or,
// for a job that names no cluster, first makes the cluster from its head
// and worker specs (admitted then, so a queue without room holds the job
// Pending instead of refusing it). It is authorized on the workspace, as
// CreateRayCluster is.
func (s *Service) SubmitJob(ctx context.Context, p rayfleet.Principal, wsID string, spec rayfleet.JobSpec, clientToken string) (Outcome, error) {
	if err := s.authorize(ctx, p, "SubmitRayJob", s.wsARN(p, wsID)); err != nil {
		return Outcome{}, err
	}
	if _, err := s.workspace(ctx, p, wsID); err != nil {
		return Outcome{}, err
	}
	return s.idempotent(ctx, p, clientToken, "SubmitRayJob", []any{wsID, spec}, func(guard guard) (Outcome, error) {
		id, err := s.newJobID()
		if err != nil {
			return Outcome{}, err
		}
		now := s.now()
		j := rayfleet.Job{
			ID: id, AccountID: p.AccountID, WorkspaceID: wsID, Spec: spec, Status: rayfleet.JobSubmitted,
			LogBucket: s.LogBucket(), LogPath: rayfleet.JobLogPath(wsID, id), SubmitTime: now,
			Creator: p.UserUID, CreatorName: p.Nickname,
		}
		if err := s.prepareJob(ctx, p, &j); err != nil {
			return Outcome{}, err
		}
		out := Outcome{ID: id}
		if err := s.Store.CreateJob(guard(ctx, out), j); err != nil {
			return Outcome{}, fmt.Errorf("create job: %w", err)
		}
		s.wakeJobs(&j)
		return out, nil
	})
}

// prepareJob fills the defaults of a new job, checks it against its
// workspace and names its cluster.
func (s *Service) prepareJob(ctx context.Context, p rayfleet.Principal, j *rayfleet.Job) error {
	spec := &j.Spec
	switch spec.SubmissionMode {
	case "":
		spec.SubmissionMode = "HTTPMode"
	case "HTTPMode":
	default:
		return rayfleet.Errorf(rayfleet.EINVALID, "submissionMode must be HTTPMode (jobs are handed to Ray's job API), got %q", spec.SubmissionMode)
	}
	if spec.ClusterID == "" && spec.Head != nil {
		// The temporary cluster is checked as CreateRayCluster checks a
		// cluster, with its defaults filled in, and stored so: the runner
		// makes it from the job alone.
		cs := spec.TemporaryCluster(rayfleet.TemporaryClusterName(j.ID))
		if err := s.prepareSpec(ctx, j.AccountID, j.WorkspaceID, &cs); err != nil {
			return err
		}
		if err := s.couldEverFit(ctx, j.AccountID, j.WorkspaceID, &cs); err != nil {
			return err
		}
		spec.Head, spec.Workers = &cs.Head, cs.Workers
		spec.ReleaseVersion, spec.NetworkService = cs.ReleaseVersion, cs.NetworkService
	}
	if err := spec.Validate(); err != nil {
		return err
	}
	if spec.ClusterID == "" {
		j.ClusterID, j.ClusterState = rayfleet.TemporaryClusterID(j.ID), rayfleet.JobClusterSubmitted
		return nil
	}
	c, err := s.cluster(ctx, p, j.WorkspaceID, spec.ClusterID)
	if err != nil {
		return err
	}
	switch c.State {
	case rayfleet.StateStarting:
		j.ClusterState = rayfleet.JobClusterPending
	case rayfleet.StateRunning:
		j.ClusterState = rayfleet.JobClusterRunning
	default:
		return rayfleet.Errorf(rayfleet.EDENIED, "Ray cluster %s is %s; start it (StartRayCluster) before submitting jobs to it", c.ID, c.State)
	}
	j.ClusterID = c.ID
	return nil
}

// couldEverFit refuses a temporary cluster that needs more of a queue than
// the queue's limit: it would wait for room that never comes.
func (s *Service) couldEverFit(ctx context.Context, accountID, wsID string, spec *rayfleet.ClusterSpec) error {
	queues, err := s.Store.ListQueues(ctx, accountID, wsID)
	if err != nil {
		return fmt.Errorf("list queues: %w", err)
	}
	needs := spec.Needs()
	for _, q := range queues {
		if n, ok := needs[q.Name]; ok && !n.Fits(q.Max()) {
			return rayfleet.Errorf(rayfleet.EQUOTA, "the job's cluster needs %s of queue %s, more than its limit of %s: it could never start", n, q.Name, q.Max())
		}
	}
	return nil
}

// GetJob returns one job.
func (s *Service) GetJob(ctx context.Context, p rayfleet.Principal, wsID, id string) (*JobInfo, error) {
	if err := s.authorize(ctx, p, "GetRayJob", s.jobARN(p, wsID, id)); err != nil {
		return nil, err
	}
	j, err := s.job(ctx, p, wsID, id)
	if err != nil {
		return nil, err
	}
	info, err := s.jobInfo(ctx, p, j, clusterCache{})
	return &info, err
}

func (s *Service) job(ctx context.Context, p rayfleet.Principal, wsID, id string) (rayfleet.Job, error) {
	if _, err := s.workspace(ctx, p, wsID); err != nil {
		return rayfleet.Job{}, err
	}
	if id == "" {
		return rayfleet.Job{}, rayfleet.Errorf(rayfleet.EMISSING, "submissionId is required")
	}
	j, err := s.Store.GetJob(ctx, p.AccountID, wsID, id)
	if rayfleet.IsNotFound(err) {
		return j, rayfleet.Errorf(rayfleet.ENOTFOUND, "Ray job %s not found in workspace %s", id, wsID)
	}
	return j, err
}

// clusterCache holds the clusters one call has looked up, nil for one
// that is gone: the jobs of a page mostly share a few.
type clusterCache map[string]*ClusterInfo

// jobInfo adds to j what the API shows p of its cluster: its dashboardUrl
// carries p's own data-plane credential, when p may open the dashboard.
func (s *Service) jobInfo(ctx context.Context, p rayfleet.Principal, j rayfleet.Job, cache clusterCache) (JobInfo, error) {
	now := s.now()
	info := JobInfo{Job: j, Duration: j.Duration(now), CUHours: j.CUHours(now)}
	c, seen := cache[j.ClusterID]
	if !seen {
		got, err := s.Store.GetCluster(ctx, j.AccountID, j.WorkspaceID, j.ClusterID)
		switch {
		case err == nil:
			ci := []ClusterInfo{{Cluster: got}}
			s.links().add(&ci[0])
			if err := s.withCredentials(ctx, p, ci); err != nil {
				return JobInfo{}, err
			}
			c = &ci[0]
		case !rayfleet.IsNotFound(err):
			return JobInfo{}, fmt.Errorf("load cluster of job %s: %w", j.ID, err)
		}
		cache[j.ClusterID] = c
	}
	switch {
	case j.OwnsCluster():
		info.ClusterSpec = j.Spec.TemporaryCluster(rayfleet.TemporaryClusterName(j.ID))
		if c == nil && j.ClusterState != rayfleet.JobClusterSubmitted {
			// Made, and gone since (the job runner records it too, but a
			// crash can come between).
			info.ClusterState = rayfleet.JobClusterDeleted
		}
	case c != nil:
		info.ClusterSpec = c.Spec
	}
	if c != nil && c.DashboardURL != "" && (j.InstanceID == "" || j.InstanceID == c.InstanceID) {
		info.DashboardURL = c.DashboardURL + "#/jobs/" + url.PathEscape(j.ID)
	}
	return info, nil
}

// ListJobsInput is ListRayJob's query. SubmittedFrom and SubmittedUntil
// bound submitTime, inclusive; zero is open.
type ListJobsInput struct {
	WorkspaceID    string
	PageNum        int
	PageSize       int
	Name           string
	SubmissionID   string
	TaskBizID      string
	SubmittedFrom  time.Time
	SubmittedUntil time.Time
}

// ListJobsOutput is a page of jobs.
type ListJobsOutput struct {
	Jobs       []JobInfo
	TotalCount int
	PageNum    int
	PageSize   int
}

// ListJobs lists a workspace's jobs, newest first.
func (s *Service) ListJobs(ctx context.Context, p rayfleet.Principal, in ListJobsInput) (*ListJobsOutput, error) {
	if err := s.authorize(ctx, p, "ListRayJob", s.wsARN(p, in.WorkspaceID)); err != nil {
		return nil, err
	}
	if err := s.checkPage(ctx, p, in.WorkspaceID, &in.PageNum, &in.PageSize); err != nil {
		return nil, err
	}
	f := store.JobFilter{
		AccountID: p.AccountID, WorkspaceID: in.WorkspaceID, Name: in.Name, ID: in.SubmissionID, TaskBizID: in.TaskBizID,
		SubmittedFrom: in.SubmittedFrom, SubmittedUntil: in.SubmittedUntil,
		Offset: (in.PageNum - 1) * in.PageSize, Limit: in.PageSize,
	}
	js, total, err := listVisible(ctx, s, p, "ListRayJob", f.Offset, f.Limit,
		func(offset, limit int) ([]rayfleet.Job, int, error) {
			f.Offset, f.Limit = offset, limit
			return s.Store.ListJobs(ctx, f)
		},
		func(j rayfleet.Job) string { return s.jobARN(p, j.WorkspaceID, j.ID) })
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	if total == 0 {
		if _, err := s.workspace(ctx, p, in.WorkspaceID); err != nil {
			return nil, err
		}
	}
	out := &ListJobsOutput{TotalCount: total, PageNum: in.PageNum, PageSize: in.PageSize, Jobs: make([]JobInfo, len(js))}
	cache := clusterCache{}
	for i, j := range js {
		if out.Jobs[i], err = s.jobInfo(ctx, p, j, cache); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// CancelJob asks for a job to be stopped: the job runner stops it on Ray
// (or ends it Cancelled if Ray never had it), and it is Cancelling until
// then. Cancelling a job that is cancelled or being stopped already
// succeeds without acting; one that ended otherwise is OperationDenied.
func (s *Service) CancelJob(ctx context.Context, p rayfleet.Principal, wsID, id string) error {
	if err := s.authorize(ctx, p, "CancelRayJob", s.jobARN(p, wsID, id)); err != nil {
		return err
	}
	if _, err := s.job(ctx, p, wsID, id); err != nil {
		return err
	}
	var updated rayfleet.Job
	err := retryConflict(ctx, func() error {
		var err error
		updated, err = s.Store.UpdateJob(ctx, p.AccountID, wsID, id, func(j *rayfleet.Job) error {
			switch {
			case j.Status == rayfleet.JobCancelled || j.Stop != rayfleet.JobStopNone && !j.Status.Final():
				return errNoChange
			case j.Status.Final():
				return rayfleet.Errorf(rayfleet.EDENIED, "Ray job %s has already ended: it is %s", id, j.Status)
			}
			j.Stop, j.Status = rayfleet.JobStopCancel, rayfleet.JobCancelling
			j.Message = "cancelling: asked by " + p.Nickname
			return nil
		})
		return err
	})
	if err == errNoChange { //nolint:errorlint // sentinel returned unwrapped by our own closure
		return nil
	}
	if err != nil {
		return err
	}
	s.wakeJobs(&updated)
	return nil
}

// CreateJobCluster makes the temporary cluster of a job that names none,
// with the admission CreateRayCluster has: it fails with QuotaExceeded,
// making nothing, while the cluster's queues have no room. A cluster made
// for the job already (a retry after a crash) is success. It is the job
// runner's, not an operation of the API.
func (s *Service) CreateJobCluster(ctx context.Context, j rayfleet.Job) error {
	spec := j.Spec.TemporaryCluster(rayfleet.TemporaryClusterName(j.ID))
	spec.Description = "The cluster of Ray job " + j.ID + ", made for it and deleted after it."
	unlock, err := s.lock(ctx, j.AccountID+"/"+j.WorkspaceID)
	if err != nil {
		return err
	}
	defer unlock()
	now := s.now()
	c := rayfleet.Cluster{
		ID: j.ClusterID, AccountID: j.AccountID, WorkspaceID: j.WorkspaceID, Spec: spec, RunningSpec: spec,
		Desired: rayfleet.RunStateRunning, CreateTime: now, ModifiedTime: now,
		Creator: j.Creator, CreatorName: j.CreatorName, Modifier: j.Creator, ModifierName: j.CreatorName,
	}
	if err := s.startInstance(&c, now); err != nil {
		return err
	}
	err = s.Store.CreateCluster(ctx, c)
	switch {
	case rayfleet.ErrorCode(err) == rayfleet.EDENIED:
		return nil // made before
	case err != nil:
		return fmt.Errorf("create cluster of job %s: %w", j.ID, err)
	}
	s.wake(&c)
	return nil
}

// DeleteJobCluster deletes a job's temporary cluster as DeleteRayCluster
// does; one that is gone already is success. It is the job runner's.
func (s *Service) DeleteJobCluster(ctx context.Context, j rayfleet.Job) error {
	err := s.markDeleted(ctx, noGuard, j.AccountID, j.WorkspaceID, j.ClusterID, j.Creator, j.CreatorName)
	if rayfleet.IsNotFound(err) {
		return nil
	}
	return err
}

func (s *Service) newJobID() (string, error) { return s.newID("rj-", lowerAlnum, 16) }

// wakeJobs tells the job runner of a change of j.
func (s *Service) wakeJobs(j *rayfleet.Job) {
	if s.JobWaker != nil {
		s.JobWaker.Wake(store.ClusterRef{AccountID: j.AccountID, WorkspaceID: j.WorkspaceID, ID: j.ClusterID})
	}
}
