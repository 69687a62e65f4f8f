package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/store"
)

// smallCluster is cluster n of a workspace that needs 1 CPU and 4 GiB (one
// CU) of queue q and nothing else.
func smallCluster(w rayfleet.Workspace, n int, q string) rayfleet.Cluster {
	c := NewCluster(w.AccountID, w.ID, n)
	c.Spec.Head = rayfleet.HeadSpec{QueueName: q, CPU: "1", Memory: "4Gi"}
	c.Spec.Workers = nil
	c.State = rayfleet.StateStarting
	return c
}

// quotaWorkspace is a workspace with a queue "small" of limit cu.
func quotaWorkspace(ctx context.Context, t *testing.T, s store.Store, n int, cu int64) rayfleet.Workspace {
	t.Helper()
	w := createWorkspace(ctx, t, s, AccountID(1), n)
	q := NewQueue(w, "small")
	q.MaxCU = cu
	must(t, s.CreateQueue(ctx, q))
	return w
}

func used(ctx context.Context, t *testing.T, s store.Store, w rayfleet.Workspace, q string) rayfleet.Resources {
	t.Helper()
	u, err := s.CapacityInUse(ctx, w.AccountID, w.ID)
	must(t, err)
	return u[q]
}

// testQuota checks admission at a queue's limit: the writes that would take
// it past are refused and leave nothing behind; those that fit succeed.
func testQuota(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	w := quotaWorkspace(ctx, t, s, 1, 3)
	for i := 1; i <= 3; i++ {
		must(t, s.CreateCluster(ctx, smallCluster(w, i, "small")))
	}
	if got := used(ctx, t, s, w, "small"); got != rayfleet.CU(3) {
		t.Fatalf("three one-CU clusters hold %v, want %v", got, rayfleet.CU(3))
	}

	// A fourth does not fit, and is not stored.
	err := s.CreateCluster(ctx, smallCluster(w, 4, "small"))
	wantCode(t, err, rayfleet.EQUOTA, "CreateCluster past the queue's limit")
	if msg := err.Error(); !strings.Contains(msg, `"small"`) || !strings.Contains(msg, "1 CPU, 4Gi") {
		t.Fatalf("the refusal %q does not name the queue and what the cluster needs", msg)
	}
	_, err = s.GetClusterAny(ctx, w.AccountID, w.ID, ClusterID(4))
	wantNotFound(t, err, "GetClusterAny of a refused cluster")
	// A stopped one holds nothing, so it fits.
	stopped := smallCluster(w, 5, "small")
	stopped.State = rayfleet.StateStopped
	must(t, s.CreateCluster(ctx, stopped))

	// Growing a cluster that holds capacity is admitted too; a failed
	// update writes nothing.
	_, err = s.UpdateCluster(ctx, w.AccountID, w.ID, ClusterID(1), func(c *rayfleet.Cluster) error {
		c.Spec.Head.CPU = "2"
		return nil
	})
	wantCode(t, err, rayfleet.EQUOTA, "UpdateCluster growing past the limit")
	if c, err := s.GetCluster(ctx, w.AccountID, w.ID, ClusterID(1)); err != nil || c.Spec.Head.CPU != "1" || c.Version != 1 {
		t.Fatalf("a refused update changed the cluster: %+v, %v", c.Spec.Head, err)
	}
	// So is starting a stopped one, and a cluster of a missing queue.
	_, err = s.UpdateCluster(ctx, w.AccountID, w.ID, stopped.ID, func(c *rayfleet.Cluster) error { c.State = rayfleet.StateStarting; return nil })
	wantCode(t, err, rayfleet.EQUOTA, "UpdateCluster starting a stopped cluster in a full queue")
	wantCode(t, s.CreateCluster(ctx, smallCluster(w, 6, "missing")), rayfleet.EINVALID, "CreateCluster in a missing queue")

	// Stopping frees room at once, and shrinking is always admitted.
	read, err := s.GetClusterAny(ctx, w.AccountID, w.ID, ClusterID(2))
	must(t, err)
	_, err = s.UpdateClusterFrom(ctx, read, func(c *rayfleet.Cluster) error { c.State = rayfleet.StateStopped; return nil })
	must(t, err)
	_, err = s.UpdateCluster(ctx, w.AccountID, w.ID, stopped.ID, func(c *rayfleet.Cluster) error { c.State = rayfleet.StateStarting; return nil })
	must(t, err)
	_, err = s.UpdateCluster(ctx, w.AccountID, w.ID, ClusterID(3), func(c *rayfleet.Cluster) error { c.Spec.Head.CPU = "500m"; return nil })
	must(t, err)
	if got, want := used(ctx, t, s, w, "small"), rayfleet.CU(3).Sub(rayfleet.Resources{MilliCPU: 500}); got != want {
		t.Fatalf("after a stop, a start and a shrink the queue holds %v, want %v", got, want)
	}
	// A deleted cluster holds its capacity until its row is purged.
	markDeleted(ctx, t, s, smallCluster(w, 1, "small"))
	wantCode(t, s.CreateCluster(ctx, smallCluster(w, 7, "small")), rayfleet.EQUOTA, "CreateCluster while a deleted cluster holds the room")
	must(t, s.PurgeCluster(ctx, w.AccountID, w.ID, ClusterID(1)))
	must(t, s.CreateCluster(ctx, smallCluster(w, 7, "small")))
}

// testQuotaOneWinner creates clusters at once through both stores into a
// queue with room for exactly one more: one create succeeds, every other is
// refused, and the queue holds what the winner needs.
func testQuotaOneWinner(t *testing.T, newStores NewSharedStores) {
	a, b := newStores(t)
	ctx := t.Context()
	for round := range 5 {
		w := quotaWorkspace(ctx, t, a, round+1, 2)
		must(t, a.CreateCluster(ctx, smallCluster(w, 1000*round, "small")))
		const each = 4
		var wg sync.WaitGroup
		errs := make([]error, 2*each)
		for i := range errs {
			s := []store.Store{a, b}[i%2]
			wg.Go(func() { errs[i] = s.CreateCluster(ctx, smallCluster(w, 1000*round+1+i, "small")) })
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case rayfleet.ErrorCode(err) != rayfleet.EQUOTA:
				t.Fatalf("round %d: a create failed otherwise than with QuotaExceeded: %v", round, err)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d of %d concurrent creates into room for one succeeded", round, won, len(errs))
		}
		for _, s := range []store.Store{a, b} {
			if got := used(ctx, t, s, w, "small"); got != rayfleet.CU(2) {
				t.Fatalf("round %d: the queue holds %v, want %v", round, got, rayfleet.CU(2))
			}
			cs, total, err := s.ListClusters(ctx, store.ClusterFilter{AccountID: w.AccountID, WorkspaceID: w.ID, QueueName: "small"})
			must(t, err)
			if total != 2 || len(cs) != 2 {
				t.Fatalf("round %d: %d clusters in the queue, want 2", round, total)
			}
		}
	}
}

// testClientTokens checks that each write taking a client token from its
// context stores the token's record with it, once, and that a write whose
// token is recorded already writes nothing.
func testClientTokens(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	acc := AccountID(1)
	w := createWorkspace(ctx, t, s, acc, 1)
	c := NewCluster(acc, w.ID, 1)
	must(t, s.CreateCluster(ctx, c))
	n := 0
	writes := []struct {
		name  string
		write func(ctx context.Context) error
		// gone reports whether the write is absent from the store.
		gone func() bool
	}{
		{"CreateWorkspace", func(ctx context.Context) error {
			w2 := NewWorkspace(acc, 50+n)
			return s.CreateWorkspace(ctx, w2, NewQueue(w2, rayfleet.RootQueue), NewNetworkService(w2, rayfleet.DefaultNetworkService))
		}, func() bool { _, err := s.GetWorkspace(ctx, acc, WorkspaceID(50+n)); return rayfleet.IsNotFound(err) }},
		{"CreateQueue", func(ctx context.Context) error {
			return s.CreateQueue(ctx, NewQueue(w, fmt.Sprint("q", n)))
		}, func() bool { _, err := s.GetQueue(ctx, acc, w.ID, fmt.Sprint("q", n)); return rayfleet.IsNotFound(err) }},
		{"UpdateQueue", func(ctx context.Context) error {
			q := NewQueue(w, rayfleet.RootQueue)
			q.Description = fmt.Sprint("edit ", n)
			return s.UpdateQueue(ctx, q)
		}, func() bool {
			q, err := s.GetQueue(ctx, acc, w.ID, rayfleet.RootQueue)
			must(t, err)
			return q.Description != fmt.Sprint("edit ", n)
		}},
		{"CreateNetworkService", func(ctx context.Context) error {
			return s.CreateNetworkService(ctx, NewNetworkService(w, fmt.Sprint("ns", n)))
		}, func() bool {
			nss, err := s.ListNetworkServices(ctx, acc, w.ID)
			must(t, err)
			for _, ns := range nss {
				if ns.Name == fmt.Sprint("ns", n) {
					return false
				}
			}
			return true
		}},
		{"CreateCluster", func(ctx context.Context) error {
			return s.CreateCluster(ctx, NewCluster(acc, w.ID, 100+n))
		}, func() bool {
			_, err := s.GetClusterAny(ctx, acc, w.ID, ClusterID(100+n))
			return rayfleet.IsNotFound(err)
		}},
		{"CreateJob", func(ctx context.Context) error {
			return s.CreateJob(ctx, NewJob(acc, w.ID, c.ID, 100+n))
		}, func() bool {
			_, err := s.GetJob(ctx, acc, w.ID, JobID(100+n))
			return rayfleet.IsNotFound(err)
		}},
		{"UpdateCluster", func(ctx context.Context) error {
			_, err := s.UpdateCluster(ctx, acc, w.ID, c.ID, func(c *rayfleet.Cluster) error { c.Message = fmt.Sprint("edit ", n); return nil })
			return err
		}, func() bool {
			got, err := s.GetClusterAny(ctx, acc, w.ID, c.ID)
			must(t, err)
			return got.Message != fmt.Sprint("edit ", n)
		}},
	}
	for i, wr := range writes {
		n = 2 * i
		rec := NewIdempotency(acc, "token-"+wr.name, At(100))
		tok := &store.ClientToken{Record: rec, Since: At(50)}
		must(t, wr.write(store.WithClientToken(ctx, tok)))
		if !tok.Stored() {
			t.Fatalf("%s did not mark its client token stored", wr.name)
		}
		got, found, err := s.GetIdempotency(ctx, acc, rec.Token, At(50))
		must(t, err)
		if !found {
			t.Fatalf("%s with a client token stored no record of it", wr.name)
		}
		wantEqual(t, got, rec, wr.name+"'s client token record")
		if store.ClientTokenOf(store.WithClientToken(ctx, tok)) != nil {
			t.Fatalf("ClientTokenOf gives a token already stored")
		}

		// The same token again writes nothing.
		n = 2*i + 1
		again := &store.ClientToken{Record: NewIdempotency(acc, rec.Token, At(101)), Since: At(50)}
		err = wr.write(store.WithClientToken(ctx, again))
		if !errors.Is(err, store.ErrTokenUsed) {
			t.Fatalf("%s with a recorded token: %v, want ErrTokenUsed", wr.name, err)
		}
		if again.Stored() || !wr.gone() {
			t.Fatalf("%s with a recorded token wrote (stored=%v)", wr.name, again.Stored())
		}
	}

	// A write that fails stores no token; a record older than Since is
	// replaced.
	full := quotaWorkspace(ctx, t, s, 2, 1)
	tok := &store.ClientToken{Record: NewIdempotency(acc, "token-refused", At(100)), Since: At(50)}
	big := smallCluster(full, 200, "small")
	big.Spec.Head.CPU = "2"
	wantCode(t, s.CreateCluster(store.WithClientToken(ctx, tok), big), rayfleet.EQUOTA, "CreateCluster past the limit with a token")
	if _, found, err := s.GetIdempotency(ctx, acc, "token-refused", At(0)); err != nil || found || tok.Stored() {
		t.Fatalf("a refused write stored its token: found=%v stored=%v %v", found, tok.Stored(), err)
	}
	_, _, err := s.PutIdempotency(ctx, NewIdempotency(acc, "token-old", At(10)))
	must(t, err)
	fresh := NewIdempotency(acc, "token-old", At(100))
	fresh.Operation = "CreateWorkspaceQueue"
	must(t, s.CreateQueue(store.WithClientToken(ctx, &store.ClientToken{Record: fresh, Since: At(50)}), NewQueue(full, "after-expiry")))
	got, found, err := s.GetIdempotency(ctx, acc, "token-old", At(0))
	must(t, err)
	if !found {
		t.Fatal("the expired record was removed but the new one not stored")
	}
	wantEqual(t, got, fresh, "the record that replaced an expired one")
}
