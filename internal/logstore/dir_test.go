package logstore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rayfleet/rayfleet"
)

func newDir(t *testing.T) (*Dir, string) {
	t.Helper()
	root := t.TempDir()
	d, err := OpenDir(root, "rayfleet-logs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, filepath.Join(root, "rayfleet-logs")
}

func put(t *testing.T, s Store, key, data string) {
	t.Helper()
	if err := s.Put(context.Background(), key, strings.NewReader(data)); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

func read(t *testing.T, s Store, key string) (string, rayfleet.LogObject) {
	t.Helper()
	rc, obj, err := s.Open(context.Background(), key)
	if err != nil {
		t.Fatalf("open %s: %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), obj
}

// TestDirContract: what every Store does, on the directory store; and
// what only a directory refuses, a key beside the keys under it.
func TestDirContract(t *testing.T) {
	d, _ := newDir(t)
	testContract(t, d)
	if err := d.Put(context.Background(), "w-1/ray/logs/rj-1_default/driver", strings.NewReader("x")); err == nil {
		t.Fatal("put over a directory of keys succeeded")
	}
}

// TestDirRefusesPathTricks: keys that would leave the bucket, or name its
// temporary files, are refused before they touch the file system, and a
// link planted in the bucket's directory leads nowhere outside it.
func TestDirRefusesPathTricks(t *testing.T) {
	ctx := context.Background()
	d, dir := newDir(t)
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"", "/etc/passwd", "../secret", "a/../../secret", "a/./b", "a//b", "a/", ".tmp/x", "a/.hidden",
		"a\\..\\b", "a\x00b", "a\nb", strings.Repeat("k", rayfleet.MaxLogKeyLen+1), "\xff"} {
		if err := d.Put(ctx, key, strings.NewReader("x")); rayfleet.ErrorCode(err) != rayfleet.EINVALID {
			t.Errorf("put %q: %v, want InvalidParameter", key, err)
		}
		if _, _, err := d.Open(ctx, key); rayfleet.ErrorCode(err) != rayfleet.EINVALID {
			t.Errorf("open %q: %v, want InvalidParameter", key, err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(dir, "w-evil")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"w-evil/secret", "link"} {
		if rc, _, err := d.Open(ctx, key); err == nil {
			b, _ := io.ReadAll(rc)
			rc.Close()
			t.Fatalf("open %s through a link read %q", key, b)
		}
	}
	if err := d.Put(ctx, "w-evil/new", strings.NewReader("x")); err == nil {
		t.Fatal("put through a link outside the bucket succeeded")
	}
	if _, err := os.Stat(filepath.Join(outside, "new")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a file was written outside the bucket: %v", err)
	}
	l, err := d.List(ctx, rayfleet.LogListOptions{})
	if err != nil || len(l.Entries) != 0 {
		t.Fatalf("list shows %v (%v); links are not objects", names(l), err)
	}
	// A temporary file being written is no object.
	if err := os.WriteFile(filepath.Join(dir, tmpDir, "half"), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	if l, err := d.List(ctx, rayfleet.LogListOptions{}); err != nil || len(l.Entries) != 0 {
		t.Fatalf("list shows %v (%v)", names(l), err)
	}
}

// TestDirPutIsAtomic: readers of an object being replaced again and again
// see one whole version or another, never a part; files and directories
// are the account's alone.
func TestDirPutIsAtomic(t *testing.T) {
	ctx := context.Background()
	d, dir := newDir(t)
	const key = "w-1/ray/logs/rj-1_default/driver/rj-1_driver.log"
	versions := []string{strings.Repeat("a", 1<<20), strings.Repeat("b", 3<<20)}
	put(t, d, key, versions[0])
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Go(func() {
		defer close(done)
		for i := range 20 {
			if err := d.Put(ctx, key, strings.NewReader(versions[i%2])); err != nil {
				t.Error(err)
				return
			}
		}
	})
	reads := 0
	for {
		select {
		case <-done:
			wg.Wait()
			if reads == 0 {
				t.Fatal("no read overlapped the writes")
			}
			fi, err := os.Stat(filepath.Join(dir, key))
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("file mode %v %v", fi.Mode(), err)
			}
			di, err := os.Stat(filepath.Join(dir, "w-1"))
			if err != nil || di.Mode().Perm() != 0o700 {
				t.Fatalf("directory mode %v %v", di.Mode(), err)
			}
			if ents, _ := os.ReadDir(filepath.Join(dir, tmpDir)); len(ents) != 0 {
				t.Fatalf("temporary files left: %v", ents)
			}
			return
		default:
		}
		got, _ := read(t, d, key)
		if got != versions[0] && got != versions[1] {
			t.Fatalf("read a part of an object: %d bytes, starting %q", len(got), got[:min(8, len(got))])
		}
		reads++
	}
}

// TestDirPutStopsWithItsContext: a put whose context ends leaves the old
// object and no temporary file.
func TestDirPutStopsWithItsContext(t *testing.T) {
	d, dir := newDir(t)
	put(t, d, "w-1/a", "old")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := d.Put(ctx, "w-1/a", bytes.NewReader(make([]byte, 1<<20))); !errors.Is(err, context.Canceled) {
		t.Fatalf("put with an ended context: %v", err)
	}
	if got, _ := read(t, d, "w-1/a"); got != "old" {
		t.Fatalf("object is %q", got)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, tmpDir)); len(ents) != 0 {
		t.Fatalf("temporary files left: %v", ents)
	}
}

func TestOpenDirRefusesBadBuckets(t *testing.T) {
	for _, b := range []string{"", "ab", "Upper", "-lead", "trail-", "a_b", "a/b", "..", strings.Repeat("a", 64)} {
		if _, err := OpenDir(t.TempDir(), b); err == nil {
			t.Errorf("bucket %q accepted", b)
		}
	}
}
