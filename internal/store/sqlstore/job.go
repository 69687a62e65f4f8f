package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/store"
)

// jobCols are the columns a job is read from, in scanJobs' order.
const jobCols = "id, account_id, workspace_id, spec, cluster_id, instance_id, status, cluster_state, message, stop, task_biz_id, " +
	"log_bucket, log_path, submit_time, start_time, end_time, creator, creator_name, version, held_milli_cpu, held_memory_bytes"

// jobValueCols are the columns written after the keys, in the order
// jobValues gives their values.
var jobValueCols = []string{
	"name", "task_biz_id", "cluster_id", "instance_id", "status", "final", "cluster_state", "message", "stop", "spec",
	"log_bucket", "log_path", "submit_time", "start_time", "end_time", "creator", "creator_name", "version",
	"held_milli_cpu", "held_memory_bytes",
}

var (
	insertJobSQL = "INSERT INTO jobs (id, account_id, workspace_id, " + strings.Join(jobValueCols, ", ") +
		") VALUES (" + strings.Repeat("?, ", len(jobValueCols)+2) + "?)"
	updateJobSQL = "UPDATE jobs SET " + strings.Join(jobValueCols, " = ?, ") +
		" = ? WHERE account_id = ? AND workspace_id = ? AND id = ? AND version = ?"
	getJobSQL = "SELECT " + jobCols + " FROM jobs WHERE account_id = ? AND workspace_id = ? AND id = ?"
	// final = 0 is literal so the planner matches it to the partial index.
	unfinishedJobsSQL        = "SELECT " + jobCols + " FROM jobs WHERE account_id = ? AND workspace_id = ? AND cluster_id = ? AND final = 0 ORDER BY seq"
	unfinishedJobClustersSQL = "SELECT DISTINCT account_id, workspace_id, cluster_id FROM jobs WHERE final = 0"
	jobTotalSQL              = "SELECT CAST(coalesce(sum(n), 0) AS BIGINT) FROM job_counts WHERE account_id = ? AND workspace_id = ?"
)

// jobValues returns the values of jobValueCols for j, and its spec as
// written.
func jobValues(j *rayfleet.Job) ([]any, []byte, error) {
	spec, err := json.Marshal(&j.Spec)
	if err != nil {
		return nil, nil, fmt.Errorf("encode spec of job %s: %w", j.ID, err)
	}
	return []any{
		j.Spec.Name, j.TaskBizID, j.ClusterID, j.InstanceID, string(j.Status), boolInt(j.Status.Final()), string(j.ClusterState),
		j.Message, string(j.Stop), string(spec), j.LogBucket, j.LogPath, toMS(j.SubmitTime), toMS(j.StartTime), toMS(j.EndTime),
		j.Creator, j.CreatorName, j.Version, j.Held.MilliCPU, j.Held.MemoryBytes,
	}, spec, nil
}

// CreateJob stores a new job at version 1, with the client token ctx
// carries, if any.
func (s *Store) CreateJob(ctx context.Context, j rayfleet.Job) error {
	j.Version = 1
	vals, _, err := jobValues(&j)
	if err != nil {
		return err
	}
	return s.writeOne(ctx, func(ex execFunc) error {
		_, err := ex(ctx, insertJobSQL, append([]any{j.ID, j.AccountID, j.WorkspaceID}, vals...)...)
		switch {
		case s.d.isUnique(err):
			return alreadyExists("job", j.ID)
		case s.d.isForeignKey(err):
			return notFound("workspace", j.WorkspaceID)
		case err != nil:
			return fmt.Errorf("create job %s: %w", j.ID, err)
		}
		return nil
	})
}

// GetJob loads a job.
func (s *Store) GetJob(ctx context.Context, accountID, workspaceID, id string) (rayfleet.Job, error) {
	js, err := s.jobs(ctx, getJobSQL, 1, accountID, workspaceID, id)
	if err != nil {
		return rayfleet.Job{}, fmt.Errorf("get job %s: %w", id, err)
	}
	if len(js) == 0 {
		return rayfleet.Job{}, notFound("job", id)
	}
	return js[0], nil
}

// ListJobs returns a page of a workspace's jobs that match f, newest first,
// and how many match in all. Every combination of filters walks one of the
// jobs_* indexes in list order (see migration 0013), so a page costs its
// own rows however many jobs the workspace has.
func (s *Store) ListJobs(ctx context.Context, f store.JobFilter) ([]rayfleet.Job, int, error) {
	list, count, args := jobListSQL(f)
	lim, off := s.d.page(f.Offset, f.Limit)
	// The page's arguments go after the filter's in a separate slice, so the
	// count below gets the filter's alone.
	js, err := s.jobs(ctx, list, max(f.Limit, 0), append(args[:len(args):len(args)], lim, off)...)
	if err != nil {
		return nil, 0, fmt.Errorf("list jobs: %w", err)
	}
	if total, ok := knownTotal(f.Offset, f.Limit, len(js)); ok {
		return js, total, nil
	}
	total, err := s.count(ctx, count, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("count jobs: %w", err)
	}
	return js, total, nil
}

// jobListSQL returns the page query of ListJobs for f (its LIMIT and
// OFFSET arguments last), the count query, and the filter's arguments,
// which both take first.
func jobListSQL(f store.JobFilter) (list, count string, args []any) {
	where := "account_id = ? AND workspace_id = ?"
	args = []any{f.AccountID, f.WorkspaceID}
	for _, eq := range []struct{ col, v string }{{"name", f.Name}, {"id", f.ID}, {"task_biz_id", f.TaskBizID}} {
		if eq.v != "" {
			where += " AND " + eq.col + " = ?"
			args = append(args, eq.v)
		}
	}
	if !f.SubmittedFrom.IsZero() {
		where += " AND submit_time >= ?"
		args = append(args, toMS(f.SubmittedFrom))
	}
	if !f.SubmittedUntil.IsZero() {
		where += " AND submit_time <= ?"
		args = append(args, toMS(f.SubmittedUntil))
	}
	list = "SELECT " + jobCols + " FROM jobs WHERE " + where + " ORDER BY submit_time DESC, id DESC LIMIT ? OFFSET ?"
	count = "SELECT count(*) FROM jobs WHERE " + where
	if len(args) == 2 {
		count = jobTotalSQL // no filter: the triggers keep the total
	}
	return list, count, args
}

// UpdateJob reads a job, lets fn change it and writes it back only if
// nobody wrote it in between, bumping its version.
func (s *Store) UpdateJob(ctx context.Context, accountID, workspaceID, id string, fn func(*rayfleet.Job) error) (rayfleet.Job, error) {
	read, err := s.GetJob(ctx, accountID, workspaceID, id)
	if err != nil {
		return rayfleet.Job{}, err
	}
	j := read
	j.Spec.VolumeIDs = append([]string(nil), read.Spec.VolumeIDs...) // fn may change the copy's slices in place
	j.Spec.Tags = append([]rayfleet.Tag(nil), read.Spec.Tags...)
	j.Spec.Workers = append([]rayfleet.WorkerSpec(nil), read.Spec.Workers...)
	if read.Spec.Head != nil {
		h := *read.Spec.Head
		j.Spec.Head = &h
	}
	if err := fn(&j); err != nil {
		return rayfleet.Job{}, err
	}
	if j.Status != read.Status && !read.Status.CanBecome(j.Status) {
		return rayfleet.Job{}, fmt.Errorf("update job %s from %s to %s: %w", id, read.Status, j.Status, store.ErrStatusBackwards)
	}
	j.AccountID, j.WorkspaceID, j.ID = accountID, workspaceID, id
	j.Version = read.Version + 1
	vals, spec, err := jobValues(&j)
	if err != nil {
		return rayfleet.Job{}, err
	}
	res, err := s.exec(ctx, updateJobSQL, append(vals, accountID, workspaceID, id, read.Version)...)
	var n int64
	if err == nil {
		n, err = affected(res)
	}
	switch {
	case err != nil:
		return rayfleet.Job{}, fmt.Errorf("update job %s: %w", id, err)
	case n == 0:
		return rayfleet.Job{}, fmt.Errorf("update job %s (version %d): %w", id, read.Version, rayfleet.ErrConflict)
	}
	// Answer with exactly what the next read returns.
	j.Spec = rayfleet.JobSpec{}
	if err := json.Unmarshal(spec, &j.Spec); err != nil {
		return rayfleet.Job{}, fmt.Errorf("decode spec of job %s: %w", id, err)
	}
	j.SubmitTime, j.StartTime, j.EndTime = fromMS(toMS(j.SubmitTime)), fromMS(toMS(j.StartTime)), fromMS(toMS(j.EndTime))
	return j, nil
}

// setJobStatusSQL returns the guarded status write of a job becoming to:
// the row changes only while its status is one that can become to, which
// the database checks as it writes.
func setJobStatusSQL(to rayfleet.JobStatus) string {
	preds := to.Predecessors()
	return "UPDATE jobs SET status = ?, final = ?, message = ?, " +
		"start_time = coalesce(nullif(CAST(? AS BIGINT), 0), start_time), end_time = coalesce(nullif(CAST(? AS BIGINT), 0), end_time), " +
		"version = version + 1 WHERE account_id = ? AND workspace_id = ? AND id = ? AND status IN (" +
		strings.TrimSuffix(strings.Repeat("?, ", len(preds)), ", ") + ") RETURNING " + jobCols
}

// SetJobStatus writes a job's status if the job, as it is when the write
// runs, may take it.
func (s *Store) SetJobStatus(ctx context.Context, accountID, workspaceID, id string, u store.JobStatusUpdate) (rayfleet.Job, bool, error) {
	preds := u.Status.Predecessors()
	if len(preds) == 0 {
		return rayfleet.Job{}, false, fmt.Errorf("set status of job %s: %q is not a job status", id, u.Status)
	}
	args := []any{string(u.Status), boolInt(u.Status.Final()), u.Message, toMS(u.StartTime), toMS(u.EndTime), accountID, workspaceID, id}
	for _, p := range preds {
		args = append(args, string(p))
	}
	// A write query, run on the writer: rows RETURNING gives back come
	// from the statement itself.
	st, err := s.stmt(ctx, s.write, setJobStatusSQL(u.Status))
	if err != nil {
		return rayfleet.Job{}, false, fmt.Errorf("set status of job %s: %w", id, err)
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return rayfleet.Job{}, false, fmt.Errorf("set status of job %s: %w", id, err)
	}
	js, err := scanJobs(rows, 1)
	if err != nil {
		return rayfleet.Job{}, false, fmt.Errorf("set status of job %s: %w", id, err)
	}
	if len(js) == 1 {
		return js[0], true, nil
	}
	j, err := s.GetJob(ctx, accountID, workspaceID, id)
	return j, false, err
}

// ListUnfinishedJobs returns a cluster's jobs that are not final, in the
// order they were created.
func (s *Store) ListUnfinishedJobs(ctx context.Context, c store.ClusterRef) ([]rayfleet.Job, error) {
	js, err := s.jobs(ctx, unfinishedJobsSQL, 0, c.AccountID, c.WorkspaceID, c.ID)
	if err != nil {
		return nil, fmt.Errorf("unfinished jobs of cluster %s: %w", c.ID, err)
	}
	return js, nil
}

// ListUnfinishedJobClusters returns each cluster with an unfinished job
// once, in no particular order.
func (s *Store) ListUnfinishedJobClusters(ctx context.Context) ([]store.ClusterRef, error) {
	rows, err := s.query(ctx, unfinishedJobClustersSQL)
	if err != nil {
		return nil, fmt.Errorf("clusters with unfinished jobs: %w", err)
	}
	defer rows.Close()
	var out []store.ClusterRef
	for rows.Next() {
		var r store.ClusterRef
		if err := rows.Scan(&r.AccountID, &r.WorkspaceID, &r.ID); err != nil {
			return nil, fmt.Errorf("clusters with unfinished jobs: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("clusters with unfinished jobs: %w", err)
	}
	return out, nil
}

// jobs runs a query selecting jobCols on the readers and decodes the rows.
func (s *Store) jobs(ctx context.Context, query string, capHint int, args ...any) ([]rayfleet.Job, error) {
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return scanJobs(rows, capHint)
}

// scanJobs decodes rows of jobCols and closes them.
func scanJobs(rows *sql.Rows, capHint int) ([]rayfleet.Job, error) {
	defer rows.Close()
	out := make([]rayfleet.Job, 0, capHint)
	var spec sql.RawBytes // decoded before the next row is read
	for rows.Next() {
		var j rayfleet.Job
		var status, clusterState, stop string
		var st, bt, et int64
		if err := rows.Scan(&j.ID, &j.AccountID, &j.WorkspaceID, &spec, &j.ClusterID, &j.InstanceID, &status, &clusterState,
			&j.Message, &stop, &j.TaskBizID, &j.LogBucket, &j.LogPath, &st, &bt, &et, &j.Creator, &j.CreatorName, &j.Version,
			&j.Held.MilliCPU, &j.Held.MemoryBytes); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(spec, &j.Spec); err != nil {
			return nil, fmt.Errorf("decode spec of job %s: %w", j.ID, err)
		}
		j.Status, j.ClusterState, j.Stop = rayfleet.JobStatus(status), rayfleet.JobClusterState(clusterState), rayfleet.JobStop(stop)
		j.SubmitTime, j.StartTime, j.EndTime = fromMS(st), fromMS(bt), fromMS(et)
		out = append(out, j)
	}
	return out, rows.Err()
}
