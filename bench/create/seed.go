package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/app"
	"github.com/rayfleet/rayfleet/internal/store/sqlstore"
)

// seed writes n clusters into the credentials' workspace of the stopped
// server's store, through the store as the server writes them, all of them
// holding capacity (Running), which is what admission has to account for.
// The workspace's root queue gets room for them and for the creates.
func seed(ctx context.Context, dataDir string, cred app.Credentials, n int) error {
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(dataDir, "rayfleet.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	ak, err := st.GetAccessKey(ctx, cred.AccessKeyID)
	if err != nil {
		return fmt.Errorf("find the bootstrap access key: %w", err)
	}
	q, err := st.GetQueue(ctx, ak.AccountID, cred.WorkspaceID, rayfleet.RootQueue)
	if err != nil {
		return err
	}
	q.MaxCU = 1_000_000
	if err := st.UpdateQueue(ctx, q); err != nil {
		return err
	}
	created := time.Now().UTC().Add(-24 * time.Hour).Truncate(time.Millisecond)
	for i := range n {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return err
		}
		id := "ray-" + hex.EncodeToString(b[:])
		spec := rayfleet.ClusterSpec{
			Name:           fmt.Sprintf("seeded-%05d", i),
			ReleaseVersion: rayfleet.BuiltinReleaseVersions()[0].Display,
			NetworkService: rayfleet.DefaultNetworkService,
			Head:           rayfleet.HeadSpec{QueueName: rayfleet.RootQueue, CPU: "2", Memory: "8Gi"},
			Workers: []rayfleet.WorkerSpec{{
				GroupName: "worker-group-1", WorkerType: "CPU", Replica: 2, MinReplica: 2, MaxReplica: 2,
				QueueName: rayfleet.RootQueue, CPU: "4", Memory: "16Gi",
			}},
			ExtraParam: "{}",
		}
		at := created.Add(time.Duration(i) * time.Millisecond)
		c := rayfleet.Cluster{
			ID: id, AccountID: ak.AccountID, WorkspaceID: cred.WorkspaceID, Spec: spec, RunningSpec: spec,
			Desired: rayfleet.RunStateRunning, State: rayfleet.StateRunning, InstanceID: id + "-00000000",
			CreateTime: at, StartTime: at, ModifiedTime: at, StateTime: at,
			Creator: ak.UserUID, CreatorName: "root", Modifier: ak.UserUID, ModifierName: "root",
		}
		if err := st.CreateCluster(ctx, c); err != nil {
			return err
		}
	}
	return nil
}
