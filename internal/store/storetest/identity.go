package storetest

import (
	"errors"
	"testing"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/store"
)

func testRAMUsers(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	acc, other := AccountID(1), AccountID(2)
	var want []rayfleet.User
	for i := range 3 {
		u := NewUser(acc, i)
		must(t, s.CreateUser(ctx, u))
		want = append(want, u)
	}
	foreign := NewUser(other, 7)
	must(t, s.CreateUser(ctx, foreign))

	got, err := s.ListUsers(ctx, acc)
	must(t, err)
	wantEqual(t, got, want, "ListUsers, oldest first, the account's only")
	byName, err := s.GetUserByName(ctx, acc, want[1].Name)
	must(t, err)
	wantEqual(t, byName, want[1], "GetUserByName")
	_, err = s.GetUserByName(ctx, acc, foreign.Name)
	wantNotFound(t, err, "GetUserByName of another account's user")

	// Names are unique within an account, not across accounts.
	dup := NewUser(acc, 5)
	dup.Name = want[1].Name
	wantCode(t, s.CreateUser(ctx, dup), rayfleet.EDENIED, "CreateUser with a taken name")
	same := NewUser(other, 8)
	same.Name = want[1].Name
	must(t, s.CreateUser(ctx, same))

	up, err := s.UpdateUser(ctx, acc, want[1].UID, func(u *rayfleet.User) error {
		u.Name, u.Nickname, u.Comments, u.UpdateTime = "renamed", "Renamed", "new comments", At(50)
		return nil
	})
	must(t, err)
	after, err := s.GetUser(ctx, acc, want[1].UID)
	must(t, err)
	wantEqual(t, after, up, "GetUser after UpdateUser")
	if after.Name != "renamed" || after.Comments != "new comments" || !after.UpdateTime.Equal(At(50)) || !after.CreateTime.Equal(want[1].CreateTime) {
		t.Fatalf("UpdateUser stored %+v", after)
	}
	_, err = s.UpdateUser(ctx, acc, want[1].UID, func(u *rayfleet.User) error { u.Name = want[2].Name; return nil })
	wantCode(t, err, rayfleet.EDENIED, "UpdateUser to a taken name")
	refusal := rayfleet.Errorf(rayfleet.EINVALID, "no")
	_, err = s.UpdateUser(ctx, acc, want[1].UID, func(u *rayfleet.User) error { u.Name = "ignored"; return refusal })
	if !errors.Is(err, refusal) {
		t.Fatalf("UpdateUser whose fn fails: %v, want the fn's error", err)
	}
	if u, _ := s.GetUser(ctx, acc, want[1].UID); u.Name != "renamed" {
		t.Fatalf("a failed UpdateUser wrote %q", u.Name)
	}
	_, err = s.UpdateUser(ctx, acc, foreign.UID, func(u *rayfleet.User) error { u.Name = "stolen"; return nil })
	wantNotFound(t, err, "UpdateUser of another account's user")

	// A user with keys or policies stays.
	must(t, s.CreateAccessKey(ctx, NewAccessKey(want[2], 1)))
	wantCode(t, s.DeleteUser(ctx, acc, want[2].UID), rayfleet.EDENIED, "DeleteUser of a user with a key")
	must(t, s.DeleteAccessKey(ctx, acc, want[2].UID, AccessKeyID(1)))
	must(t, s.AttachPolicy(ctx, rayfleet.PolicyAttachment{AccountID: acc, UserUID: want[2].UID, PolicyType: rayfleet.PolicySystem, PolicyName: "AliyunEMRServerlessSparkFullAccess", AttachTime: At(9)}))
	wantCode(t, s.DeleteUser(ctx, acc, want[2].UID), rayfleet.EDENIED, "DeleteUser of a user with a policy")
	must(t, s.DetachPolicy(ctx, acc, want[2].UID, rayfleet.PolicySystem, "AliyunEMRServerlessSparkFullAccess"))
	must(t, s.DeleteUser(ctx, acc, want[2].UID))
	_, err = s.GetUser(ctx, acc, want[2].UID)
	wantNotFound(t, err, "GetUser after DeleteUser")
	wantNotFound(t, s.DeleteUser(ctx, acc, want[2].UID), "DeleteUser again")
	wantNotFound(t, s.DeleteUser(ctx, acc, foreign.UID), "DeleteUser of another account's user")
	if _, err := s.GetUser(ctx, other, foreign.UID); err != nil {
		t.Fatalf("another account's user was touched: %v", err)
	}
}

func testAccessKeyLifecycle(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	u, v := NewUser(AccountID(1), 1), NewUser(AccountID(1), 2)
	foreign := NewUser(AccountID(2), 3)
	for _, x := range []rayfleet.User{u, v, foreign} {
		must(t, s.CreateUser(ctx, x))
	}
	k1, k2, kv, kf := NewAccessKey(u, 1), NewAccessKey(u, 2), NewAccessKey(v, 3), NewAccessKey(foreign, 4)
	for _, k := range []rayfleet.AccessKey{k2, k1, kv, kf} {
		must(t, s.CreateAccessKey(ctx, k))
	}
	got, err := s.ListAccessKeys(ctx, u.AccountID, u.UID)
	must(t, err)
	wantEqual(t, got, []rayfleet.AccessKey{k1, k2}, "ListAccessKeys, oldest first, the user's only")
	got, err = s.ListAccessKeys(ctx, u.AccountID, foreign.UID)
	must(t, err)
	if len(got) != 0 {
		t.Fatalf("ListAccessKeys of another account's user: %+v", got)
	}

	must(t, s.SetAccessKeyStatus(ctx, u.AccountID, u.UID, k1.ID, rayfleet.KeyInactive))
	k, err := s.GetAccessKey(ctx, k1.ID)
	must(t, err)
	if k.Status != rayfleet.KeyInactive {
		t.Fatalf("status after SetAccessKeyStatus: %s", k.Status)
	}
	must(t, s.SetAccessKeyStatus(ctx, u.AccountID, u.UID, k1.ID, rayfleet.KeyActive))
	// A key is acted on only through its own user and account.
	wantNotFound(t, s.SetAccessKeyStatus(ctx, u.AccountID, v.UID, k1.ID, rayfleet.KeyInactive), "SetAccessKeyStatus through another user")
	wantNotFound(t, s.SetAccessKeyStatus(ctx, u.AccountID, foreign.UID, kf.ID, rayfleet.KeyInactive), "SetAccessKeyStatus of another account's key")
	wantNotFound(t, s.DeleteAccessKey(ctx, u.AccountID, u.UID, kv.ID), "DeleteAccessKey through another user")
	wantNotFound(t, s.DeleteAccessKey(ctx, u.AccountID, foreign.UID, kf.ID), "DeleteAccessKey of another account's key")
	for _, id := range []string{kv.ID, kf.ID} {
		k, err := s.GetAccessKey(ctx, id)
		must(t, err)
		if k.Status != rayfleet.KeyActive {
			t.Fatalf("key %s was changed through another user or account", id)
		}
	}
	must(t, s.DeleteAccessKey(ctx, u.AccountID, u.UID, k1.ID))
	_, err = s.GetAccessKey(ctx, k1.ID)
	wantNotFound(t, err, "GetAccessKey after DeleteAccessKey")
	wantNotFound(t, s.DeleteAccessKey(ctx, u.AccountID, u.UID, k1.ID), "DeleteAccessKey again")
}

func testPolicies(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	acc, other := AccountID(1), AccountID(2)
	p2, p1 := NewPolicy(acc, 2), NewPolicy(acc, 1)
	must(t, s.CreatePolicy(ctx, p2, PolicyDocument(2)))
	must(t, s.CreatePolicy(ctx, p1, PolicyDocument(1)))
	must(t, s.CreatePolicy(ctx, NewPolicy(other, 3), PolicyDocument(3)))
	wantCode(t, s.CreatePolicy(ctx, p1, PolicyDocument(1)), rayfleet.EDENIED, "CreatePolicy of an existing name")
	// The same name in another account is another policy.
	must(t, s.CreatePolicy(ctx, NewPolicy(other, 1), PolicyDocument(4)))

	got, err := s.GetPolicy(ctx, acc, p1.Name)
	must(t, err)
	wantEqual(t, got, p1, "GetPolicy")
	all, err := s.ListPolicies(ctx, acc)
	must(t, err)
	wantEqual(t, all, []rayfleet.Policy{p1, p2}, "ListPolicies, by name, the account's only")
	_, err = s.GetPolicy(ctx, acc, NewPolicy(other, 3).Name)
	wantNotFound(t, err, "GetPolicy of another account's policy")
	vs, err := s.ListPolicyVersions(ctx, acc, p1.Name)
	must(t, err)
	wantEqual(t, vs, []rayfleet.PolicyVersion{{AccountID: acc, PolicyName: p1.Name, VersionID: "v1", Document: PolicyDocument(1), CreateTime: p1.CreateTime}}, "ListPolicyVersions")
	_, err = s.ListPolicyVersions(ctx, acc, NewPolicy(other, 3).Name)
	wantNotFound(t, err, "ListPolicyVersions of another account's policy")

	u := NewUser(acc, 1)
	must(t, s.CreateUser(ctx, u))
	must(t, s.AttachPolicy(ctx, rayfleet.PolicyAttachment{AccountID: acc, UserUID: u.UID, PolicyType: rayfleet.PolicyCustom, PolicyName: p1.Name, AttachTime: At(5)}))
	got, err = s.GetPolicy(ctx, acc, p1.Name)
	must(t, err)
	if got.AttachmentCount != 1 {
		t.Fatalf("AttachmentCount = %d after one attach", got.AttachmentCount)
	}
	wantCode(t, s.DeletePolicy(ctx, acc, p1.Name), rayfleet.EDENIED, "DeletePolicy of an attached policy")
	must(t, s.DetachPolicy(ctx, acc, u.UID, rayfleet.PolicyCustom, p1.Name))
	must(t, s.DeletePolicy(ctx, acc, p1.Name))
	_, err = s.GetPolicy(ctx, acc, p1.Name)
	wantNotFound(t, err, "GetPolicy after DeletePolicy")
	_, err = s.ListPolicyVersions(ctx, acc, p1.Name)
	wantNotFound(t, err, "ListPolicyVersions after DeletePolicy")
	wantNotFound(t, s.DeletePolicy(ctx, acc, NewPolicy(other, 3).Name), "DeletePolicy of another account's policy")
	if _, err := s.GetPolicy(ctx, other, p1.Name); err != nil {
		t.Fatalf("the other account's policy of the same name went too: %v", err)
	}
	// A name can be used again, starting from v1.
	must(t, s.CreatePolicy(ctx, p1, PolicyDocument(5)))
	vs, err = s.ListPolicyVersions(ctx, acc, p1.Name)
	must(t, err)
	if len(vs) != 1 || vs[0].VersionID != "v1" || vs[0].Document != PolicyDocument(5) {
		t.Fatalf("versions of a re-created policy: %+v", vs)
	}
}

func testPolicyVersions(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	acc := AccountID(1)
	p := NewPolicy(acc, 1)
	must(t, s.CreatePolicy(ctx, p, PolicyDocument(1)))
	v, err := s.CreatePolicyVersion(ctx, acc, p.Name, PolicyDocument(2), false, false, At(10))
	must(t, err)
	wantEqual(t, v, rayfleet.PolicyVersion{AccountID: acc, PolicyName: p.Name, VersionID: "v2", Document: PolicyDocument(2), CreateTime: At(10)}, "CreatePolicyVersion")
	got, err := s.GetPolicy(ctx, acc, p.Name)
	must(t, err)
	if got.DefaultVersion != "v1" {
		t.Fatalf("default version %s after a version not set as default", got.DefaultVersion)
	}
	for i := 3; i <= rayfleet.MaxPolicyVersions; i++ {
		_, err := s.CreatePolicyVersion(ctx, acc, p.Name, PolicyDocument(i), true, false, At(10+i))
		must(t, err)
	}
	got, err = s.GetPolicy(ctx, acc, p.Name)
	must(t, err)
	if want := "v5"; got.DefaultVersion != want || !got.UpdateTime.Equal(At(15)) {
		t.Fatalf("after versions set as default: default %s, updated %v; want %s at %v", got.DefaultVersion, got.UpdateTime, want, At(15))
	}
	_, err = s.CreatePolicyVersion(ctx, acc, p.Name, PolicyDocument(6), true, false, At(20))
	wantCode(t, err, rayfleet.EDENIED, "a version past the limit without rotation")
	// Rotation drops the oldest version that is not the default.
	v, err = s.CreatePolicyVersion(ctx, acc, p.Name, PolicyDocument(6), false, true, At(21))
	must(t, err)
	if v.VersionID != "v6" {
		t.Fatalf("rotated version is %s, want v6", v.VersionID)
	}
	vs, err := s.ListPolicyVersions(ctx, acc, p.Name)
	must(t, err)
	var ids []string
	for _, v := range vs {
		ids = append(ids, v.VersionID)
	}
	wantEqual(t, ids, []string{"v2", "v3", "v4", "v5", "v6"}, "versions after rotation")

	// The default version's document is what attachments carry.
	u := NewUser(acc, 1)
	must(t, s.CreateUser(ctx, u))
	must(t, s.AttachPolicy(ctx, rayfleet.PolicyAttachment{AccountID: acc, UserUID: u.UID, PolicyType: rayfleet.PolicyCustom, PolicyName: p.Name, AttachTime: At(30)}))
	as, err := s.ListAttachments(ctx, store.AttachmentFilter{AccountID: acc, UserUID: u.UID})
	must(t, err)
	if len(as) != 1 || as[0].DefaultVersion != "v5" || as[0].Document != PolicyDocument(5) {
		t.Fatalf("attachment carries %+v, want v5's document", as)
	}
	_, err = s.CreatePolicyVersion(ctx, acc, "missing", PolicyDocument(1), true, false, At(40))
	wantNotFound(t, err, "CreatePolicyVersion of a missing policy")
	_, err = s.CreatePolicyVersion(ctx, AccountID(2), p.Name, PolicyDocument(1), true, false, At(40))
	wantNotFound(t, err, "CreatePolicyVersion of another account's policy")
}

func testAttachments(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	acc, other := AccountID(1), AccountID(2)
	u, v, foreign := NewUser(acc, 1), NewUser(acc, 2), NewUser(other, 3)
	for _, x := range []rayfleet.User{u, v, foreign} {
		must(t, s.CreateUser(ctx, x))
	}
	p := NewPolicy(acc, 1)
	must(t, s.CreatePolicy(ctx, p, PolicyDocument(1)))
	fp := NewPolicy(other, 2)
	must(t, s.CreatePolicy(ctx, fp, PolicyDocument(2)))

	sys := rayfleet.PolicyAttachment{AccountID: acc, UserUID: u.UID, PolicyType: rayfleet.PolicySystem, PolicyName: "AliyunEMRServerlessSparkReadOnlyAccess", AttachTime: At(1)}
	custom := rayfleet.PolicyAttachment{AccountID: acc, UserUID: u.UID, PolicyType: rayfleet.PolicyCustom, PolicyName: p.Name, AttachTime: At(2)}
	onV := rayfleet.PolicyAttachment{AccountID: acc, UserUID: v.UID, PolicyType: rayfleet.PolicyCustom, PolicyName: p.Name, AttachTime: At(3)}
	for _, a := range []rayfleet.PolicyAttachment{sys, custom, onV} {
		must(t, s.AttachPolicy(ctx, a))
	}
	wantCode(t, s.AttachPolicy(ctx, custom), rayfleet.EDENIED, "AttachPolicy twice")
	wantNotFound(t, s.AttachPolicy(ctx, rayfleet.PolicyAttachment{AccountID: acc, UserUID: foreign.UID, PolicyType: rayfleet.PolicyCustom, PolicyName: p.Name, AttachTime: At(4)}),
		"AttachPolicy to another account's user")
	wantNotFound(t, s.AttachPolicy(ctx, rayfleet.PolicyAttachment{AccountID: acc, UserUID: u.UID, PolicyType: rayfleet.PolicyCustom, PolicyName: fp.Name, AttachTime: At(4)}),
		"AttachPolicy of another account's policy")
	wantCode(t, s.AttachPolicy(ctx, rayfleet.PolicyAttachment{AccountID: acc, UserUID: u.UID, PolicyType: "Other", PolicyName: p.Name, AttachTime: At(4)}),
		rayfleet.EINVALID, "AttachPolicy of an unknown type")

	withDoc := custom
	withDoc.Description, withDoc.DefaultVersion, withDoc.Document = p.Description, "v1", PolicyDocument(1)
	withDocV := onV
	withDocV.Description, withDocV.DefaultVersion, withDocV.Document = p.Description, "v1", PolicyDocument(1)
	for _, tc := range []struct {
		f    store.AttachmentFilter
		want []rayfleet.PolicyAttachment
	}{
		{store.AttachmentFilter{AccountID: acc, UserUID: u.UID}, []rayfleet.PolicyAttachment{sys, withDoc}},
		{store.AttachmentFilter{AccountID: acc, PolicyType: rayfleet.PolicyCustom, PolicyName: p.Name}, []rayfleet.PolicyAttachment{withDoc, withDocV}},
		{store.AttachmentFilter{AccountID: acc, PolicyType: rayfleet.PolicySystem}, []rayfleet.PolicyAttachment{sys}},
		{store.AttachmentFilter{AccountID: other}, nil},
		{store.AttachmentFilter{AccountID: other, UserUID: u.UID}, nil},
	} {
		got, err := s.ListAttachments(ctx, tc.f)
		must(t, err)
		wantEqual(t, got, tc.want, "ListAttachments")
	}
	wantNotFound(t, s.DetachPolicy(ctx, other, u.UID, rayfleet.PolicyCustom, p.Name), "DetachPolicy through another account")
	must(t, s.DetachPolicy(ctx, acc, u.UID, rayfleet.PolicyCustom, p.Name))
	wantNotFound(t, s.DetachPolicy(ctx, acc, u.UID, rayfleet.PolicyCustom, p.Name), "DetachPolicy again")
	got, err := s.ListAttachments(ctx, store.AttachmentFilter{AccountID: acc, UserUID: u.UID})
	must(t, err)
	wantEqual(t, got, []rayfleet.PolicyAttachment{sys}, "ListAttachments after DetachPolicy")
}
