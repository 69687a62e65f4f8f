package service_test

import (
	"context"
	"testing"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/service"
)

func TestSessionLifetime(t *testing.T) {
	s, root, ws := newService(t)
	ctx := context.Background()
	now := time.Now()
	s.Now = func() time.Time { return now }
	u := ramUser(t, s, root, "dora")
	if err := s.AttachPolicyToUser(ctx, root, rayfleet.PolicySystem, "AliyunEMRServerlessSparkFullAccess", "dora"); err != nil {
		t.Fatal(err)
	}
	for _, d := range []time.Duration{time.Minute, 2 * time.Hour} {
		_, err := s.GetSessionToken(ctx, u, "", d)
		wantCode(t, err, rayfleet.EINVALID)
	}
	_, err := s.GetSessionToken(ctx, u, `{"Version":"1"}`, 0)
	wantCode(t, err, service.ERAMMalformedPolicy)

	sess, err := s.GetSessionToken(ctx, u, `{"Version":"1","Statement":[{"Effect":"Deny","Action":"emr-serverless-spark:DeleteWorkspace","Resource":"*"},{"Effect":"Allow","Action":"*","Resource":"*"}]}`, 20*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !sess.Expiration.Equal(now.UTC().Truncate(time.Millisecond).Add(20 * time.Minute)) {
		t.Fatalf("expiration %v, want 20 minutes from now", sess.Expiration)
	}
	p, secret, err := s.AuthenticateSession(ctx, sess.AccessKeyID, sess.SecurityToken)
	if err != nil || secret != sess.AccessKeySecret || p.UserUID != u.UserUID || p.AccessKeyID != sess.AccessKeyID {
		t.Fatalf("AuthenticateSession: %+v %v", p, err)
	}
	// The session acts as dora, narrowed by its policy.
	if _, err := s.ListClusters(ctx, p, service.ListClustersInput{WorkspaceID: ws}); err != nil {
		t.Fatalf("ListClusters in the session: %v", err)
	}
	err = s.DeleteWorkspace(ctx, p, ws)
	wantDenied(t, err, "emr-serverless-spark:DeleteWorkspace", "acs:emr-serverless-spark:"+s.RegionID+":"+root.AccountID+":workspace/"+ws, "ExplicitDeny")
	// Another key id with this token is refused; so is no token.
	_, _, err = s.AuthenticateSession(ctx, "STS.other", sess.SecurityToken)
	wantCode(t, err, rayfleet.ESECURITYTOKEN)
	_, _, err = s.AuthenticateSession(ctx, sess.AccessKeyID, "")
	wantCode(t, err, rayfleet.ESECURITYTOKEN)
	// Past its expiration it is refused.
	now = now.Add(20*time.Minute + time.Second)
	_, _, err = s.AuthenticateSession(ctx, sess.AccessKeyID, sess.SecurityToken)
	wantCode(t, err, rayfleet.ESECURITYTOKEN)
}
