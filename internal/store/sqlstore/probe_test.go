package sqlstore

import (
	"context"
	"testing"
	"time"
)

// TestProbeWrite: a probe commits its row, again and again.
func TestProbeWrite(t *testing.T) {
	eachBackend(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		at := time.UnixMilli(1_700_000_000_000)
		for i := range 3 {
			if err := s.ProbeWrite(ctx, "readyz", at.Add(time.Duration(i)*time.Second)); err != nil {
				t.Fatal(err)
			}
		}
		var got int64
		if err := s.read.QueryRowContext(ctx, s.d.rebind("SELECT at FROM write_probes WHERE name = ?"), "readyz").Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != at.Add(2*time.Second).UnixMilli() {
			t.Fatalf("probe row at %d, want the last probe's", got)
		}
	})
}
