package local

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Home names where this runtime's nodes live: an id chosen once and kept
// beside the node records, and the records' directory. Only a reconciler
// reading these records can adopt, stop or account for the nodes, so on a
// database shared by several servers the reconciler must be one whose
// Home is the recorded one while any cluster may have nodes (see
// docs/operating.md, "The local runtime and failover").
func (r *Runtime) Home() (id, dir string) { return r.homeID, r.files.root }

// readHome returns the id in root/home, writing a new one on first use.
func readHome(root string) (string, error) {
	path := filepath.Join(root, "home")
	b, err := os.ReadFile(path)
	if err == nil {
		if id := strings.TrimSpace(string(b)); len(id) == 32 {
			return id, nil
		}
		// A torn first write: no node can have been started under it.
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	var raw [16]byte
	_, _ = rand.Read(raw[:])
	id := hex.EncodeToString(raw[:])
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return id, nil
}
