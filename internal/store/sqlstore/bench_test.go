package sqlstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/store"
	"github.com/rayfleet/rayfleet/internal/store/storetest"
)

// The benchmark's data: 100,000 clusters in 10 workspaces of 5 accounts,
// 10,000 of them in the workspace listed.
const (
	benchAccounts      = 5
	benchWorkspacesPer = 2
	benchPerWorkspace  = 10_000
)

// seedBench fills s with the benchmark's clusters in one transaction (a
// transaction per cluster would spend minutes on commits) and returns the
// filter of the listed workspace.
func seedBench(b *testing.B, s *Store) store.ClusterFilter {
	b.Helper()
	ctx := context.Background()
	start := time.Now()
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	ex := s.inTx(tx)
	states := []rayfleet.State{rayfleet.StateRunning, rayfleet.StateRunning, rayfleet.StateStopped, rayfleet.StateStarting, rayfleet.StateError}
	n := 0
	for a := range benchAccounts {
		for wi := range benchWorkspacesPer {
			w := storetest.NewWorkspace(storetest.AccountID(a), a*benchWorkspacesPer+wi)
			if _, err := ex(ctx, `INSERT INTO workspaces (id, account_id, name, name_lower, cu, status, oss_bucket, payment_type, release_type, create_time, creator)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, w.ID, w.AccountID, w.Name, w.Name, w.CU, w.Status, w.OSSBucket, w.PaymentType, w.ReleaseType, toMS(w.CreateTime), w.Creator); err != nil {
				b.Fatal(err)
			}
			for i := range benchPerWorkspace {
				n++
				c := storetest.NewCluster(w.AccountID, w.ID, n)
				// Several clusters a second, so create_time has ties.
				c.CreateTime = storetest.Epoch.Add(time.Duration(i) * 300 * time.Millisecond)
				c.State = states[i%len(states)]
				c.Deleted = i%100 == 99
				// The row alone: the benchmark's workspaces have no queues
				// to hold capacity of, and lists do not read it.
				if _, err := s.insertCluster(ctx, ex, c); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	if s.d.name == "postgres" {
		// Fresh rows have no visibility map yet, so index-only scans would
		// visit the table until autovacuum runs; production tables are
		// vacuumed, so measure that.
		if _, err := s.write.ExecContext(ctx, "VACUUM ANALYZE clusters"); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("seeded %d clusters in %v", n, time.Since(start).Round(time.Millisecond))
	return store.ClusterFilter{AccountID: storetest.AccountID(0), WorkspaceID: storetest.WorkspaceID(0)}
}

func benchListClusters(b *testing.B, s *Store) {
	f := seedBench(b, s)
	ctx := context.Background()
	list := func(b *testing.B, f store.ClusterFilter) {
		cs, total, err := s.ListClusters(ctx, f)
		if err != nil {
			b.Fatal(err)
		}
		if (f.Limit > 0 && len(cs) != f.Limit) || total < f.Limit {
			b.Fatalf("listed %d of %d", len(cs), total)
		}
	}
	// The first list of the workspace, which builds its snapshot (the
	// lists cached are what the cases below measure).
	b.Run("load", func(b *testing.B) {
		for b.Loop() {
			s.lists = newListCache(defaultListCacheRows)
			list(b, f)
		}
	})
	for _, tc := range []struct {
		name string
		f    func(store.ClusterFilter) store.ClusterFilter
	}{
		{"limit=20", func(f store.ClusterFilter) store.ClusterFilter { f.Limit = 20; return f }},
		{"limit=100", func(f store.ClusterFilter) store.ClusterFilter { f.Limit = 100; return f }},
		{"limit=20,offset=5000", func(f store.ClusterFilter) store.ClusterFilter { f.Limit, f.Offset = 20, 5000; return f }},
		{"limit=20,state=Running", func(f store.ClusterFilter) store.ClusterFilter {
			f.Limit, f.State = 20, rayfleet.StateRunning
			return f
		}},
		{"limit=20,name=cluster-1", func(f store.ClusterFilter) store.ClusterFilter {
			f.Limit, f.Name = 20, "cluster-1"
			return f
		}},
	} {
		f := tc.f(f)
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				list(b, f)
			}
		})
		b.Run(tc.name+",parallel", func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					list(b, f)
				}
			})
		})
	}
}

// BenchmarkListClusters lists a page of a workspace of 10,000 clusters in
// a SQLite store of 100,000.
func BenchmarkListClusters(b *testing.B) {
	s, err := OpenSQLite(context.Background(), b.TempDir()+"/bench.db")
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	benchListClusters(b, s)
}

// BenchmarkListClustersPostgres is the same on PostgreSQL, when
// RAYFLEET_TEST_POSTGRES is set.
func BenchmarkListClustersPostgres(b *testing.B) {
	benchListClusters(b, openPostgresForTest(b))
}

// benchJobs is how many jobs the job benchmarks' workspace holds.
const benchJobs = 100_000

// seedJobs fills s with benchJobs jobs in one workspace, 20 a second, a
// tenth of them named alike and sharing a task, in one transaction, and
// returns that workspace's filter.
func seedJobs(b *testing.B, s *Store) store.JobFilter {
	b.Helper()
	ctx := context.Background()
	start := time.Now()
	acc := storetest.AccountID(1)
	w := storetest.NewWorkspace(acc, 1)
	if err := s.CreateWorkspace(ctx, w, storetest.NewQueue(w, rayfleet.RootQueue), storetest.NewNetworkService(w, rayfleet.DefaultNetworkService)); err != nil {
		b.Fatal(err)
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	ex := s.inTx(tx)
	for i := range benchJobs {
		j := storetest.NewJob(acc, w.ID, storetest.ClusterID(i%50), i)
		j.SubmitTime = storetest.Epoch.Add(time.Duration(i) * 50 * time.Millisecond)
		j.Spec.Name, j.TaskBizID = fmt.Sprintf("job-%d", i%10_000), fmt.Sprintf("TSK-%d", i%10)
		if i < benchJobs-200 {
			j.Status = rayfleet.JobSucceeded
		}
		j.Version = 1
		vals, _, err := jobValues(&j)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ex(ctx, insertJobSQL, append([]any{j.ID, j.AccountID, j.WorkspaceID}, vals...)...); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	if s.d.name == "postgres" {
		if _, err := s.write.ExecContext(ctx, "VACUUM ANALYZE jobs"); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("seeded %d jobs in %v", benchJobs, time.Since(start).Round(time.Millisecond))
	return store.JobFilter{AccountID: acc, WorkspaceID: w.ID}
}

// benchListJobs measures ListJobs as ListRayJob uses it, one caller and
// GOMAXPROCS callers at once.
func benchListJobs(b *testing.B, s *Store) {
	base := seedJobs(b, s)
	ctx := context.Background()
	mid := storetest.Epoch.Add(benchJobs / 2 * 50 * time.Millisecond)
	for _, tc := range []struct {
		name string
		edit func(*store.JobFilter)
	}{
		{"page 1", func(f *store.JobFilter) {}},
		{"page 500", func(f *store.JobFilter) { f.Offset = 499 * 20 }},
		{"by name", func(f *store.JobFilter) { f.Name = "job-42" }},
		{"by task", func(f *store.JobFilter) { f.TaskBizID = "TSK-3" }},
		{"by id", func(f *store.JobFilter) { f.ID = storetest.JobID(77_777) }},
		{"an hour of submit time", func(f *store.JobFilter) { f.SubmittedFrom, f.SubmittedUntil = mid, mid.Add(time.Hour) }},
	} {
		f := base
		f.Limit = 20
		tc.edit(&f)
		list := func(b *testing.B) {
			js, total, err := s.ListJobs(ctx, f)
			if err != nil {
				b.Fatal(err)
			}
			if len(js) == 0 || total == 0 {
				b.Fatalf("listed %d of %d", len(js), total)
			}
		}
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				list(b)
			}
		})
		b.Run(tc.name+",parallel", func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					list(b)
				}
			})
		})
	}
	b.Run("unfinished of a cluster", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.ListUnfinishedJobs(ctx, store.ClusterRef{AccountID: base.AccountID, WorkspaceID: base.WorkspaceID, ID: storetest.ClusterID(7)}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkListJobs lists pages of a workspace of 100,000 jobs on SQLite.
func BenchmarkListJobs(b *testing.B) {
	s, err := OpenSQLite(context.Background(), b.TempDir()+"/bench.db")
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	benchListJobs(b, s)
}

// BenchmarkListJobsPostgres is the same on PostgreSQL, when
// RAYFLEET_TEST_POSTGRES is set.
func BenchmarkListJobsPostgres(b *testing.B) {
	benchListJobs(b, openPostgresForTest(b))
}
