package storetest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/store"
)

// stored is c as a store returns it right after CreateCluster: version 1.
func stored(c rayfleet.Cluster) rayfleet.Cluster {
	c.Version = 1
	return c
}

// listed is c as ListClusters may return it: a store may leave out the
// running spec and the instances, which lists do not show.
func listed(c rayfleet.Cluster) rayfleet.Cluster {
	c.RunningSpec, c.Instances = rayfleet.ClusterSpec{}, nil
	return c
}

// listedAll applies listed to each cluster.
func listedAll(cs []rayfleet.Cluster) []rayfleet.Cluster {
	if cs == nil {
		return nil
	}
	out := make([]rayfleet.Cluster, len(cs))
	for i, c := range cs {
		out[i] = listed(c)
	}
	return out
}

// markDeleted marks a cluster deleted the way the service does.
func markDeleted(ctx context.Context, t *testing.T, s store.Store, c rayfleet.Cluster) rayfleet.Cluster {
	t.Helper()
	got, err := s.UpdateCluster(ctx, c.AccountID, c.WorkspaceID, c.ID, func(c *rayfleet.Cluster) error {
		c.Deleted = true
		return nil
	})
	must(t, err)
	return got
}

func testClusterCRUD(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	acc := AccountID(1)
	w := createWorkspace(ctx, t, s, acc, 1)
	w2 := createWorkspace(ctx, t, s, acc, 2)
	c := NewCluster(acc, w.ID, 1)
	must(t, s.CreateCluster(ctx, c))
	got, err := s.GetCluster(ctx, acc, w.ID, c.ID)
	must(t, err)
	wantEqual(t, got, stored(c), "GetCluster")

	wantCode(t, s.CreateCluster(ctx, c), rayfleet.EDENIED, "CreateCluster of an existing id")
	missing := ClusterID(99)
	_, err = s.GetCluster(ctx, acc, w.ID, missing)
	wantNotFound(t, err, "GetCluster of a missing id")
	_, err = s.GetCluster(ctx, acc, w2.ID, c.ID)
	wantNotFound(t, err, "GetCluster in another workspace of the account")
	_, err = s.UpdateCluster(ctx, acc, w.ID, missing, func(*rayfleet.Cluster) error {
		t.Error("UpdateCluster called fn for a missing cluster")
		return nil
	})
	wantNotFound(t, err, "UpdateCluster of a missing id")
	wantNotFound(t, s.PurgeCluster(ctx, acc, w.ID, missing), "PurgeCluster of a missing id")
	wantNotFound(t, s.PurgeCluster(ctx, acc, w2.ID, c.ID), "PurgeCluster in another workspace of the account")

	must(t, s.PurgeCluster(ctx, acc, w.ID, c.ID))
	_, err = s.GetCluster(ctx, acc, w.ID, c.ID)
	wantNotFound(t, err, "GetCluster after PurgeCluster")
	_, err = s.UpdateCluster(ctx, acc, w.ID, c.ID, func(*rayfleet.Cluster) error { return nil })
	wantNotFound(t, err, "UpdateCluster after PurgeCluster")
	wantNotFound(t, s.PurgeCluster(ctx, acc, w.ID, c.ID), "PurgeCluster twice")
	// The id is free again.
	must(t, s.CreateCluster(ctx, c))
}

func testClusterRoundTrip(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	acc := AccountID(1)
	w := createWorkspace(ctx, t, s, acc, 1)

	full := NewCluster(acc, w.ID, 1)
	// The same cluster with every optional part left out or empty.
	sparse := NewCluster(acc, w.ID, 2)
	sparse.Spec.Description, sparse.Spec.ExtraParam, sparse.Spec.NetworkService = "", "", ""
	sparse.Spec.VolumeIDs = nil
	sparse.Spec.Head.GFTEnabled, sparse.Spec.Head.GFTConfig = nil, nil
	sparse.Spec.Head.Env, sparse.Spec.Head.GPUSpec = "", ""
	sparse.Spec.Workers = nil
	sparse.RunningSpec = rayfleet.ClusterSpec{}
	sparse.Instances = nil
	sparse.InstanceID, sparse.TokenHash, sparse.TokenSealed = "", "", nil
	sparse.State, sparse.Desired, sparse.Modified = rayfleet.StateStopped, rayfleet.RunStateStopped, false
	sparse.StartTime, sparse.ModifiedTime = time.Time{}, time.Time{}
	sparse.Modifier, sparse.ModifierName, sparse.Message = "", "", ""
	// Empty but not nil lists stay empty but not nil.
	empty := NewCluster(acc, w.ID, 3)
	empty.Spec.Workers = []rayfleet.WorkerSpec{}
	empty.Instances = []rayfleet.Instance{}
	gftOff := false
	empty.Spec.Head.GFTEnabled = &gftOff

	for _, c := range []rayfleet.Cluster{full, sparse, empty} {
		must(t, s.CreateCluster(ctx, c))
		got, err := s.GetCluster(ctx, acc, w.ID, c.ID)
		must(t, err)
		wantEqual(t, got, stored(c), "GetCluster of "+c.Spec.Name)
		list, _, err := s.ListClusters(ctx, store.ClusterFilter{AccountID: acc, WorkspaceID: w.ID, Name: c.Spec.Name})
		must(t, err)
		wantEqual(t, listedAll(list), []rayfleet.Cluster{listed(stored(c))}, "ListClusters of "+c.Spec.Name)
		// Written back unchanged, it reads back unchanged.
		upd, err := s.UpdateCluster(ctx, acc, w.ID, c.ID, func(*rayfleet.Cluster) error { return nil })
		must(t, err)
		want := c
		want.Version = 2
		wantEqual(t, upd, want, "UpdateCluster's answer for "+c.Spec.Name)
		got, err = s.GetCluster(ctx, acc, w.ID, c.ID)
		must(t, err)
		wantEqual(t, got, want, "GetCluster after a no-op UpdateCluster of "+c.Spec.Name)
	}
}

func testTimes(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	acc := AccountID(1)
	w := createWorkspace(ctx, t, s, acc, 1)
	east := time.FixedZone("UTC+8", 8*60*60)
	c := NewCluster(acc, w.ID, 1)
	c.CreateTime = time.Date(2025, 6, 1, 20, 0, 0, 123_456_789, east)       // sub-ms part dropped
	c.StartTime = time.Time{}                                               // never: stays zero
	c.ModifiedTime = time.Date(2025, 6, 1, 12, 0, 1, 999_999_999, time.UTC) // truncated, not rounded
	c.StateTime = time.Date(1999, 12, 31, 23, 59, 59, 1_000_000, time.UTC)
	must(t, s.CreateCluster(ctx, c))

	check := func(what string, got rayfleet.Cluster) {
		t.Helper()
		for _, tc := range []struct {
			name      string
			got, sent time.Time
		}{
			{"CreateTime", got.CreateTime, c.CreateTime},
			{"StartTime", got.StartTime, c.StartTime},
			{"ModifiedTime", got.ModifiedTime, c.ModifiedTime},
			{"StateTime", got.StateTime, c.StateTime},
		} {
			want := time.Time{}
			if !tc.sent.IsZero() {
				want = tc.sent.Truncate(time.Millisecond).UTC()
			}
			if tc.got != want || tc.got.Location() != time.UTC {
				t.Errorf("%s: %s = %v (%s), want %v in UTC", what, tc.name, tc.got, tc.got.Location(), want)
			}
		}
	}
	got, err := s.GetCluster(ctx, acc, w.ID, c.ID)
	must(t, err)
	check("GetCluster", got)
	list, _, err := s.ListClusters(ctx, store.ClusterFilter{AccountID: acc, WorkspaceID: w.ID})
	must(t, err)
	if len(list) != 1 {
		t.Fatalf("ListClusters: %d clusters, want 1", len(list))
	}
	check("ListClusters", list[0])
	upd, err := s.UpdateCluster(ctx, acc, w.ID, c.ID, func(got *rayfleet.Cluster) error {
		got.CreateTime, got.StartTime, got.ModifiedTime, got.StateTime = c.CreateTime, c.StartTime, c.ModifiedTime, c.StateTime
		return nil
	})
	must(t, err)
	check("UpdateCluster's answer", upd)

	// The other kinds keep time the same way.
	a := NewAccount(1)
	a.CreateTime = time.Date(2025, 6, 1, 20, 0, 0, 123_456_789, east)
	must(t, s.CreateAccount(ctx, a))
	gotA, err := s.GetAccount(ctx, a.ID)
	must(t, err)
	if want := a.CreateTime.Truncate(time.Millisecond).UTC(); gotA.CreateTime != want {
		t.Errorf("account CreateTime = %v, want %v", gotA.CreateTime, want)
	}
	u := NewUser(acc, 1)
	u.CreateTime = time.Time{}
	must(t, s.CreateUser(ctx, u))
	gotU, err := s.GetUser(ctx, acc, u.UID)
	must(t, err)
	if !gotU.CreateTime.IsZero() || gotU.CreateTime != (time.Time{}) {
		t.Errorf("user zero CreateTime came back as %v", gotU.CreateTime)
	}
}

func testUpdateCluster(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	acc := AccountID(1)
	w := createWorkspace(ctx, t, s, acc, 1)
	c := NewCluster(acc, w.ID, 1)
	must(t, s.CreateCluster(ctx, c))

	upd, err := s.UpdateCluster(ctx, acc, w.ID, c.ID, func(got *rayfleet.Cluster) error {
		wantEqual(t, *got, stored(c), "the cluster fn is given")
		got.State, got.Desired, got.Message = rayfleet.StateStopped, rayfleet.RunStateStopped, "stopped by owner"
		got.Instances, got.InstanceID, got.TokenHash, got.TokenSealed = nil, "", "", nil
		got.Spec.Workers[0].Replica = 3
		got.Spec.Name = "renamed"
		got.ModifiedTime = At(50)
		return nil
	})
	must(t, err)
	want := c
	want.State, want.Desired, want.Message = rayfleet.StateStopped, rayfleet.RunStateStopped, "stopped by owner"
	want.Instances, want.InstanceID, want.TokenHash, want.TokenSealed = nil, "", "", nil
	want.Spec.Workers = slices.Clone(c.Spec.Workers)
	want.Spec.Workers[0].Replica = 3
	want.Spec.Name = "renamed"
	want.ModifiedTime = At(50)
	want.Version = 2
	wantEqual(t, upd, want, "UpdateCluster's answer")
	got, err := s.GetCluster(ctx, acc, w.ID, c.ID)
	must(t, err)
	wantEqual(t, got, want, "GetCluster after UpdateCluster")

	// When fn fails nothing is written, even what fn changed before failing,
	// and its error comes back as it was.
	errStop := errors.New("stop here")
	_, err = s.UpdateCluster(ctx, acc, w.ID, c.ID, func(got *rayfleet.Cluster) error {
		got.Message = "must not be stored"
		return errStop
	})
	if !errors.Is(err, errStop) {
		t.Fatalf("UpdateCluster with a failing fn: got %v, want %v", err, errStop)
	}
	_, err = s.UpdateCluster(ctx, acc, w.ID, c.ID, func(got *rayfleet.Cluster) error {
		got.Message = "must not be stored"
		return rayfleet.Errorf(rayfleet.EDENIED, "cluster is busy")
	})
	wantCode(t, err, rayfleet.EDENIED, "UpdateCluster with fn refusing")
	got, err = s.GetCluster(ctx, acc, w.ID, c.ID)
	must(t, err)
	wantEqual(t, got, want, "GetCluster after failed UpdateClusters")
}

// testUpdateClusterFrom writes from a row read before: it succeeds only
// while nobody wrote the row since.
func testUpdateClusterFrom(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	acc := AccountID(1)
	w := createWorkspace(ctx, t, s, acc, 1)
	c := NewCluster(acc, w.ID, 1)
	must(t, s.CreateCluster(ctx, c))
	read, err := s.GetClusterAny(ctx, acc, w.ID, c.ID)
	must(t, err)

	upd, err := s.UpdateClusterFrom(ctx, read, func(got *rayfleet.Cluster) error {
		wantEqual(t, *got, read, "the cluster fn is given")
		got.State, got.Message = rayfleet.StateRunning, "1/2 workers ready"
		got.Instances = []rayfleet.Instance{{InstanceID: c.ID + "-head", Type: "Head", Phase: "Running", CreateTime: At(20)}}
		got.StateTime = At(21)
		return nil
	})
	must(t, err)
	want := read
	want.State, want.Message, want.StateTime = rayfleet.StateRunning, "1/2 workers ready", At(21)
	want.Instances = []rayfleet.Instance{{InstanceID: c.ID + "-head", Type: "Head", Phase: "Running", CreateTime: At(20)}}
	want.Version = read.Version + 1
	wantEqual(t, upd, want, "UpdateClusterFrom's answer")
	got, err := s.GetClusterAny(ctx, acc, w.ID, c.ID)
	must(t, err)
	wantEqual(t, got, want, "GetClusterAny after UpdateClusterFrom")

	// More than the status: the whole row is written.
	upd, err = s.UpdateClusterFrom(ctx, got, func(c *rayfleet.Cluster) error {
		c.Spec.Name, c.Modified, c.Message = "renamed", !c.Modified, "2/2 workers ready"
		return nil
	})
	must(t, err)
	want.Spec.Name, want.Modified, want.Message, want.Version = "renamed", !want.Modified, "2/2 workers ready", want.Version+1
	wantEqual(t, upd, want, "UpdateClusterFrom's answer to a change of the spec")
	got, err = s.GetClusterAny(ctx, acc, w.ID, c.ID)
	must(t, err)
	wantEqual(t, got, want, "GetClusterAny after UpdateClusterFrom changed the spec")

	// The old read is stale now: nothing is written.
	_, err = s.UpdateClusterFrom(ctx, read, func(got *rayfleet.Cluster) error {
		got.Message = "must not be stored"
		return nil
	})
	if !errors.Is(err, rayfleet.ErrConflict) {
		t.Fatalf("UpdateClusterFrom from a stale read: got %v, want ErrConflict", err)
	}
	// A failing fn writes nothing and its error comes back.
	errStop := errors.New("stop here")
	_, err = s.UpdateClusterFrom(ctx, got, func(c *rayfleet.Cluster) error {
		c.Message = "must not be stored"
		return errStop
	})
	if !errors.Is(err, errStop) {
		t.Fatalf("UpdateClusterFrom with a failing fn: got %v, want %v", err, errStop)
	}
	again, err := s.GetClusterAny(ctx, acc, w.ID, c.ID)
	must(t, err)
	wantEqual(t, again, want, "GetClusterAny after refused UpdateClusterFroms")

	// A purged row is not made again.
	must(t, s.PurgeCluster(ctx, acc, w.ID, c.ID))
	_, err = s.UpdateClusterFrom(ctx, again, func(c *rayfleet.Cluster) error { return nil })
	if !errors.Is(err, rayfleet.ErrConflict) {
		t.Fatalf("UpdateClusterFrom after PurgeCluster: got %v, want ErrConflict", err)
	}
	_, err = s.GetClusterAny(ctx, acc, w.ID, c.ID)
	wantNotFound(t, err, "GetClusterAny after UpdateClusterFrom of a purged row")
}

// testUpdateClusterRace has two writers read the same version before either
// writes: exactly one may win.
func testUpdateClusterRace(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	acc := AccountID(1)
	w := createWorkspace(ctx, t, s, acc, 1)
	c := NewCluster(acc, w.ID, 1)
	must(t, s.CreateCluster(ctx, c))

	type result struct {
		tag string
		c   rayfleet.Cluster
		err error
	}
	read := make(chan string, 2)
	release := make(chan struct{})
	results := make(chan result, 2)
	update := func(tag string) {
		got, err := s.UpdateCluster(ctx, acc, w.ID, c.ID, func(got *rayfleet.Cluster) error {
			read <- tag
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
			got.Message = "written by " + tag
			return nil
		})
		results <- result{tag, got, err}
	}
	go update("a")
	go update("b")
	for range 2 {
		select {
		case <-read:
		case <-ctx.Done():
			t.Fatal("the second UpdateCluster did not get to read while the first was in fn: does the store hold a lock across fn?")
		}
	}
	close(release)
	var won, lost []result
	for range 2 {
		select {
		case r := <-results:
			switch {
			case r.err == nil:
				won = append(won, r)
			case errors.Is(r.err, rayfleet.ErrConflict):
				lost = append(lost, r)
			default:
				t.Fatalf("UpdateCluster %s: unexpected error %v", r.tag, r.err)
			}
		case <-ctx.Done():
			t.Fatal("an UpdateCluster did not return")
		}
	}
	if len(won) != 1 || len(lost) != 1 {
		t.Fatalf("%d writers won and %d lost, want exactly one of each", len(won), len(lost))
	}
	winner, loser := won[0], lost[0]
	got, err := s.GetCluster(ctx, acc, w.ID, c.ID)
	must(t, err)
	if got.Message != "written by "+winner.tag || got.Version != 2 {
		t.Fatalf("after the race: message %q version %d, want the winner's (%q) at version 2", got.Message, got.Version, "written by "+winner.tag)
	}
	wantEqual(t, got, winner.c, "the winner's answer and the stored cluster")

	// The loser rereads and succeeds.
	again, err := s.UpdateCluster(ctx, acc, w.ID, c.ID, func(got *rayfleet.Cluster) error {
		got.Message = "written by " + loser.tag
		return nil
	})
	must(t, err)
	if again.Version != 3 || again.Message != "written by "+loser.tag {
		t.Fatalf("retry after conflict: version %d message %q", again.Version, again.Message)
	}
}

func testListClusters(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	acc := AccountID(1)
	w := createWorkspace(ctx, t, s, acc, 1)
	w2 := createWorkspace(ctx, t, s, acc, 2)
	wB := createWorkspace(ctx, t, s, AccountID(2), 3)

	states := []rayfleet.State{rayfleet.StateRunning, rayfleet.StateStopped, rayfleet.StateStarting, rayfleet.StateError, rayfleet.StateRunning, rayfleet.StateStopping}
	must(t, s.CreateQueue(ctx, NewQueue(w, "q_a")))
	must(t, s.CreateQueue(ctx, NewQueue(w, "q-b")))
	names := []string{"Train-GPU", "etl_daily", "train-cpu", "50%-off", "notebook", "GPU-batch", "etlXdaily"}
	var all []rayfleet.Cluster
	for i := range 15 {
		c := NewCluster(acc, w.ID, i+1)
		c.CreateTime = At(100 - i/3) // threes share a time: ids break the ties
		c.State = states[i%len(states)]
		c.Spec.Name = fmt.Sprintf("%s-%d", names[i%len(names)], i)
		c.Creator = UserUID(i % 2)
		switch i % 4 {
		case 1:
			c.Spec.Workers[1].QueueName = "q_a"
		case 2:
			c.Spec.Workers = nil
		case 3:
			c.Spec.Head.QueueName = "q-b"
		}
		must(t, s.CreateCluster(ctx, c))
		all = append(all, stored(c))
	}
	// Rows that must not show: deleted, in another workspace, of another account.
	gone := NewCluster(acc, w.ID, 100)
	must(t, s.CreateCluster(ctx, gone))
	markDeleted(ctx, t, s, gone)
	must(t, s.CreateCluster(ctx, NewCluster(acc, w2.ID, 101)))
	must(t, s.CreateCluster(ctx, NewCluster(AccountID(2), wB.ID, 102)))

	slices.SortFunc(all, func(a, b rayfleet.Cluster) int {
		if c := b.CreateTime.Compare(a.CreateTime); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	match := func(f store.ClusterFilter) []rayfleet.Cluster {
		var out []rayfleet.Cluster
		for _, c := range all {
			if (f.State == "" || c.State == f.State) &&
				strings.Contains(strings.ToLower(c.Spec.Name), strings.ToLower(f.Name)) &&
				(f.Creator == "" || c.Creator == f.Creator) &&
				(f.QueueName == "" || slices.Contains(c.Spec.Queues(), f.QueueName)) {
				out = append(out, c)
			}
		}
		return out
	}
	for _, f := range []store.ClusterFilter{
		{},
		{State: rayfleet.StateRunning},
		{State: rayfleet.StateError},
		{State: rayfleet.StateStopping},
		{Name: "gpu"},
		{Name: "GPU"},
		{Name: "_"}, // literal, not a wildcard
		{Name: "%"}, // literal, not a wildcard
		{Name: "-1"},
		{Name: "missing"},
		{Creator: UserUID(1)},
		{Creator: UserUID(7)},
		{QueueName: "q_a"},
		{QueueName: "qXa"}, // '_' is no wildcard here either
		{QueueName: "q"},   // a whole queue name, not a part of one
		{QueueName: "q-b"},
		{QueueName: GPUQueue},
		{QueueName: rayfleet.RootQueue},
		{State: rayfleet.StateRunning, Name: "train", Creator: UserUID(0)},
		{State: rayfleet.StateRunning, QueueName: GPUQueue, Name: "-"},
	} {
		f.AccountID, f.WorkspaceID = acc, w.ID
		checkPages(t, fmt.Sprintf("ListClusters(%+v)", f), listedAll(match(f)), func(offset, limit int) ([]rayfleet.Cluster, int, error) {
			f.Offset, f.Limit = offset, limit
			cs, total, err := s.ListClusters(ctx, f)
			return listedAll(cs), total, err
		})
	}
	if len(match(store.ClusterFilter{State: rayfleet.StateRunning, Name: "train", Creator: UserUID(0)})) == 0 {
		t.Fatal("the combined filter matches nothing: the fixture set no longer tests it")
	}
	got, total, err := s.ListClusters(ctx, store.ClusterFilter{AccountID: acc, WorkspaceID: WorkspaceID(9)})
	must(t, err)
	if len(got) != 0 || total != 0 {
		t.Fatalf("ListClusters of a missing workspace: %d clusters, total %d", len(got), total)
	}
}

// testClustersAreTheCallers changes everything a returned cluster holds by
// reference: a store that keeps clusters in memory must not hand out its
// own.
func testClustersAreTheCallers(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	acc := AccountID(1)
	w := createWorkspace(ctx, t, s, acc, 1)
	c := NewCluster(acc, w.ID, 1)
	must(t, s.CreateCluster(ctx, c))
	scribble := func(c *rayfleet.Cluster) {
		c.Spec.Workers[0].CPU = "scribbled"
		c.Spec.Workers = append(c.Spec.Workers[:1], rayfleet.WorkerSpec{GroupName: "scribbled"})
		c.Spec.VolumeIDs[0] = "scribbled"
		*c.Spec.Head.GFTEnabled = false
		c.Spec.Head.GFTConfig.RedisURL = "scribbled"
		c.TokenSealed[0] = 0xff
		if len(c.RunningSpec.Workers) > 0 {
			c.RunningSpec.Workers[0].CPU = "scribbled"
		}
		if len(c.Instances) > 0 {
			c.Instances[0].Phase = "scribbled"
		}
	}
	f := store.ClusterFilter{AccountID: acc, WorkspaceID: w.ID}
	for range 2 {
		list, _, err := s.ListClusters(ctx, f)
		must(t, err)
		wantEqual(t, listedAll(list), []rayfleet.Cluster{listed(stored(c))}, "ListClusters after a caller changed what it returned")
		scribble(&list[0])
		got, err := s.GetCluster(ctx, acc, w.ID, c.ID)
		must(t, err)
		wantEqual(t, got, stored(c), "GetCluster after a caller changed what it returned")
		scribble(&got)
	}
}

func testDeletedClusters(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	acc := AccountID(1)
	w := createWorkspace(ctx, t, s, acc, 1)
	c1, c2 := NewCluster(acc, w.ID, 1), NewCluster(acc, w.ID, 2)
	must(t, s.CreateCluster(ctx, c1))
	must(t, s.CreateCluster(ctx, c2))
	del := markDeleted(ctx, t, s, c1)
	if !del.Deleted || del.Version != 2 {
		t.Fatalf("UpdateCluster marking deleted answered deleted=%v version=%d", del.Deleted, del.Version)
	}

	_, err := s.GetCluster(ctx, acc, w.ID, c1.ID)
	wantNotFound(t, err, "GetCluster of a deleted cluster")
	list, total, err := s.ListClusters(ctx, store.ClusterFilter{AccountID: acc, WorkspaceID: w.ID})
	must(t, err)
	wantEqual(t, listedAll(list), []rayfleet.Cluster{listed(stored(c2))}, "ListClusters with a deleted cluster")
	if total != 1 {
		t.Fatalf("ListClusters total %d, want 1", total)
	}
	c3 := NewCluster(acc, w.ID, 3)
	must(t, s.CreateCluster(ctx, c3))
	if _, total, err = s.ListClusters(ctx, store.ClusterFilter{AccountID: acc, WorkspaceID: w.ID, Limit: 1}); err != nil || total != 2 {
		t.Fatalf("ListClusters by pages of 1 with a deleted cluster: total %d, %v; want 2", total, err)
	}

	// The reconciler still sees and updates it.
	upd, err := s.UpdateCluster(ctx, acc, w.ID, c1.ID, func(got *rayfleet.Cluster) error {
		if !got.Deleted {
			t.Error("UpdateCluster gave fn the deleted cluster with Deleted false")
		}
		got.State = rayfleet.StateStopping
		return nil
	})
	must(t, err)
	if !upd.Deleted || upd.State != rayfleet.StateStopping || upd.Version != 3 {
		t.Fatalf("UpdateCluster of a deleted cluster answered %+v", upd)
	}
	holding, err := s.ClustersHoldingCapacity(ctx, acc, w.ID)
	must(t, err)
	if !slices.ContainsFunc(holding, func(c rayfleet.Cluster) bool { return c.ID == c1.ID }) {
		t.Fatal("ClustersHoldingCapacity leaves out a deleted cluster that still holds capacity")
	}
	refs, err := s.ListClusterRefs(ctx)
	must(t, err)
	if !slices.Contains(refs, store.ClusterRef{AccountID: acc, WorkspaceID: w.ID, ID: c1.ID}) {
		t.Fatal("ListClusterRefs leaves out a deleted cluster")
	}
	if n, err := s.CountClusterRows(ctx, acc, w.ID); err != nil || n != 3 {
		t.Fatalf("CountClusterRows with one of three deleted = %d, %v; want 3", n, err)
	}
	if n, err := s.CountClusterRows(ctx, AccountID(2), w.ID); err != nil || n != 0 {
		t.Fatalf("CountClusterRows of another account's = %d, %v; want 0", n, err)
	}
	counts, err := s.CountClustersByState(ctx)
	must(t, err)
	if counts[rayfleet.StateStopping] != 0 || counts[rayfleet.StateRunning] != 2 {
		t.Fatalf("CountClustersByState counts deleted clusters: %v", counts)
	}
	must(t, s.PurgeCluster(ctx, acc, w.ID, c1.ID))
	_, err = s.UpdateCluster(ctx, acc, w.ID, c1.ID, func(*rayfleet.Cluster) error { return nil })
	wantNotFound(t, err, "UpdateCluster of a purged cluster")
}

func testClustersHoldingCapacity(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	acc := AccountID(1)
	w := createWorkspace(ctx, t, s, acc, 1)
	w2 := createWorkspace(ctx, t, s, acc, 2)
	var want []string
	for i, tc := range []struct {
		state   rayfleet.State
		deleted bool
	}{
		{rayfleet.StateRunning, false},
		{rayfleet.StateStopped, false},
		{rayfleet.StateStarting, true},
		{rayfleet.StateStopped, true},
		{rayfleet.StateError, false},
		{rayfleet.StateStopping, false},
	} {
		c := NewCluster(acc, w.ID, i+1)
		c.State = tc.state
		must(t, s.CreateCluster(ctx, c))
		if tc.deleted {
			markDeleted(ctx, t, s, c)
		}
		if c.HoldsCapacity() {
			want = append(want, c.ID)
		}
	}
	must(t, s.CreateCluster(ctx, NewCluster(acc, w2.ID, 50)))
	got, err := s.ClustersHoldingCapacity(ctx, acc, w.ID)
	must(t, err)
	var ids []string
	for _, c := range got {
		ids = append(ids, c.ID)
		if c.Spec.Name == "" || len(c.Spec.Workers) == 0 {
			t.Fatalf("ClustersHoldingCapacity returned cluster %s without its spec", c.ID)
		}
	}
	slices.Sort(ids)
	slices.Sort(want)
	wantEqual(t, ids, want, "ClustersHoldingCapacity")
}

func testListClusterRefs(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	var want []store.ClusterRef
	n := 0
	for a := 1; a <= 2; a++ {
		for wi := 1; wi <= 2; wi++ {
			w := createWorkspace(ctx, t, s, AccountID(a), a*10+wi)
			for range 3 {
				n++
				c := NewCluster(w.AccountID, w.ID, n)
				must(t, s.CreateCluster(ctx, c))
				if n%3 == 0 {
					markDeleted(ctx, t, s, c)
				}
				want = append(want, store.ClusterRef{AccountID: c.AccountID, WorkspaceID: c.WorkspaceID, ID: c.ID})
			}
		}
	}
	got, err := s.ListClusterRefs(ctx)
	must(t, err)
	cmp := func(a, b store.ClusterRef) int {
		return strings.Compare(a.AccountID+"/"+a.WorkspaceID+"/"+a.ID, b.AccountID+"/"+b.WorkspaceID+"/"+b.ID)
	}
	slices.SortFunc(got, cmp)
	slices.SortFunc(want, cmp)
	wantEqual(t, got, want, "ListClusterRefs")
}

func testCountClustersByState(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	want := map[rayfleet.State]int{}
	states := []rayfleet.State{rayfleet.StateRunning, rayfleet.StateRunning, rayfleet.StateStopped, rayfleet.StateError, rayfleet.StateStarting}
	n := 0
	for a := 1; a <= 2; a++ {
		w := createWorkspace(ctx, t, s, AccountID(a), a)
		for i, st := range states {
			n++
			c := NewCluster(w.AccountID, w.ID, n)
			c.State = st
			must(t, s.CreateCluster(ctx, c))
			if a == 2 && i == 0 {
				markDeleted(ctx, t, s, c)
				continue
			}
			want[st]++
		}
	}
	got, err := s.CountClustersByState(ctx)
	must(t, err)
	for _, st := range []rayfleet.State{rayfleet.StateStarting, rayfleet.StateRunning, rayfleet.StateStopping, rayfleet.StateStopped, rayfleet.StateError} {
		if got[st] != want[st] {
			t.Errorf("CountClustersByState[%s] = %d, want %d (all: %v)", st, got[st], want[st], got)
		}
	}
}

func testCapacityInUse(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	acc := AccountID(1)
	w := createWorkspace(ctx, t, s, acc, 1)
	w2 := createWorkspace(ctx, t, s, acc, 2)
	for _, ws := range []rayfleet.Workspace{w, w2} {
		must(t, s.CreateQueue(ctx, NewQueue(ws, "qa")))
		must(t, s.CreateQueue(ctx, NewQueue(ws, "qb")))
	}
	spec := func(headQueue, workerQueue string, workers int32) rayfleet.ClusterSpec {
		sp := fixtureSpec(1)
		sp.Head = rayfleet.HeadSpec{QueueName: headQueue, CPU: "2", Memory: "8Gi"}
		sp.Workers = []rayfleet.WorkerSpec{{GroupName: "g", Replica: workers, QueueName: workerQueue, CPU: "500m", Memory: "1Gi"}}
		return sp
	}
	check := func(want map[string]rayfleet.Resources) {
		t.Helper()
		got, err := s.CapacityInUse(ctx, acc, w.ID)
		must(t, err)
		maps.DeleteFunc(got, func(_ string, r rayfleet.Resources) bool { return r == rayfleet.Resources{} })
		if !maps.Equal(got, want) {
			t.Fatalf("CapacityInUse = %v, want %v", got, want)
		}
	}
	gib := rayfleet.GiB
	check(map[string]rayfleet.Resources{})

	c1 := NewCluster(acc, w.ID, 1)
	c1.Spec = spec("qa", "qb", 3)
	must(t, s.CreateCluster(ctx, c1))
	c2 := NewCluster(acc, w.ID, 2)
	c2.Spec, c2.State = spec("qb", "qb", 1), rayfleet.StateStarting
	must(t, s.CreateCluster(ctx, c2))
	stopped := NewCluster(acc, w.ID, 3)
	stopped.Spec, stopped.State = spec("qa", "qa", 10), rayfleet.StateStopped
	must(t, s.CreateCluster(ctx, stopped))
	other := NewCluster(acc, w2.ID, 4)
	other.Spec = spec("qa", "qb", 10)
	must(t, s.CreateCluster(ctx, other))

	// c1: qa 2 CPU 8 GiB, qb 3 × (0.5 CPU, 1 GiB); c2: qb 2 CPU 8 GiB + 0.5 CPU 1 GiB.
	check(map[string]rayfleet.Resources{"qa": {MilliCPU: 2000, MemoryBytes: 8 * gib}, "qb": {MilliCPU: 4000, MemoryBytes: 12 * gib}})

	// The spec counts, not the running spec; a change of it counts at once.
	_, err := s.UpdateCluster(ctx, acc, w.ID, c1.ID, func(c *rayfleet.Cluster) error {
		c.Spec = spec("qa", "qb", 1)
		c.RunningSpec = spec("qa", "qb", 9)
		return nil
	})
	must(t, err)
	check(map[string]rayfleet.Resources{"qa": {MilliCPU: 2000, MemoryBytes: 8 * gib}, "qb": {MilliCPU: 3000, MemoryBytes: 10 * gib}})
	// A change of the spec in place counts as well as a new one.
	_, err = s.UpdateCluster(ctx, acc, w.ID, c1.ID, func(c *rayfleet.Cluster) error {
		c.Spec.Workers[0].Replica = 2
		return nil
	})
	must(t, err)
	check(map[string]rayfleet.Resources{"qa": {MilliCPU: 2000, MemoryBytes: 8 * gib}, "qb": {MilliCPU: 3500, MemoryBytes: 11 * gib}})

	// A deleted cluster holds its capacity until it stops; a stopped one
	// holds none, and a started one holds it again, whichever update
	// writes it.
	markDeleted(ctx, t, s, c2)
	check(map[string]rayfleet.Resources{"qa": {MilliCPU: 2000, MemoryBytes: 8 * gib}, "qb": {MilliCPU: 3500, MemoryBytes: 11 * gib}})
	read, err := s.GetClusterAny(ctx, acc, w.ID, c2.ID)
	must(t, err)
	_, err = s.UpdateClusterFrom(ctx, read, func(c *rayfleet.Cluster) error { c.State = rayfleet.StateStopped; return nil })
	must(t, err)
	check(map[string]rayfleet.Resources{"qa": {MilliCPU: 2000, MemoryBytes: 8 * gib}, "qb": {MilliCPU: 1000, MemoryBytes: 2 * gib}})
	_, err = s.UpdateCluster(ctx, acc, w.ID, stopped.ID, func(c *rayfleet.Cluster) error { c.State = rayfleet.StateStarting; return nil })
	must(t, err)
	check(map[string]rayfleet.Resources{"qa": {MilliCPU: 9000, MemoryBytes: 26 * gib}, "qb": {MilliCPU: 1000, MemoryBytes: 2 * gib}})
	// A status write that keeps it holding changes nothing.
	read, err = s.GetClusterAny(ctx, acc, w.ID, stopped.ID)
	must(t, err)
	_, err = s.UpdateClusterFrom(ctx, read, func(c *rayfleet.Cluster) error { c.State, c.Message = rayfleet.StateRunning, "up"; return nil })
	must(t, err)

	// It is what ClustersHoldingCapacity's clusters need, summed.
	holding, err := s.ClustersHoldingCapacity(ctx, acc, w.ID)
	must(t, err)
	sum := map[string]rayfleet.Resources{}
	for _, c := range holding {
		for q, r := range c.Spec.Needs() {
			sum[q] = sum[q].Add(r)
		}
	}
	check(sum)

	// Purging frees what the row held; purging one that held none (c2,
	// stopped) changes nothing.
	must(t, s.PurgeCluster(ctx, acc, w.ID, stopped.ID))
	must(t, s.PurgeCluster(ctx, acc, w.ID, c2.ID))
	check(map[string]rayfleet.Resources{"qa": {MilliCPU: 2000, MemoryBytes: 8 * gib}, "qb": {MilliCPU: 1000, MemoryBytes: 2 * gib}})
	got, err := s.CapacityInUse(ctx, AccountID(2), w.ID)
	must(t, err)
	if len(got) != 0 {
		t.Fatalf("CapacityInUse of another account's workspace = %v, want nothing", got)
	}
}
