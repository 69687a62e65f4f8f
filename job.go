package rayfleet

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// JobStatus is the status of a Ray job, as the API reports it.
type JobStatus string

// The job statuses of the hosted product. Submitted: stored, not yet handed
// to Ray. Pending: its cluster is starting, it waits for a slot on the
// cluster, or Ray has it and has not started its driver. Cancelling: a stop
// was asked for (CancelRayJob, or activeDeadlineSeconds passed) and Ray has
// not yet reported the job ended.
const (
	JobSubmitted  JobStatus = "Submitted"
	JobPending    JobStatus = "Pending"
	JobRunning    JobStatus = "Running"
	JobSucceeded  JobStatus = "Succeeded"
	JobFailed     JobStatus = "Failed"
	JobCancelling JobStatus = "Cancelling"
	JobCancelled  JobStatus = "Cancelled"
	JobTimeout    JobStatus = "Timeout"
)

// JobStatuses lists every status, from first to last.
var JobStatuses = []JobStatus{JobSubmitted, JobPending, JobRunning, JobCancelling, JobSucceeded, JobFailed, JobCancelled, JobTimeout}

// Valid reports whether s is one of the eight statuses.
func (s JobStatus) Valid() bool { return s.rank() >= 0 }

// Final reports whether a job in s is over: nothing changes its status again.
func (s JobStatus) Final() bool { return s.rank() == finalRank }

const finalRank = 4

// rank orders the statuses as a job goes through them; -1 for an unknown one.
func (s JobStatus) rank() int {
	switch s {
	case JobSubmitted:
		return 0
	case JobPending:
		return 1
	case JobRunning:
		return 2
	case JobCancelling:
		return 3
	case JobSucceeded, JobFailed, JobCancelled, JobTimeout:
		return finalRank
	}
	return -1
}

// CanBecome reports whether a job in s may be written as next. Statuses only
// go forward (Submitted, Pending, Running, Cancelling, then one final
// status), staying put is allowed, and a final status is never left: so a
// writer that read a job before another wrote it, and writes what it saw
// then, cannot take the job back, and a cancelled job is not revived by a
// late report that it runs.
func (s JobStatus) CanBecome(next JobStatus) bool {
	r, n := s.rank(), next.rank()
	return r >= 0 && n >= 0 && r < finalRank && n >= r
}

// Predecessors returns the statuses a job may be in to become s, first to
// last (see CanBecome).
func (s JobStatus) Predecessors() []JobStatus {
	var out []JobStatus
	for _, p := range JobStatuses {
		if p.CanBecome(s) {
			out = append(out, p)
		}
	}
	return out
}

// JobStop is a stop asked of a job, and why.
type JobStop string

// The reasons a job is stopped.
const (
	JobStopNone    JobStop = ""
	JobStopCancel  JobStop = "Cancel"  // CancelRayJob
	JobStopTimeout JobStop = "Timeout" // activeDeadlineSeconds passed
)

// Ray's job statuses (ray.job_submission.JobStatus).
const (
	RayJobPending   = "PENDING"
	RayJobRunning   = "RUNNING"
	RayJobStopped   = "STOPPED"
	RayJobSucceeded = "SUCCEEDED"
	RayJobFailed    = "FAILED"
)

// JobStatusOfRay maps the status Ray reports of a job onto rayfleet's, given
// the stop asked of it: while a stop is pending a job Ray still runs is
// Cancelling, and a job Ray stopped is Timeout when its deadline stopped it
// and Cancelled otherwise (CancelRayJob, or a stop through the cluster's
// own job API). ok is false for a status Ray does not have.
func JobStatusOfRay(ray string, stop JobStop) (s JobStatus, ok bool) {
	switch ray {
	case RayJobPending, RayJobRunning:
		if stop != JobStopNone {
			return JobCancelling, true
		}
		if ray == RayJobPending {
			return JobPending, true
		}
		return JobRunning, true
	case RayJobStopped:
		if stop == JobStopTimeout {
			return JobTimeout, true
		}
		return JobCancelled, true
	case RayJobSucceeded:
		return JobSucceeded, true
	case RayJobFailed:
		return JobFailed, true
	}
	return "", false
}

// JobClusterState is the state of a job's cluster as GetRayJob reports it.
type JobClusterState string

// The cluster states of a job: Submitted (not created yet), Pending (being
// created), Running, Deleted.
const (
	JobClusterSubmitted JobClusterState = "Submitted"
	JobClusterPending   JobClusterState = "Pending"
	JobClusterRunning   JobClusterState = "Running"
	JobClusterDeleted   JobClusterState = "Deleted"
)

// Tag is a key/value label of a job or a workspace.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// JobSpec is everything the submitter gave of a job. ClusterID names the
// existing cluster it runs on; without it, Head and Workers describe the
// temporary cluster made for it. The entrypoint resources are text, as the
// API carries them; EntrypointResources, RuntimeEnvJSON and MetadataJSON
// are JSON objects.
type JobSpec struct {
	Name                     string       `json:"name"`
	Entrypoint               string       `json:"entrypoint"`
	ClusterID                string       `json:"clusterId,omitempty"`
	ReleaseVersion           string       `json:"displayReleaseVersion,omitempty"`
	NetworkService           string       `json:"networkServiceName,omitempty"`
	Head                     *HeadSpec    `json:"headSpec,omitempty"`
	Workers                  []WorkerSpec `json:"workerSpec,omitempty"`
	RuntimeEnvJSON           string       `json:"runtimeEnvJson,omitempty"`
	WorkingDir               string       `json:"workingDir,omitempty"`
	MetadataJSON             string       `json:"metadataJson,omitempty"`
	SubmissionMode           string       `json:"submissionMode,omitempty"`
	EntrypointNumCPUs        string       `json:"entrypointNumCpus,omitempty"`
	EntrypointNumGPUs        string       `json:"entrypointNumGpus,omitempty"`
	EntrypointMemory         string       `json:"entrypointMemory,omitempty"`
	EntrypointResources      string       `json:"entrypointResources,omitempty"`
	ActiveDeadlineSeconds    int32        `json:"activeDeadlineSeconds,omitempty"`
	ShutdownAfterJobFinishes bool         `json:"shutdownAfterJobFinishes"`
	TTLSecondsAfterFinished  int32        `json:"ttlSecondsAfterFinished,omitempty"`
	VolumeIDs                []string     `json:"volumeIds,omitempty"`
	Tags                     []Tag        `json:"tags,omitempty"`
	ExtraParam               string       `json:"extraParam,omitempty"`
}

// Limits of a job spec.
const (
	MaxEntrypointLen = 64 << 10
	MaxJobTags       = 20
)

// EntrypointNeeds is what a job's driver reserves on its cluster, as Ray's
// job API takes it.
type EntrypointNeeds struct {
	NumCPUs     float64
	NumGPUs     float64
	MemoryBytes int64
	Resources   map[string]float64
}

// EntrypointNeeds reads the entrypoint resource fields: numbers of CPUs and
// GPUs (fractions allowed), memory as a quantity ("4Gi") or a number of
// bytes, and custom resources as a JSON object of numbers. Empty fields
// reserve nothing.
func (s *JobSpec) EntrypointNeeds() (EntrypointNeeds, error) {
	var n EntrypointNeeds
	var err error
	if n.NumCPUs, err = nonNegative("entrypointNumCpus", s.EntrypointNumCPUs); err != nil {
		return EntrypointNeeds{}, err
	}
	if n.NumGPUs, err = nonNegative("entrypointNumGpus", s.EntrypointNumGPUs); err != nil {
		return EntrypointNeeds{}, err
	}
	if m := strings.TrimSpace(s.EntrypointMemory); m != "" {
		if b, err := strconv.ParseInt(m, 10, 64); err == nil && b >= 0 {
			n.MemoryBytes = b
		} else if n.MemoryBytes, err = ParseMemory(m); err != nil {
			return EntrypointNeeds{}, Errorf(EINVALID, "entrypointMemory %s", err)
		}
	}
	if r := strings.TrimSpace(s.EntrypointResources); r != "" {
		if err := json.Unmarshal([]byte(r), &n.Resources); err != nil || n.Resources == nil {
			return EntrypointNeeds{}, Errorf(EINVALID, `entrypointResources must be a JSON object of numbers, such as {"fpu": 1}`)
		}
		for k, v := range n.Resources {
			if k == "" || v < 0 || math.IsInf(v, 0) {
				return EntrypointNeeds{}, Errorf(EINVALID, "entrypointResources %q must name a resource and hold a number of 0 or more", k)
			}
		}
	}
	return n, nil
}

func nonNegative(field, s string) (float64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, Errorf(EINVALID, "%s must be a number of 0 or more, such as \"1\" or \"0.5\", got %q", field, s)
	}
	return f, nil
}

// Validate checks what can be checked without looking anything up (the
// cluster, queues, network service and release version are the service's
// to check). Messages name the fields as the caller wrote them.
func (s *JobSpec) Validate() error {
	if utf8.RuneCountInString(s.Name) > MaxNameLen {
		return Errorf(EINVALID, "name must be at most %d characters, got %d", MaxNameLen, utf8.RuneCountInString(s.Name))
	}
	if strings.TrimSpace(s.Entrypoint) == "" {
		return Errorf(EMISSING, "entrypoint is required: the command that starts the job, such as \"python main.py\"")
	}
	if len(s.Entrypoint) > MaxEntrypointLen {
		return Errorf(EINVALID, "entrypoint must be at most %d bytes", MaxEntrypointLen)
	}
	if _, err := s.EntrypointNeeds(); err != nil {
		return err
	}
	var env struct {
		WorkingDir any `json:"working_dir"`
		PyModules  any `json:"py_modules"`
	}
	if err := jsonObject("runtimeEnvJson", s.RuntimeEnvJSON, &env); err != nil {
		return err
	}
	// A local path would name a directory on rayfleet's or the head's
	// machine, not the submitter's: local directories are uploaded first
	// (the CLI does, as ray job submit does) and named by their URI.
	if s.WorkingDir != "" && !isURI(s.WorkingDir) {
		return Errorf(EINVALID, "workingDir must be a URI, such as gcs://_ray_pkg_<hash>.zip or https://host/code.zip, got %q; a local directory is uploaded first (the rayfleet CLI does that)", s.WorkingDir)
	}
	if d, ok := env.WorkingDir.(string); env.WorkingDir != nil && (!ok || !isURI(d)) {
		return Errorf(EINVALID, "runtimeEnvJson working_dir must be a URI, such as gcs://_ray_pkg_<hash>.zip; a local directory is uploaded first")
	}
	if mods, ok := env.PyModules.([]any); env.PyModules != nil {
		for _, m := range mods {
			if d, isString := m.(string); !isString || !isURI(d) {
				ok = false
			}
		}
		if !ok {
			return Errorf(EINVALID, "runtimeEnvJson py_modules must be a list of URIs; local modules are uploaded first")
		}
	}
	// Ray's job metadata is a map of strings to strings.
	var meta map[string]string
	if err := jsonObject("metadataJson", s.MetadataJSON, &meta); err != nil {
		return Errorf(EINVALID, `metadataJson must be a JSON object of strings, such as {"resourceName": "test"}`)
	}
	if s.ExtraParam != "" && !json.Valid([]byte(s.ExtraParam)) {
		return Errorf(EINVALID, "extraParam must be a JSON string, such as \"{}\"")
	}
	if s.ActiveDeadlineSeconds < 0 {
		return Errorf(EINVALID, "activeDeadlineSeconds must be 0 (no deadline) or more, got %d", s.ActiveDeadlineSeconds)
	}
	if s.TTLSecondsAfterFinished < 0 {
		return Errorf(EINVALID, "ttlSecondsAfterFinished must be 0 or more, got %d", s.TTLSecondsAfterFinished)
	}
	if len(s.Tags) > MaxJobTags {
		return Errorf(EINVALID, "tags has %d entries; at most %d are allowed", len(s.Tags), MaxJobTags)
	}
	for i, t := range s.Tags {
		if t.Key == "" || utf8.RuneCountInString(t.Key) > 128 || utf8.RuneCountInString(t.Value) > 128 {
			return Errorf(EINVALID, "tags[%d] needs a key of 1 to 128 characters and a value of at most 128", i)
		}
	}
	switch {
	case s.ClusterID != "" && (s.Head != nil || len(s.Workers) > 0):
		return Errorf(EINVALID, "give either clusterId, to run on that cluster, or headSpec and workerSpec, for a cluster made for the job; not both")
	case s.ClusterID == "" && s.Head == nil:
		return Errorf(EMISSING, "clusterId or headSpec is required: the cluster to run on, or the head of a cluster made for the job")
	case s.Head != nil:
		spec := s.TemporaryCluster("job")
		return spec.Validate()
	}
	return nil
}

// jsonObject checks that s, when given, is a JSON object; into, when not
// nil, receives it.
func jsonObject(field, s string, into any) error {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &m); err != nil || m == nil {
		return Errorf(EINVALID, "%s must be a JSON object", field)
	}
	if into != nil {
		if err := json.Unmarshal([]byte(s), into); err != nil {
			return Errorf(EINVALID, "%s: %v", field, err)
		}
	}
	return nil
}

// isURI reports whether s is scheme://rest, the form Ray gives remote and
// uploaded packages.
func isURI(s string) bool {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || scheme == "" || rest == "" {
		return false
	}
	for i, r := range scheme {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && (r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.')) {
			return false
		}
	}
	return true
}

// TemporaryCluster is the spec of the cluster made for a job that names no
// cluster, called name.
func (s *JobSpec) TemporaryCluster(name string) ClusterSpec {
	c := ClusterSpec{
		Name: name, ReleaseVersion: s.ReleaseVersion, NetworkService: s.NetworkService,
		Workers: append([]WorkerSpec(nil), s.Workers...), VolumeIDs: append([]string(nil), s.VolumeIDs...),
	}
	if s.Head != nil {
		c.Head = *s.Head
	}
	return c
}

// Job is a Ray job: what was submitted, where it runs, what was observed,
// and who submitted it when. Its ID is the submission id rayfleet chose and
// gives Ray, so a retry after a crash finds the job on the cluster rather
// than submitting it again.
type Job struct {
	ID          string
	AccountID   string
	WorkspaceID string
	Spec        JobSpec
	// ClusterID is the cluster the job runs on: Spec.ClusterID, or the
	// temporary cluster made for it (OwnsCluster).
	ClusterID string
	// InstanceID is the cluster instance the job is handed to, written
	// before it is: a job whose instance stopped is lost with it and never
	// handed to the next one. Empty until the job is given a slot.
	InstanceID   string
	Status       JobStatus
	ClusterState JobClusterState
	Message      string
	// Stop is the stop asked of the job, kept until Ray reports it ended.
	Stop JobStop
	// TaskBizID links a job to the workflow task that submitted it.
	TaskBizID string
	// LogBucket and LogPath are where the job's logs are kept: a bucket and
	// the key prefix under it (<workspaceId>/ray/logs/<id>_default/).
	LogBucket string
	LogPath   string
	// Held is what the job's cluster held (its spec's Total) when the job
	// was handed to it: what the job is metered on (CUHours).
	Held Resources

	SubmitTime  time.Time
	StartTime   time.Time
	EndTime     time.Time
	Creator     string
	CreatorName string

	// Version is the optimistic-concurrency version; stores bump it on every write.
	Version int64
}

// OwnsCluster reports whether the job's cluster was made for it.
func (j *Job) OwnsCluster() bool { return j.Spec.ClusterID == "" }

// Duration is how long the job has run: from its start to its end, or to
// now while it runs; zero before it starts.
func (j *Job) Duration(now time.Time) time.Duration {
	switch {
	case j.StartTime.IsZero():
		return 0
	case !j.EndTime.IsZero():
		return max(j.EndTime.Sub(j.StartTime), 0)
	}
	return max(now.Sub(j.StartTime), 0)
}

// CUHours is the compute the job used: the CUs its cluster held times the
// hours it ran (Duration).
func (j *Job) CUHours(now time.Time) float64 {
	return j.Held.CUs() * j.Duration(now).Hours()
}

// TemporaryClusterID is the id of the cluster made for the job jobID
// (rj-<x>): ray-<x>. Deriving it makes the cluster's creation idempotent
// (a second create finds the first) and ties the two together without a
// column.
func TemporaryClusterID(jobID string) string { return "ray-" + strings.TrimPrefix(jobID, "rj-") }

// TemporaryClusterJob is the id of the job whose temporary cluster
// clusterID would be (TemporaryClusterID's inverse); it says nothing of
// whether that job exists.
func TemporaryClusterJob(clusterID string) string {
	return "rj-" + strings.TrimPrefix(clusterID, "ray-")
}

// TemporaryClusterName is the name a job's temporary cluster has in
// ListRayCluster, which marks it as the job's.
func TemporaryClusterName(jobID string) string { return "job-" + jobID }

// JobLogPath is the key prefix of a job's logs in the log bucket.
func JobLogPath(workspaceID, jobID string) string {
	return fmt.Sprintf("%s/ray/logs/%s_default/", workspaceID, jobID)
}
