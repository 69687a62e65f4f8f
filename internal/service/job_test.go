package service_test

import (
	"context"
	"testing"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/authz"
	"github.com/rayfleet/rayfleet/internal/service"
	"github.com/rayfleet/rayfleet/internal/store"
)

// TestSubmitJobChecks: what SubmitRayJob refuses, and what it fills in.
func TestSubmitJobChecks(t *testing.T) {
	s, p, ws := newService(t)
	ctx := context.Background()
	w := &wakes{}
	s.JobWaker = w
	c, err := s.CreateCluster(ctx, p, ws, rayfleet.ClusterPatch{Name: ptr("c")}, "")
	if err != nil {
		t.Fatal(err)
	}
	head := &rayfleet.HeadSpec{CPU: "1", Memory: "2Gi"}
	for _, tc := range []struct {
		name string
		spec rayfleet.JobSpec
		code string
	}{
		{"no entrypoint", rayfleet.JobSpec{ClusterID: c.ClusterID}, rayfleet.EMISSING},
		{"no cluster", rayfleet.JobSpec{Entrypoint: "true"}, rayfleet.EMISSING},
		{"both a cluster and a head", rayfleet.JobSpec{Entrypoint: "true", ClusterID: c.ClusterID, Head: head}, rayfleet.EINVALID},
		{"a missing cluster", rayfleet.JobSpec{Entrypoint: "true", ClusterID: "ray-0000000000000000"}, rayfleet.ENOTFOUND},
		{"another submission mode", rayfleet.JobSpec{Entrypoint: "true", ClusterID: c.ClusterID, SubmissionMode: "K8sJobMode"}, rayfleet.EINVALID},
		{"a local working dir", rayfleet.JobSpec{Entrypoint: "true", ClusterID: c.ClusterID, WorkingDir: "/home/me/code"}, rayfleet.EINVALID},
		{"an unknown queue", rayfleet.JobSpec{Entrypoint: "true", Head: &rayfleet.HeadSpec{CPU: "1", Memory: "2Gi", QueueName: "nope"}}, rayfleet.EINVALID},
		{"a head bigger than the queue", rayfleet.JobSpec{Entrypoint: "true", Head: &rayfleet.HeadSpec{CPU: "100", Memory: "2Gi"}}, rayfleet.EQUOTA},
		{"a bad cpu", rayfleet.JobSpec{Entrypoint: "true", Head: &rayfleet.HeadSpec{CPU: "lots", Memory: "2Gi"}}, rayfleet.EINVALID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.SubmitJob(ctx, p, ws, tc.spec, "")
			wantCode(t, err, tc.code)
		})
	}
	if n, _, _ := s.Store.ListJobs(ctx, store.JobFilter{AccountID: p.AccountID, WorkspaceID: ws}); len(n) != 0 {
		t.Fatalf("refused submissions stored %d jobs", len(n))
	}
	if len(*w) != 0 {
		t.Fatalf("refused submissions woke the runner: %v", *w)
	}

	// A job of its own cluster: the cluster's defaults are filled in and
	// stored, its id derived from the job's.
	o, err := s.SubmitJob(ctx, p, ws, rayfleet.JobSpec{Entrypoint: "true", Head: &rayfleet.HeadSpec{CPU: "1", Memory: "2Gi"},
		Workers: []rayfleet.WorkerSpec{{Replica: 1, CPU: "1", Memory: "1Gi"}}}, "")
	if err != nil {
		t.Fatal(err)
	}
	j, err := s.GetJob(ctx, p, ws, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if j.ClusterID != "ray-"+o.ID[3:] || j.Status != rayfleet.JobSubmitted || j.ClusterState != rayfleet.JobClusterSubmitted ||
		j.Spec.Head.QueueName != rayfleet.RootQueue || j.Spec.Workers[0].GroupName != "worker-group-1" || j.Spec.ReleaseVersion == "" ||
		j.Spec.SubmissionMode != "HTTPMode" || j.LogBucket != service.DefaultLogBucket || j.LogPath != rayfleet.JobLogPath(ws, o.ID) {
		t.Fatalf("a job of its own cluster: %+v", j.Job)
	}
	if len(*w) != 1 || (*w)[0].ID != j.ClusterID {
		t.Fatalf("woken %v, want the job's cluster %s", *w, j.ClusterID)
	}
	// On a starting cluster: accepted, its cluster Pending.
	o, err = s.SubmitJob(ctx, p, ws, rayfleet.JobSpec{Entrypoint: "true", ClusterID: c.ClusterID}, "")
	if err != nil {
		t.Fatal(err)
	}
	if j, _ := s.GetJob(ctx, p, ws, o.ID); j.ClusterID != c.ClusterID || j.ClusterState != rayfleet.JobClusterPending {
		t.Fatalf("a job on a starting cluster: %+v", j.Job)
	}
	// On a stopped one: refused.
	if _, err := s.StopCluster(ctx, p, ws, c.ClusterID, "", ""); err != nil {
		t.Fatal(err)
	}
	_, err = s.SubmitJob(ctx, p, ws, rayfleet.JobSpec{Entrypoint: "true", ClusterID: c.ClusterID}, "")
	wantCode(t, err, rayfleet.EDENIED)
}

// TestSubmitJobClientToken: a retried submission with the same token is the
// first job; the token with other parameters is refused.
func TestSubmitJobClientToken(t *testing.T) {
	s, p, ws := newService(t)
	spec := rayfleet.JobSpec{Entrypoint: "true", Head: &rayfleet.HeadSpec{CPU: "1", Memory: "2Gi"}}
	a, err := s.SubmitJob(service.WithRequestID(context.Background(), "REQ-1"), p, ws, spec, "tok")
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.SubmitJob(service.WithRequestID(context.Background(), "REQ-2"), p, ws, spec, "tok")
	if err != nil || b.ID != a.ID || b.RequestID != "REQ-1" {
		t.Fatalf("retry: %+v %v", b, err)
	}
	spec.Entrypoint = "false"
	_, err = s.SubmitJob(context.Background(), p, ws, spec, "tok")
	wantCode(t, err, rayfleet.EIDEMPOTENT)
	out, err := s.ListJobs(context.Background(), p, service.ListJobsInput{WorkspaceID: ws})
	if err != nil || out.TotalCount != 1 {
		t.Fatalf("a retried submit acted twice: %+v %v", out, err)
	}
}

// TestListJobs: newest first, paged, filtered by name, id and submit time.
func TestListJobs(t *testing.T) {
	s, p, ws := newService(t)
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	s.Now = func() time.Time { return now }
	var ids []string
	for i, name := range []string{"a", "b", "a"} {
		now = now.Add(time.Duration(i) * time.Minute)
		o, err := s.SubmitJob(ctx, p, ws, rayfleet.JobSpec{Name: name, Entrypoint: "true", Head: &rayfleet.HeadSpec{CPU: "1", Memory: "2Gi"}}, "")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, o.ID)
	}
	got := func(in service.ListJobsInput) ([]string, int) {
		t.Helper()
		in.WorkspaceID = ws
		out, err := s.ListJobs(ctx, p, in)
		if err != nil {
			t.Fatal(err)
		}
		var out2 []string
		for _, j := range out.Jobs {
			out2 = append(out2, j.ID)
		}
		return out2, out.TotalCount
	}
	if l, n := got(service.ListJobsInput{}); n != 3 || len(l) != 3 || l[0] != ids[2] || l[2] != ids[0] {
		t.Fatalf("all: %v (%d)", l, n)
	}
	if l, n := got(service.ListJobsInput{PageSize: 1, PageNum: 2}); n != 3 || len(l) != 1 || l[0] != ids[1] {
		t.Fatalf("page 2 of 1: %v (%d)", l, n)
	}
	if l, n := got(service.ListJobsInput{Name: "a"}); n != 2 || l[0] != ids[2] || l[1] != ids[0] {
		t.Fatalf("by name: %v (%d)", l, n)
	}
	if l, _ := got(service.ListJobsInput{SubmissionID: ids[1]}); len(l) != 1 || l[0] != ids[1] {
		t.Fatalf("by id: %v", l)
	}
	first := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	if l, _ := got(service.ListJobsInput{SubmittedFrom: first.Add(time.Second), SubmittedUntil: first.Add(time.Minute)}); len(l) != 1 || l[0] != ids[1] {
		t.Fatalf("by submit time: %v", l)
	}
	_, err := s.ListJobs(ctx, p, service.ListJobsInput{WorkspaceID: ws, PageSize: 101})
	wantCode(t, err, rayfleet.EINVALID)
	_, err = s.ListJobs(ctx, p, service.ListJobsInput{WorkspaceID: "w-0000000000000000"})
	wantCode(t, err, rayfleet.ENOTFOUND)
}

// TestJobAuthorization: a job's ARN names it in policies; a list leaves
// out the jobs a Deny covers.
func TestJobAuthorization(t *testing.T) {
	s, root, ws := newService(t)
	ctx := context.Background()
	spec := rayfleet.JobSpec{Entrypoint: "true", Head: &rayfleet.HeadSpec{CPU: "1", Memory: "2Gi"}}
	a, err := s.SubmitJob(ctx, root, ws, spec, "")
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.SubmitJob(ctx, root, ws, spec, "")
	if err != nil {
		t.Fatal(err)
	}
	u := ramUser(t, s, root, "alice")
	arnA := authz.JobARN(s.RegionID, root.AccountID, ws, a.ID)
	_, err = s.GetJob(ctx, u, ws, a.ID)
	wantDenied(t, err, "emr-serverless-spark:GetRayJob", arnA, authz.ImplicitDeny)
	_, err = s.SubmitJob(ctx, u, ws, spec, "")
	wantDenied(t, err, "emr-serverless-spark:SubmitRayJob", authz.WorkspaceARN(s.RegionID, root.AccountID, ws), authz.ImplicitDeny)
	doc := `{"Version":"1","Statement":[
		{"Effect":"Allow","Action":["emr-serverless-spark:GetRayJob","emr-serverless-spark:ListRayJob","emr-serverless-spark:CancelRayJob"],"Resource":"*"},
		{"Effect":"Deny","Action":["emr-serverless-spark:CancelRayJob","emr-serverless-spark:ListRayJob"],"Resource":"` + arnA + `"}]}`
	if _, err := s.CreatePolicy(ctx, root, "jobs", doc, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.AttachPolicyToUser(ctx, root, rayfleet.PolicyCustom, "jobs", "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetJob(ctx, u, ws, a.ID); err != nil {
		t.Fatal(err)
	}
	wantDenied(t, s.CancelJob(ctx, u, ws, a.ID), "emr-serverless-spark:CancelRayJob", arnA, authz.ExplicitDeny)
	if err := s.CancelJob(ctx, u, ws, b.ID); err != nil {
		t.Fatal(err)
	}
	out, err := s.ListJobs(ctx, u, service.ListJobsInput{WorkspaceID: ws})
	if err != nil || out.TotalCount != 1 || out.Jobs[0].ID != b.ID {
		t.Fatalf("the list of a user denied job %s: %+v %v", a.ID, out, err)
	}
	if j, _ := s.GetJob(ctx, root, ws, b.ID); j.Status != rayfleet.JobCancelling || j.Stop != rayfleet.JobStopCancel {
		t.Fatalf("a cancelled job: %s %s", j.Status, j.Stop)
	}
}
