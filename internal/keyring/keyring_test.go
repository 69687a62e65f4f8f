package keyring

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestSealOpenAndPersistence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	k1, err := LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("master key mode = %v, want 0600", st.Mode().Perm())
	}
	sealed, err := k1.Seal([]byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("s3cret")) {
		t.Fatal("sealed value contains the plaintext")
	}
	k2, err := LoadOrCreate(path) // a restart reads the same key
	if err != nil {
		t.Fatal(err)
	}
	pt, err := k2.Open(sealed)
	if err != nil || string(pt) != "s3cret" {
		t.Fatalf("Open = %q, %v", pt, err)
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := k2.Open(sealed); err == nil {
		t.Fatal("tampered value opened")
	}
	other, _ := New(bytes.Repeat([]byte{7}, KeySize))
	if _, err := other.Open(sealed); err == nil {
		t.Fatal("opened with another key")
	}
}

func TestWrongSizeKeyRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	if err := os.WriteFile(path, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreate(path); err == nil {
		t.Fatal("short key accepted")
	}
}

// TestCreateFailureLeavesNoFile: a key that cannot be written whole leaves
// nothing behind, so the next start creates one instead of refusing a
// short file.
func TestCreateFailureLeavesNoFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "master.key")
	full := func(f *os.File, key []byte) error {
		if _, err := f.Write(key[:5]); err != nil {
			return err
		}
		return syscall.ENOSPC
	}
	if _, err := create(path, full); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("create on a full disk: %v", err)
	}
	checkEmpty(t, dir)
	if _, err := LoadOrCreate(path); err != nil {
		t.Fatalf("the next start: %v", err)
	}
}

// TestCreateOnFullDisk does the same on a real full file system (a tiny
// tmpfs, so it needs root).
func TestCreateOnFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("RAYFLEET_TEST_REQUIRE_ROOT") != "" {
			t.Fatal("mounting a tmpfs needs root, and RAYFLEET_TEST_REQUIRE_ROOT is set")
		}
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=16k"); err != nil {
		t.Fatalf("mount a tmpfs: %v", err) // as root it must work
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, 0) })
	fill, err := os.Create(filepath.Join(dir, "fill"))
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := fill.Write(make([]byte, 4096)); err != nil {
			break
		}
	}
	fill.Close()
	path := filepath.Join(dir, "master.key")
	if _, err := Create(path); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("create on a full disk: %v", err)
	}
	if err := os.Remove(filepath.Join(dir, "fill")); err != nil {
		t.Fatal(err)
	}
	checkEmpty(t, dir)
	if _, err := LoadOrCreate(path); err != nil {
		t.Fatalf("the next start, with space: %v", err)
	}
}

func TestCreateNeverReplaces(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	k, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	sealed, _ := k.Seal([]byte("x"))
	if _, err := Create(path); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second Create: %v", err)
	}
	if _, err := Load(filepath.Join(filepath.Dir(path), "other.key")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load of a missing key: %v", err)
	}
	k2, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k2.Open(sealed); err != nil {
		t.Fatalf("the key was replaced: %v", err)
	}
}

func checkEmpty(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("left behind: %s", e.Name())
	}
}
