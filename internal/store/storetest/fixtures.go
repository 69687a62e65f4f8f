package storetest

import (
	"fmt"
	"time"

	"github.com/rayfleet/rayfleet"
)

// Epoch is the time fixtures are made at: fixture n is made n minutes later.
// Whole milliseconds in UTC, as stores keep them, so a round-trip returns
// the very value stored.
var Epoch = time.Date(2025, time.March, 1, 9, 30, 0, 0, time.UTC)

// At returns the fixture time n minutes after Epoch.
func At(n int) time.Time { return Epoch.Add(time.Duration(n) * time.Minute) }

// AccountID returns the id of fixture account n: 16 digits.
func AccountID(n int) string { return fmt.Sprintf("1%015d", n) }

// UserUID returns the uid of fixture user n: 18 digits.
func UserUID(n int) string { return fmt.Sprintf("2%017d", n) }

// WorkspaceID returns the id of fixture workspace n: "w-" and 16 hex digits.
func WorkspaceID(n int) string { return fmt.Sprintf("w-%016x", mix(uint64(n))) }

// ClusterID returns the id of fixture cluster n: "ray-" and 16 of [a-z0-9].
// Ids are scrambled so their order is not the order of n, which tests of
// id tie-breaking rely on.
func ClusterID(n int) string { return "ray-" + base36(mix(uint64(n)+1<<32), 16) }

// JobID returns the id of fixture job n: "rj-" and 16 of [a-z0-9],
// scrambled like cluster ids.
func JobID(n int) string { return "rj-" + base36(mix(uint64(n)+5<<32), 16) }

// AccessKeyID returns the id of fixture access key n.
func AccessKeyID(n int) string { return "LTAI" + base36(mix(uint64(n)+2<<32), 20) }

// mix is SplitMix64's finaliser: a fixed bijection, so fixture ids are
// distinct, deterministic and look random.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func base36(x uint64, width int) string {
	const digits = "0123456789abcdefghijklmnopqrstuvwxyz"
	b := make([]byte, width)
	for i := width - 1; i >= 0; i-- {
		b[i] = digits[x%36]
		x /= 36
	}
	return string(b)
}

// NewAccount returns fixture account n.
func NewAccount(n int) rayfleet.Account {
	return rayfleet.Account{ID: AccountID(n), Name: fmt.Sprintf("account-%d", n), CreateTime: At(n)}
}

// NewUser returns fixture user n of an account, a RAM user unless n is 0.
func NewUser(accountID string, n int) rayfleet.User {
	return rayfleet.User{
		UID: UserUID(n), AccountID: accountID, Name: fmt.Sprintf("user%d", n), Nickname: fmt.Sprintf("User %d", n),
		Comments: fmt.Sprintf("fixture user %d", n), Root: n == 0, CreateTime: At(n), UpdateTime: At(n + 1),
	}
}

// NewAccessKey returns fixture access key n of a user.
func NewAccessKey(u rayfleet.User, n int) rayfleet.AccessKey {
	return rayfleet.AccessKey{
		ID: AccessKeyID(n), AccountID: u.AccountID, UserUID: u.UID,
		SecretSealed: []byte{0x00, 0x01, 0xfe, 0xff, byte(n)}, Status: rayfleet.KeyActive, CreateTime: At(n),
	}
}

// NewWorkspace returns fixture workspace n of an account.
func NewWorkspace(accountID string, n int) rayfleet.Workspace {
	return rayfleet.Workspace{
		ID: WorkspaceID(n), AccountID: accountID, Name: fmt.Sprintf("workspace-%d", n), CU: 100,
		Status: rayfleet.WorkspaceRunning, OSSBucket: "oss://bucket-" + fmt.Sprint(n), PaymentType: "PayAsYouGo",
		ReleaseType: "stable", CreateTime: At(n), Creator: UserUID(0),
		Tags: []rayfleet.Tag{{Key: "team", Value: fmt.Sprint("team-", n%2)}, {Key: "n", Value: fmt.Sprint(n)}},
	}
}

// NewQueue returns a queue of a workspace.
func NewQueue(w rayfleet.Workspace, name string) rayfleet.Queue {
	return rayfleet.Queue{
		AccountID: w.AccountID, WorkspaceID: w.ID, Name: name, MaxCU: 100_000, Category: "dev",
		Description: "queue " + name, Environments: []string{"production"}, PaymentType: "Pre",
		CreateTime: w.CreateTime.Add(time.Second), Creator: w.Creator,
	}
}

// NewNetworkService returns a network service of a workspace.
func NewNetworkService(w rayfleet.Workspace, name string) rayfleet.NetworkService {
	return rayfleet.NetworkService{
		ID: "ns-" + name + "-" + w.ID, AccountID: w.AccountID, WorkspaceID: w.ID, Name: name,
		VpcID: "vpc-1", VSwitchIDs: []string{"vsw-a", "vsw-b"}, SecurityGroupID: "sg-1", Type: "VPC",
		State: "Available", CreateTime: w.CreateTime.Add(time.Second),
	}
}

// GPUQueue is the second queue of the fixture clusters (NewCluster), whose
// GPU workers use it; the first is the root queue.
const GPUQueue = "gpu-queue"

// NewCluster returns fixture cluster n of a workspace, with every field set
// (Deleted is false and Version 0, as for a cluster about to be created), so
// a round-trip shows what a store drops. Its instance times carry
// nanoseconds: they live in JSON, which must keep them exactly.
func NewCluster(accountID, workspaceID string, n int) rayfleet.Cluster {
	id := ClusterID(n)
	created := At(n)
	inst := id + "-" + base36(mix(uint64(n)+3<<32), 8)
	running := fixtureSpec(n)
	running.Head.CPU, running.Head.Memory = "2", "8Gi"
	return rayfleet.Cluster{
		ID: id, AccountID: accountID, WorkspaceID: workspaceID,
		Spec: fixtureSpec(n),
		// Modified: the owner changed the head's size, which waits for the
		// next start.
		RunningSpec: running,
		Desired:     rayfleet.RunStateRunning,
		State:       rayfleet.StateRunning,
		Message:     "head ready; 2 of 3 workers running",
		Instances: []rayfleet.Instance{
			{
				InstanceID: inst + "-head", Type: "Head", Phase: "Running",
				ContainerState: "running", CreateTime: created.Add(1234567891), StartTime: created.Add(2345678912),
				RayVersion: "2.47.1", PythonVersion: "3.12.11",
			},
			{
				InstanceID: inst + "-gpu-0", Type: "Worker", Group: "gpu", Phase: "Pending", Message: "0/3 nodes are available",
				Reason: "Unschedulable", ContainerState: "waiting", ContainerStateMessage: "pulling image",
				ContainerStateReason: "ContainerCreating", ContainerExitCode: 137, CreateTime: created.Add(3456789123),
				RayVersion: "2.60.0", PythonVersion: "3.11.7",
			},
		},
		InstanceID:   inst,
		TokenHash:    fmt.Sprintf("%064x", mix(uint64(n)+4<<32)),
		TokenSealed:  []byte{0x00, 0xde, 0xad, 0xbe, 0xef, byte(n)},
		Modified:     true,
		CreateTime:   created,
		StartTime:    created.Add(time.Second),
		ModifiedTime: created.Add(2 * time.Second),
		StateTime:    created.Add(3 * time.Second),
		Creator:      UserUID(0),
		CreatorName:  "User 0",
		Modifier:     UserUID(1),
		ModifierName: "User 1",
	}
}

// fixtureSpec returns the spec of fixture cluster n, every field set.
func fixtureSpec(n int) rayfleet.ClusterSpec {
	gft := true
	return rayfleet.ClusterSpec{
		Name:           fmt.Sprintf("cluster-%d", n),
		Description:    "a fixture cluster",
		ReleaseVersion: "ray-1.0.0 (Ray 2.47.1, Python 3.12)",
		NetworkService: rayfleet.DefaultNetworkService,
		Head: rayfleet.HeadSpec{
			QueueName: rayfleet.RootQueue, CPU: "4", Memory: "16Gi", GPUSpec: "T4",
			EnableAutoScaling: true, IdleTimeoutSeconds: 300,
			ReleaseVersion: "ray-1.0.0 (Ray 2.47.1, Python 3.12)",
			Env:            "A=1\nB=two words", RayStartParams: "--num-gpus=1",
			GFTEnabled: &gft,
			GFTConfig:  &rayfleet.GFTConfig{RedisURL: "redis://redis:6379/0", RedisUsername: "ray", RedisPassword: "s3cret"},
		},
		Workers: []rayfleet.WorkerSpec{
			{
				GroupName: "cpu", WorkerType: "cpu", Replica: 2, MinReplica: 1, MaxReplica: 4,
				QueueName: rayfleet.RootQueue, CPU: "8", Memory: "32Gi",
				ReleaseVersion: "ray-1.0.0 (Ray 2.47.1, Python 3.12)", Env: "C=3", RayStartParams: "--num-cpus=8",
			},
			{
				GroupName: "gpu", WorkerType: "gpu", Replica: 1, MinReplica: 1, MaxReplica: 2,
				QueueName: GPUQueue, CPU: "16", Memory: "64Gi", GPUSpec: "A10",
			},
		},
		ExtraParam: `{"priority":"high","tags":["a","b"]}`,
		VolumeIDs:  []string{"vol-1", "vol-2"},
	}
}

// NewJob returns fixture job n of a workspace, running on clusterID, with
// every field set (Version 0, as for a job about to be created), so a
// round-trip shows what a store drops: Spec names a cluster and has a
// temporary cluster's head and workers too, which JobSpec.Validate would
// refuse but a store keeps as given. It was submitted n minutes after
// Epoch and is Running.
func NewJob(accountID, workspaceID, clusterID string, n int) rayfleet.Job {
	id := JobID(n)
	submitted := At(n)
	head := fixtureSpec(n).Head
	return rayfleet.Job{
		ID: id, AccountID: accountID, WorkspaceID: workspaceID,
		Spec: rayfleet.JobSpec{
			Name: fmt.Sprintf("job-%d", n), Entrypoint: `python -c "print('hello ray job')"`, ClusterID: clusterID,
			ReleaseVersion: "ray-1.0.0 (Ray 2.47.1, Python 3.12)", NetworkService: rayfleet.DefaultNetworkService,
			Head: &head, Workers: fixtureSpec(n).Workers,
			RuntimeEnvJSON: `{"pip":["requests==2.26.0"],"env_vars":{"KEY":"VALUE"}}`, WorkingDir: "gcs://_ray_pkg_0123456789abcdef.zip",
			MetadataJSON: `{"resourceName":"test"}`, SubmissionMode: "HTTPMode",
			EntrypointNumCPUs: "1", EntrypointNumGPUs: "0.5", EntrypointMemory: "4Gi", EntrypointResources: `{"fpu":1}`,
			ActiveDeadlineSeconds: 3600, ShutdownAfterJobFinishes: true, TTLSecondsAfterFinished: 60,
			VolumeIDs: []string{"vol-1"}, Tags: []rayfleet.Tag{{Key: "jobname", Value: "test"}, {Key: "team", Value: "ml"}},
			ExtraParam: `{"userRequirementsFile":"oss://mybucket/requirements.txt"}`,
		},
		ClusterID:    clusterID,
		InstanceID:   clusterID + "-" + base36(mix(uint64(n)+6<<32), 8),
		Status:       rayfleet.JobRunning,
		ClusterState: rayfleet.JobClusterRunning,
		Message:      "Job is running.",
		Stop:         rayfleet.JobStopCancel,
		TaskBizID:    fmt.Sprintf("TSK-%032x", n),
		LogBucket:    "rayfleet-logs",
		LogPath:      rayfleet.JobLogPath(workspaceID, id),
		Held:         rayfleet.Resources{MilliCPU: 2500, MemoryBytes: 10 * rayfleet.GiB},
		SubmitTime:   submitted,
		StartTime:    submitted.Add(2 * time.Second),
		EndTime:      submitted.Add(time.Hour),
		Creator:      UserUID(0),
		CreatorName:  "User 0",
	}
}

// NewDataPlaneToken returns fixture data-plane token n of user u for
// cluster c's instance: made at c's start plus n minutes, for a day. It is
// a temporary key's (ParentKeyID and SessionPolicy set), so a round-trip
// covers every field.
func NewDataPlaneToken(c rayfleet.Cluster, u rayfleet.User, n int) rayfleet.DataPlaneToken {
	made := c.StartTime.Add(time.Duration(n) * time.Minute)
	return rayfleet.DataPlaneToken{
		TokenHash:   fmt.Sprintf("%064x", mix(uint64(n)+7<<32)),
		TokenSealed: []byte{0x00, 0xda, 0x7a, byte(n)},
		AccountID:   c.AccountID, UserUID: u.UID,
		AccessKeyID: "STS." + AccessKeyID(n)[len("LTAI"):], ParentKeyID: AccessKeyID(n),
		SessionPolicy: PolicyDocument(n),
		WorkspaceID:   c.WorkspaceID, ClusterID: c.ID, InstanceID: c.InstanceID,
		CreateTime: made, ExpireTime: made.Add(24 * time.Hour),
	}
}

// NewIdempotency returns a remembered result of a call made with token.
func NewIdempotency(accountID, token string, at time.Time) rayfleet.Idempotency {
	return rayfleet.Idempotency{
		AccountID: accountID, Token: token, Operation: "CreateRayCluster",
		ParamsHash: fmt.Sprintf("%064x", mix(uint64(len(token)))), Response: []byte(`{"clusterId":"` + ClusterID(1) + `"}`),
		CreateTime: at,
	}
}

// NewPolicy returns fixture custom policy n of an account.
func NewPolicy(accountID string, n int) rayfleet.Policy {
	return rayfleet.Policy{
		AccountID: accountID, Name: fmt.Sprintf("policy-%d", n), Description: fmt.Sprintf("fixture policy %d", n),
		DefaultVersion: "v1", CreateTime: At(n), UpdateTime: At(n),
	}
}

// PolicyDocument returns a small policy document that differs for each n.
func PolicyDocument(n int) string {
	return fmt.Sprintf(`{"Version":"1","Statement":[{"Effect":"Allow","Action":"emr-serverless-spark:GetRayCluster","Resource":"acs:emr-serverless-spark:*:*:workspace/%s"}]}`, WorkspaceID(n))
}
