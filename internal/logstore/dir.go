package logstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/rayfleet/rayfleet"
)

// tmpDir is where Dir writes an object before renaming it into place: a
// directory of the bucket, so the rename stays on one file system, whose
// name begins with a dot, which no key segment does (rayfleet.ValidLogKey).
const tmpDir = ".tmp"

// Dir is a Store in a directory: the object of key k in bucket b is the
// file <root>/<b>/<k>, a key's slashes its subdirectories. Files are
// written to a temporary name, synced and renamed over the old one, so a
// crash leaves the old object or the new, never half of one. Directories
// are 0700 and files 0600: logs are the account's.
//
// The directory file system allows a key and the keys under it as a
// directory (a/b beside a/b/c) not to coexist; Put refuses the second. The
// keys rayfleet writes never clash so.
type Dir struct {
	bucket string
	root   *os.Root
}

// OpenDir opens (creating it) the directory of bucket under dir.
func OpenDir(dir, bucket string) (*Dir, error) {
	if err := rayfleet.ValidLogBucket(bucket); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, bucket)
	if err := os.MkdirAll(filepath.Join(path, tmpDir), 0o700); err != nil {
		return nil, fmt.Errorf("log store: %w", err)
	}
	root, err := os.OpenRoot(path)
	if err != nil {
		return nil, fmt.Errorf("log store: %w", err)
	}
	return &Dir{bucket: bucket, root: root}, nil
}

// Close releases the directory.
func (d *Dir) Close() error { return d.root.Close() }

// Bucket is the bucket's name.
func (d *Dir) Bucket() string { return d.bucket }

// Put stores r's bytes as key.
func (d *Dir) Put(ctx context.Context, key string, r io.Reader) (err error) {
	if err := rayfleet.ValidLogKey(key); err != nil {
		return err
	}
	var rnd [12]byte
	_, _ = rand.Read(rnd[:]) // never fails (crypto/rand)
	tmp := tmpDir + "/" + hex.EncodeToString(rnd[:])
	f, err := d.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("log store: put %s: %w", key, err)
	}
	defer func() {
		if err != nil {
			_ = d.root.Remove(tmp)
		}
	}()
	_, err = io.Copy(f, ctxReader{ctx, r})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		if i := strings.LastIndexByte(key, '/'); i > 0 {
			err = d.root.MkdirAll(key[:i], 0o700)
		}
	}
	if err == nil {
		err = d.root.Rename(tmp, key)
	}
	if err != nil {
		return fmt.Errorf("log store: put %s: %w", key, err)
	}
	return nil
}

// ctxReader stops a copy once its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Stat returns what is known of key's object.
func (d *Dir) Stat(_ context.Context, key string) (rayfleet.LogObject, error) {
	if err := rayfleet.ValidLogKey(key); err != nil {
		return rayfleet.LogObject{}, err
	}
	fi, err := d.root.Lstat(key)
	return d.object(key, fi, err)
}

func (d *Dir) object(key string, fi fs.FileInfo, err error) (rayfleet.LogObject, error) {
	switch {
	case errors.Is(err, fs.ErrNotExist) || err == nil && !fi.Mode().IsRegular() || isNotDir(err):
		return rayfleet.LogObject{}, rayfleet.Errorf(rayfleet.ENOTFOUND, "log file %s not found in bucket %s", key, d.bucket)
	case err != nil:
		return rayfleet.LogObject{}, fmt.Errorf("log store: %w", err)
	}
	return rayfleet.LogObject{Key: key, Size: fi.Size(), Modified: fi.ModTime().UTC().Truncate(time.Millisecond)}, nil
}

// isNotDir tells a key whose parent is a file ("a/b" is a file, "a/b/c"
// asked for): not found, like any other missing key.
func isNotDir(err error) bool { return errors.Is(err, syscall.ENOTDIR) }

// Open returns key's object to read.
func (d *Dir) Open(ctx context.Context, key string) (io.ReadCloser, rayfleet.LogObject, error) {
	obj, err := d.Stat(ctx, key)
	if err != nil {
		return nil, obj, err
	}
	f, err := d.root.Open(key)
	if err != nil {
		obj, err = d.object(key, nil, err)
		return nil, obj, err
	}
	// The file may have been replaced between the two calls: report the
	// one opened.
	if fi, err := f.Stat(); err == nil {
		obj.Size, obj.Modified = fi.Size(), fi.ModTime().UTC().Truncate(time.Millisecond)
	}
	return f, obj, nil
}

// List returns a page of the keys under o.Prefix. It reads the directory
// the prefix names (the part before its last slash), so a listing of one
// job's logs reads only that job's files.
func (d *Dir) List(ctx context.Context, o rayfleet.LogListOptions) (rayfleet.LogListing, error) {
	start := "."
	if i := strings.LastIndexByte(o.Prefix, '/'); i >= 0 {
		start = o.Prefix[:i]
		if rayfleet.ValidLogKey(start) != nil {
			// No key lies under a directory no key can name.
			return Page(nil, o), nil
		}
	}
	var objects []rayfleet.LogObject
	err := fs.WalkDir(d.root.FS(), start, func(p string, e fs.DirEntry, err error) error {
		switch {
		case err != nil && p == start && (errors.Is(err, fs.ErrNotExist) || isNotDir(err)):
			return fs.SkipAll
		case err != nil:
			return err
		case ctx.Err() != nil:
			return ctx.Err()
		case e.IsDir():
			if p != start && strings.HasPrefix(e.Name(), ".") {
				return fs.SkipDir // the temporary files
			}
			return nil
		case !e.Type().IsRegular() || !strings.HasPrefix(p, o.Prefix):
			return nil
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // replaced or gone since the directory was read
		}
		obj, err := d.object(p, fi, err)
		if err != nil {
			return err
		}
		objects = append(objects, obj)
		return nil
	})
	if err != nil {
		return rayfleet.LogListing{}, fmt.Errorf("log store: list %q: %w", o.Prefix, err)
	}
	// A directory walk visits a/b before a-c; keys sort the other way.
	slices.SortFunc(objects, func(a, b rayfleet.LogObject) int { return strings.Compare(a.Key, b.Key) })
	return Page(objects, o), nil
}
