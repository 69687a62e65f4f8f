package storetest

import (
	"slices"
	"strings"
	"testing"

	"github.com/rayfleet/rayfleet"
)

func testFixtures(t *testing.T, _ NewStore) {
	acc := AccountID(1)
	w := NewWorkspace(acc, 1)
	c := NewCluster(acc, w.ID, 1)
	if err := c.Spec.Validate(); err != nil {
		t.Fatalf("NewCluster's spec is invalid: %v", err)
	}
	if !c.State.Valid() {
		t.Fatalf("NewCluster's state %q is invalid", c.State)
	}
	if err := rayfleet.ValidateWorkspaceName(w.Name); err != nil {
		t.Fatalf("NewWorkspace's name is invalid: %v", err)
	}
	if err := rayfleet.ValidateQueueName(NewQueue(w, rayfleet.RootQueue).Name); err != nil {
		t.Fatalf("NewQueue's name is invalid: %v", err)
	}
	for _, id := range []string{c.ID, ClusterID(0), ClusterID(99999)} {
		if len(id) != 20 || !strings.HasPrefix(id, "ray-") || strings.Trim(id[4:], "abcdefghijklmnopqrstuvwxyz0123456789") != "" {
			t.Fatalf("cluster id %q is not ray- and 16 of [a-z0-9]", id)
		}
	}
	if len(w.ID) != 18 || !strings.HasPrefix(w.ID, "w-") || strings.Trim(w.ID[2:], "0123456789abcdef") != "" {
		t.Fatalf("workspace id %q is not w- and 16 hex digits", w.ID)
	}
	if len(acc) != 16 || strings.Trim(acc, "0123456789") != "" {
		t.Fatalf("account id %q is not 16 digits", acc)
	}
	// Deterministic: the same on every run and machine.
	if got := ClusterID(1); got != "ray-0000hnvisgwbihrj" {
		t.Fatalf("ClusterID(1) = %q, was ray-0000hnvisgwbihrj: fixture ids must not depend on the run", got)
	}
	if ClusterID(1) == ClusterID(2) || WorkspaceID(1) == WorkspaceID(2) || AccessKeyID(1) == AccessKeyID(2) {
		t.Fatal("fixture ids are not distinct")
	}
	// Every field set, so round-trips cover them all.
	checkAllSet(t, c, "Deleted", "Version")
	checkAllSet(t, c.Spec)
	checkAllSet(t, c.Spec.Head)
	checkAllSet(t, *c.Spec.Head.GFTConfig)
	checkAllSet(t, c.Spec.Workers[0], "GPUSpec")
	checkAllSet(t, c.Instances[1], "StartTime")
	checkAllSet(t, NewAccount(1))
	checkAllSet(t, NewUser(acc, 0))
	checkAllSet(t, NewAccessKey(NewUser(acc, 0), 1))
	checkAllSet(t, w)
	checkAllSet(t, NewQueue(w, "q"))
	checkAllSet(t, NewNetworkService(w, "vpc"))
	checkAllSet(t, NewIdempotency(acc, "token", At(1)))
	checkAllSet(t, NewDataPlaneToken(c, NewUser(acc, 1), 1))
}

func testAccounts(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	var want []rayfleet.Account
	for i := 3; i >= 1; i-- {
		a := NewAccount(i)
		must(t, s.CreateAccount(ctx, a))
		want = append(want, a)
	}
	got, err := s.GetAccount(ctx, AccountID(2))
	must(t, err)
	wantEqual(t, got, NewAccount(2), "GetAccount")

	all, err := s.ListAccounts(ctx)
	must(t, err)
	byID := func(a, b rayfleet.Account) int { return strings.Compare(a.ID, b.ID) }
	slices.SortFunc(all, byID)
	slices.SortFunc(want, byID)
	wantEqual(t, all, want, "ListAccounts")

	wantCode(t, s.CreateAccount(ctx, NewAccount(2)), rayfleet.EDENIED, "CreateAccount of an existing id")
	_, err = s.GetAccount(ctx, AccountID(9))
	wantNotFound(t, err, "GetAccount of a missing id")
}

func testUsers(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	root, ram := NewUser(AccountID(1), 0), NewUser(AccountID(1), 1)
	must(t, s.CreateUser(ctx, root))
	must(t, s.CreateUser(ctx, ram))
	for _, u := range []rayfleet.User{root, ram} {
		got, err := s.GetUser(ctx, u.AccountID, u.UID)
		must(t, err)
		wantEqual(t, got, u, "GetUser")
	}
	wantCode(t, s.CreateUser(ctx, ram), rayfleet.EDENIED, "CreateUser of an existing uid")
	_, err := s.GetUser(ctx, AccountID(1), UserUID(9))
	wantNotFound(t, err, "GetUser of a missing uid")
	_, err = s.GetUser(ctx, AccountID(2), root.UID)
	wantNotFound(t, err, "GetUser of another account's user")
}

func testAccessKeys(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	u := NewUser(AccountID(1), 0)
	k := NewAccessKey(u, 1)
	must(t, s.CreateAccessKey(ctx, k))
	got, err := s.GetAccessKey(ctx, k.ID)
	must(t, err)
	wantEqual(t, got, k, "GetAccessKey")

	// A key without a secret stays without one (nil, not empty).
	bare := NewAccessKey(u, 2)
	bare.SecretSealed = nil
	bare.Status = rayfleet.KeyInactive
	must(t, s.CreateAccessKey(ctx, bare))
	got, err = s.GetAccessKey(ctx, bare.ID)
	must(t, err)
	wantEqual(t, got, bare, "GetAccessKey of a key without secret")

	wantCode(t, s.CreateAccessKey(ctx, k), rayfleet.EDENIED, "CreateAccessKey of an existing id")
	_, err = s.GetAccessKey(ctx, AccessKeyID(9))
	wantNotFound(t, err, "GetAccessKey of a missing id")
}
