package app

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rayfleet/rayfleet"
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

// TestDamagedCredentialsFile: a truncated credentials file does not keep
// the server from starting: it is written again from the database, and
// when there is no root key left to write it with, a warning names it.
func TestDamagedCredentialsFile(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.LogLevel = "warn"
	getenv := func(k string) string {
		return map[string]string{"RAYFLEET_CONFIG": filepath.Join(dir, "cli", "config.json")}[k]
	}
	srv, err := Start(context.Background(), cfg, getenv, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cred := readCredentials(t, cfg.DataDir)
	shutdown(t, srv)
	path := filepath.Join(cfg.DataDir, "credentials")
	truncate := func() {
		t.Helper()
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data[:len(data)/2], 0o600); err != nil {
			t.Fatal(err)
		}
	}

	truncate()
	srv, err = Start(context.Background(), cfg, getenv, io.Discard, io.Discard)
	if err != nil {
		t.Fatalf("start with a truncated credentials file: %v", err)
	}
	got := readCredentials(t, cfg.DataDir)
	if got.AccessKeyID != cred.AccessKeyID || got.AccessKeySecret != cred.AccessKeySecret || got.UserID != cred.UserID ||
		got.WorkspaceID != cred.WorkspaceID || got.Endpoint != srv.Addr {
		t.Fatalf("rewritten credentials = %+v, want %+v at %s", got, cred, srv.Addr)
	}
	if _, err := client(srv, got).ListClusters(context.Background(), got.WorkspaceID, api.ListClustersOptions{}); err != nil {
		t.Fatalf("with the rewritten credentials: %v", err)
	}
	// With the root key disabled there is nothing to write it with.
	p, _, err := srv.Service.Authenticate(context.Background(), cred.AccessKeyID)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Store.SetAccessKeyStatus(context.Background(), p.AccountID, p.UserUID, cred.AccessKeyID, rayfleet.KeyInactive); err != nil {
		t.Fatal(err)
	}
	shutdown(t, srv)
	truncate()
	var logs bytes.Buffer
	srv, err = Start(context.Background(), cfg, getenv, io.Discard, &logs)
	if err != nil {
		t.Fatalf("start with a truncated credentials file and no root key: %v", err)
	}
	defer shutdown(t, srv)
	if !strings.Contains(logs.String(), "credentials file is damaged") || !strings.Contains(logs.String(), path) {
		t.Fatalf("the warning does not name the damaged file:\n%s", logs.String())
	}
}
