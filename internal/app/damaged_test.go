package app

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rayfleet/rayfleet/api"
)

// TestMasterKeyNeverReplaced: a server whose master.key is gone, beside a
// database holding secrets sealed under it, refuses to start and says
// what is missing instead of making a new key; so does one with another
// key. With the key restored it starts and the old credentials work.
func TestMasterKeyNeverReplaced(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	getenv := func(k string) string {
		return map[string]string{"RAYFLEET_CONFIG": filepath.Join(dir, "cli", "config.json")}[k]
	}
	srv, err := Start(context.Background(), cfg, getenv, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cred := readCredentials(t, cfg.DataDir)
	shutdown(t, srv)

	keyPath := filepath.Join(cfg.DataDir, "master.key")
	key, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(keyPath); err != nil {
		t.Fatal(err)
	}
	_, err = Start(context.Background(), cfg, getenv, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "master key "+keyPath+" is missing") || !strings.Contains(err.Error(), cred.AccessKeyID) ||
		!strings.Contains(err.Error(), "restore master.key") {
		t.Fatalf("start without master.key: %v", err)
	}
	if _, err := os.Stat(keyPath); !os.IsNotExist(err) {
		t.Fatalf("a start without master.key made one: %v", err)
	}

	if err := os.WriteFile(keyPath, bytes.Repeat([]byte{7}, len(key)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err = Start(context.Background(), cfg, getenv, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "does not open the secrets") {
		t.Fatalf("start with another master.key: %v", err)
	}

	if err := os.WriteFile(keyPath, key, 0o600); err != nil {
		t.Fatal(err)
	}
	srv, err = Start(context.Background(), cfg, getenv, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, srv)
	cred.Endpoint = srv.Addr
	if _, err := client(srv, cred).ListClusters(context.Background(), cred.WorkspaceID, api.ListClustersOptions{}); err != nil {
		t.Fatalf("with the key restored: %v", err)
	}
}
