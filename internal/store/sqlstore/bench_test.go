package sqlstore

import (
	"context"
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
