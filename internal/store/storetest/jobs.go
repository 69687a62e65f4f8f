package storetest

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/store"
)

// storedJob is j as a store returns it right after CreateJob: version 1.
func storedJob(j rayfleet.Job) rayfleet.Job {
	j.Version = 1
	return j
}

func testJobFixtures(t *testing.T, _ NewStore) {
	j := NewJob(AccountID(1), WorkspaceID(1), ClusterID(1), 1)
	checkAllSet(t, j, "Version")
	checkAllSet(t, j.Spec)
	checkAllSet(t, j.Spec.Tags[0])
	if !j.Status.Valid() || j.Status.Final() {
		t.Fatalf("NewJob's status %q should be valid and not final", j.Status)
	}
	if len(j.ID) != 19 || !strings.HasPrefix(j.ID, "rj-") || strings.Trim(j.ID[3:], "abcdefghijklmnopqrstuvwxyz0123456789") != "" {
		t.Fatalf("job id %q is not rj- and 16 of [a-z0-9]", j.ID)
	}
	// With the cluster or with the temporary cluster, not both, the spec is
	// valid: the fixture is a real job but for that.
	onCluster, temporary := j.Spec, j.Spec
	onCluster.Head, onCluster.Workers = nil, nil
	temporary.ClusterID = ""
	for _, s := range []rayfleet.JobSpec{onCluster, temporary} {
		if err := s.Validate(); err != nil {
			t.Fatalf("NewJob's spec is invalid: %v", err)
		}
	}
}

func testJobCRUD(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	acc := AccountID(1)
	w := createWorkspace(ctx, t, s, acc, 1)
	w2 := createWorkspace(ctx, t, s, acc, 2)
	j := NewJob(acc, w.ID, ClusterID(1), 1)
	must(t, s.CreateJob(ctx, j))
	got, err := s.GetJob(ctx, acc, w.ID, j.ID)
	must(t, err)
	wantEqual(t, got, storedJob(j), "GetJob")

	wantCode(t, s.CreateJob(ctx, j), rayfleet.EDENIED, "CreateJob of an existing id")
	elsewhere := j
	elsewhere.WorkspaceID = w2.ID
	wantCode(t, s.CreateJob(ctx, elsewhere), rayfleet.EDENIED, "CreateJob of an id another workspace has")
	_, err = s.GetJob(ctx, acc, w.ID, JobID(99))
	wantNotFound(t, err, "GetJob of a missing id")
	_, err = s.GetJob(ctx, acc, w2.ID, j.ID)
	wantNotFound(t, err, "GetJob in another workspace of the account")
	wantNotFound(t, s.CreateJob(ctx, NewJob(acc, WorkspaceID(99), ClusterID(1), 2)), "CreateJob in a missing workspace")

	// A job on no cluster yet, with nothing but its keys and status: zero
	// values come back as they went.
	bare := rayfleet.Job{ID: JobID(3), AccountID: acc, WorkspaceID: w.ID, Status: rayfleet.JobSubmitted, Spec: rayfleet.JobSpec{Entrypoint: "true"}}
	must(t, s.CreateJob(ctx, bare))
	got, err = s.GetJob(ctx, acc, w.ID, bare.ID)
	must(t, err)
	wantEqual(t, got, storedJob(bare), "GetJob of a job with empty fields")

	// The workspace's jobs go with it, and nothing of them lingers.
	must(t, s.DeleteWorkspace(ctx, acc, w.ID))
	_, err = s.GetJob(ctx, acc, w.ID, j.ID)
	wantNotFound(t, err, "GetJob after DeleteWorkspace")
	createWorkspace(ctx, t, s, acc, 1)
	js, total, err := s.ListJobs(ctx, store.JobFilter{AccountID: acc, WorkspaceID: w.ID})
	must(t, err)
	if len(js) != 0 || total != 0 {
		t.Fatalf("a workspace created again lists %d jobs (total %d) of the one deleted", len(js), total)
	}
	must(t, s.CreateJob(ctx, j))
}

// jobModel lists jobs the way ListJobs must: newest first, then id.
func jobModel(all []rayfleet.Job, keep func(rayfleet.Job) bool) []rayfleet.Job {
	var out []rayfleet.Job
	for _, j := range all {
		if keep(j) {
			out = append(out, storedJob(j))
		}
	}
	slices.SortFunc(out, func(a, b rayfleet.Job) int {
		if c := b.SubmitTime.Compare(a.SubmitTime); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
	return out
}

func testListJobs(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	acc := AccountID(1)
	w := createWorkspace(ctx, t, s, acc, 1)
	other := createWorkspace(ctx, t, s, acc, 2)
	var all []rayfleet.Job
	for i := 1; i <= 12; i++ {
		j := NewJob(acc, w.ID, ClusterID(i%3), i)
		// Three names, two tasks and submit times that tie in pairs, so
		// the order falls back on the id.
		j.Spec.Name = fmt.Sprintf("name-%d", i%3)
		j.TaskBizID = fmt.Sprintf("TSK-%d", i%2)
		j.SubmitTime = At(i / 2)
		must(t, s.CreateJob(ctx, j))
		all = append(all, j)
	}
	must(t, s.CreateJob(ctx, NewJob(acc, other.ID, ClusterID(1), 50)))

	for _, tc := range []struct {
		name string
		f    store.JobFilter
		keep func(rayfleet.Job) bool
	}{
		{"all", store.JobFilter{}, func(rayfleet.Job) bool { return true }},
		{"by name", store.JobFilter{Name: "name-1"}, func(j rayfleet.Job) bool { return j.Spec.Name == "name-1" }},
		{"by a name part", store.JobFilter{Name: "name"}, func(rayfleet.Job) bool { return false }},
		{"by id", store.JobFilter{ID: JobID(5)}, func(j rayfleet.Job) bool { return j.ID == JobID(5) }},
		{"by the other workspace's job id", store.JobFilter{ID: JobID(50)}, func(rayfleet.Job) bool { return false }},
		{"by task", store.JobFilter{TaskBizID: "TSK-0"}, func(j rayfleet.Job) bool { return j.TaskBizID == "TSK-0" }},
		{"from", store.JobFilter{SubmittedFrom: At(3)}, func(j rayfleet.Job) bool { return !j.SubmitTime.Before(At(3)) }},
		{"until", store.JobFilter{SubmittedUntil: At(2)}, func(j rayfleet.Job) bool { return !j.SubmitTime.After(At(2)) }},
		{"between", store.JobFilter{SubmittedFrom: At(2), SubmittedUntil: At(4)}, func(j rayfleet.Job) bool {
			return !j.SubmitTime.Before(At(2)) && !j.SubmitTime.After(At(4))
		}},
		{"a millisecond range", store.JobFilter{SubmittedFrom: At(3), SubmittedUntil: At(3)}, func(j rayfleet.Job) bool { return j.SubmitTime.Equal(At(3)) }},
		{"name in a range", store.JobFilter{Name: "name-2", SubmittedFrom: At(1), SubmittedUntil: At(5)}, func(j rayfleet.Job) bool {
			return j.Spec.Name == "name-2" && !j.SubmitTime.Before(At(1)) && !j.SubmitTime.After(At(5))
		}},
		{"name and task", store.JobFilter{Name: "name-0", TaskBizID: "TSK-1"}, func(j rayfleet.Job) bool {
			return j.Spec.Name == "name-0" && j.TaskBizID == "TSK-1"
		}},
		{"id and a range it is not in", store.JobFilter{ID: JobID(1), SubmittedFrom: At(5)}, func(rayfleet.Job) bool { return false }},
	} {
		want := jobModel(all, tc.keep)
		checkPages(t, "ListJobs "+tc.name, want, func(offset, limit int) ([]rayfleet.Job, int, error) {
			f := tc.f
			f.AccountID, f.WorkspaceID, f.Offset, f.Limit = acc, w.ID, offset, limit
			return s.ListJobs(ctx, f)
		})
	}
	for _, f := range []store.JobFilter{
		{AccountID: acc, WorkspaceID: WorkspaceID(99)},
		{AccountID: AccountID(2), WorkspaceID: w.ID},
	} {
		js, total, err := s.ListJobs(ctx, f)
		must(t, err)
		if len(js) != 0 || total != 0 {
			t.Fatalf("ListJobs of %s/%s: %d jobs, total %d; want none", f.AccountID, f.WorkspaceID, len(js), total)
		}
	}
}

func testUpdateJob(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	acc := AccountID(1)
	w := createWorkspace(ctx, t, s, acc, 1)
	j := NewJob(acc, w.ID, ClusterID(1), 1)
	j.Status, j.Stop, j.InstanceID = rayfleet.JobSubmitted, rayfleet.JobStopNone, ""
	must(t, s.CreateJob(ctx, j))

	want := storedJob(j)
	got, err := s.UpdateJob(ctx, acc, w.ID, j.ID, func(j *rayfleet.Job) error {
		j.InstanceID, j.Status, j.Message = ClusterID(1)+"-abcdefgh", rayfleet.JobPending, "waiting for a slot"
		j.Spec.Tags[0].Value = "changed in place"
		j.Spec.Head.CPU = "8"
		return nil
	})
	must(t, err)
	want.InstanceID, want.Status, want.Message, want.Version = ClusterID(1)+"-abcdefgh", rayfleet.JobPending, "waiting for a slot", 2
	want.Spec.Tags = []rayfleet.Tag{{Key: "jobname", Value: "changed in place"}, want.Spec.Tags[1]}
	head := *want.Spec.Head
	head.CPU = "8"
	want.Spec.Head = &head
	wantEqual(t, got, want, "UpdateJob's answer")
	read, err := s.GetJob(ctx, acc, w.ID, j.ID)
	must(t, err)
	wantEqual(t, read, want, "GetJob after UpdateJob")

	// fn's error writes nothing.
	boom := errors.New("boom")
	if _, err := s.UpdateJob(ctx, acc, w.ID, j.ID, func(j *rayfleet.Job) error { j.Message = "lost"; return boom }); !errors.Is(err, boom) {
		t.Fatalf("UpdateJob whose fn fails: %v, want its error", err)
	}
	// A status that cannot follow is refused, and nothing is written.
	_, err = s.UpdateJob(ctx, acc, w.ID, j.ID, func(j *rayfleet.Job) error {
		j.Status, j.Message = rayfleet.JobSubmitted, "back"
		return nil
	})
	if !errors.Is(err, store.ErrStatusBackwards) {
		t.Fatalf("UpdateJob from Pending to Submitted: %v, want ErrStatusBackwards", err)
	}
	// A lost race is a conflict: another writer gets in between the read
	// and the write.
	_, err = s.UpdateJob(ctx, acc, w.ID, j.ID, func(j *rayfleet.Job) error {
		_, err := s.UpdateJob(ctx, acc, w.ID, j.ID, func(j *rayfleet.Job) error { j.Stop = rayfleet.JobStopCancel; return nil })
		must(t, err)
		j.Message = "stale"
		return nil
	})
	if !errors.Is(err, rayfleet.ErrConflict) {
		t.Fatalf("UpdateJob that lost a race: %v, want ErrConflict", err)
	}
	read, err = s.GetJob(ctx, acc, w.ID, j.ID)
	must(t, err)
	want.Stop, want.Version = rayfleet.JobStopCancel, 3
	wantEqual(t, read, want, "the job after refused and lost updates")

	// A final job keeps its status but takes other changes: its
	// temporary cluster is deleted after it ends.
	_, applied, err := s.SetJobStatus(ctx, acc, w.ID, j.ID, store.JobStatusUpdate{Status: rayfleet.JobCancelled, EndTime: At(9)})
	must(t, err)
	if !applied {
		t.Fatal("SetJobStatus from Pending to Cancelled was not applied")
	}
	got, err = s.UpdateJob(ctx, acc, w.ID, j.ID, func(j *rayfleet.Job) error { j.ClusterState = rayfleet.JobClusterDeleted; return nil })
	must(t, err)
	if got.ClusterState != rayfleet.JobClusterDeleted || got.Status != rayfleet.JobCancelled {
		t.Fatalf("UpdateJob of a final job's cluster state: %s, %s", got.Status, got.ClusterState)
	}
	_, err = s.UpdateJob(ctx, acc, w.ID, j.ID, func(j *rayfleet.Job) error { j.Status = rayfleet.JobFailed; return nil })
	if !errors.Is(err, store.ErrStatusBackwards) {
		t.Fatalf("UpdateJob from Cancelled to Failed: %v, want ErrStatusBackwards", err)
	}

	_, err = s.UpdateJob(ctx, acc, w.ID, JobID(99), func(*rayfleet.Job) error {
		t.Error("UpdateJob called fn for a missing job")
		return nil
	})
	wantNotFound(t, err, "UpdateJob of a missing id")
}

func testSetJobStatus(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	acc := AccountID(1)
	w := createWorkspace(ctx, t, s, acc, 1)
	j := NewJob(acc, w.ID, ClusterID(1), 1)
	j.Status, j.StartTime, j.EndTime = rayfleet.JobSubmitted, time.Time{}, time.Time{}
	must(t, s.CreateJob(ctx, j))

	set := func(u store.JobStatusUpdate) (rayfleet.Job, bool) {
		t.Helper()
		got, applied, err := s.SetJobStatus(ctx, acc, w.ID, j.ID, u)
		must(t, err)
		read, err := s.GetJob(ctx, acc, w.ID, j.ID)
		must(t, err)
		wantEqual(t, got, read, fmt.Sprintf("SetJobStatus(%s)'s answer and the job read after it", u.Status))
		return got, applied
	}
	started := At(5).Add(123 * time.Millisecond)
	got, applied := set(store.JobStatusUpdate{Status: rayfleet.JobRunning, Message: "running", StartTime: started})
	if !applied || got.Status != rayfleet.JobRunning || got.Message != "running" || !got.StartTime.Equal(started) || got.Version != 2 {
		t.Fatalf("Submitted → Running: applied %v, %+v", applied, got)
	}
	// Zero times keep the stored ones; the message is written.
	got, applied = set(store.JobStatusUpdate{Status: rayfleet.JobRunning, Message: "still running"})
	if !applied || !got.StartTime.Equal(started) || got.Message != "still running" || got.Version != 3 {
		t.Fatalf("Running → Running: applied %v, %+v", applied, got)
	}
	// A stale writer's Pending is refused and changes nothing.
	got, applied = set(store.JobStatusUpdate{Status: rayfleet.JobPending, Message: "stale"})
	if applied || got.Status != rayfleet.JobRunning || got.Message != "still running" || got.Version != 3 {
		t.Fatalf("Running → Pending: applied %v, %+v", applied, got)
	}
	got, applied = set(store.JobStatusUpdate{Status: rayfleet.JobCancelling, Message: "cancelling"})
	if !applied || got.Status != rayfleet.JobCancelling {
		t.Fatalf("Running → Cancelling: applied %v, %+v", applied, got)
	}
	if _, applied = set(store.JobStatusUpdate{Status: rayfleet.JobRunning, Message: "late report"}); applied {
		t.Fatal("Cancelling → Running was applied")
	}
	ended := At(9)
	got, applied = set(store.JobStatusUpdate{Status: rayfleet.JobCancelled, Message: "stopped", EndTime: ended})
	if !applied || got.Status != rayfleet.JobCancelled || !got.EndTime.Equal(ended) || !got.StartTime.Equal(started) {
		t.Fatalf("Cancelling → Cancelled: applied %v, %+v", applied, got)
	}
	for _, st := range rayfleet.JobStatuses {
		if _, applied = set(store.JobStatusUpdate{Status: st, Message: "after the end", EndTime: At(10)}); applied {
			t.Fatalf("Cancelled → %s was applied", st)
		}
	}
	// It is no longer among its cluster's unfinished jobs.
	un, err := s.ListUnfinishedJobs(ctx, store.ClusterRef{AccountID: acc, WorkspaceID: w.ID, ID: ClusterID(1)})
	must(t, err)
	if len(un) != 0 {
		t.Fatalf("a cancelled job is still unfinished: %v", un)
	}

	_, _, err = s.SetJobStatus(ctx, acc, w.ID, JobID(99), store.JobStatusUpdate{Status: rayfleet.JobRunning})
	wantNotFound(t, err, "SetJobStatus of a missing job")
	if _, _, err := s.SetJobStatus(ctx, acc, w.ID, j.ID, store.JobStatusUpdate{Status: "Bogus"}); err == nil {
		t.Fatal("SetJobStatus to a status that does not exist succeeded")
	}
}

// testSetJobStatusRace has writers race to report statuses of one job: in
// the order they took effect (by version) the statuses only go forward, and
// once one final status is written nothing else is.
func testSetJobStatusRace(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	acc := AccountID(1)
	w := createWorkspace(ctx, t, s, acc, 1)
	j := NewJob(acc, w.ID, ClusterID(1), 1)
	j.Status = rayfleet.JobSubmitted
	must(t, s.CreateJob(ctx, j))

	type write struct {
		status  rayfleet.JobStatus
		version int64
	}
	var (
		mu      sync.Mutex
		applied []write
		wg      sync.WaitGroup
	)
	const writers, each = 6, 15
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				// Mostly statuses before the end, a final one now and then.
				st := rayfleet.JobStatuses[(g*7+i*3)%4]
				if (g+i)%11 == 10 {
					st = rayfleet.JobStatuses[4+(g+i)%4]
				}
				got, ok, err := s.SetJobStatus(ctx, acc, w.ID, j.ID, store.JobStatusUpdate{Status: st, Message: fmt.Sprint(g, "/", i)})
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					if got.Status != st {
						t.Errorf("an applied write of %s answers %s", st, got.Status)
					}
					mu.Lock()
					applied = append(applied, write{st, got.Version})
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	slices.SortFunc(applied, func(a, b write) int { return cmp.Compare(a.version, b.version) })
	finals := 0
	for i, a := range applied {
		if a.version != int64(i)+2 {
			t.Fatalf("applied writes have versions %v: each applied write must bump the version once", applied)
		}
		if i > 0 && !applied[i-1].status.CanBecome(a.status) {
			t.Fatalf("%s was written after %s (writes in order: %v)", a.status, applied[i-1].status, applied)
		}
		if a.status.Final() {
			finals++
		}
	}
	if finals > 1 {
		t.Fatalf("%d final statuses were written: %v", finals, applied)
	}
}

func testUnfinishedJobs(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	acc := AccountID(1)
	w := createWorkspace(ctx, t, s, acc, 1)
	w2 := createWorkspace(ctx, t, s, acc, 2)
	a := store.ClusterRef{AccountID: acc, WorkspaceID: w.ID, ID: ClusterID(1)}
	b := store.ClusterRef{AccountID: acc, WorkspaceID: w.ID, ID: ClusterID(2)}
	c := store.ClusterRef{AccountID: acc, WorkspaceID: w2.ID, ID: ClusterID(1)} // the same id in another workspace
	var onA []rayfleet.Job
	for i := 1; i <= 6; i++ {
		j := NewJob(acc, w.ID, a.ID, i)
		// Created in this order with submit times that say otherwise: the
		// queue is the order of creation.
		j.SubmitTime = At(100 - i)
		j.Status = rayfleet.JobStatuses[i%4]
		must(t, s.CreateJob(ctx, j))
		onA = append(onA, storedJob(j))
	}
	must(t, s.CreateJob(ctx, NewJob(acc, w.ID, b.ID, 10)))
	ended := NewJob(acc, w.ID, b.ID, 11)
	ended.Status = rayfleet.JobSucceeded
	must(t, s.CreateJob(ctx, ended))
	must(t, s.CreateJob(ctx, NewJob(acc, w2.ID, c.ID, 12)))

	got, err := s.ListUnfinishedJobs(ctx, a)
	must(t, err)
	wantEqual(t, got, onA, "ListUnfinishedJobs in order of creation")
	// Ending jobs takes them out of the queue; the rest keep their order.
	for _, i := range []int{1, 4} {
		_, ok, err := s.SetJobStatus(ctx, acc, w.ID, onA[i].ID, store.JobStatusUpdate{Status: rayfleet.JobFailed, EndTime: At(200)})
		must(t, err)
		if !ok {
			t.Fatalf("%s → Failed was not applied", onA[i].Status)
		}
	}
	got, err = s.ListUnfinishedJobs(ctx, a)
	must(t, err)
	var ids []string
	for _, j := range got {
		ids = append(ids, j.ID)
	}
	wantEqual(t, ids, []string{onA[0].ID, onA[2].ID, onA[3].ID, onA[5].ID}, "ListUnfinishedJobs after two failed")
	got, err = s.ListUnfinishedJobs(ctx, b)
	must(t, err)
	if len(got) != 1 || got[0].ID != JobID(10) {
		t.Fatalf("ListUnfinishedJobs of %s: %v, want only %s", b.ID, got, JobID(10))
	}
	none, err := s.ListUnfinishedJobs(ctx, store.ClusterRef{AccountID: acc, WorkspaceID: w.ID, ID: ClusterID(3)})
	must(t, err)
	if len(none) != 0 {
		t.Fatalf("a cluster without jobs has unfinished jobs: %v", none)
	}

	refs, err := s.ListUnfinishedJobClusters(ctx)
	must(t, err)
	slices.SortFunc(refs, compareRefs)
	want := []store.ClusterRef{a, b, c}
	slices.SortFunc(want, compareRefs)
	wantEqual(t, refs, want, "ListUnfinishedJobClusters")
	for _, j := range append(got, append(onA, NewJob(acc, w.ID, b.ID, 10))...) {
		_, _, err := s.SetJobStatus(ctx, acc, w.ID, j.ID, store.JobStatusUpdate{Status: rayfleet.JobSucceeded})
		must(t, err)
	}
	refs, err = s.ListUnfinishedJobClusters(ctx)
	must(t, err)
	wantEqual(t, refs, []store.ClusterRef{c}, "ListUnfinishedJobClusters once the jobs of a workspace ended")
}

func compareRefs(a, b store.ClusterRef) int {
	return cmp.Or(cmp.Compare(a.AccountID, b.AccountID), cmp.Compare(a.WorkspaceID, b.WorkspaceID), cmp.Compare(a.ID, b.ID))
}
