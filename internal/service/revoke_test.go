package service_test

import (
	"context"
	"testing"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/service"
)

// revocations is a fake service.Revoker that records, for each call, the
// cluster and the token hash the store held for it at that moment.
type revocations struct {
	s     *service.Service
	acct  string
	calls []string // "<ws>/<id> <token hash>"
}

func (r *revocations) Revoke(ws, id string) {
	c, err := r.s.Store.GetClusterAny(context.Background(), r.acct, ws, id)
	if err != nil {
		r.calls = append(r.calls, ws+"/"+id+" error: "+err.Error())
		return
	}
	r.calls = append(r.calls, ws+"/"+id+" "+c.TokenHash)
}

func (r *revocations) RevokeUser(acct, uid string) { r.calls = append(r.calls, "user "+acct+"/"+uid) }

func (r *revocations) RevokeKey(acct, key string) { r.calls = append(r.calls, "key "+acct+"/"+key) }

// TestRevokerIsToldAfterTheStoreWrite: StopRayCluster, DeleteRayCluster and
// StartRayCluster each tell the Revoker once, after the store holds the
// cluster's new token (none after a stop or delete); calls that change
// nothing tell it nothing.
func TestRevokerIsToldAfterTheStoreWrite(t *testing.T) {
	s, p, ws := newService(t)
	ctx := context.Background()
	r := &revocations{s: s, acct: p.AccountID}
	s.Revoker = r
	o, err := s.CreateCluster(ctx, p, ws, rayfleet.ClusterPatch{Name: ptr("c")}, "")
	if err != nil {
		t.Fatal(err)
	}
	id := o.ClusterID
	if len(r.calls) != 0 {
		t.Fatalf("CreateRayCluster revoked %v", r.calls)
	}
	if _, err := s.StopCluster(ctx, p, ws, id, "", ""); err != nil {
		t.Fatal(err)
	}
	if want := ws + "/" + id + " "; len(r.calls) != 1 || r.calls[0] != want {
		t.Fatalf("after StopRayCluster: %q, want [%q]", r.calls, want)
	}
	// Stopping again is refused and revokes nothing more.
	if _, err := s.StopCluster(ctx, p, ws, id, "", ""); err == nil {
		t.Fatal("a second stop of a Stopping cluster succeeded")
	}
	if len(r.calls) != 1 {
		t.Fatalf("a refused stop revoked: %q", r.calls)
	}
	if _, err := s.Store.UpdateCluster(ctx, p.AccountID, ws, id, func(c *rayfleet.Cluster) error {
		c.State = rayfleet.StateStopped // what the reconciler records once the nodes are gone
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.StartCluster(ctx, p, ws, id, ""); err != nil {
		t.Fatal(err)
	}
	started, err := s.Store.GetClusterAny(ctx, p.AccountID, ws, id)
	if err != nil || started.TokenHash == "" {
		t.Fatalf("the started cluster: %+v %v", started, err)
	}
	if want := ws + "/" + id + " " + started.TokenHash; len(r.calls) != 2 || r.calls[1] != want {
		t.Fatalf("after StartRayCluster: %q, want %q last", r.calls, want)
	}
	// Starting a Starting cluster changes nothing.
	if _, err := s.StartCluster(ctx, p, ws, id, ""); err != nil {
		t.Fatal(err)
	}
	if len(r.calls) != 2 {
		t.Fatalf("a start that changed nothing revoked: %q", r.calls)
	}
	if _, err := s.DeleteCluster(ctx, p, ws, id, ""); err != nil {
		t.Fatal(err)
	}
	if want := ws + "/" + id + " "; len(r.calls) != 3 || r.calls[2] != want {
		t.Fatalf("after DeleteRayCluster: %q, want %q last", r.calls, want)
	}
}
