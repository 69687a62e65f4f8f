package service_test

import (
	"context"
	"testing"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/service"
)

// A queue serves both environments unless told otherwise, and
// ListQueues' environment filter follows what it serves.
func TestQueueEnvironments(t *testing.T) {
	s, p, ws := newService(t)
	ctx := context.Background()
	names := func(env string) []string {
		t.Helper()
		qs, err := s.ListQueues(ctx, p, ws, env)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, q := range qs {
			out = append(out, q.Name)
		}
		return out
	}
	if _, err := s.EditQueue(ctx, p, service.QueueInput{WorkspaceID: ws, Name: rayfleet.RootQueue, CU: 60}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateQueue(ctx, p, service.QueueInput{WorkspaceID: ws, Name: "dev_queue", CU: 4, PaymentType: "Pre",
		Environments: &[]string{"dev"}}); err != nil {
		t.Fatal(err)
	}
	if got := names("dev"); len(got) != 2 {
		t.Fatalf("dev queues %v, want both", got)
	}
	if got := names("production"); len(got) != 1 || got[0] != rayfleet.RootQueue {
		t.Fatalf("production queues %v, want the root queue", got)
	}
	if _, err := s.EditQueue(ctx, p, service.QueueInput{WorkspaceID: ws, Name: rayfleet.RootQueue, Environments: &[]string{"production"}}); err != nil {
		t.Fatal(err)
	}
	if got := names("dev"); len(got) != 1 || got[0] != "dev_queue" {
		t.Fatalf("dev queues after the edit %v, want dev_queue", got)
	}
	q, err := s.Store.GetQueue(ctx, p.AccountID, ws, "dev_queue")
	if err != nil {
		t.Fatal(err)
	}
	if q.PaymentType != "Pre" || q.MaxCU != 4 {
		t.Fatalf("dev_queue %+v", q)
	}
	root, err := s.Store.GetQueue(ctx, p.AccountID, ws, rayfleet.RootQueue)
	if err != nil {
		t.Fatal(err)
	}
	if root.MaxCU != 60 || root.PaymentType != "PayAsYouGo" {
		t.Fatalf("an edit of the environments changed the root queue's limit or payment: %+v", root)
	}
	_, err = s.ListQueues(ctx, p, ws, "test")
	wantCode(t, err, rayfleet.EINVALID)
	for _, in := range []service.QueueInput{
		{WorkspaceID: ws, Name: rayfleet.RootQueue, Environments: &[]string{}},
		{WorkspaceID: ws, Name: rayfleet.RootQueue, Environments: &[]string{"dev", "dev"}},
		{WorkspaceID: ws, Name: rayfleet.RootQueue, Environments: &[]string{"staging"}},
		{WorkspaceID: ws, Name: rayfleet.RootQueue, PaymentType: "Monthly"},
	} {
		_, err := s.EditQueue(ctx, p, in)
		wantCode(t, err, rayfleet.EINVALID)
	}
}
