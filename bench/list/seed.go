package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/app"
	"github.com/rayfleet/rayfleet/internal/keyring"
	"github.com/rayfleet/rayfleet/internal/store/sqlstore"
)

// seedConfig says how many clusters to write and where.
type seedConfig struct {
	Total  int // clusters in all workspaces
	Listed int // of which in the credentials' workspace, the one listed
	// OwnWorkspaces are extra workspaces of the credentials' account;
	// OtherAccounts × WorkspacesPerAccount are workspaces of other tenants.
	// The Total-Listed other clusters are spread evenly over all of them.
	OwnWorkspaces        int
	OtherAccounts        int
	WorkspacesPerAccount int
	Seed                 uint64
}

// seedResult reports what seeding wrote and how long it took.
type seedResult struct {
	Workspaces int
	Clusters   int
	States     map[rayfleet.State]int // of the listed workspace
	Elapsed    time.Duration          // whole seeding, open to close
	Inserts    time.Duration          // the cluster inserts alone
}

// wsRef is a workspace clusters are seeded into, with its owner.
type wsRef struct {
	accountID, workspaceID, creator, creatorName string
}

// seed opens the stopped server's SQLite store and fills it through the
// store API (sqlstore), so every row is what the server itself would have
// written. It offers only single-row inserts (one autocommit transaction
// each), which is fast enough: see the seeding time in the results.
func seed(ctx context.Context, dataDir string, cred app.Credentials, cfg seedConfig) (seedResult, error) {
	start := time.Now()
	res := seedResult{States: map[rayfleet.State]int{}}
	keys, err := keyring.LoadOrCreate(filepath.Join(dataDir, "master.key"))
	if err != nil {
		return res, err
	}
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(dataDir, "rayfleet.db"))
	if err != nil {
		return res, err
	}
	closed := false
	defer func() {
		if !closed {
			st.Close()
		}
	}()
	ak, err := st.GetAccessKey(ctx, cred.AccessKeyID)
	if err != nil {
		return res, fmt.Errorf("find the bootstrap access key: %w", err)
	}
	root, err := st.GetUser(ctx, ak.AccountID, ak.UserUID)
	if err != nil {
		return res, err
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5eed))
	now := time.Now().UTC().Truncate(time.Millisecond)
	// Workspaces predate every cluster in them.
	wsTime := now.Add(-400 * 24 * time.Hour)

	listed := wsRef{ak.AccountID, cred.WorkspaceID, root.UID, root.Nickname}
	// The store admits every cluster against its queues: the bootstrap's
	// root queue is given room for the thousands seeded into it.
	q, err := st.GetQueue(ctx, ak.AccountID, cred.WorkspaceID, rayfleet.RootQueue)
	if err != nil {
		return res, err
	}
	q.MaxCU = seedQueueCU
	if err := st.UpdateQueue(ctx, q); err != nil {
		return res, err
	}
	var others []wsRef
	for i := range cfg.OwnWorkspaces {
		w, err := seedWorkspace(ctx, st, rng, ak.AccountID, root.UID, fmt.Sprintf("team-%d", i+1), wsTime)
		if err != nil {
			return res, err
		}
		others = append(others, wsRef{ak.AccountID, w, root.UID, root.Nickname})
	}
	for a := range cfg.OtherAccounts {
		acct := digits(rng, 16)
		uid := digits(rng, 18)
		if err := st.CreateUser(ctx, rayfleet.User{UID: uid, AccountID: acct, Name: "root", Nickname: "root", Root: true, CreateTime: wsTime}); err != nil {
			return res, err
		}
		if err := st.CreateAccount(ctx, rayfleet.Account{ID: acct, Name: fmt.Sprintf("tenant-%d", a+1), CreateTime: wsTime}); err != nil {
			return res, err
		}
		for i := range cfg.WorkspacesPerAccount {
			w, err := seedWorkspace(ctx, st, rng, acct, uid, fmt.Sprintf("tenant-%d-ws-%d", a+1, i+1), wsTime)
			if err != nil {
				return res, err
			}
			others = append(others, wsRef{acct, w, uid, "root"})
		}
	}
	res.Workspaces = 1 + len(others)
	if len(others) == 0 && cfg.Total > cfg.Listed {
		return res, fmt.Errorf("%d clusters outside the listed workspace but no other workspace", cfg.Total-cfg.Listed)
	}

	// Which workspace each cluster goes to, in creation order: shuffled,
	// so the listed workspace's rows are interleaved with everyone else's
	// in the table as they would be after a year of use, not one block.
	owner := make([]int, cfg.Total) // -1 is the listed workspace
	for i := range owner {
		if i < cfg.Listed {
			owner[i] = -1
		} else {
			owner[i] = (i - cfg.Listed) % len(others)
		}
	}
	rng.Shuffle(len(owner), func(i, j int) { owner[i], owner[j] = owner[j], owner[i] })

	// Creation times: spread evenly over the last year, each distinct.
	span := 365 * 24 * time.Hour
	step := span / time.Duration(cfg.Total+1)
	first := now.Add(-span)
	seq := map[string]int{} // per-workspace sequence, for names
	ids := map[string]bool{}
	insertStart := time.Now()
	for i, o := range owner {
		if i%10000 == 0 && ctx.Err() != nil {
			return res, ctx.Err()
		}
		w := listed
		if o >= 0 {
			w = others[o]
		}
		seq[w.workspaceID]++
		created := first.Add(time.Duration(i) * step).Truncate(time.Millisecond)
		c, err := newCluster(rng, keys, w, seq[w.workspaceID], created, now, ids)
		if err != nil {
			return res, err
		}
		if err := st.CreateCluster(ctx, c); err != nil {
			return res, err
		}
		if o < 0 {
			res.States[c.State]++
		}
		res.Clusters++
	}
	res.Inserts = time.Since(insertStart)
	// Close runs PRAGMA optimize, as the server does on shutdown, so the
	// planner has statistics for the tables just filled.
	closed = true
	if err := st.Close(); err != nil {
		return res, err
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

// seedQueueCU is the limit of the seeded workspaces' root queues, large
// enough to admit every cluster seeded.
const seedQueueCU = 1_000_000

// seedWorkspace creates a workspace with its root queue and network
// service, shaped as the service's CreateWorkspace makes them.
func seedWorkspace(ctx context.Context, st *sqlstore.Store, rng *rand.Rand, acct, creator, name string, at time.Time) (string, error) {
	id := "w-" + hexString(rng, 8)
	const cu = seedQueueCU
	w := rayfleet.Workspace{
		ID: id, AccountID: acct, Name: name, CU: cu, Status: rayfleet.WorkspaceRunning,
		OSSBucket: "oss://" + name + "-bucket", PaymentType: "PayAsYouGo", ReleaseType: "pro", CreateTime: at, Creator: creator,
	}
	q := rayfleet.Queue{
		AccountID: acct, WorkspaceID: id, Name: rayfleet.RootQueue, MaxCU: cu, Category: "CPU",
		Description: "The workspace's first queue; holds the whole quota until other queues take a share.", CreateTime: at, Creator: creator,
	}
	ns := rayfleet.NetworkService{
		ID: "ns-" + hexString(rng, 8), AccountID: acct, WorkspaceID: id, Name: rayfleet.DefaultNetworkService,
		Type: "NetworkService", State: "running", CreateTime: at,
	}
	return id, st.CreateWorkspace(ctx, w, q, ns)
}

var namePrefixes = []string{
	"etl-nightly", "train-llm", "feature-store", "batch-infer", "adhoc", "tuning-sweep",
	"rl-sim", "data-prep", "eval-bench", "notebook", "embedding-job", "serve-canary",
}

var descriptions = []string{
	"", "", "", "nightly ETL for the sales mart", "hyper-parameter sweep, owner: ml-platform",
	"scratch cluster for notebooks", "batch inference over the product catalogue",
}

var errorMessages = []string{
	"head node failed: container exited with code 137 (OOMKilled)",
	"head node failed: image pull back-off",
	"worker group worker-group-1: 0/12 nodes are available: insufficient cpu",
}

// stateWeights is the state mix of seeded clusters, in percent.
var stateWeights = []struct {
	s rayfleet.State
	w int
}{
	{rayfleet.StateRunning, 45}, {rayfleet.StateStopped, 35}, {rayfleet.StateStarting, 6},
	{rayfleet.StateStopping, 4}, {rayfleet.StateError, 10},
}

func pickState(rng *rand.Rand) rayfleet.State {
	n := rng.IntN(100)
	for _, sw := range stateWeights {
		if n < sw.w {
			return sw.s
		}
		n -= sw.w
	}
	return rayfleet.StateRunning
}

// newCluster builds a cluster as the service would have left it: a valid
// spec (head 2 CPU/8Gi in root_queue, one worker group), an instance id and,
// while an instance may run, a sealed access token.
func newCluster(rng *rand.Rand, keys *keyring.Keyring, w wsRef, n int, created, now time.Time, ids map[string]bool) (rayfleet.Cluster, error) {
	id := "ray-" + lowerAlnum(rng, 16)
	for ids[id] {
		id = "ray-" + lowerAlnum(rng, 16)
	}
	ids[id] = true
	releases := rayfleet.BuiltinReleaseVersions()
	autoscale := rng.IntN(10) < 3
	replica := int32(1 + rng.IntN(8))
	worker := rayfleet.WorkerSpec{
		GroupName: "worker-group-1", WorkerType: "CPU", Replica: replica, MinReplica: replica, MaxReplica: replica,
		QueueName: rayfleet.RootQueue, CPU: "4", Memory: "16Gi",
	}
	if rng.IntN(2) == 0 {
		worker.CPU, worker.Memory = "8", "32Gi"
	}
	idle := int32(0)
	if autoscale {
		worker.MinReplica, worker.MaxReplica = 1, replica*2
		idle = 600
	}
	spec := rayfleet.ClusterSpec{
		Name:           fmt.Sprintf("%s-%05d", namePrefixes[rng.IntN(len(namePrefixes))], n),
		Description:    descriptions[rng.IntN(len(descriptions))],
		ReleaseVersion: releases[rng.IntN(len(releases))].Display,
		NetworkService: rayfleet.DefaultNetworkService,
		Head: rayfleet.HeadSpec{
			QueueName: rayfleet.RootQueue, CPU: "2", Memory: "8Gi",
			EnableAutoScaling: autoscale, IdleTimeoutSeconds: idle,
		},
		Workers:    []rayfleet.WorkerSpec{worker},
		ExtraParam: "{}",
	}
	if err := spec.Validate(); err != nil {
		return rayfleet.Cluster{}, fmt.Errorf("seeded spec is invalid: %w", err)
	}

	state := pickState(rng)
	// The last start: at creation for most, a restart later for some.
	started := created
	if rng.IntN(4) == 0 {
		started = created.Add(time.Duration(rng.Int64N(int64(now.Sub(created)) + 1))).Truncate(time.Millisecond)
	}
	inst := id + "-" + lowerAlnum(rng, 8)
	c := rayfleet.Cluster{
		ID: id, AccountID: w.accountID, WorkspaceID: w.workspaceID, Spec: spec, RunningSpec: spec,
		Desired: rayfleet.RunStateRunning, State: state, InstanceID: inst,
		CreateTime: created, StartTime: started, ModifiedTime: started, StateTime: started.Add(45 * time.Second),
		Creator: w.creator, CreatorName: w.creatorName, Modifier: w.creator, ModifierName: w.creatorName,
	}
	head := rayfleet.Instance{
		InstanceID: inst + "-head", Type: "Head", Phase: "Running", ContainerState: "running",
		CreateTime: started.Add(time.Second), StartTime: started.Add(40 * time.Second),
	}
	switch state {
	case rayfleet.StateRunning:
		c.Instances = []rayfleet.Instance{head}
		for k := range replica {
			c.Instances = append(c.Instances, rayfleet.Instance{
				InstanceID: fmt.Sprintf("%s-worker-group-1-%d", inst, k), Type: "Worker", Group: "worker-group-1",
				Phase: "Running", ContainerState: "running", CreateTime: started.Add(2 * time.Second), StartTime: started.Add(50 * time.Second),
			})
		}
		c.Modified = rng.IntN(20) == 0
	case rayfleet.StateStarting:
		head.Phase, head.ContainerState, head.ContainerStateReason, head.StartTime = "Pending", "waiting", "ContainerCreating", time.Time{}
		c.Instances = []rayfleet.Instance{head}
		c.StateTime = started
	case rayfleet.StateError:
		head.Phase, head.ContainerState, head.Reason, head.ContainerExitCode = "Failed", "terminated", "Error", 137
		c.Instances = []rayfleet.Instance{head}
		c.Message = errorMessages[rng.IntN(len(errorMessages))]
	case rayfleet.StateStopping, rayfleet.StateStopped:
		// Stopping cleared the token; Stopped also has no nodes left.
		stopped := started.Add(time.Duration(rng.Int64N(int64(now.Sub(started))/2 + 1))).Truncate(time.Millisecond)
		c.Desired, c.ModifiedTime, c.StateTime = rayfleet.RunStateStopped, stopped, stopped
		if state == rayfleet.StateStopping {
			head.Phase = "Terminating"
			c.Instances = []rayfleet.Instance{head}
		}
		return c, nil
	}
	token := hexString(rng, 16)
	sealed, err := keys.Seal([]byte(token))
	if err != nil {
		return rayfleet.Cluster{}, err
	}
	sum := sha256.Sum256([]byte(token))
	c.TokenHash, c.TokenSealed = hex.EncodeToString(sum[:]), sealed
	return c, nil
}

func lowerAlnum(rng *rand.Rand, n int) string {
	const a = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = a[rng.IntN(len(a))]
	}
	return string(b)
}

// digits returns n decimal digits, not starting with 0: account ids and
// user uids.
func digits(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + rng.IntN(10))
	}
	b[0] = byte('1' + rng.IntN(9))
	return string(b)
}

func hexString(rng *rand.Rand, nbytes int) string {
	b := make([]byte, nbytes)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return hex.EncodeToString(b)
}
