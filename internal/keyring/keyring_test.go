package keyring

import (
	"bytes"
	"os"
	"path/filepath"
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
