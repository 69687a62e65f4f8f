package httpapi_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/api"
	"github.com/rayfleet/rayfleet/api/signer"
)

// sdkFields are the members of the answers' objects that the product's SDK
// models (alibabacloud-emr-serverless-spark20230808 2.3.0) read, by where
// they sit: clients read them without a nil check, so each answer carries
// all of them, empty when rayfleet has nothing to say. absent are those
// left out on purpose.
var sdkFields = []struct {
	what   string
	fields []string
	absent []string
}{
	{"GetRayCluster headSpec", []string{"cpu", "displayReleaseVersion", "enableAutoScaling", "env", "gftConfig", "gftEnabled", "gpuSpec",
		"idleTimeoutSeconds", "memory", "queueName", "rayStartParams", "replica"}, nil},
	{"GetRayCluster headSpec.gftConfig", []string{"redisUrl", "redisUsername"}, []string{"redisPassword"}},
	{"GetRayCluster workerSpec[0]", []string{"cpu", "displayReleaseVersion", "env", "gpuSpec", "groupName", "maxReplica", "memory",
		"minReplica", "queueName", "rayStartParams", "replica", "workerType"}, nil},
	{"ListRayCluster headSpec", []string{"cpu", "enableAutoScaling", "gpuSpec", "idleTimeoutSeconds", "memory", "queueName", "replica"},
		[]string{"env", "rayStartParams", "gftConfig", "gftEnabled", "displayReleaseVersion"}},
	{"ListRayCluster workerSpec[0]", []string{"cpu", "gpuSpec", "groupName", "maxReplica", "memory", "minReplica", "queueName",
		"replica", "workerType"}, []string{"env", "rayStartParams", "displayReleaseVersion"}},
	{"ListWorkspaces workspaces[0]", []string{"autoRenew", "autoRenewPeriod", "autoRenewPeriodUnit", "createTime", "dlfCatalogId",
		"dlfType", "duration", "endTime", "failReason", "gpuSpec", "ipWhiteList", "paymentDurationUnit", "paymentStatus", "paymentType",
		"prePaidQuotaGpu", "regionId", "releaseType", "resourceGroupId", "resourceSpec", "stateChangeReason", "storage", "tags",
		"workspaceId", "workspaceName", "workspaceStatus"}, []string{"prePaidQuota"}},
	{"ListWorkspaces workspaces[0].stateChangeReason", []string{"code", "message"}, nil},
	{"ListWorkspaceQueues queues[0]", []string{"allowActions", "createTime", "creator", "description", "environments", "gpuMachineNum",
		"gpuSpec", "instanceId", "maxResource", "minResource", "paymentType", "preheat", "properties", "queueCategory", "queueName",
		"queueScope", "queueStatus", "queueType", "regionId", "usedResource", "workspaceId"}, nil},
	{"ListNetworkServices", []string{"maxResults", "networkServices", "nextToken", "queues", "requestId", "totalCount"}, nil},
	{"ListNetworkServices queues[0]", []string{"name", "networkServiceId", "state", "stateChangeReason", "type", "vpcId", "vswitchIds", "workspaceId"}, nil},
	{"UpdateWorkspace", []string{"data", "orderId", "requestId"}, nil},
	{"UpdateWorkspace data", []string{"orderId"}, nil},
	{"GetRayJob", []string{"activeDeadlineSeconds", "backoffLimit", "clusterState", "creatorName", "cuHours", "dashboardUrl",
		"dashboardUrlExtra", "displayReleaseVersion", "duration", "endTime", "entrypoint", "entrypointMemory", "entrypointNumCpus",
		"entrypointNumGpus", "entrypointResources", "extraParam", "guHours", "headSpec", "logBucketName", "logPath", "message",
		"metadataJson", "name", "networkServiceName", "requestId", "runtimeEnvJson", "shutdownAfterJobFinishes", "startTime", "status",
		"submissionId", "submissionMode", "submitTime", "tags", "taskBizId", "ttlSecondsAfterFinished", "volumeIds", "workerSpecs",
		"workingDir"}, []string{"workerSpec"}},
	{"GetRayJob headSpec", []string{"cpu", "displayReleaseVersion", "enableAutoScaling", "gpuSpec", "idleTimeoutSeconds", "memory",
		"queueName", "replica"}, nil},
	{"GetRayJob workerSpecs[0]", []string{"cpu", "displayReleaseVersion", "gpuSpec", "groupName", "maxReplica", "memory", "minReplica",
		"queueName", "replica"}, []string{"workerType"}},
	{"GetRayJob guHours", []string{"gpuHours", "gpuSpec"}, nil},
	{"ListRayJob", []string{"rayJobs", "requestId", "totalCount"}, nil},
	{"ListRayJob rayJobs[0]", []string{"clusterState", "creatorName", "cuHours", "dashboardUrl", "duration", "endTime", "name",
		"resourceQueue", "startTime", "status", "submissionId", "submitTime"}, nil},
	{"ListRayLogs", []string{"code", "data", "message", "requestId"}, nil},
	{"ListRayLogs data", []string{"bucketName", "delimiter", "isTruncated", "marker", "maxKeys", "nextMarker", "objectList", "prefix"}, nil},
	{"ListRayLogs data.objectList[0]", []string{"isDir", "name", "path", "size", "timeModified"}, nil},
	{"GetRayLog", []string{"code", "data", "message", "requestId"}, nil},
	{"GetRayLog data", []string{"accessUrl"}, nil},
}

// member follows a path such as "workerSpec[0]" or "headSpec.gftConfig"
// from an answer to one of its objects.
func member(t *testing.T, v any, path string) map[string]any {
	t.Helper()
	for path != "" {
		var step string
		step, path, _ = strings.Cut(path, ".")
		name, index, indexed := strings.Cut(step, "[")
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%s: not an object: %v", step, v)
		}
		v = m[name]
		if indexed {
			list, ok := v.([]any)
			if !ok || len(list) == 0 || index != "0]" {
				t.Fatalf("%s: want a non-empty list, got %v", step, v)
			}
			v = list[0]
		}
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("not an object: %v", v)
	}
	return m
}

// TestAnswersCarrySDKFields: every answer carries each member the SDK's
// models read, for a cluster that sets nothing optional, and a head read
// back and sent again leaves a cluster unmodified.
func TestAnswersCarrySDKFields(t *testing.T) {
	ctx := context.Background()
	srv, svc, _ := testAPI(t, t.TempDir())
	boot, err := svc.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := &api.Client{Endpoint: srv.URL, HTTP: srv.Client(), Credentials: signer.Credentials{AccessKeyID: boot.AccessKeyID, AccessKeySecret: boot.AccessKeySecret}}
	ws := boot.WorkspaceID
	name := "plain"
	created, err := c.CreateCluster(ctx, ws, &api.ClusterRequest{Name: &name, HeadSpec: &api.HeadSpec{CPU: "1", Memory: "2Gi"},
		WorkerSpec: &[]api.WorkerSpec{{GroupName: "g", Replica: 1, CPU: "1", Memory: "2Gi"}}})
	if err != nil {
		t.Fatal(err)
	}
	job, err := c.SubmitJob(ctx, ws, &api.SubmitJobRequest{Entrypoint: "true", ClusterID: created.ClusterID})
	if err != nil {
		t.Fatal(err)
	}
	// The job's driver log, as the collector leaves it.
	logs := giveLogs(t, svc, t.TempDir())
	j, err := svc.Store.GetJob(ctx, boot.AccountID, ws, job.SubmissionID)
	if err != nil {
		t.Fatal(err)
	}
	if err := logs.Put(ctx, rayfleet.JobDriverLogKey(&j), strings.NewReader("hello\n")); err != nil {
		t.Fatal(err)
	}
	answers := map[string]map[string]any{}
	for _, call := range []struct {
		action, path string
		query        url.Values
	}{
		{"GetRayJob", "/api/v1/workspaces/" + ws + "/rayJob/" + job.SubmissionID, nil},
		{"ListRayJob", "/api/v1/workspaces/" + ws + "/rayJob", nil},
		{"GetRayCluster", "/api/v1/workspaces/" + ws + "/rayCluster/" + created.ClusterID, nil},
		{"ListRayCluster", "/api/v1/workspaces/" + ws + "/rayCluster", nil},
		{"ListWorkspaces", "/api/v1/workspaces", nil},
		{"ListWorkspaceQueues", "/api/v1/workspaces/" + ws + "/queues", nil},
		{"ListNetworkServices", "/api/v1/workspaces/" + ws + "/networkServices", nil},
		{"ListRayLogs", "/api/interactive/v1/workspace/" + ws + "/ray/" + j.ID + "/logs", nil},
		{"GetRayLog", "/api/interactive/v1/workspace/" + ws + "/ray/" + j.ID + "/log", url.Values{"path": {rayfleet.JobDriverLogKey(&j)}}},
	} {
		var out map[string]any
		if err := c.Do(ctx, call.action, http.MethodGet, call.path, call.query, nil, &out); err != nil {
			t.Fatal(err)
		}
		answers[call.action] = out
	}
	var updated map[string]any
	if err := c.Do(ctx, "UpdateWorkspace", http.MethodPost, "/api/v1/workspaces/update", nil, map[string]any{"workspaceId": ws}, &updated); err != nil {
		t.Fatal(err)
	}
	answers["UpdateWorkspace"] = updated
	for _, want := range sdkFields {
		action, path, _ := strings.Cut(want.what, " ")
		answer := answers[action]

		if action == "ListRayCluster" {
			path = "rayClusters[0]." + path
		}
		obj := member(t, answer, path)
		for _, f := range want.fields {
			if _, ok := obj[f]; !ok {
				t.Errorf("%s: %s is missing: %v", want.what, f, obj)
			}
		}
		for _, f := range want.absent {
			if _, ok := obj[f]; ok {
				t.Errorf("%s: %s is there: %v", want.what, f, obj)
			}
		}
	}

	// The head and workers as read, sent back: nothing changed.
	var got api.Cluster
	if err := c.Do(ctx, "GetRayCluster", http.MethodGet, "/api/v1/workspaces/"+ws+"/rayCluster/"+created.ClusterID, nil, nil, &got); err != nil {
		t.Fatal(err)
	}
	if got.HeadSpec.GFTEnabled == nil || *got.HeadSpec.GFTEnabled || got.HeadSpec.GFTConfig == nil || *got.HeadSpec.GFTConfig != (api.GFTConfig{}) {
		t.Fatalf("GCS fault tolerance off reads %v %+v", got.HeadSpec.GFTEnabled, got.HeadSpec.GFTConfig)
	}
	desc := "read back"
	head := api.HeadSpec(got.HeadSpec)
	workers := make([]api.WorkerSpec, len(got.WorkerSpec))
	for i, w := range got.WorkerSpec {
		workers[i] = api.WorkerSpec(w)
	}
	if _, err := c.UpdateCluster(ctx, ws, created.ClusterID, &api.ClusterRequest{Description: &desc, HeadSpec: &head, WorkerSpec: &workers}); err != nil {
		t.Fatal(err)
	}
	var after api.Cluster
	if err := c.Do(ctx, "GetRayCluster", http.MethodGet, "/api/v1/workspaces/"+ws+"/rayCluster/"+created.ClusterID, nil, nil, &after); err != nil {
		t.Fatal(err)
	}
	if after.State != "Starting" || after.Modified || after.Description != desc {
		t.Fatalf("after sending the spec back: state %s, modified %v, description %q", after.State, after.Modified, after.Description)
	}
}
