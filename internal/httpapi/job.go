package httpapi

import (
	"math"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/api"
	"github.com/rayfleet/rayfleet/internal/service"
)

func (h *Handler) submitJob(r *request) (any, error) {
	var in api.SubmitJobRequest
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	o, err := h.Service.SubmitJob(r.Context(), r.p, r.PathValue("workspaceId"), toJobSpec(&in), in.ClientToken)
	if err != nil {
		return nil, err
	}
	return &api.SubmitJobResponse{RequestID: requestIDOf(r, o), SubmissionID: o.ID}, nil
}

func (h *Handler) getJob(r *request) (any, error) {
	j, err := h.Service.GetJob(r.Context(), r.p, r.PathValue("workspaceId"), r.PathValue("submissionId"))
	if err != nil {
		return nil, err
	}
	resp := toJob(j)
	resp.RequestID = service.RequestID(r.Context())
	return resp, nil
}

func (h *Handler) listJobs(r *request) (any, error) {
	o, err := api.ParseListJobsQuery(r.URL.Query())
	if err != nil {
		return nil, rayfleet.Errorf(rayfleet.EINVALID, "%s", err)
	}
	in := service.ListJobsInput{
		WorkspaceID: r.PathValue("workspaceId"), PageNum: int(o.PageNum), PageSize: int(o.PageSize),
		Name: o.Name, SubmissionID: o.SubmissionID, TaskBizID: o.TaskBizID,
	}
	if t := o.SubmitTime; t != nil {
		if t.StartTime != nil {
			in.SubmittedFrom = fromMS(*t.StartTime)
		}
		if t.EndTime != nil {
			in.SubmittedUntil = fromMS(*t.EndTime)
		}
	}
	out, err := h.Service.ListJobs(r.Context(), r.p, in)
	if err != nil {
		return nil, err
	}
	resp := &api.ListJobsResponse{
		RequestID: service.RequestID(r.Context()), TotalCount: int32(min(out.TotalCount, math.MaxInt32)), //nolint:gosec // bounded
		RayJobs: make([]api.JobSummary, len(out.Jobs)), PageNum: int32(out.PageNum), PageSize: int32(out.PageSize), //nolint:gosec // checked 1-100 and page bounds
	}
	for i := range out.Jobs {
		resp.RayJobs[i] = toJobSummary(&out.Jobs[i])
	}
	return resp, nil
}

func (h *Handler) cancelJob(r *request) (any, error) {
	if err := h.Service.CancelJob(r.Context(), r.p, r.PathValue("workspaceId"), r.PathValue("submissionId")); err != nil {
		return nil, err
	}
	return &api.CancelJobResponse{RequestID: service.RequestID(r.Context()), Success: true}, nil
}

// toJobSpec reads SubmitRayJob's body. shutdownAfterJobFinishes left out
// is true, the hosted product's default.
func toJobSpec(in *api.SubmitJobRequest) rayfleet.JobSpec {
	s := rayfleet.JobSpec{
		Name: in.Name, Entrypoint: in.Entrypoint, ClusterID: in.ClusterID, ReleaseVersion: in.DisplayReleaseVersion,
		NetworkService: in.NetworkServiceName, RuntimeEnvJSON: in.RuntimeEnvJSON, WorkingDir: in.WorkingDir,
		MetadataJSON: in.MetadataJSON, SubmissionMode: in.SubmissionMode,
		EntrypointNumCPUs: in.EntrypointNumCPUs, EntrypointNumGPUs: in.EntrypointNumGPUs,
		EntrypointMemory: in.EntrypointMemory, EntrypointResources: in.EntrypointResources,
		ActiveDeadlineSeconds: in.ActiveDeadlineSeconds, ShutdownAfterJobFinishes: in.ShutdownAfterJobFinishes == nil || *in.ShutdownAfterJobFinishes,
		TTLSecondsAfterFinished: in.TTLSecondsAfterFinished, VolumeIDs: in.VolumeIDs, ExtraParam: in.ExtraParam,
	}
	for _, t := range in.Tags {
		s.Tags = append(s.Tags, rayfleet.Tag{Key: t.Key, Value: t.Value})
	}
	if h := in.HeadSpec; h != nil {
		s.Head = &rayfleet.HeadSpec{
			CPU: h.CPU, Memory: h.Memory, QueueName: h.QueueName, GPUSpec: h.GPUSpec, ReleaseVersion: h.DisplayReleaseVersion,
			EnableAutoScaling: h.EnableAutoScaling, IdleTimeoutSeconds: h.IdleTimeoutSeconds,
		}
	}
	for _, w := range in.WorkerSpec {
		s.Workers = append(s.Workers, rayfleet.WorkerSpec{
			CPU: w.CPU, Memory: w.Memory, QueueName: w.QueueName, GPUSpec: w.GPUSpec, GroupName: w.GroupName,
			WorkerType: w.WorkerType, ReleaseVersion: w.DisplayReleaseVersion,
			Replica: w.Replica, MinReplica: w.MinReplica, MaxReplica: w.MaxReplica,
		})
	}
	return s
}

func toJob(j *service.JobInfo) *api.Job {
	s := &j.Spec
	h := j.ClusterSpec.Head
	out := &api.Job{
		SubmissionID: j.ID, Name: s.Name, Status: string(j.Status), ClusterState: string(j.ClusterState), Message: j.Message,
		Entrypoint: s.Entrypoint, EntrypointMemory: s.EntrypointMemory, EntrypointNumCPUs: s.EntrypointNumCPUs,
		EntrypointNumGPUs: s.EntrypointNumGPUs, EntrypointResources: s.EntrypointResources,
		RuntimeEnvJSON: s.RuntimeEnvJSON, MetadataJSON: s.MetadataJSON, WorkingDir: s.WorkingDir, ExtraParam: s.ExtraParam,
		SubmissionMode: s.SubmissionMode, NetworkServiceName: j.ClusterSpec.NetworkService,
		DisplayReleaseVersion: j.ClusterSpec.ReleaseVersion, TaskBizID: j.TaskBizID,
		DashboardURL: j.DashboardURL, DashboardURLExtra: []string{}, LogBucketName: j.LogBucket, LogPath: j.LogPath,
		CreatorName: j.CreatorName, ActiveDeadlineSeconds: s.ActiveDeadlineSeconds, TTLSecondsAfterFinished: s.TTLSecondsAfterFinished,
		ShutdownAfterJobFinishes: s.ShutdownAfterJobFinishes,
		SubmitTime:               ms(j.SubmitTime), StartTime: ms(j.StartTime), EndTime: ms(j.EndTime),
		Duration: int64(j.Duration.Seconds()), CUHours: j.CUHours, GUHours: api.GUHours{GPUSpec: h.GPUSpec},
		VolumeIDs: s.VolumeIDs, Tags: make([]api.Tag, len(s.Tags)),
		HeadSpec: api.JobClusterHeadSpec{
			CPU: h.CPU, Memory: h.Memory, QueueName: h.QueueName, GPUSpec: h.GPUSpec, DisplayReleaseVersion: h.ReleaseVersion,
			EnableAutoScaling: h.EnableAutoScaling, IdleTimeoutSeconds: h.IdleTimeoutSeconds, Replica: 1,
		},
		WorkerSpecs: make([]api.JobClusterWorkerSpec, len(j.ClusterSpec.Workers)),
		ClusterID:   j.ClusterID,
	}
	if out.DisplayReleaseVersion == "" {
		out.DisplayReleaseVersion = s.ReleaseVersion
	}
	if out.NetworkServiceName == "" {
		out.NetworkServiceName = s.NetworkService
	}
	if out.VolumeIDs == nil {
		out.VolumeIDs = []string{}
	}
	for i, t := range s.Tags {
		out.Tags[i] = api.Tag{Key: t.Key, Value: t.Value}
	}
	for i, w := range j.ClusterSpec.Workers {
		out.WorkerSpecs[i] = api.JobClusterWorkerSpec{
			CPU: w.CPU, Memory: w.Memory, QueueName: w.QueueName, GPUSpec: w.GPUSpec, GroupName: w.GroupName,
			DisplayReleaseVersion: w.ReleaseVersion, Replica: w.Replica, MinReplica: w.MinReplica, MaxReplica: w.MaxReplica,
		}
	}
	return out
}

// toJobSummary is a ListRayJob item; resourceQueue is the queue of the
// job's head.
func toJobSummary(j *service.JobInfo) api.JobSummary {
	return api.JobSummary{
		SubmissionID: j.ID, Name: j.Spec.Name, Status: string(j.Status), ClusterState: string(j.ClusterState),
		CreatorName: j.CreatorName, DashboardURL: j.DashboardURL, ResourceQueue: j.ClusterSpec.Head.QueueName,
		CUHours: j.CUHours, Duration: int64(j.Duration.Seconds()),
		SubmitTime: ms(j.SubmitTime), StartTime: ms(j.StartTime), EndTime: ms(j.EndTime),
	}
}

// fromMS reads the API's Unix milliseconds.
func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }
