package rayjob

import (
	"archive/zip"
	"crypto/sha1" //nolint:gosec // Ray names packages by SHA-1; it is a name, not a signature
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// DefaultExcludes are the paths Ray leaves out of every working directory
// (RAY_RUNTIME_ENV_DEFAULT_EXCLUDES in Ray 2.60).
var DefaultExcludes = []string{".git", ".venv", "venv", "__pycache__"}

// WorkingDir is a local directory to send as a job's working_dir.
type WorkingDir struct {
	Path string
	// Excludes are .gitignore-style patterns relative to Path, as the
	// runtime env's "excludes"; DefaultExcludes are always added.
	Excludes []string
	// IgnoreGitignore leaves .gitignore files unread, as Ray does with
	// RAY_RUNTIME_ENV_IGNORE_GITIGNORE=1; .rayignore files are read always.
	IgnoreGitignore bool
}

// packagePrefix starts the name of every package Ray makes of a directory.
const packagePrefix = "_ray_pkg_"

// URI returns the package URI Ray gives the directory, gcs://_ray_pkg_<hash>.zip.
// The hash, as in Ray's _hash_directory, starts as eight ASCII '0' bytes
// and is XORed with the SHA-1 of each path that is not excluded (the
// directory itself included, as "."), that SHA-1 covering the path relative
// to the directory and, for a file, its content. Ray's XOR stops at the
// shorter operand, so the hash stays eight bytes. A file that cannot be
// read adds its name alone, as in Ray.
func (w WorkingDir) URI() (string, error) {
	root, err := w.root()
	if err != nil {
		return "", err
	}
	hash := []byte("00000000")
	err = w.walk(root, func(path string, isDir bool) error {
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		h := sha1.New() //nolint:gosec // see the import
		h.Write([]byte(filepath.ToSlash(rel)))
		if !isDir {
			if f, err := os.Open(path); err == nil {
				_, err = io.Copy(h, f)
				f.Close()
				if err != nil {
					return fmt.Errorf("read %s: %w", path, err)
				}
			}
		}
		for i, b := range h.Sum(nil)[:len(hash)] {
			hash[i] ^= b
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return "gcs://" + packagePrefix + hex.EncodeToString(hash) + ".zip", nil
}

// Zip writes the directory's package: every file and every empty
// directory that is not excluded, at its path relative to the directory.
func (w WorkingDir) Zip(out io.Writer) error {
	root, err := w.root()
	if err != nil {
		return err
	}
	zw := zip.NewWriter(out)
	err = w.walk(root, func(path string, isDir bool) error {
		if path == root {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		fi, err := os.Stat(path)
		if err != nil {
			return nil // gone, or a dangling link: Ray packs neither
		}
		if isDir {
			ents, err := os.ReadDir(path)
			if err != nil || len(ents) > 0 {
				return nil // only empty directories have an entry of their own
			}
		} else if !fi.Mode().IsRegular() {
			return nil
		}
		hdr, err := zip.FileInfoHeader(fi)
		if err != nil {
			return fmt.Errorf("zip %s: %w", path, err)
		}
		hdr.Name = filepath.ToSlash(rel)
		if isDir {
			hdr.Name += "/"
		} else {
			hdr.Method = zip.Deflate
		}
		dst, err := zw.CreateHeader(hdr)
		if err != nil || isDir {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("zip %s: %w", path, err)
		}
		defer f.Close()
		if _, err := io.Copy(dst, f); err != nil {
			return fmt.Errorf("zip %s: %w", path, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return zw.Close()
}

func (w WorkingDir) root() (string, error) {
	root, err := filepath.Abs(w.Path)
	if err != nil {
		return "", fmt.Errorf("working dir %s: %w", w.Path, err)
	}
	if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
		return "", fmt.Errorf("working dir %s must be an existing directory", w.Path)
	}
	return root, nil
}

// walk calls fn on root and on everything under it that no exclude
// matches, the way Ray's _dir_travel goes: the ignore files of a directory
// apply to it and its subtree, an excluded directory is not entered, and
// links are followed.
func (w WorkingDir) walk(root string, fn func(path string, isDir bool) error) error {
	excludes := []*ignore{newIgnore(root, append(append([]string(nil), DefaultExcludes...), w.Excludes...))}
	var visit func(path string, depth int) error
	visit = func(path string, depth int) error {
		if depth > 256 {
			return fmt.Errorf("working dir %s: %s is nested too deep (a link loop?)", w.Path, path)
		}
		fi, err := os.Stat(path)
		isDir := err == nil && fi.IsDir()
		n := len(excludes)
		if isDir {
			if !w.IgnoreGitignore {
				if ig := readIgnoreFile(path, ".gitignore"); ig != nil {
					excludes = append(excludes, ig)
				}
			}
			if ig := readIgnoreFile(path, ".rayignore"); ig != nil {
				excludes = append(excludes, ig)
			}
		}
		defer func() { excludes = excludes[:n] }()
		for _, ig := range excludes {
			if ig.matches(path) {
				return nil
			}
		}
		if err := fn(path, isDir); err != nil {
			return err
		}
		if !isDir {
			return nil
		}
		ents, err := os.ReadDir(path)
		if err != nil {
			return fmt.Errorf("working dir %s: %w", w.Path, err)
		}
		for _, e := range ents {
			if err := visit(filepath.Join(path, e.Name()), depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return visit(root, 0)
}

// errPackageURI says a package URI is not of the gcs://<name> form the
// package API takes.
var errPackageURI = errors.New("a package URI is gcs://<name>.zip")
