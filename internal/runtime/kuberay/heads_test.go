package kuberay

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/rayfleet/rayfleet/internal/poll"
)

// TestHeadsAgreeWithTheRuntime: the watcher a separate gateway runs finds
// the same head endpoints as the runtime that applied the cluster, and
// none once it is stopped.
func TestHeadsAgreeWithTheRuntime(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	heads, err := NewHeads(ctx, Config{RestConfig: e.cfg, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { heads.Close() })

	c := e.cluster(0)
	if _, _, ok := heads.HeadEndpoints(c); ok {
		t.Fatal("a head before the cluster exists")
	}
	e.applyUntil(e.rt, c, "head ready", ready(c))
	want, wantClient, ok := e.rt.HeadEndpoints(c)
	if !ok {
		t.Fatal("the runtime has no head")
	}
	poll.UntilSeen(e.t, time.Minute, "the head watcher to see the head", func() (bool, string) {
		dash, client, ok := heads.HeadEndpoints(c)
		return ok && dash == want && client == wantClient, dash + " " + client
	})
	host := c.ID + "-head-svc." + e.ns() + ".svc"
	if want != host+":8265" || wantClient != host+":10001" {
		t.Fatalf("endpoints %s %s, want the head service %s on 8265 and 10001", want, wantClient, host)
	}

	if err := e.rt.Suspend(ctx, c); err != nil {
		t.Fatal(err)
	}
	poll.UntilSeen(e.t, time.Minute, "the head watcher to drop the stopped head", func() (bool, string) {
		dash, _, ok := heads.HeadEndpoints(c)
		return !ok, dash
	})
}
