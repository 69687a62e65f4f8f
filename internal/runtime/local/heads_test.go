package local

import (
	"os"
	"path/filepath"
	"testing"
)

// TestDiskHeadsAgreeWithTheRuntime reads the head endpoints from the state
// files, as a gateway in another process does, while a Runtime runs the
// cluster, and after it stops it.
func TestDiskHeadsAgreeWithTheRuntime(t *testing.T) {
	t.Parallel()
	dir := dataDir(t)
	r := newRuntime(t, dir)
	disk := DiskHeads{DataDir: dir}
	c := testCluster("ray-diskheads00001")
	c.RunningSpec.Workers = nil

	if _, _, ok := disk.HeadEndpoints(c); ok {
		t.Fatal("a head before the cluster was ever applied")
	}
	applyUntil(t, r, c, "head ready", ready)
	wantDash, wantClient, ok := r.HeadEndpoints(c)
	if !ok {
		t.Fatal("the runtime has no head")
	}
	dash, client, ok := disk.HeadEndpoints(c)
	if !ok || dash != wantDash || client != wantClient {
		t.Fatalf("DiskHeads = %q %q %v, runtime = %q %q", dash, client, ok, wantDash, wantClient)
	}

	// Another instance of the same cluster has no head yet.
	other := *c
	other.InstanceID = c.ID + "-ffff0000"
	if _, _, ok := disk.HeadEndpoints(&other); ok {
		t.Fatal("another instance's head was found")
	}
	// Ids that would leave the state directory find nothing.
	for _, bad := range []string{"..", "a/../../x", ""} {
		evil := *c
		evil.InstanceID = bad
		if _, _, ok := disk.HeadEndpoints(&evil); ok {
			t.Fatalf("instance id %q found a head", bad)
		}
	}
	// A record that is not valid JSON is no head.
	garbled := *c
	garbled.InstanceID = c.ID + "-garbled0"
	path := filepath.Join(dir, "local", "clusters", c.ID, garbled.InstanceID, headNodeName(c.ID)+".json")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := disk.HeadEndpoints(&garbled); ok {
		t.Fatal("a garbled record was taken for a head")
	}
	if err := os.RemoveAll(filepath.Dir(path)); err != nil {
		t.Fatal(err)
	}

	suspendUntilGone(t, r, c, false)
	if dash, client, ok := disk.HeadEndpoints(c); ok {
		t.Fatalf("a stopped head is still found: %q %q", dash, client)
	}
}
