package service_test

import (
	"context"
	"errors"
	"testing"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/authz"
	"github.com/rayfleet/rayfleet/internal/service"
)

// ramUser creates a RAM user with a key through the admin operations and
// returns its principal as Authenticate establishes it.
func ramUser(t *testing.T, s *service.Service, root rayfleet.Principal, name string) rayfleet.Principal {
	t.Helper()
	ctx := context.Background()
	if _, err := s.CreateUser(ctx, root, service.UserInput{Name: name, DisplayName: name + " display"}); err != nil {
		t.Fatal(err)
	}
	k, _, err := s.CreateAccessKey(ctx, root, name)
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := s.Authenticate(ctx, k.ID)
	if err != nil {
		t.Fatal(err)
	}
	p.SourceIP = "192.0.2.10"
	return p
}

func wantDenied(t *testing.T, err error, action, resource, effect string) {
	t.Helper()
	var d *service.DeniedError
	if !errors.As(err, &d) || rayfleet.ErrorCode(err) != rayfleet.EFORBIDDEN {
		t.Fatalf("want Forbidden.RAM, got %v", err)
	}
	if d.Action != action || d.Resource != resource || d.NoPermissionType != effect {
		t.Fatalf("denied %s on %s (%s), want %s on %s (%s)", d.Action, d.Resource, d.NoPermissionType, action, resource, effect)
	}
}

func TestAuthorizeRAMUser(t *testing.T) {
	s, root, ws := newService(t)
	ctx := context.Background()
	o, err := s.CreateCluster(ctx, root, ws, rayfleet.ClusterPatch{Name: ptr("a")}, "")
	if err != nil {
		t.Fatal(err)
	}
	u := ramUser(t, s, root, "alice")
	clusterARN := authz.ClusterARN(s.RegionID, root.AccountID, ws, o.ClusterID)

	// Deny by default.
	_, err = s.GetCluster(ctx, u, ws, o.ClusterID)
	wantDenied(t, err, "emr-serverless-spark:GetRayCluster", clusterARN, authz.ImplicitDeny)
	// The admin API is the root user's, or needs ram: actions.
	_, err = s.CreateUser(ctx, u, service.UserInput{Name: "mallory"})
	wantDenied(t, err, "ram:CreateUser", "acs:ram:*:"+root.AccountID+":user/mallory", authz.ImplicitDeny)

	// Read-only: reads pass, writes do not, from the next call on.
	if err := s.AttachPolicyToUser(ctx, root, rayfleet.PolicySystem, "AliyunEMRServerlessSparkReadOnlyAccess", "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetCluster(ctx, u, ws, o.ClusterID); err != nil {
		t.Fatalf("GetCluster with read-only access: %v", err)
	}
	_, err = s.CreateCluster(ctx, u, ws, rayfleet.ClusterPatch{Name: ptr("b")}, "")
	wantDenied(t, err, "emr-serverless-spark:CreateRayCluster", authz.WorkspaceARN(s.RegionID, root.AccountID, ws), authz.ImplicitDeny)

	// A custom policy: create clusters from one network only, never stop
	// cluster a.
	doc := `{"Version":"1","Statement":[
		{"Effect":"Allow","Action":"emr-serverless-spark:CreateRayCluster","Resource":"*","Condition":{"IpAddress":{"acs:SourceIp":"192.0.2.0/24"}}},
		{"Effect":"Deny","Action":["emr-serverless-spark:StopRayCluster","emr-serverless-spark:ListRayCluster"],"Resource":"` + clusterARN + `"}]}`
	if _, err := s.CreatePolicy(ctx, root, "creators", doc, "create from the office"); err != nil {
		t.Fatal(err)
	}
	if err := s.AttachPolicyToUser(ctx, root, rayfleet.PolicyCustom, "creators", "alice"); err != nil {
		t.Fatal(err)
	}
	b, err := s.CreateCluster(ctx, u, ws, rayfleet.ClusterPatch{Name: ptr("b")}, "")
	if err != nil {
		t.Fatalf("CreateCluster from an allowed address: %v", err)
	}
	away := u
	away.SourceIP = "198.51.100.7"
	_, err = s.CreateCluster(ctx, away, ws, rayfleet.ClusterPatch{Name: ptr("c")}, "")
	wantDenied(t, err, "emr-serverless-spark:CreateRayCluster", authz.WorkspaceARN(s.RegionID, root.AccountID, ws), authz.ImplicitDeny)
	_, err = s.StopCluster(ctx, u, ws, o.ClusterID, "", "")
	wantDenied(t, err, "emr-serverless-spark:StopRayCluster", clusterARN, authz.ExplicitDeny)

	// The user's cluster carries the user as creator.
	got, err := s.GetCluster(ctx, u, ws, b.ClusterID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Creator != u.UserUID || got.CreatorName != "alice display" || got.Modifier != u.UserUID {
		t.Fatalf("creator %s/%s modifier %s, want alice's uid %s and display name", got.Creator, got.CreatorName, got.Modifier, u.UserUID)
	}

	// The list hides the cluster denied to the user; the root user sees both.
	list, err := s.ListClusters(ctx, u, service.ListClustersInput{WorkspaceID: ws})
	if err != nil {
		t.Fatal(err)
	}
	if list.TotalCount != 1 || len(list.Clusters) != 1 || list.Clusters[0].ID != b.ClusterID {
		t.Fatalf("alice lists %d of %d clusters, want only %s", len(list.Clusters), list.TotalCount, b.ClusterID)
	}
	list, err = s.ListClusters(ctx, root, service.ListClustersInput{WorkspaceID: ws})
	if err != nil {
		t.Fatal(err)
	}
	if list.TotalCount != 2 {
		t.Fatalf("root lists %d clusters, want 2", list.TotalCount)
	}

	// Detaching applies at once.
	if err := s.DetachPolicyFromUser(ctx, root, rayfleet.PolicySystem, "AliyunEmrServerlessSparkReadOnlyAccess", "alice"); err != nil {
		t.Fatal(err)
	}
	_, err = s.GetCluster(ctx, u, ws, o.ClusterID)
	wantDenied(t, err, "emr-serverless-spark:GetRayCluster", clusterARN, authz.ImplicitDeny)
}

func TestDisabledKeyRefusedAtOnce(t *testing.T) {
	s, root, _ := newService(t)
	ctx := context.Background()
	u := ramUser(t, s, root, "bob")
	// Authenticate again: the key is now in the cache.
	if _, _, err := s.Authenticate(ctx, u.AccessKeyID); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateAccessKey(ctx, root, "bob", u.AccessKeyID, rayfleet.KeyInactive); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.Authenticate(ctx, u.AccessKeyID)
	wantCode(t, err, rayfleet.EAKINACTIVE)
	if err := s.UpdateAccessKey(ctx, root, "bob", u.AccessKeyID, rayfleet.KeyActive); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Authenticate(ctx, u.AccessKeyID); err != nil {
		t.Fatalf("re-enabled key: %v", err)
	}
	if err := s.DeleteAccessKey(ctx, root, "bob", u.AccessKeyID); err != nil {
		t.Fatal(err)
	}
	_, _, err = s.Authenticate(ctx, u.AccessKeyID)
	wantCode(t, err, rayfleet.EAKNOTFOUND)
}

func TestRAMAdminRules(t *testing.T) {
	s, root, _ := newService(t)
	ctx := context.Background()
	u := ramUser(t, s, root, "carol")
	// A user with ram:* administers users, but not the root user away.
	if err := s.AttachPolicyToUser(ctx, root, rayfleet.PolicySystem, "AliyunRAMFullAccess", "carol"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, u, service.UserInput{Name: "dave"}); err != nil {
		t.Fatalf("CreateUser by a RAM administrator: %v", err)
	}
	wantCode(t, s.DeleteUser(ctx, u, root.UserName), rayfleet.EDENIED)
	_, err := s.CreateUser(ctx, root, service.UserInput{Name: "dave"})
	wantCode(t, err, service.ERAMUserExists)
	_, err = s.CreateUser(ctx, root, service.UserInput{Name: "bad name"})
	wantCode(t, err, rayfleet.EINVALID)
	// Two keys at most; a user with keys or policies stays.
	if _, _, err := s.CreateAccessKey(ctx, root, "dave"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateAccessKey(ctx, root, "dave"); err != nil {
		t.Fatal(err)
	}
	_, _, err = s.CreateAccessKey(ctx, root, "dave")
	wantCode(t, err, service.ERAMKeyLimit)
	wantCode(t, s.DeleteUser(ctx, root, "dave"), service.ERAMUserHasKeys)
	wantCode(t, s.DeleteUser(ctx, root, "carol"), service.ERAMUserHasKeys)
	// Malformed documents and missing policies.
	_, err = s.CreatePolicy(ctx, root, "bad", `{"Version":"1","Statement":[{"Effect":"allow","Action":"*","Resource":"*"}]}`, "")
	wantCode(t, err, service.ERAMMalformedPolicy)
	wantCode(t, s.AttachPolicyToUser(ctx, root, rayfleet.PolicyCustom, "nope", "dave"), service.ERAMNoPolicy)
	wantCode(t, s.AttachPolicyToUser(ctx, root, rayfleet.PolicySystem, "nope", "dave"), service.ERAMNoPolicy)
	wantCode(t, s.AttachPolicyToUser(ctx, root, rayfleet.PolicySystem, "AliyunRAMFullAccess", "nobody"), service.ERAMNoUser)
	wantCode(t, s.DetachPolicyFromUser(ctx, root, rayfleet.PolicySystem, "AliyunRAMFullAccess", "dave"), service.ERAMNotAttached)
	// Versions: a new default applies to holders at once.
	if _, err := s.CreatePolicy(ctx, root, "lister", `{"Version":"1","Statement":[{"Effect":"Allow","Action":"emr-serverless-spark:ListWorkspaces","Resource":"*"}]}`, ""); err != nil {
		t.Fatal(err)
	}
	erin := ramUser(t, s, root, "erin")
	if err := s.AttachPolicyToUser(ctx, root, rayfleet.PolicyCustom, "lister", "erin"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.ListWorkspaces(ctx, erin, service.ListWorkspacesInput{}); err != nil {
		t.Fatalf("ListWorkspaces under v1: %v", err)
	}
	v, err := s.CreatePolicyVersion(ctx, root, "lister", `{"Version":"1","Statement":[{"Effect":"Allow","Action":"emr-serverless-spark:ListReleaseVersions","Resource":"*"}]}`, true, "")
	if err != nil || v.VersionID != "v2" {
		t.Fatalf("CreatePolicyVersion: %+v %v", v, err)
	}
	_, _, err = s.ListWorkspaces(ctx, erin, service.ListWorkspacesInput{})
	wantCode(t, err, rayfleet.EFORBIDDEN)
	wantCode(t, s.DeletePolicy(ctx, root, "lister"), service.ERAMPolicyAttached)
}
