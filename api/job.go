package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// The wire types of the Ray job and log operations (SubmitRayJob, GetRayJob,
// ListRayJob, CancelRayJob, GetRayLog, ListRayLogs), field for field as the
// hosted product's SDK models declare them: resource quantities are strings,
// durations in seconds int32, times (Unix ms) and durations int64.

// JobHeadSpec is the head of the temporary cluster SubmitRayJob makes for
// a job without clusterId. A field left empty is left out.
type JobHeadSpec struct {
	CPU                   string `json:"cpu,omitempty"`
	Memory                string `json:"memory,omitempty"`
	QueueName             string `json:"queueName,omitempty"`
	GPUSpec               string `json:"gpuSpec,omitempty"`
	DisplayReleaseVersion string `json:"displayReleaseVersion,omitempty"`
	EnableAutoScaling     bool   `json:"enableAutoScaling"`
	IdleTimeoutSeconds    int32  `json:"idleTimeoutSeconds"`
}

// JobWorkerSpec is a worker group of a job's temporary cluster.
type JobWorkerSpec struct {
	CPU                   string `json:"cpu,omitempty"`
	Memory                string `json:"memory,omitempty"`
	QueueName             string `json:"queueName,omitempty"`
	GPUSpec               string `json:"gpuSpec,omitempty"`
	GroupName             string `json:"groupName"`
	WorkerType            string `json:"workerType,omitempty"`
	DisplayReleaseVersion string `json:"displayReleaseVersion,omitempty"`
	Replica               int32  `json:"replica"`
	MinReplica            int32  `json:"minReplica"`
	MaxReplica            int32  `json:"maxReplica"`
}

// SubmitJobRequest is the body of SubmitRayJob. With ClusterID the job runs
// on that existing cluster; without it on a temporary cluster made from
// HeadSpec and WorkerSpec. ShutdownAfterJobFinishes is a pointer because the
// hosted product's default is true: nil is "not given". ClientToken is an
// extension (rayfleet accepts one on every mutating call).
type SubmitJobRequest struct {
	Name                     string          `json:"name,omitempty"`
	Entrypoint               string          `json:"entrypoint,omitempty"`
	DisplayReleaseVersion    string          `json:"displayReleaseVersion,omitempty"`
	ClusterID                string          `json:"clusterId,omitempty"`
	HeadSpec                 *JobHeadSpec    `json:"headSpec,omitempty"`
	WorkerSpec               []JobWorkerSpec `json:"workerSpec,omitempty"`
	NetworkServiceName       string          `json:"networkServiceName,omitempty"`
	RuntimeEnvJSON           string          `json:"runtimeEnvJson,omitempty"`
	WorkingDir               string          `json:"workingDir,omitempty"`
	MetadataJSON             string          `json:"metadataJson,omitempty"`
	SubmissionMode           string          `json:"submissionMode,omitempty"`
	EntrypointNumCPUs        string          `json:"entrypointNumCpus,omitempty"`
	EntrypointNumGPUs        string          `json:"entrypointNumGpus,omitempty"`
	EntrypointMemory         string          `json:"entrypointMemory,omitempty"`
	EntrypointResources      string          `json:"entrypointResources,omitempty"`
	ActiveDeadlineSeconds    int32           `json:"activeDeadlineSeconds,omitempty"`
	ShutdownAfterJobFinishes *bool           `json:"shutdownAfterJobFinishes,omitempty"`
	TTLSecondsAfterFinished  int32           `json:"ttlSecondsAfterFinished,omitempty"`
	VolumeIDs                []string        `json:"volumeIds,omitempty"`
	Tags                     []Tag           `json:"tags,omitempty"`
	ExtraParam               string          `json:"extraParam,omitempty"`
	ClientToken              string          `json:"clientToken,omitempty"`
}

// SubmitJobResponse answers SubmitRayJob.
type SubmitJobResponse struct {
	RequestID    string `json:"requestId"`
	SubmissionID string `json:"submissionId"`
}

// JobClusterHeadSpec is the head of a job's cluster as GetRayJob answers
// it, every field present.
type JobClusterHeadSpec struct {
	CPU                   string `json:"cpu"`
	Memory                string `json:"memory"`
	QueueName             string `json:"queueName"`
	GPUSpec               string `json:"gpuSpec"`
	DisplayReleaseVersion string `json:"displayReleaseVersion"`
	EnableAutoScaling     bool   `json:"enableAutoScaling"`
	IdleTimeoutSeconds    int32  `json:"idleTimeoutSeconds"`
	Replica               int32  `json:"replica"`
}

// JobClusterWorkerSpec is a worker group of a job's cluster as GetRayJob
// answers it (in workerSpecs, plural; the SDK's model has no workerType).
type JobClusterWorkerSpec struct {
	CPU                   string `json:"cpu"`
	Memory                string `json:"memory"`
	QueueName             string `json:"queueName"`
	GPUSpec               string `json:"gpuSpec"`
	GroupName             string `json:"groupName"`
	DisplayReleaseVersion string `json:"displayReleaseVersion"`
	Replica               int32  `json:"replica"`
	MinReplica            int32  `json:"minReplica"`
	MaxReplica            int32  `json:"maxReplica"`
}

// GUHours is the GPU time a job used.
type GUHours struct {
	GPUHours float64 `json:"gpuHours"`
	GPUSpec  string  `json:"gpuSpec"`
}

// Job answers GetRayJob. ClusterID is an extension: the cluster the job
// runs on, given or made for it.
type Job struct {
	RequestID                string                 `json:"requestId"`
	SubmissionID             string                 `json:"submissionId"`
	Name                     string                 `json:"name"`
	Status                   string                 `json:"status"`
	ClusterState             string                 `json:"clusterState"`
	Message                  string                 `json:"message"`
	Entrypoint               string                 `json:"entrypoint"`
	EntrypointMemory         string                 `json:"entrypointMemory"`
	EntrypointNumCPUs        string                 `json:"entrypointNumCpus"`
	EntrypointNumGPUs        string                 `json:"entrypointNumGpus"`
	EntrypointResources      string                 `json:"entrypointResources"`
	RuntimeEnvJSON           string                 `json:"runtimeEnvJson"`
	MetadataJSON             string                 `json:"metadataJson"`
	WorkingDir               string                 `json:"workingDir"`
	ExtraParam               string                 `json:"extraParam"`
	SubmissionMode           string                 `json:"submissionMode"`
	NetworkServiceName       string                 `json:"networkServiceName"`
	DisplayReleaseVersion    string                 `json:"displayReleaseVersion"`
	TaskBizID                string                 `json:"taskBizId"`
	DashboardURL             string                 `json:"dashboardUrl"`
	DashboardURLExtra        []string               `json:"dashboardUrlExtra"`
	LogBucketName            string                 `json:"logBucketName"`
	LogPath                  string                 `json:"logPath"`
	CreatorName              string                 `json:"creatorName"`
	ActiveDeadlineSeconds    int32                  `json:"activeDeadlineSeconds"`
	BackoffLimit             int32                  `json:"backoffLimit"`
	TTLSecondsAfterFinished  int32                  `json:"ttlSecondsAfterFinished"`
	ShutdownAfterJobFinishes bool                   `json:"shutdownAfterJobFinishes"`
	SubmitTime               int64                  `json:"submitTime"`
	StartTime                int64                  `json:"startTime"`
	EndTime                  int64                  `json:"endTime"`
	Duration                 int64                  `json:"duration"`
	CUHours                  float64                `json:"cuHours"`
	GUHours                  GUHours                `json:"guHours"`
	VolumeIDs                []string               `json:"volumeIds"`
	Tags                     []Tag                  `json:"tags"`
	HeadSpec                 JobClusterHeadSpec     `json:"headSpec"`
	WorkerSpecs              []JobClusterWorkerSpec `json:"workerSpecs"`
	ClusterID                string                 `json:"clusterId"`
}

// JobSummary is one item of ListRayJob.
type JobSummary struct {
	SubmissionID  string  `json:"submissionId"`
	Name          string  `json:"name"`
	Status        string  `json:"status"`
	ClusterState  string  `json:"clusterState"`
	CreatorName   string  `json:"creatorName"`
	DashboardURL  string  `json:"dashboardUrl"`
	ResourceQueue string  `json:"resourceQueue"`
	CUHours       float64 `json:"cuHours"`
	Duration      int64   `json:"duration"`
	SubmitTime    int64   `json:"submitTime"`
	StartTime     int64   `json:"startTime"`
	EndTime       int64   `json:"endTime"`
}

// ListJobsResponse answers ListRayJob. PageNum and PageSize are additions
// to the hosted product's response, as for ListRayCluster.
type ListJobsResponse struct {
	RequestID  string       `json:"requestId"`
	TotalCount int32        `json:"totalCount"`
	RayJobs    []JobSummary `json:"rayJobs"`
	PageNum    int32        `json:"pageNum"`
	PageSize   int32        `json:"pageSize"`
}

// CancelJobResponse answers CancelRayJob: Success says the cancellation was
// set going, not that the job has stopped.
type CancelJobResponse struct {
	RequestID string `json:"requestId"`
	Success   bool   `json:"success"`
}

// TimeRange is ListRayJob's submitTime filter, Unix milliseconds; a bound
// left nil is open. The fields are in the SDK model's order, which is the
// order its JSON text has.
type TimeRange struct {
	EndTime   *int64 `json:"endTime,omitempty"`
	StartTime *int64 `json:"startTime,omitempty"`
}

// ListJobsOptions are the query parameters of ListRayJob. Name,
// SubmissionID and TaskBizID match exactly.
type ListJobsOptions struct {
	PageNum      int32
	PageSize     int32
	Name         string
	SubmissionID string
	TaskBizID    string
	SubmitTime   *TimeRange
}

// Values encodes o as the SDKs do: scalars as decimal text, submitTime as
// one parameter holding JSON text ({"endTime":...,"startTime":...}).
func (o ListJobsOptions) Values() url.Values {
	q := url.Values{}
	if o.PageNum != 0 {
		q.Set("pageNum", strconv.FormatInt(int64(o.PageNum), 10))
	}
	if o.PageSize != 0 {
		q.Set("pageSize", strconv.FormatInt(int64(o.PageSize), 10))
	}
	for k, v := range map[string]string{"name": o.Name, "submissionId": o.SubmissionID, "taskBizId": o.TaskBizID} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if o.SubmitTime != nil {
		b, _ := json.Marshal(o.SubmitTime) // two *int64 always encode
		q.Set("submitTime", string(b))
	}
	return q
}

// ParseListJobsQuery reads ListRayJob's query the way every SDK sends it.
// submitTime is JSON text whose key order and spacing vary by SDK; an empty
// value, like a missing one, filters nothing. A malformed value is an error
// naming the parameter.
func ParseListJobsQuery(q url.Values) (ListJobsOptions, error) {
	o := ListJobsOptions{Name: q.Get("name"), SubmissionID: q.Get("submissionId"), TaskBizID: q.Get("taskBizId")}
	for _, p := range []struct {
		name string
		dst  *int32
	}{{"pageNum", &o.PageNum}, {"pageSize", &o.PageSize}} {
		v := q.Get(p.name)
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			return ListJobsOptions{}, fmt.Errorf("%s must be an integer, got %q", p.name, v)
		}
		*p.dst = int32(n)
	}
	if v := strings.TrimSpace(q.Get("submitTime")); v != "" {
		r, err := ParseTimeRange(v)
		if err != nil {
			return ListJobsOptions{}, err
		}
		o.SubmitTime = &r
	}
	return o, nil
}

// ParseTimeRange reads submitTime's JSON text. Unknown keys are ignored,
// as in every body.
func ParseTimeRange(s string) (TimeRange, error) {
	var r TimeRange
	dec := json.NewDecoder(strings.NewReader(s))
	if err := dec.Decode(&r); err != nil {
		return TimeRange{}, fmt.Errorf(`submitTime must be JSON text such as {"startTime":1780017822000,"endTime":1780018822000} (Unix milliseconds): %w`, err)
	}
	if dec.More() {
		return TimeRange{}, errors.New("submitTime holds more than one JSON value")
	}
	return r, nil
}

// LogSuccess is the code GetRayLog and ListRayLogs answer with inside
// their HTTP 200 body when they succeeded.
const LogSuccess = "1000000"

// LogURL is the data of GetRayLog.
type LogURL struct {
	AccessURL string `json:"accessUrl"`
}

// GetLogResponse answers GetRayLog.
type GetLogResponse struct {
	RequestID string `json:"requestId"`
	Code      string `json:"code"`
	Message   string `json:"message"`
	Data      LogURL `json:"data"`
}

// LogObject is one file, or with a delimiter one common prefix (IsDir),
// of ListRayLogs. TimeModified is Unix milliseconds.
type LogObject struct {
	Name         string `json:"name"`
	Path         string `json:"path"`
	Size         int64  `json:"size"`
	IsDir        bool   `json:"isDir"`
	TimeModified int64  `json:"timeModified"`
}

// LogListing is the data of ListRayLogs: one page of a bucket's keys
// under a prefix, as an object store lists them.
type LogListing struct {
	BucketName  string      `json:"bucketName"`
	Prefix      string      `json:"prefix"`
	Marker      string      `json:"marker"`
	Delimiter   string      `json:"delimiter"`
	NextMarker  string      `json:"nextMarker"`
	MaxKeys     int64       `json:"maxKeys"`
	IsTruncated bool        `json:"isTruncated"`
	ObjectList  []LogObject `json:"objectList"`
}

// ListLogsResponse answers ListRayLogs.
type ListLogsResponse struct {
	RequestID string     `json:"requestId"`
	Code      string     `json:"code"`
	Message   string     `json:"message"`
	Data      LogListing `json:"data"`
}

// GetLogOptions are the query parameters of GetRayLog.
type GetLogOptions struct {
	BucketName string
	Path       string
}

// Values encodes o.
func (o GetLogOptions) Values() url.Values {
	q := url.Values{}
	setNonEmpty(q, "bucketName", o.BucketName)
	setNonEmpty(q, "path", o.Path)
	return q
}

// ListLogsOptions are the query parameters of ListRayLogs. MaxKeys 0 is
// left out (the server's default, 100).
type ListLogsOptions struct {
	BucketName string
	Prefix     string
	Marker     string
	Delimiter  string
	MaxKeys    int64
}

// Values encodes o.
func (o ListLogsOptions) Values() url.Values {
	q := url.Values{}
	setNonEmpty(q, "bucketName", o.BucketName)
	setNonEmpty(q, "prefix", o.Prefix)
	setNonEmpty(q, "marker", o.Marker)
	setNonEmpty(q, "delimiter", o.Delimiter)
	if o.MaxKeys != 0 {
		q.Set("maxKeys", strconv.FormatInt(o.MaxKeys, 10))
	}
	return q
}

// ParseListLogsQuery reads ListRayLogs' query; a maxKeys that is not an
// integer is an error naming it.
func ParseListLogsQuery(q url.Values) (ListLogsOptions, error) {
	o := ListLogsOptions{BucketName: q.Get("bucketName"), Prefix: q.Get("prefix"), Marker: q.Get("marker"), Delimiter: q.Get("delimiter")}
	if v := q.Get("maxKeys"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return ListLogsOptions{}, fmt.Errorf("maxKeys must be an integer, got %q", v)
		}
		o.MaxKeys = n
	}
	return o, nil
}

func setNonEmpty(q url.Values, k, v string) {
	if v != "" {
		q.Set(k, v)
	}
}

func jobPath(ws string, rest ...string) string { return workspacePath(ws, "rayJob", rest) }

// logPath is the path of the log operations; jobID is what the SDKs call
// instanceId there: the job's submission id.
func logPath(ws, jobID, leaf string) string {
	return "/api/interactive/v1/workspace/" + url.PathEscape(ws) + "/ray/" + url.PathEscape(jobID) + "/" + leaf
}

// SubmitJob calls SubmitRayJob.
func (c *Client) SubmitJob(ctx context.Context, ws string, req *SubmitJobRequest) (*SubmitJobResponse, error) {
	var out SubmitJobResponse
	return &out, c.Do(ctx, "SubmitRayJob", http.MethodPost, jobPath(ws), nil, req, &out)
}

// GetJob calls GetRayJob.
func (c *Client) GetJob(ctx context.Context, ws, id string) (*Job, error) {
	var out Job
	return &out, c.Do(ctx, "GetRayJob", http.MethodGet, jobPath(ws, id), nil, nil, &out)
}

// ListJobs calls ListRayJob.
func (c *Client) ListJobs(ctx context.Context, ws string, o ListJobsOptions) (*ListJobsResponse, error) {
	var out ListJobsResponse
	return &out, c.Do(ctx, "ListRayJob", http.MethodGet, jobPath(ws), o.Values(), nil, &out)
}

// CancelJob calls CancelRayJob: a POST with no body and no Content-Type,
// as the SDKs send it (its request model is empty).
func (c *Client) CancelJob(ctx context.Context, ws, id string) (*CancelJobResponse, error) {
	var out CancelJobResponse
	return &out, c.Do(ctx, "CancelRayJob", http.MethodPost, jobPath(ws, id, "cancel"), nil, nil, &out)
}

// GetLog calls GetRayLog for a file of job id's logs.
func (c *Client) GetLog(ctx context.Context, ws, id string, o GetLogOptions) (*GetLogResponse, error) {
	var out GetLogResponse
	return &out, c.Do(ctx, "GetRayLog", http.MethodGet, logPath(ws, id, "log"), o.Values(), nil, &out)
}

// ListLogs calls ListRayLogs for job id's log files.
func (c *Client) ListLogs(ctx context.Context, ws, id string, o ListLogsOptions) (*ListLogsResponse, error) {
	var out ListLogsResponse
	return &out, c.Do(ctx, "ListRayLogs", http.MethodGet, logPath(ws, id, "logs"), o.Values(), nil, &out)
}
