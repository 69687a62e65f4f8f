package sqlstore

import (
	"context"
	"testing"
	"time"
	"encoding/json"

	"github.com/rayfleet/rayfleet"
)

func BenchmarkProbe(b *testing.B) {
	s, err := OpenSQLite(context.Background(), "/tmp/probe.db")
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	var n int
	s.read.QueryRowContext(ctx, "SELECT count(*) FROM clusters").Scan(&n)
	if n == 0 {
		f := seedBench(b, s)
		_ = f
	}
	f := seedFilter()
	t0 := time.Now()
	for i := 0; i < 50; i++ {
		s.count(ctx, s.clusterCount[0], f.AccountID, f.WorkspaceID)
	}
	b.Logf("count: %v", time.Since(t0)/50)
	t0 = time.Now()
	for i := 0; i < 50; i++ {
		s.clusters(ctx, s.clusterList[0], 20, f.AccountID, f.WorkspaceID, int64(20), int64(0))
	}
	b.Logf("list20: %v", time.Since(t0)/50)
	cs, _ := s.clusters(ctx, s.clusterList[0], 20, f.AccountID, f.WorkspaceID, int64(20), int64(0))
	spec, _ := json.Marshal(cs[0].Spec)
	inst, _ := json.Marshal(cs[0].Instances)
	t0 = time.Now()
	for i := 0; i < 1000; i++ {
		var c rayfleet.Cluster
		decodeJSON(&c, spec, spec, inst)
	}
	b.Logf("decode: %v (spec %d bytes, inst %d)", time.Since(t0)/1000, len(spec), len(inst))
	rows, _ := s.read.QueryContext(ctx, "EXPLAIN QUERY PLAN "+s.clusterCount[0], f.AccountID, f.WorkspaceID)
	for rows.Next() { var a,b2,c int; var d string; rows.Scan(&a,&b2,&c,&d); b.Log(d) }
	rows.Close()
	rows, _ = s.read.QueryContext(ctx, "EXPLAIN QUERY PLAN "+s.clusterList[0], f.AccountID, f.WorkspaceID, 20, 0)
	for rows.Next() { var a,b2,c int; var d string; rows.Scan(&a,&b2,&c,&d); b.Log(d) }
	rows.Close()
}

func seedFilter() struct{ AccountID, WorkspaceID string } {
	return struct{ AccountID, WorkspaceID string }{"1000000000000000", "w-e220a8397b1dcdaf"}
}
