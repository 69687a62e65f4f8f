package storetest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/store"
)

func sortTokens(ts []rayfleet.DataPlaneToken) []rayfleet.DataPlaneToken {
	slices.SortFunc(ts, func(a, b rayfleet.DataPlaneToken) int { return strings.Compare(a.TokenHash, b.TokenHash) })
	return ts
}

// testDataPlaneTokens: tokens round-trip, are found by hash whatever their
// account, are listed by owner, key, workspace, clusters and expiry, and
// are written all or none.
func testDataPlaneTokens(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	a := AccountID(1)
	w := createWorkspace(ctx, t, s, a, 1)
	c1, c2 := NewCluster(a, w.ID, 1), NewCluster(a, w.ID, 2)
	must(t, s.CreateCluster(ctx, c1))
	must(t, s.CreateCluster(ctx, c2))
	u1, u2 := NewUser(a, 1), NewUser(a, 2)

	t1, t2 := NewDataPlaneToken(c1, u1, 1), NewDataPlaneToken(c2, u1, 2)
	t2.AccessKeyID, t2.ParentKeyID, t2.SessionPolicy = AccessKeyID(1), "", "" // an access key's, not a session's
	t1.AccessKeyID = t2.AccessKeyID
	// Another key of u1, and u2's, on c1.
	otherKey := NewDataPlaneToken(c1, u1, 3)
	ofU2 := NewDataPlaneToken(c1, u2, 4)
	ofU2.AccessKeyID = t1.AccessKeyID
	must(t, s.CreateDataPlaneTokens(ctx, []rayfleet.DataPlaneToken{t1, t2, otherKey, ofU2}))
	must(t, s.CreateDataPlaneTokens(ctx, nil))

	for _, want := range []rayfleet.DataPlaneToken{t1, t2, otherKey, ofU2} {
		got, err := s.GetDataPlaneToken(ctx, want.TokenHash)
		must(t, err)
		wantEqual(t, got, want, "GetDataPlaneToken")
	}
	_, err := s.GetDataPlaneToken(ctx, "")
	wantNotFound(t, err, "GetDataPlaneToken of an empty hash")
	_, err = s.GetDataPlaneToken(ctx, strings.Repeat("0", 64))
	wantNotFound(t, err, "GetDataPlaneToken of an unknown hash")

	// All or none: a batch with a hash that exists stores nothing.
	fresh := NewDataPlaneToken(c2, u2, 5)
	dup := t1
	dup.ClusterID = c2.ID
	err = s.CreateDataPlaneTokens(ctx, []rayfleet.DataPlaneToken{fresh, dup})
	wantCode(t, err, rayfleet.EDENIED, "CreateDataPlaneTokens with a hash that exists")
	_, err = s.GetDataPlaneToken(ctx, fresh.TokenHash)
	wantNotFound(t, err, "the rest of a batch that failed")

	f := store.DataPlaneTokenFilter{AccountID: a, UserUID: u1.UID, AccessKeyID: t1.AccessKeyID, WorkspaceID: w.ID, ClusterIDs: []string{c1.ID, c2.ID}}
	list := func(f store.DataPlaneTokenFilter) []rayfleet.DataPlaneToken {
		t.Helper()
		got, err := s.ListDataPlaneTokens(ctx, f)
		must(t, err)
		return sortTokens(got)
	}
	wantEqual(t, list(f), sortTokens([]rayfleet.DataPlaneToken{t1, t2}), "ListDataPlaneTokens of a user's key on two clusters")
	one := f
	one.ClusterIDs = []string{c1.ID}
	wantEqual(t, list(one), []rayfleet.DataPlaneToken{t1}, "ListDataPlaneTokens of one cluster")
	for name, g := range map[string]func(*store.DataPlaneTokenFilter){
		"another key":        func(f *store.DataPlaneTokenFilter) { f.AccessKeyID = AccessKeyID(9) },
		"another user":       func(f *store.DataPlaneTokenFilter) { f.UserUID = UserUID(9) },
		"another workspace":  func(f *store.DataPlaneTokenFilter) { f.WorkspaceID = WorkspaceID(9) },
		"another account":    func(f *store.DataPlaneTokenFilter) { f.AccountID = AccountID(2) },
		"no clusters":        func(f *store.DataPlaneTokenFilter) { f.ClusterIDs = nil },
		"an unknown cluster": func(f *store.DataPlaneTokenFilter) { f.ClusterIDs = []string{ClusterID(9)} },
		"expired by then":    func(f *store.DataPlaneTokenFilter) { f.ExpiresAfter = t2.ExpireTime },
	} {
		h := f
		g(&h)
		if got := list(h); len(got) != 0 {
			t.Errorf("ListDataPlaneTokens of %s: %d tokens, want none", name, len(got))
		}
	}
	// ExpiresAfter keeps the tokens that expire after it.
	later := f
	later.ExpiresAfter = t1.ExpireTime
	wantEqual(t, list(later), []rayfleet.DataPlaneToken{t2}, "ListDataPlaneTokens expiring after t1")
}

// testDataPlaneTokenExpiry: DeleteDataPlaneTokensBefore removes every
// account's expired tokens and only those.
func testDataPlaneTokenExpiry(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	var all []rayfleet.DataPlaneToken
	for n := 1; n <= 2; n++ {
		w := createWorkspace(ctx, t, s, AccountID(n), n)
		c := NewCluster(AccountID(n), w.ID, n)
		must(t, s.CreateCluster(ctx, c))
		for k := range 3 {
			tok := NewDataPlaneToken(c, NewUser(AccountID(n), 1), 10*n+k)
			tok.ExpireTime = At(100 + k)
			all = append(all, tok)
		}
	}
	must(t, s.CreateDataPlaneTokens(ctx, all))
	n, err := s.DeleteDataPlaneTokensBefore(ctx, At(101))
	must(t, err)
	if n != 2 {
		t.Fatalf("DeleteDataPlaneTokensBefore removed %d tokens, want 2 (one of each account)", n)
	}
	for _, tok := range all {
		_, err := s.GetDataPlaneToken(ctx, tok.TokenHash)
		if tok.ExpireTime.Before(At(101)) {
			wantNotFound(t, err, "an expired token after DeleteDataPlaneTokensBefore")
		} else {
			must(t, err)
		}
	}
	if n, err := s.DeleteDataPlaneTokensBefore(ctx, At(101).Add(-time.Millisecond)); err != nil || n != 0 {
		t.Fatalf("DeleteDataPlaneTokensBefore again: %d %v", n, err)
	}
}
