package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/rayjob"
	"github.com/rayfleet/rayfleet/internal/store"
)

// JobStore is what the job runner needs of storage.
type JobStore interface {
	GetClusterAny(ctx context.Context, accountID, workspaceID, id string) (rayfleet.Cluster, error)
	ListClusterRefs(ctx context.Context) ([]store.ClusterRef, error)
	GetJob(ctx context.Context, accountID, workspaceID, id string) (rayfleet.Job, error)
	UpdateJob(ctx context.Context, accountID, workspaceID, id string, fn func(*rayfleet.Job) error) (rayfleet.Job, error)
	ListUnfinishedJobs(ctx context.Context, c store.ClusterRef) ([]rayfleet.Job, error)
	ListUnfinishedJobClusters(ctx context.Context) ([]store.ClusterRef, error)
}

// Heads is how the control plane reaches the head of a cluster, never
// through the gateway: the base URL of the head's job API (its dashboard)
// and the Ray token to send it ("" when the head wants none). ok is false
// while c's current instance has no ready head. The runtimes implement it.
type Heads interface {
	JobAPI(c *rayfleet.Cluster) (baseURL, token string, ok bool)
}

// JobClusters makes and deletes the temporary clusters of jobs that name
// none, with the admission CreateRayCluster has (the service implements
// it). CreateJobCluster fails with QuotaExceeded while the cluster's
// queues have no room, and succeeds when the cluster was made already;
// DeleteJobCluster succeeds when it is gone already.
type JobClusters interface {
	CreateJobCluster(ctx context.Context, j rayfleet.Job) error
	DeleteJobCluster(ctx context.Context, j rayfleet.Job) error
}

// JobEnded is told of a job right after its final status is written, with
// a client of the head of the cluster it ran on (Address "" when that
// cluster has no ready head any more), before the job's temporary cluster
// is deleted. It is called from the pass of the job's cluster, which waits
// for it. A crash between the write and the call leaves it uncalled for
// that job.
type JobEnded interface {
	JobEnded(ctx context.Context, j rayfleet.Job, head rayjob.Client)
}

// JobRunning is told, now and then (JobRunner.CollectEvery), of each job
// Ray runs, with a client of its head: to copy what it has written so far
// (its logs), so that it outlives a cluster that dies before the job ends.
type JobRunning interface {
	Collect(ctx context.Context, j rayfleet.Job, head rayjob.Client) error
}

// Defaults of the job runner.
const (
	DefaultMaxRunningJobs = 100
	DefaultJobWorkers     = 4
	DefaultCollectEvery   = time.Minute
	headTimeout           = 10 * time.Second
	// hookTimeout bounds one call of Ended or Running.
	hookTimeout = 2 * time.Minute
)

// JobRunner hands jobs to the heads of their clusters and follows them to
// their end: it makes the temporary clusters of jobs that name none and
// deletes them after, hands each job to Ray once its cluster runs and has
// a free slot (the submission id being the job's id), maps what Ray
// reports onto the job, stops jobs that are cancelled or run out of time,
// and ends the jobs whose cluster goes. Like the Reconciler it works on
// one cluster at a time (a cluster's jobs are decided together, so its
// slots are handed out in submission order), woken by the API, by the
// reconciler when a cluster's state changes, and by a periodic resync.
//
// Every step is safe to repeat after a crash: a job is given its
// cluster's instance, in the store, before it is submitted, and Submit is
// idempotent on the submission id, so a restart finds the job on Ray
// rather than submitting it twice; a temporary cluster's id is derived
// from its job's, so making it twice finds the first.
type JobRunner struct {
	Store    JobStore
	Heads    Heads
	Clusters JobClusters
	Now      func() time.Time
	Logger   *slog.Logger
	// MaxRunning is how many jobs one cluster runs at once; further ones
	// wait, Pending. DefaultMaxRunningJobs if 0.
	MaxRunning int
	Workers    int           // clusters worked on at once; DefaultJobWorkers if 0
	Resync     time.Duration // every cluster is looked at this often; DefaultResync if 0
	// HTTP reaches the heads; nil is a client with a 10 s timeout.
	HTTP *http.Client
	// Ended, if not nil, is told of every job that ends.
	Ended JobEnded
	// Running, if not nil, is told every CollectEvery (DefaultCollectEvery
	// if 0) of each job that runs.
	Running      JobRunning
	CollectEvery time.Duration

	once sync.Once
	loop *loop
}

func (r *JobRunner) init() {
	r.once.Do(func() {
		r.loop = newLoop("jobs of a cluster")
		if r.MaxRunning <= 0 {
			r.MaxRunning = DefaultMaxRunningJobs
		}
		if r.Workers <= 0 {
			r.Workers = DefaultJobWorkers
		}
		if r.Resync <= 0 {
			r.Resync = DefaultResync
		}
		if r.Now == nil {
			r.Now = time.Now
		}
		if r.Logger == nil {
			r.Logger = slog.New(slog.DiscardHandler)
		}
		if r.HTTP == nil {
			r.HTTP = &http.Client{Timeout: headTimeout}
		}
		if r.CollectEvery <= 0 {
			r.CollectEvery = DefaultCollectEvery
		}
	})
}

// Wake asks for the jobs of cluster ref to be looked at soon. It never
// blocks.
func (r *JobRunner) Wake(ref Ref) {
	r.init()
	r.loop.queue.add(ref)
}

// Run works until ctx ends, resyncing every Resync.
func (r *JobRunner) Run(ctx context.Context) error {
	r.init()
	if r.Running != nil {
		done := make(chan struct{})
		defer func() { <-done }()
		go func() {
			defer close(done)
			t := time.NewTicker(r.CollectEvery)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					r.eachRunning(ctx)
				}
			}
		}()
	}
	r.loop.run(ctx, r.Workers, r.Resync, r.Logger, r.resync, r.Reconcile)
	return nil
}

// eachRunning tells Running of every job that runs now on its cluster's
// current instance, one at a time.
func (r *JobRunner) eachRunning(ctx context.Context) {
	refs, err := r.Store.ListUnfinishedJobClusters(ctx)
	if err != nil {
		r.Logger.Warn("list the clusters with running jobs", "err", err.Error())
		return
	}
	for _, ref := range refs {
		c, err := r.Store.GetClusterAny(ctx, ref.AccountID, ref.WorkspaceID, ref.ID)
		if err != nil || c.State != rayfleet.StateRunning {
			continue
		}
		head, ok := r.head(&c)
		if !ok {
			continue
		}
		jobs, err := r.Store.ListUnfinishedJobs(ctx, ref)
		if err != nil {
			continue
		}
		for _, j := range jobs {
			if j.Status != rayfleet.JobRunning || j.InstanceID != c.InstanceID || ctx.Err() != nil {
				continue
			}
			hctx, cancel := context.WithTimeout(ctx, hookTimeout)
			if err := r.Running.Collect(hctx, j, head); err != nil && ctx.Err() == nil {
				r.Logger.Warn("copy what a running job wrote so far", "submissionId", j.ID, "err", err.Error())
			}
			cancel()
		}
	}
}

// resync lists every cluster with unfinished jobs (whether or not its row
// is left) and every cluster row (a temporary cluster may wait for its
// ended job's ttlSecondsAfterFinished).
func (r *JobRunner) resync(ctx context.Context) ([]Ref, error) {
	refs, err := r.Store.ListUnfinishedJobClusters(ctx)
	if err != nil {
		return nil, err
	}
	all, err := r.Store.ListClusterRefs(ctx)
	return append(refs, all...), err
}

// errJobStale means a job changed (an API call) since the pass read it:
// the pass is redone.
var errJobStale = errors.New("job changed while the runner decided on it")

// Reconcile makes one pass over the jobs of one cluster: read, plan, act.
// It returns when to look again (0: only on wakes and resync).
func (r *JobRunner) Reconcile(ctx context.Context, ref Ref) (time.Duration, error) {
	r.init()
	v, err := r.view(ctx, ref)
	if err != nil || v == nil {
		return 0, err
	}
	head, headOK := r.head(v.Cluster)
	if headOK && needsRay(v) {
		infos, err := head.Jobs(ctx)
		if err != nil {
			// Its jobs stay as they are until it answers, or its cluster
			// is found gone.
			r.Logger.Debug("the head does not answer; its jobs wait", "clusterId", ref.ID, "workspaceId", ref.WorkspaceID, "err", err.Error())
		} else {
			v.Ray = make(map[string]rayjob.JobInfo, len(infos))
			for _, info := range infos {
				if info.SubmissionID != "" {
					v.Ray[info.SubmissionID] = info
				}
			}
		}
	}
	p := planJobs(v)
	var errs []error
	stale := false
	for i := range p.Steps {
		err := r.do(ctx, v, &p.Steps[i], head)
		switch {
		case errors.Is(err, errJobStale) || errors.Is(err, rayfleet.ErrConflict) || errors.Is(err, store.ErrStatusBackwards):
			stale = true
		case err != nil:
			errs = append(errs, fmt.Errorf("job %s (%s): %w", p.Steps[i].Job.ID, p.Steps[i].Do, err))
		}
	}
	if err := r.doCluster(ctx, v, p.Cluster); err != nil {
		errs = append(errs, err)
	}
	if stale {
		r.loop.queue.add(ref)
	}
	return p.Requeue, errors.Join(errs...)
}

// view reads what a pass decides on; nil when the cluster has nothing for
// the runner to do.
func (r *JobRunner) view(ctx context.Context, ref Ref) (*jobView, error) {
	v := &jobView{Now: r.Now().UTC().Truncate(time.Millisecond), MaxRunning: r.MaxRunning}
	c, err := r.Store.GetClusterAny(ctx, ref.AccountID, ref.WorkspaceID, ref.ID)
	switch {
	case err == nil:
		v.Cluster = &c
	case !rayfleet.IsNotFound(err):
		return nil, fmt.Errorf("load cluster: %w", err)
	}
	if v.Jobs, err = r.Store.ListUnfinishedJobs(ctx, ref); err != nil {
		return nil, err
	}
	owner, err := r.Store.GetJob(ctx, ref.AccountID, ref.WorkspaceID, rayfleet.TemporaryClusterJob(ref.ID))
	switch {
	case err == nil && owner.OwnsCluster() && owner.ClusterID == ref.ID:
		v.Owner = &owner
	case err != nil && !rayfleet.IsNotFound(err):
		return nil, fmt.Errorf("load the job of cluster %s: %w", ref.ID, err)
	}
	if len(v.Jobs) == 0 && (v.Owner == nil || v.Owner.ClusterState == rayfleet.JobClusterDeleted) {
		return nil, nil
	}
	return v, nil
}

// needsRay reports whether any job of the pass is on the cluster's
// current instance, so the head is asked what it has.
func needsRay(v *jobView) bool {
	c := v.Cluster
	if c == nil || c.Deleted || c.State != rayfleet.StateRunning {
		return false
	}
	for i := range v.Jobs {
		if v.Jobs[i].InstanceID == c.InstanceID {
			return true
		}
	}
	return false
}

// head is a client of c's current head.
func (r *JobRunner) head(c *rayfleet.Cluster) (rayjob.Client, bool) {
	if c == nil || c.Deleted || r.Heads == nil {
		return rayjob.Client{HTTP: r.HTTP}, false
	}
	base, token, ok := r.Heads.JobAPI(c)
	if !ok {
		return rayjob.Client{HTTP: r.HTTP}, false
	}
	return rayjob.Client{Address: base, Token: token, HTTP: r.HTTP}, true
}

// do carries out one step.
func (r *JobRunner) do(ctx context.Context, v *jobView, s *jobStep, head rayjob.Client) error {
	j := s.Job
	switch s.Do {
	case jobMakeCluster:
		return r.makeCluster(ctx, v, s)
	case jobHandOver:
		// The instance is recorded first: a crash after it finds the job
		// given to that instance and submits again, which finds the job on
		// Ray if the first submit reached it.
		handed, err := r.write(ctx, v, s)
		if err != nil || handed == nil {
			return err
		}
		return r.submit(ctx, v, *handed, head)
	case jobSubmit:
		return r.submit(ctx, v, *j, head)
	case jobTimeout:
		if _, err := r.write(ctx, v, s); err != nil {
			return err
		}
		_, err := head.Stop(ctx, j.ID)
		return err
	case jobStop:
		if _, err := head.Stop(ctx, j.ID); err != nil {
			return err
		}
	}
	_, err := r.write(ctx, v, s)
	return err
}

// write stores the step's outcome of its job if that changes the job and
// the job is still as the pass read it; it returns the job written (nil
// when nothing needed writing). A job that ends is told to Ended.
func (r *JobRunner) write(ctx context.Context, v *jobView, s *jobStep) (*rayfleet.Job, error) {
	read := *s.Job
	probe := read
	if !s.apply(&probe, v.Cluster) {
		return nil, nil
	}
	j, err := r.Store.UpdateJob(ctx, read.AccountID, read.WorkspaceID, read.ID, func(j *rayfleet.Job) error {
		if j.Version != read.Version {
			return errJobStale
		}
		s.apply(j, v.Cluster)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if j.Status != read.Status || j.ClusterState != read.ClusterState {
		r.Logger.Info("job status", "submissionId", j.ID, "clusterId", j.ClusterID, "workspaceId", j.WorkspaceID,
			"from", string(read.Status), "to", string(j.Status), "clusterState", string(j.ClusterState), "message", j.Message)
	}
	*s.Job = j // later steps of the pass (a submit) act on what is stored
	if j.Status.Final() && !read.Status.Final() {
		if r.Ended != nil {
			head, _ := r.head(v.Cluster)
			hctx, cancel := context.WithTimeout(ctx, hookTimeout)
			r.Ended.JobEnded(hctx, j, head)
			cancel()
		}
		if j.OwnsCluster() {
			// The next pass sees it ended, and deletes its cluster when due.
			r.loop.queue.add(Ref{AccountID: j.AccountID, WorkspaceID: j.WorkspaceID, ID: j.ClusterID})
		}
	}
	return &j, nil
}

// submit hands a job to the head. A refusal that will not change (Ray
// answers 4xx: a runtime env it cannot read, say) ends the job Failed
// with Ray's answer; anything else is retried.
func (r *JobRunner) submit(ctx context.Context, v *jobView, j rayfleet.Job, head rayjob.Client) error {
	req, err := rayjob.RequestFor(&j)
	if err == nil {
		_, err = head.Submit(ctx, req)
	}
	var refused *rayjob.Error
	if err == nil || !errors.As(err, &refused) || refused.StatusCode < 400 || refused.StatusCode >= 500 {
		return err
	}
	_, werr := r.write(ctx, v, &jobStep{
		Job: &j, Status: rayfleet.JobFailed, End: v.Now, ClusterState: j.ClusterState,
		Message: "Ray refused the job: " + refused.Body,
	})
	return werr
}

// makeCluster makes a job's temporary cluster and writes the outcome on
// the job: Pending with its cluster starting, or, while its queues have
// no room, Pending saying for what.
func (r *JobRunner) makeCluster(ctx context.Context, v *jobView, s *jobStep) error {
	err := r.Clusters.CreateJobCluster(ctx, *s.Job)
	switch {
	case rayfleet.ErrorCode(err) == rayfleet.EQUOTA:
		s.Message = "waiting for room for its cluster: " + rayfleet.ErrorMessage(err)
	case err != nil:
		return err
	default:
		s.ClusterState, s.Message = rayfleet.JobClusterPending, fmt.Sprintf("waiting for cluster %s to start", s.Job.ClusterID)
	}
	_, err = r.write(ctx, v, s)
	return err
}

// doCluster deletes an ended job's temporary cluster, or records that it
// is gone.
func (r *JobRunner) doCluster(ctx context.Context, v *jobView, d clusterDo) error {
	if d == clusterKeep {
		return nil
	}
	o := v.Owner
	if d == clusterDelete {
		if err := r.Clusters.DeleteJobCluster(ctx, *o); err != nil {
			return fmt.Errorf("delete the cluster of job %s: %w", o.ID, err)
		}
		r.Logger.Info("deleted the cluster of an ended job", "submissionId", o.ID, "clusterId", o.ClusterID, "workspaceId", o.WorkspaceID)
	}
	_, err := r.write(ctx, v, &jobStep{Job: o, Status: o.Status, Message: o.Message, ClusterState: rayfleet.JobClusterDeleted})
	if errors.Is(err, errJobStale) || errors.Is(err, rayfleet.ErrConflict) {
		r.loop.queue.add(Ref{AccountID: o.AccountID, WorkspaceID: o.WorkspaceID, ID: o.ClusterID})
		return nil
	}
	return err
}
