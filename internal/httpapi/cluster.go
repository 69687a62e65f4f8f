package httpapi

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/api"
	"github.com/rayfleet/rayfleet/internal/service"
)

func (h *Handler) listClusters(r *request) (any, error) {
	q := r.URL.Query()
	pageNum, err := pageParam(q, "pageNum")
	if err != nil {
		return nil, err
	}
	pageSize, err := pageParam(q, "pageSize")
	if err != nil {
		return nil, err
	}
	out, err := h.Service.ListClusters(r.Context(), r.p, service.ListClustersInput{
		WorkspaceID: r.PathValue("workspaceId"), PageNum: pageNum, PageSize: pageSize,
		State: q.Get("state"), Name: q.Get("name"), Creator: q.Get("creator"), QueueName: q.Get("queueName"),
	})
	if err != nil {
		return nil, err
	}
	resp := &api.ListClustersResponse{
		RequestID:   service.RequestID(r.Context()),
		RayClusters: make([]api.ClusterSummary, len(out.Clusters)), // [] rather than null for an empty page
		TotalCount:  out.TotalCount, PageNum: out.PageNum, PageSize: out.PageSize,
	}
	for i := range out.Clusters {
		resp.RayClusters[i] = toSummary(&out.Clusters[i])
	}
	return resp, nil
}

func (h *Handler) getCluster(r *request) (any, error) {
	c, err := h.Service.GetCluster(r.Context(), r.p, r.PathValue("workspaceId"), r.PathValue("clusterId"))
	if err != nil {
		return nil, err
	}
	resp := toCluster(c)
	resp.RequestID = service.RequestID(r.Context())
	return resp, nil
}

func (h *Handler) createCluster(r *request) (any, error) {
	var in api.ClusterRequest
	if err := decodeCluster(r, &in); err != nil {
		return nil, err
	}
	o, err := h.Service.CreateCluster(r.Context(), r.p, r.PathValue("workspaceId"), toPatch(&in), in.ClientToken)
	if err != nil {
		return nil, err
	}
	return &api.ClusterIDResponse{RequestID: requestIDOf(r, o), ClusterID: o.ClusterID}, nil
}

func (h *Handler) updateCluster(r *request) (any, error) {
	var in api.ClusterRequest
	if err := decodeCluster(r, &in); err != nil {
		return nil, err
	}
	o, err := h.Service.UpdateCluster(r.Context(), r.p, r.PathValue("workspaceId"), r.PathValue("clusterId"), toPatch(&in), in.ClientToken)
	if err != nil {
		return nil, err
	}
	return &api.ClusterIDResponse{RequestID: requestIDOf(r, o), ClusterID: o.ClusterID}, nil
}

func (h *Handler) startCluster(r *request) (any, error) {
	var in api.StartRequest
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	o, err := h.Service.StartCluster(r.Context(), r.p, r.PathValue("workspaceId"), r.PathValue("clusterId"), in.ClientToken)
	if err != nil {
		return nil, err
	}
	return &api.RequestIDResponse{RequestID: requestIDOf(r, o)}, nil
}

func (h *Handler) stopCluster(r *request) (any, error) {
	var in api.StopRequest
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	o, err := h.Service.StopCluster(r.Context(), r.p, r.PathValue("workspaceId"), r.PathValue("clusterId"), in.InstanceID, in.ClientToken)
	if err != nil {
		return nil, err
	}
	return &api.RequestIDResponse{RequestID: requestIDOf(r, o)}, nil
}

func (h *Handler) deleteCluster(r *request) (any, error) {
	o, err := h.Service.DeleteCluster(r.Context(), r.p, r.PathValue("workspaceId"), r.PathValue("clusterId"), r.URL.Query().Get("clientToken"))
	if err != nil {
		return nil, err
	}
	return &api.RequestIDResponse{RequestID: requestIDOf(r, o)}, nil
}

// decodeCluster decodes the body of CreateRayCluster or UpdateRayCluster.
func decodeCluster(r *request, in *api.ClusterRequest) error {
	if err := decode(r, in); err != nil {
		return err
	}
	return checkReplicaBounds(r.body)
}

// checkReplicaBounds refuses a worker group's minReplica or maxReplica
// given as less than 1, the SDK's lower bound. Left out they mean the
// group's replica (rayfleet.ClusterSpec.FillReplicaBounds), which a 0 in
// api.WorkerSpec cannot tell from one given, so the body is read for them
// again. The body decoded already, so an error here is not the caller's.
func checkReplicaBounds(body []byte) error {
	var groups struct {
		WorkerSpec []struct {
			MinReplica *int64 `json:"minReplica"`
			MaxReplica *int64 `json:"maxReplica"`
		} `json:"workerSpec"`
	}
	if len(bytes.TrimSpace(body)) == 0 || json.Unmarshal(body, &groups) != nil {
		return nil
	}
	for i, g := range groups.WorkerSpec {
		for _, b := range []struct {
			name string
			n    *int64
		}{{"minReplica", g.MinReplica}, {"maxReplica", g.MaxReplica}} {
			if b.n != nil && *b.n < 1 {
				return rayfleet.Errorf(rayfleet.EINVALID,
					"workerSpec[%d].%s must be at least 1, got %d; leave minReplica and maxReplica out for a group of fixed size (they are then its replica)",
					i, b.name, *b.n)
			}
		}
	}
	return nil
}

// requestIDOf is the id to answer with: the first call's for a replayed
// client token, this request's otherwise.
func requestIDOf(r *request, o service.Outcome) string {
	if o.RequestID != "" {
		return o.RequestID
	}
	return service.RequestID(r.Context())
}

func toPatch(in *api.ClusterRequest) rayfleet.ClusterPatch {
	p := rayfleet.ClusterPatch{
		Name: in.Name, Description: in.Description, ReleaseVersion: in.DisplayReleaseVersion,
		NetworkService: in.NetworkServiceName, ExtraParam: in.ExtraParam, VolumeIDs: in.VolumeIDs,
	}
	if in.HeadSpec != nil {
		h := in.HeadSpec
		hs := rayfleet.HeadSpec{
			QueueName: h.QueueName, CPU: h.CPU, Memory: h.Memory, GPUSpec: h.GPUSpec,
			EnableAutoScaling: h.EnableAutoScaling, IdleTimeoutSeconds: h.IdleTimeoutSeconds,
			ReleaseVersion: h.DisplayReleaseVersion, Env: h.Env, RayStartParams: h.RayStartParams, GFTEnabled: h.GFTEnabled,
		}
		if h.GFTConfig != nil {
			hs.GFTConfig = &rayfleet.GFTConfig{RedisURL: h.GFTConfig.RedisURL, RedisUsername: h.GFTConfig.RedisUsername}
			if h.GFTConfig.RedisPassword != nil {
				hs.GFTConfig.RedisPassword = *h.GFTConfig.RedisPassword
			} else {
				p.KeepRedisPassword = true
			}
		}
		p.Head = &hs
	}
	if in.WorkerSpec != nil {
		ws := make([]rayfleet.WorkerSpec, len(*in.WorkerSpec))
		for i, w := range *in.WorkerSpec {
			ws[i] = rayfleet.WorkerSpec{
				GroupName: w.GroupName, WorkerType: w.WorkerType, Replica: w.Replica, MinReplica: w.MinReplica, MaxReplica: w.MaxReplica,
				QueueName: w.QueueName, CPU: w.CPU, Memory: w.Memory, GPUSpec: w.GPUSpec,
				ReleaseVersion: w.DisplayReleaseVersion, Env: w.Env, RayStartParams: w.RayStartParams,
			}
		}
		p.Workers = &ws
	}
	return p
}

// ms is the API's time format: Unix milliseconds, 0 for never.
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// toHead is the head group as GetRayCluster answers it: every field, GCS
// fault tolerance off spelled out, and never the Redis password.
func toHead(h rayfleet.HeadSpec) api.ClusterHeadSpec {
	gft := h.GFTEnabled != nil && *h.GFTEnabled
	out := api.ClusterHeadSpec{
		QueueName: h.QueueName, CPU: h.CPU, Memory: h.Memory, GPUSpec: h.GPUSpec,
		EnableAutoScaling: h.EnableAutoScaling, IdleTimeoutSeconds: h.IdleTimeoutSeconds, Replica: 1,
		DisplayReleaseVersion: h.ReleaseVersion, Env: h.Env, RayStartParams: h.RayStartParams,
		GFTEnabled: &gft, GFTConfig: &api.GFTConfig{},
	}
	if g := h.GFTConfig; g != nil {
		// The Redis password is a secret: it goes in, never out.
		out.GFTConfig.RedisURL, out.GFTConfig.RedisUsername = g.RedisURL, g.RedisUsername
	}
	return out
}

func toWorkers(ws []rayfleet.WorkerSpec) []api.ClusterWorkerSpec {
	out := make([]api.ClusterWorkerSpec, len(ws))
	for i, w := range ws {
		out[i] = api.ClusterWorkerSpec{
			GroupName: w.GroupName, WorkerType: w.WorkerType, Replica: w.Replica, MinReplica: w.MinReplica, MaxReplica: w.MaxReplica,
			QueueName: w.QueueName, CPU: w.CPU, Memory: w.Memory, GPUSpec: w.GPUSpec,
			DisplayReleaseVersion: w.ReleaseVersion, Env: w.Env, RayStartParams: w.RayStartParams,
		}
	}
	return out
}

func toSummaryHead(h rayfleet.HeadSpec) api.SummaryHeadSpec {
	return api.SummaryHeadSpec{
		QueueName: h.QueueName, CPU: h.CPU, Memory: h.Memory, GPUSpec: h.GPUSpec,
		EnableAutoScaling: h.EnableAutoScaling, IdleTimeoutSeconds: h.IdleTimeoutSeconds, Replica: 1,
	}
}

func toSummaryWorkers(ws []rayfleet.WorkerSpec) []api.SummaryWorkerSpec {
	out := make([]api.SummaryWorkerSpec, len(ws))
	for i, w := range ws {
		out[i] = api.SummaryWorkerSpec{
			GroupName: w.GroupName, WorkerType: w.WorkerType, Replica: w.Replica, MinReplica: w.MinReplica, MaxReplica: w.MaxReplica,
			QueueName: w.QueueName, CPU: w.CPU, Memory: w.Memory, GPUSpec: w.GPUSpec,
		}
	}
	return out
}

func toSummary(c *service.ClusterInfo) api.ClusterSummary {
	return api.ClusterSummary{
		ClusterID: c.ID, Name: c.Spec.Name, Description: c.Spec.Description,
		DisplayReleaseVersion: c.Spec.ReleaseVersion, NetworkServiceName: c.Spec.NetworkService,
		State: string(c.State), Message: c.Message, InstanceID: c.InstanceID,
		HeadSpec: toSummaryHead(c.Spec.Head), WorkerSpec: toSummaryWorkers(c.Spec.Workers),
		DashboardURL: c.DashboardURL, GrpcEndpoint: c.GRPCEndpoint, Modified: c.Modified,
		CreateTime: ms(c.CreateTime), StartTime: ms(c.StartTime),
		ModifiedTime: ms(c.ModifiedTime),
		Creator:      c.Creator, CreatorName: c.CreatorName, Modifier: c.Modifier, ModifierName: c.ModifierName, UserID: c.AccountID,
	}
}

func toCluster(c *service.ClusterInfo) *api.Cluster {
	s := toSummary(c)
	out := &api.Cluster{
		ClusterID: s.ClusterID, Name: s.Name, Description: s.Description, DisplayReleaseVersion: s.DisplayReleaseVersion,
		NetworkServiceName: s.NetworkServiceName, ExtraParam: c.Spec.ExtraParam, VolumeIDs: c.Spec.VolumeIDs,
		HeadSpec: toHead(c.Spec.Head), WorkerSpec: toWorkers(c.Spec.Workers),
		State: s.State, Message: s.Message, InstanceID: s.InstanceID, Instances: make([]api.Instance, len(c.Instances)),
		DashboardURL: c.DashboardURL, GrpcEndpoint: c.GRPCEndpoint, JobURL: c.JobURL, JobURLInner: c.JobURLInner,
		SubmitToken: c.Token, Modified: s.Modified, CreateTime: s.CreateTime, StartTime: s.StartTime, ModifiedTime: s.ModifiedTime,
		Creator: s.Creator, CreatorName: s.CreatorName, Modifier: s.Modifier, ModifierName: s.ModifierName, UserID: s.UserID,
	}
	if out.VolumeIDs == nil {
		out.VolumeIDs = []string{}
	}
	for i, n := range c.Instances {
		out.Instances[i] = api.Instance{
			InstanceID: n.InstanceID, Type: n.Type, Phase: n.Phase, Message: n.Message, Reason: n.Reason,
			ContainerState: n.ContainerState, ContainerStateMessage: n.ContainerStateMessage, ContainerStateReason: n.ContainerStateReason,
			ContainerExitCode: n.ContainerExitCode, CreateTime: ms(n.CreateTime), StartTime: ms(n.StartTime),
			RayVersion: n.RayVersion, PythonVersion: n.PythonVersion,
		}
	}
	return out
}
