package app

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// Of two servers with the reconciler role on one PostgreSQL database, one
// reconciles and the other stands by until the first goes.
func TestOneReconcilerPerDatabase(t *testing.T) {
	dsn := postgresSchema(t)
	a, _ := testServer(t, func(c *Config) { c.Store, c.PostgresDSN = "postgres", dsn })
	eventually(t, "the first server to run the reconciler", a.reconciling.Load)

	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.Store, cfg.PostgresDSN, cfg.Roles = "postgres", dsn, "reconciler"
	cfg.DataDir = filepath.Join(dir, "b")
	b, err := Start(context.Background(), cfg, func(string) string { return "" }, discard{}, discard{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = b.Shutdown(ctx)
	})
	since := time.Now()
	for time.Since(since) < 3*time.Second { // longer than the standby's retry
		if b.reconciling.Load() {
			t.Fatal("two servers run the reconciler on one database")
		}
		time.Sleep(100 * time.Millisecond) // poll interval
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the standby to take over", b.reconciling.Load)
}
