package sqlstore

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/store/storetest"
)

// A read that ran while a cluster was written never replaces what the
// write left; entries are copies both ways.
func TestRowCacheOrdering(t *testing.T) {
	c := newRowCache(10)
	k := clusterKey{"a", "w", "ray-1"}
	old := rayfleet.Cluster{ID: "ray-1", Version: 1, Message: "read before the write"}
	newer := rayfleet.Cluster{ID: "ray-1", Version: 2, Message: "written", Instances: []rayfleet.Instance{{InstanceID: "x"}}}

	gen := c.snapshot()
	c.wrote(k, newer)
	c.fill(k, old, gen) // the read began before the write: too old to hold
	got, ok := c.get(k)
	if !ok || got.Version != 2 {
		t.Fatalf("after a racing fill: %+v, %v; want version 2", got, ok)
	}
	got.Instances[0].InstanceID = "changed by the caller"
	if again, _ := c.get(k); again.Instances[0].InstanceID != "x" {
		t.Fatal("a caller's change reached the cache")
	}

	c.drop(k)
	if _, ok := c.get(k); ok {
		t.Fatal("a dropped row is still held")
	}
	gen = c.snapshot()
	c.fill(k, old, gen) // nothing written since: held
	if got, ok := c.get(k); !ok || got.Version != 1 {
		t.Fatalf("after a quiet fill: %+v, %v", got, ok)
	}

	// Full: it starts over rather than grow.
	for i := range 20 {
		c.wrote(clusterKey{"a", "w", fmt.Sprint(i)}, newer)
	}
	if n := len(c.m); n > 10 {
		t.Fatalf("%d rows held, max 10", n)
	}
}

// Under concurrent writes and reads through a sole writer, every read of a
// cluster afterwards is what the database holds (as a second store, which
// has nothing cached, reads it), and a purge is seen at once.
func TestSoleWriterRowsStayTrue(t *testing.T) {
	sole, fresh, acc, w := soleAndFresh(t)
	ctx := t.Context()
	var ids []string
	for i := range 4 {
		c := storetest.NewCluster(acc, w.ID, i+1)
		if err := sole.CreateCluster(ctx, c); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 40 {
				id := ids[(g+i)%len(ids)]
				if i%2 == 0 {
					if _, err := sole.GetClusterAny(ctx, acc, w.ID, id); err != nil {
						t.Error(err)
					}
					continue
				}
				read, err := sole.GetClusterAny(ctx, acc, w.ID, id)
				if err != nil {
					t.Error(err)
					continue
				}
				_, err = sole.UpdateClusterFrom(ctx, read, func(c *rayfleet.Cluster) error {
					c.Message = fmt.Sprintf("writer %d pass %d", g, i)
					return nil
				})
				if err != nil && !errors.Is(err, rayfleet.ErrConflict) {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	for _, id := range ids {
		got, err := sole.GetClusterAny(ctx, acc, w.ID, id)
		if err != nil {
			t.Fatal(err)
		}
		want, err := fresh.GetClusterAny(ctx, acc, w.ID, id)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("the sole writer reads %s at version %d %q; the database holds version %d %q",
				id, got.Version, got.Message, want.Version, want.Message)
		}
	}
	if err := sole.PurgeCluster(ctx, acc, w.ID, ids[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := sole.GetClusterAny(ctx, acc, w.ID, ids[0]); !rayfleet.IsNotFound(err) {
		t.Fatalf("GetClusterAny after PurgeCluster: %v, want not found", err)
	}
}

// Under concurrent creates, state changes and purges through a sole
// writer, its CapacityInUse (kept in memory once read) is what the
// database says, as a second store reads it from the rows.
func TestSoleWriterUsageStaysTrue(t *testing.T) {
	sole, fresh, acc, w := soleAndFresh(t)
	ctx := t.Context()
	check := func(when string, except string) {
		t.Helper()
		got, err := sole.CapacityInUse(ctx, acc, w.ID, except)
		if err != nil {
			t.Fatal(err)
		}
		want, err := fresh.CapacityInUse(ctx, acc, w.ID, except)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: the sole writer counts %v in use (except %q); the rows say %v", when, got, except, want)
		}
	}
	check("empty", "")
	var mu sync.Mutex
	var ids []string
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Go(func() {
			for i := range 12 {
				n := g*100 + i + 1
				c := storetest.NewCluster(acc, w.ID, n)
				if err := sole.CreateCluster(ctx, c); err != nil {
					t.Error(err)
					return
				}
				if _, err := sole.CapacityInUse(ctx, acc, w.ID, ""); err != nil {
					t.Error(err)
				}
				read, err := sole.GetClusterAny(ctx, acc, w.ID, c.ID)
				if err != nil {
					t.Error(err)
					return
				}
				switch i % 3 {
				case 0: // stopped: holds nothing
					_, err = sole.UpdateClusterFrom(ctx, read, func(c *rayfleet.Cluster) error {
						c.State, c.Desired = rayfleet.StateStopped, rayfleet.RunStateStopped
						return nil
					})
				case 1: // bigger
					_, err = sole.UpdateCluster(ctx, acc, w.ID, c.ID, func(c *rayfleet.Cluster) error {
						c.Spec.Workers = slices.Clone(c.Spec.Workers)
						c.Spec.Workers[0].Replica += 2
						return nil
					})
				case 2: // gone
					err = sole.PurgeCluster(ctx, acc, w.ID, c.ID)
				}
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				ids = append(ids, c.ID)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	check("after the writes", "")
	if used, ok := sole.usage.sum(wsKey{acc, w.ID}, ""); !ok || len(used) == 0 {
		t.Fatalf("the sole writer's usage of the workspace: %v, held %v; want it held, and not empty", used, ok)
	}
	for _, id := range ids[:5] {
		check("leaving one out", id)
	}
	// A stopped cluster started again holds capacity again.
	c := storetest.NewCluster(acc, w.ID, 999)
	c.State = rayfleet.StateStopped
	if err := sole.CreateCluster(ctx, c); err != nil {
		t.Fatal(err)
	}
	check("a stopped cluster created", "")
	if _, err := sole.UpdateCluster(ctx, acc, w.ID, c.ID, func(c *rayfleet.Cluster) error {
		c.State = rayfleet.StateStarting
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	check("started again", "")
	check("started again, leaving it out", c.ID)
}

// statusOnly sends a write down the narrow UPDATE only when nothing but
// the status changed.
func TestStatusOnly(t *testing.T) {
	read := storetest.NewCluster(storetest.AccountID(1), "w-0123456789abcdef", 1)
	status := []func(*rayfleet.Cluster){
		func(c *rayfleet.Cluster) { c.State = rayfleet.StateRunning },
		func(c *rayfleet.Cluster) { c.Message = "1/2 workers ready" },
		func(c *rayfleet.Cluster) { c.Instances = []rayfleet.Instance{{InstanceID: "x"}} },
		func(c *rayfleet.Cluster) { c.StateTime = storetest.At(99) },
	}
	for i, f := range status {
		c := read
		f(&c)
		if !statusOnly(&read, &c) {
			t.Errorf("status change %d: statusOnly false", i)
		}
	}
	other := []func(*rayfleet.Cluster){
		func(c *rayfleet.Cluster) { c.Desired = rayfleet.RunStateStopped },
		func(c *rayfleet.Cluster) { c.Deleted = true },
		func(c *rayfleet.Cluster) { c.InstanceID = "other" },
		func(c *rayfleet.Cluster) { c.TokenSealed = []byte("other") },
		func(c *rayfleet.Cluster) { c.Modified = !c.Modified },
		func(c *rayfleet.Cluster) { c.Spec.Name = "other" },
		func(c *rayfleet.Cluster) {
			c.RunningSpec.Workers = slices.Clone(c.RunningSpec.Workers)
			c.RunningSpec.Workers[0].Replica++
		},
		func(c *rayfleet.Cluster) { c.ModifiedTime = storetest.At(99) },
		func(c *rayfleet.Cluster) { c.ModifierName = "other" },
	}
	for i, f := range other {
		c := read
		f(&c)
		if statusOnly(&read, &c) {
			t.Errorf("change %d beyond the status: statusOnly true", i)
		}
	}
}

// soleAndFresh opens two stores on one new file: sole assumes it is the
// only writer, fresh reads what the database holds; and a workspace of
// account acc made through sole.
func soleAndFresh(t *testing.T) (sole, fresh *Store, acc string, w rayfleet.Workspace) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rayfleet.db")
	sole, fresh = openSQLitePath(t, path), openSQLitePath(t, path)
	sole.AssumeSoleWriter()
	acc = storetest.AccountID(1)
	return sole, fresh, acc, createTestWorkspace(t, sole, acc, 1)
}
