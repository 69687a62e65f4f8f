package app

import (
	"context"
	"strings"
	"testing"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/api"
	"github.com/rayfleet/rayfleet/internal/poll"
)

// TestKill9Jobs kills the server with SIGKILL while jobs are being handed
// to Ray, while they run, and while a job's own cluster starts, and starts
// it again each time: every job still ends Succeeded, Ray's own job list
// on each head holds each job exactly once, and the jobs' own clusters end
// deleted with no node left.
func TestKill9Jobs(t *testing.T) {
	needRay(t)
	if len(rayProcesses(t)) != 0 {
		t.Fatal("ray nodes are already running")
	}
	srv, c, cred := startedServer(t)
	ctx := context.Background()
	ws := cred.WorkspaceID

	resp, err := c.CreateCluster(ctx, ws, &api.ClusterRequest{Name: ptr("shared"), HeadSpec: &api.HeadSpec{CPU: "1", Memory: "2Gi"}})
	if err != nil {
		t.Fatal(err)
	}
	shared := waitCluster(t, c, ws, resp.ClusterID, func(cl *api.Cluster) bool { return cl.State == "Running" })
	submit := func(req *api.SubmitJobRequest) string {
		t.Helper()
		out, err := c.SubmitJob(ctx, ws, req)
		if err != nil {
			t.Fatal(err)
		}
		return out.SubmissionID
	}
	job := func(id string) *api.Job {
		t.Helper()
		j, err := c.GetJob(ctx, ws, id)
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	waitJobs := func(what string, ids []string, done func(*api.Job) bool) {
		t.Helper()
		poll.Until(t, rayWait, what, func() bool {
			for _, id := range ids {
				j, err := c.GetJob(ctx, ws, id)
				if err != nil {
					return false
				}
				if rayfleet.JobStatus(j.Status).Final() && j.Status != "Succeeded" {
					t.Fatalf("job %s ended %s: %s", id, j.Status, j.Message)
				}
				if !done(j) {
					return false
				}
			}
			return true
		})
	}

	// 1. A burst of jobs on the cluster, and one with a cluster of its
	// own; killed while the runner hands them over.
	var onShared []string
	for range 3 {
		onShared = append(onShared, submit(&api.SubmitJobRequest{Entrypoint: `python -c "import time; time.sleep(4); print('done')"`, ClusterID: shared.ClusterID}))
	}
	own := submit(&api.SubmitJobRequest{Entrypoint: `python -c "import time; time.sleep(4); print('done')"`,
		HeadSpec: &api.JobHeadSpec{CPU: "1", Memory: "2Gi"}, TTLSecondsAfterFinished: 20})
	srv.kill9()
	srv.start()

	// 2. Killed again while they run on Ray, and while the job's own
	// cluster starts.
	waitJobs("the jobs on the cluster to run", onShared[:1], func(j *api.Job) bool { return j.Status == "Running" || j.Status == "Succeeded" })
	srv.kill9()
	srv.start()
	waitJobs("the job's own cluster to be made", []string{own}, func(j *api.Job) bool { return j.ClusterState != "Submitted" })
	srv.kill9()
	srv.start()

	// 3. Every job ends Succeeded, each once on its head.
	waitJobs("every job to succeed", append(onShared, own), func(j *api.Job) bool { return j.Status == "Succeeded" })
	// The gateway's port changed with each start: the cluster is read again.
	shared, err = c.GetCluster(ctx, ws, shared.ClusterID)
	if err != nil {
		t.Fatal(err)
	}
	onHead := headJobs(t, shared.JobURL, shared.SubmitToken)
	for _, id := range onShared {
		if onHead[id] != 1 {
			t.Errorf("the cluster's head lists job %s %d times: %v", id, onHead[id], onHead)
		}
	}
	ownCluster := job(own).ClusterID
	if ownCluster != rayfleet.TemporaryClusterID(own) {
		t.Fatalf("the job's cluster is %s", ownCluster)
	}
	oc, err := c.GetCluster(ctx, ws, ownCluster)
	if err != nil {
		t.Fatalf("the job's own cluster went before its ttl: %v", err)
	}
	if onHead := headJobs(t, oc.JobURL, oc.SubmitToken); onHead[own] != 1 || len(onHead) != 1 {
		t.Errorf("the job's own head lists %v", onHead)
	}
	if oc.Name != "job-"+own {
		t.Errorf("the job's cluster is named %q", oc.Name)
	}

	// 4. The job's cluster is deleted after its ttl, with its nodes; no
	// other cluster was made.
	poll.Until(t, rayWait, "the job's cluster to be deleted", func() bool { return job(own).ClusterState == "Deleted" })
	poll.Until(t, rayWait, "only the shared cluster's head to be left", func() bool { return len(rayProcesses(t)) == 1 })
	list, err := c.ListClusters(ctx, ws, api.ListClustersOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, cl := range list.RayClusters {
		names = append(names, cl.Name)
	}
	if strings.Join(names, ",") != "shared" {
		t.Errorf("clusters left: %v", names)
	}
}
