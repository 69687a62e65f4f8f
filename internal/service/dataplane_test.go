package service_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/authz"
	"github.com/rayfleet/rayfleet/internal/service"
	"github.com/rayfleet/rayfleet/internal/store"
)

func tokenHash(t string) string {
	h := sha256.Sum256([]byte(t))
	return hex.EncodeToString(h[:])
}

// dashboardToken is the token= of a dashboardUrl, "" without one.
func dashboardToken(t *testing.T, u string) string {
	t.Helper()
	if u == "" {
		return ""
	}
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p.Query().Get("token")
}

// newDataPlaneService is newService with the gateway's addresses, which
// dashboardUrl is made of.
func newDataPlaneService(t *testing.T) (*service.Service, rayfleet.Principal, string) {
	s, p, ws := newService(t)
	s.Endpoints = service.Endpoints{URL: "https://ray.example.com", GRPCAddress: "ray.example.com:10101"}
	return s, p, ws
}

// newDataPlaneCluster is newDataPlaneService with a cluster, Starting (no
// runtime moves it): a live instance, which credentials are for.
func newDataPlaneCluster(t *testing.T) (*service.Service, rayfleet.Principal, string, string) {
	s, p, ws := newDataPlaneService(t)
	o, err := s.CreateCluster(context.Background(), p, ws, rayfleet.ClusterPatch{Name: ptr("c")}, "")
	if err != nil {
		t.Fatal(err)
	}
	return s, p, ws, o.ClusterID
}

// clock is a settable Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var allDoors = []string{service.AccessRayDashboard, service.UseRayJobAPI, service.ConnectRayClient}

// opens reports for each door whether the token opens it, failing on
// anything but a refusal.
func opens(t *testing.T, s *service.Service, token string) []bool {
	t.Helper()
	out := make([]bool, len(allDoors))
	for i, op := range allDoors {
		_, err := s.AuthorizeDataPlane(context.Background(), tokenHash(token), op, service.DataPlaneRequest{SourceIP: "192.0.2.1"})
		var d *service.DeniedError
		switch {
		case err == nil:
			out[i] = true
		case errors.Is(err, service.ErrDataPlaneToken) || errors.As(err, &d):
		default:
			t.Fatalf("AuthorizeDataPlane %s: %v", op, err)
		}
	}
	return out
}

func wantOpens(t *testing.T, s *service.Service, token, what string, want ...bool) {
	t.Helper()
	if got := opens(t, s, token); !slices.Equal(got, want) {
		t.Fatalf("%s opens dashboard/job API/Ray client %v, want %v", what, got, want)
	}
}

// TestDataPlaneCredentials: the root user's Get and List hand out one
// credential per instance, the same each time, stored only as its hash and
// sealed; it is not the instance's own token; it opens every door of its
// cluster until the instance stops; the next instance has another.
func TestDataPlaneCredentials(t *testing.T) {
	s, root, ws, id := newDataPlaneCluster(t)
	ctx := context.Background()
	c, err := s.GetCluster(ctx, root, ws, id)
	if err != nil {
		t.Fatal(err)
	}
	tok := c.Token
	if len(tok) != 32 || dashboardToken(t, c.DashboardURL) != tok {
		t.Fatalf("Get: submitToken %q, dashboardUrl %q", tok, c.DashboardURL)
	}
	if tokenHash(tok) == c.TokenHash {
		t.Fatal("the caller's credential is the instance's own token")
	}
	again, err := s.GetCluster(ctx, root, ws, id)
	if err != nil || again.Token != tok {
		t.Fatalf("a second Get: %q %v, want the same token", again.Token, err)
	}
	list, err := s.ListClusters(ctx, root, service.ListClustersInput{WorkspaceID: ws})
	if err != nil || len(list.Clusters) != 1 || list.Clusters[0].DashboardURL != c.DashboardURL {
		t.Fatalf("List: %+v %v", list, err)
	}
	stored, err := s.Store.GetDataPlaneToken(ctx, tokenHash(tok))
	if err != nil {
		t.Fatal(err)
	}
	if stored.AccountID != root.AccountID || stored.UserUID != root.UserUID || stored.AccessKeyID != root.AccessKeyID ||
		stored.ClusterID != id || stored.InstanceID != c.InstanceID || stored.ExpireTime.Sub(stored.CreateTime) != service.DefaultDataPlaneTokenTTL {
		t.Fatalf("stored %+v", stored)
	}
	if strings.Contains(string(stored.TokenSealed), tok) {
		t.Fatal("the sealed token holds the token in clear")
	}
	wantOpens(t, s, tok, "the root user's token", true, true, true)
	wantOpens(t, s, strings.Repeat("0", 32), "an unknown token", false, false, false)

	if _, err := s.StopCluster(ctx, root, ws, id, "", ""); err != nil {
		t.Fatal(err)
	}
	wantOpens(t, s, tok, "the stopped instance's token", false, false, false)
	stopped, err := s.GetCluster(ctx, root, ws, id)
	if err != nil || stopped.Token != "" || stopped.DashboardURL != "" {
		t.Fatalf("a stopped cluster shows %q %q (%v)", stopped.Token, stopped.DashboardURL, err)
	}
	if _, err := s.Store.UpdateCluster(ctx, root.AccountID, ws, id, func(c *rayfleet.Cluster) error {
		c.State = rayfleet.StateStopped
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.StartCluster(ctx, root, ws, id, ""); err != nil {
		t.Fatal(err)
	}
	second, err := s.GetCluster(ctx, root, ws, id)
	if err != nil || second.Token == "" || second.Token == tok {
		t.Fatalf("the next instance's token %q (the first's %q): %v", second.Token, tok, err)
	}
	wantOpens(t, s, tok, "the first instance's token on the second", false, false, false)
	wantOpens(t, s, second.Token, "the second instance's token", true, true, true)
}

// TestDataPlaneByPolicy: the full-access policy allows every door, the
// read-only one none (the fields stay empty), a custom policy just what it
// names; each user gets a credential of its own; detaching, a Deny, a
// disabled or deleted key and the policy's source address all refuse it.
func TestDataPlaneByPolicy(t *testing.T) {
	s, root, ws, id := newDataPlaneCluster(t)
	ctx := context.Background()
	arn := authz.ClusterARN(s.RegionID, root.AccountID, ws, id)
	reader, full, viewer := ramUser(t, s, root, "reader"), ramUser(t, s, root, "full"), ramUser(t, s, root, "viewer")
	for user, pol := range map[string]string{"reader": "AliyunEmrServerlessSparkReadOnlyAccess", "full": "AliyunEMRServerlessSparkFullAccess"} {
		if err := s.AttachPolicyToUser(ctx, root, rayfleet.PolicySystem, pol, user); err != nil {
			t.Fatal(err)
		}
	}
	// viewer may read the cluster and open its dashboard, from one network.
	doc := `{"Version":"1","Statement":[{"Effect":"Allow","Action":["emr-serverless-spark:GetRayCluster","emr-serverless-spark:ListRayCluster"],"Resource":"*"},
		{"Effect":"Allow","Action":"emr-serverless-spark:AccessRayDashboard","Resource":"` + arn + `","Condition":{"IpAddress":{"acs:SourceIp":"192.0.2.0/24"}}}]}`
	if _, err := s.CreatePolicy(ctx, root, "viewer", doc, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.AttachPolicyToUser(ctx, root, rayfleet.PolicyCustom, "viewer", "viewer"); err != nil {
		t.Fatal(err)
	}

	r, err := s.GetCluster(ctx, reader, ws, id)
	if err != nil || r.Token != "" || r.DashboardURL != "" || r.JobURL == "" {
		t.Fatalf("the read-only user's Get: token %q dashboardUrl %q jobUrl %q (%v)", r.Token, r.DashboardURL, r.JobURL, err)
	}
	list, err := s.ListClusters(ctx, reader, service.ListClustersInput{WorkspaceID: ws})
	if err != nil || len(list.Clusters) != 1 || list.Clusters[0].DashboardURL != "" {
		t.Fatalf("the read-only user's List: %+v %v", list, err)
	}
	f, err := s.GetCluster(ctx, full, ws, id)
	if err != nil || f.Token == "" || dashboardToken(t, f.DashboardURL) != f.Token {
		t.Fatalf("the full-access user's Get: %q %q %v", f.Token, f.DashboardURL, err)
	}
	v, err := s.GetCluster(ctx, viewer, ws, id)
	if err != nil || v.Token != "" || dashboardToken(t, v.DashboardURL) == "" {
		t.Fatalf("the dashboard-only user's Get: submitToken %q dashboardUrl %q (%v)", v.Token, v.DashboardURL, err)
	}
	vt := dashboardToken(t, v.DashboardURL)
	rootInfo, err := s.GetCluster(ctx, root, ws, id)
	if err != nil {
		t.Fatal(err)
	}
	if f.Token == vt || f.Token == rootInfo.Token {
		t.Fatal("two users got the same credential")
	}
	wantOpens(t, s, f.Token, "the full-access user's token", true, true, true)
	wantOpens(t, s, vt, "the viewer's token", true, false, false)
	_, err = s.AuthorizeDataPlane(ctx, tokenHash(vt), service.AccessRayDashboard, service.DataPlaneRequest{SourceIP: "198.51.100.7"})
	wantDenied(t, err, "emr-serverless-spark:AccessRayDashboard", arn, authz.ImplicitDeny)
	a, err := s.AuthorizeDataPlane(ctx, tokenHash(f.Token), service.ConnectRayClient, service.DataPlaneRequest{})
	if err != nil || a.UserUID != full.UserUID || a.UserName != "full" || a.AccessKeyID != full.AccessKeyID || a.ClusterID != id || a.WorkspaceID != ws {
		t.Fatalf("the access found: %+v %v", a, err)
	}

	// A Deny attached, then detached; the full-access policy detached, then
	// attached again.
	deny := `{"Version":"1","Statement":[{"Effect":"Deny","Action":"emr-serverless-spark:ConnectRayClient","Resource":"*"}]}`
	if _, err := s.CreatePolicy(ctx, root, "noclient", deny, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.AttachPolicyToUser(ctx, root, rayfleet.PolicyCustom, "noclient", "full"); err != nil {
		t.Fatal(err)
	}
	wantOpens(t, s, f.Token, "with a Deny of the Ray client", true, true, false)
	if err := s.DetachPolicyFromUser(ctx, root, rayfleet.PolicyCustom, "noclient", "full"); err != nil {
		t.Fatal(err)
	}
	if err := s.DetachPolicyFromUser(ctx, root, rayfleet.PolicySystem, "AliyunEMRServerlessSparkFullAccess", "full"); err != nil {
		t.Fatal(err)
	}
	wantOpens(t, s, f.Token, "after the policy was detached", false, false, false)
	if err := s.AttachPolicyToUser(ctx, root, rayfleet.PolicySystem, "AliyunEMRServerlessSparkFullAccess", "full"); err != nil {
		t.Fatal(err)
	}
	wantOpens(t, s, f.Token, "after it was attached again", true, true, true)

	// The key: disabled, enabled, deleted.
	if err := s.UpdateAccessKey(ctx, root, "full", full.AccessKeyID, rayfleet.KeyInactive); err != nil {
		t.Fatal(err)
	}
	wantOpens(t, s, f.Token, "with its key disabled", false, false, false)
	if err := s.UpdateAccessKey(ctx, root, "full", full.AccessKeyID, rayfleet.KeyActive); err != nil {
		t.Fatal(err)
	}
	wantOpens(t, s, f.Token, "with its key enabled again", true, true, true)
	if err := s.DeleteAccessKey(ctx, root, "full", full.AccessKeyID); err != nil {
		t.Fatal(err)
	}
	wantOpens(t, s, f.Token, "with its key deleted", false, false, false)
}

// TestDataPlaneExpiry: a credential is handed out again while half its
// lifetime is left, then a new one is, and each is refused once it
// expires.
func TestDataPlaneExpiry(t *testing.T) {
	s, root, ws := newDataPlaneService(t)
	clk := &clock{t: time.Now()}
	s.Now = clk.now
	s.DataPlaneTokenTTL = time.Hour
	ctx := context.Background()
	o, err := s.CreateCluster(ctx, root, ws, rayfleet.ClusterPatch{Name: ptr("c")}, "")
	if err != nil {
		t.Fatal(err)
	}
	get := func() string {
		t.Helper()
		c, err := s.GetCluster(ctx, root, ws, o.ClusterID)
		if err != nil {
			t.Fatal(err)
		}
		return c.Token
	}
	first := get()
	clk.add(29 * time.Minute)
	if got := get(); got != first {
		t.Fatal("a new token with more than half the lifetime of the first left")
	}
	clk.add(2 * time.Minute)
	second := get()
	if second == first {
		t.Fatal("the same token with less than half its lifetime left")
	}
	wantOpens(t, s, first, "the first token, 31 minutes old", true, true, true)
	clk.add(29 * time.Minute)
	wantOpens(t, s, first, "the first token, an hour old", false, false, false)
	wantOpens(t, s, second, "the second token, 29 minutes old", true, true, true)
	if got := get(); got != second {
		t.Fatal("the second token was not handed out again")
	}
}

// TestDataPlaneListMintsOnce: the first List makes one credential per
// running cluster on the page, in one write; the next ones make none and
// read none (this process remembers them); another process on the store
// reads them, in one query, and makes none.
func TestDataPlaneListMintsOnce(t *testing.T) {
	s, root, ws := newDataPlaneService(t)
	ctx := context.Background()
	var ids []string
	for _, name := range []string{"a", "b", "c"} {
		o, err := s.CreateCluster(ctx, root, ws, rayfleet.ClusterPatch{Name: ptr(name)}, "")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, o.ClusterID)
	}
	if _, err := s.StopCluster(ctx, root, ws, ids[2], "", ""); err != nil {
		t.Fatal(err)
	}
	counting := &countingTokens{Store: s.Store}
	s.Store = counting
	for range 3 {
		list, err := s.ListClusters(ctx, root, service.ListClustersInput{WorkspaceID: ws})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range list.Clusters {
			if (c.ID == ids[2]) != (c.DashboardURL == "") {
				t.Fatalf("cluster %s (%s) lists dashboardUrl %q", c.ID, c.State, c.DashboardURL)
			}
		}
	}
	if counting.writes != 1 || counting.made != 2 || counting.reads != 1 {
		t.Fatalf("three lists read %d times and wrote %d times, %d tokens; want one read and one write of 2", counting.reads, counting.writes, counting.made)
	}
	other := &service.Service{Store: counting, Sealer: s.Sealer, Now: s.Now, Random: s.Random, Endpoints: s.Endpoints, Releases: s.Releases}
	first, err := s.ListClusters(ctx, root, service.ListClustersInput{WorkspaceID: ws})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		list, err := other.ListClusters(ctx, root, service.ListClustersInput{WorkspaceID: ws})
		if err != nil {
			t.Fatal(err)
		}
		for i := range list.Clusters {
			if list.Clusters[i].DashboardURL != first.Clusters[i].DashboardURL {
				t.Fatalf("another process lists %q for %s, this one %q", list.Clusters[i].DashboardURL, list.Clusters[i].ID, first.Clusters[i].DashboardURL)
			}
		}
	}
	if counting.writes != 1 || counting.reads != 2 {
		t.Fatalf("another process's lists read %d times and wrote %d times; want one read and no write", counting.reads-1, counting.writes-1)
	}
}

type countingTokens struct {
	store.Store
	reads, writes, made int
}

func (c *countingTokens) ListDataPlaneTokens(ctx context.Context, f store.DataPlaneTokenFilter) ([]rayfleet.DataPlaneToken, error) {
	c.reads++
	return c.Store.ListDataPlaneTokens(ctx, f)
}

func (c *countingTokens) CreateDataPlaneTokens(ctx context.Context, ts []rayfleet.DataPlaneToken) error {
	if len(ts) > 0 {
		c.writes++
		c.made += len(ts)
	}
	return c.Store.CreateDataPlaneTokens(ctx, ts)
}

// TestDataPlaneSessionCredentials: temporary credentials get a credential
// of their own key id, which ends with the session, is narrowed by the
// session's policy, and ends when the key that asked for the session is
// disabled.
func TestDataPlaneSessionCredentials(t *testing.T) {
	s, root, ws, id := newDataPlaneCluster(t)
	ctx := context.Background()
	u := ramUser(t, s, root, "temp")
	if err := s.AttachPolicyToUser(ctx, root, rayfleet.PolicySystem, "AliyunEMRServerlessSparkFullAccess", "temp"); err != nil {
		t.Fatal(err)
	}
	policy := `{"Version":"1","Statement":[{"Effect":"Allow","Action":["emr-serverless-spark:GetRayCluster","emr-serverless-spark:ConnectRayClient"],"Resource":"*"}]}`
	sess, err := s.GetSessionToken(ctx, u, policy, 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := s.AuthenticateSession(ctx, sess.AccessKeyID, sess.SecurityToken)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.GetCluster(ctx, p, ws, id)
	if err != nil || c.Token == "" || c.DashboardURL != "" {
		t.Fatalf("the session's Get: %q %q %v", c.Token, c.DashboardURL, err)
	}
	stored, err := s.Store.GetDataPlaneToken(ctx, tokenHash(c.Token))
	if err != nil {
		t.Fatal(err)
	}
	if stored.AccessKeyID != sess.AccessKeyID || stored.ParentKeyID != u.AccessKeyID || !stored.ExpireTime.Equal(sess.Expiration.Truncate(time.Millisecond)) {
		t.Fatalf("the session's credential: key %s parent %s expires %s (the session %s)", stored.AccessKeyID, stored.ParentKeyID, stored.ExpireTime, sess.Expiration)
	}
	wantOpens(t, s, c.Token, "the session's token", false, false, true)
	if err := s.UpdateAccessKey(ctx, root, "temp", u.AccessKeyID, rayfleet.KeyInactive); err != nil {
		t.Fatal(err)
	}
	wantOpens(t, s, c.Token, "the session's token, its key disabled", false, false, false)
}

// TestRevokerIsToldOfUsersAndKeys: what may narrow a user's data-plane
// access tells the Revoker once it is stored.
func TestRevokerIsToldOfUsersAndKeys(t *testing.T) {
	s, root, _ := newDataPlaneService(t)
	ctx := context.Background()
	r := &revocations{s: s, acct: root.AccountID}
	s.Revoker = r
	u := ramUser(t, s, root, "una")
	if _, err := s.CreatePolicy(ctx, root, "p", `{"Version":"1","Statement":[{"Effect":"Allow","Action":"emr-serverless-spark:*","Resource":"*"}]}`, ""); err != nil {
		t.Fatal(err)
	}
	user, key := "user "+root.AccountID+"/"+u.UserUID, "key "+root.AccountID+"/"+u.AccessKeyID
	for _, step := range []struct {
		name string
		do   func() error
		want []string
	}{
		{"attach", func() error { return s.AttachPolicyToUser(ctx, root, rayfleet.PolicyCustom, "p", "una") }, []string{user}},
		{"a version not made the default", func() error {
			_, err := s.CreatePolicyVersion(ctx, root, "p", `{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`, false, "")
			return err
		}, nil},
		{"a new default version", func() error {
			_, err := s.CreatePolicyVersion(ctx, root, "p", `{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`, true, "")
			return err
		}, []string{user}},
		{"detach", func() error { return s.DetachPolicyFromUser(ctx, root, rayfleet.PolicyCustom, "p", "una") }, []string{user}},
		{"enable an active key", func() error { return s.UpdateAccessKey(ctx, root, "una", u.AccessKeyID, rayfleet.KeyActive) }, nil},
		{"disable the key", func() error { return s.UpdateAccessKey(ctx, root, "una", u.AccessKeyID, rayfleet.KeyInactive) }, []string{key}},
		{"delete the key", func() error { return s.DeleteAccessKey(ctx, root, "una", u.AccessKeyID) }, []string{key}},
		{"delete the user", func() error { return s.DeleteUser(ctx, root, "una") }, []string{user}},
	} {
		r.calls = nil
		if err := step.do(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if !slices.Equal(r.calls, step.want) {
			t.Fatalf("%s told the Revoker %q, want %q", step.name, r.calls, step.want)
		}
	}
}

// TestAuditDataPlane: a data-plane event lands in the account's audit log
// with the user, the cluster and the source address.
func TestAuditDataPlane(t *testing.T) {
	s, root, ws, id := newDataPlaneCluster(t)
	ctx := context.Background()
	c, err := s.GetCluster(ctx, root, ws, id)
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.AuthorizeDataPlane(ctx, tokenHash(c.Token), service.UseRayJobAPI, service.DataPlaneRequest{})
	if err != nil {
		t.Fatal(err)
	}
	s.AuditDataPlane(ctx, a, service.UseRayJobAPI, "203.0.113.9", "POST /api/jobs/", nil)
	evs, _, err := s.ListAuditEvents(ctx, root, service.AuditQuery{Action: "emr-serverless-spark:UseRayJobAPI"})
	if err != nil || len(evs) != 1 {
		t.Fatalf("audit events: %+v %v", evs, err)
	}
	e := evs[0]
	if e.UserUID != root.UserUID || e.UserName != root.UserName || e.AccessKeyID != root.AccessKeyID || e.SourceIP != "203.0.113.9" ||
		e.Resource != authz.ClusterARN(s.RegionID, root.AccountID, ws, id) || e.Result != "OK" || e.Message != "POST /api/jobs/" || len(e.RequestID) != 36 {
		t.Fatalf("audit event %+v", e)
	}
}
