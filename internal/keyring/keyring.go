// Package keyring seals secrets at rest (access key secrets, cluster tokens)
// with AES-256-GCM under a master key kept in a file of the data directory.
// It imports only the standard library.
package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// KeySize is the master key length: AES-256.
const KeySize = 32

// Keyring seals and opens small secrets.
type Keyring struct {
	aead cipher.AEAD
}

// New returns a Keyring for a 32-byte master key.
func New(key []byte) (*Keyring, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("master key must be %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Keyring{aead: aead}, nil
}

// LoadOrCreate reads the master key at path, creating it (mode 0600) with a
// fresh random key when it does not exist. A key file of the wrong size is an
// error, never silently replaced: that would make every stored secret unreadable.
// A caller that may hold secrets sealed under an earlier key uses Load, and
// Create only once it knows there are none.
func LoadOrCreate(path string) (*Keyring, error) {
	k, err := Load(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Create(path)
	}
	return k, err
}

// Load reads the master key at path. A missing file is an error that
// matches fs.ErrNotExist.
func Load(path string) (*Keyring, error) {
	key, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read master key %s: %w", path, err)
	}
	k, err := New(key)
	if err != nil {
		return nil, fmt.Errorf("master key %s: %w", path, err)
	}
	return k, nil
}

// Create writes a fresh random master key to path (mode 0600) and returns
// its Keyring. The key is written to a temporary file beside path, synced,
// and renamed into place, then the directory is synced: a crash or a full
// disk leaves either no key file or a whole one, never an empty or short
// file that every later start would refuse. It fails if path exists.
func Create(path string) (*Keyring, error) {
	return create(path, writeKey)
}

// writeKey writes key to f; tests replace it to fail as a full disk does.
func writeKey(f *os.File, key []byte) error {
	_, err := f.Write(key)
	return err
}

func create(path string, write func(*os.File, []byte) error) (*Keyring, error) {
	key := make([]byte, KeySize)
	if _, err := io.ReadFull(rand.Reader, key); err != nil {
		return nil, fmt.Errorf("generate master key: %w", err)
	}
	if _, err := os.Lstat(path); err == nil {
		return nil, fmt.Errorf("create master key %s: %w", path, fs.ErrExist)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, fmt.Errorf("create master key %s: %w", path, err)
	}
	tmp := f.Name()
	err = f.Chmod(0o600)
	if err == nil {
		err = write(f, key)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("write master key %s: %w", path, err)
	}
	// The rename is durable once the directory is synced; a failure here
	// leaves a whole key in place, which the next start reads.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return New(key)
}

// Seal encrypts plaintext; the nonce is prepended to the result.
func (k *Keyring) Seal(plaintext []byte) ([]byte, error) {
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := io.ReadFull(rand.Reader, nonce); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return k.aead.Seal(nonce, nonce, plaintext, nil), nil
}

// Open decrypts what Seal returned.
func (k *Keyring) Open(sealed []byte) ([]byte, error) {
	n := k.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("open: sealed value too short")
	}
	pt, err := k.aead.Open(nil, sealed[:n], sealed[n:], nil)
	if err != nil {
		return nil, fmt.Errorf("open: %w (was the master key replaced?)", err)
	}
	return pt, nil
}
