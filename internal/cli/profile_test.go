package cli

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestProfilePath(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if p, err := ProfilePath(env(map[string]string{"RAYFLEET_CONFIG": "/x/c.json", "HOME": "/home/u"})); err != nil || p != "/x/c.json" {
		t.Errorf("with RAYFLEET_CONFIG: %q, %v", p, err)
	}
	if p, err := ProfilePath(env(map[string]string{"HOME": "/home/u"})); err != nil || p != "/home/u/.rayfleet/config.json" {
		t.Errorf("with HOME: %q, %v", p, err)
	}
	if _, err := ProfilePath(env(nil)); err == nil {
		t.Error("with neither: no error")
	}
}

func TestSaveAndLoadProfiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "home", ".rayfleet", "config.json")
	pf, err := LoadProfiles(path)
	if err != nil || pf.Current != "" || len(pf.Profiles) != 0 {
		t.Fatalf("missing file: %+v, %v; want empty", pf, err)
	}
	first := Profile{Endpoint: "127.0.0.1:8080", AccessKeyID: "AK1", AccessKeySecret: "S1", UserID: "1234567890123456", WorkspaceID: "w-1"}
	if err := SaveProfile(path, "default", first); err != nil {
		t.Fatal(err)
	}
	second := Profile{Endpoint: "https://prod", AccessKeyID: "AK2", AccessKeySecret: "S2"}
	if err := SaveProfile(path, "prod", second); err != nil {
		t.Fatal(err)
	}
	pf, err = LoadProfiles(path)
	if err != nil {
		t.Fatal(err)
	}
	if pf.Current != "default" {
		t.Errorf("current %q, want the first profile saved", pf.Current)
	}
	if pf.Profiles["default"] != first || pf.Profiles["prod"] != second {
		t.Errorf("profiles %+v", pf.Profiles)
	}
	// Replacing keeps the others.
	first.WorkspaceID = "w-2"
	if err := SaveProfile(path, "default", first); err != nil {
		t.Fatal(err)
	}
	pf, _ = LoadProfiles(path)
	if pf.Profiles["default"].WorkspaceID != "w-2" || pf.Profiles["prod"] != second {
		t.Errorf("after replace: %+v", pf.Profiles)
	}

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v, want 0600", fi.Mode().Perm())
	}
	di, _ := os.Stat(filepath.Dir(path))
	if di.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v, want 0700", di.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	for _, key := range []string{`"current"`, `"profiles"`, `"endpoint"`, `"accessKeyId"`, `"accessKeySecret"`, `"userId"`, `"workspaceId"`} {
		if !strings.Contains(string(data), key) {
			t.Errorf("file lacks %s:\n%s", key, data)
		}
	}
	if err := os.WriteFile(path, []byte("{broken"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadProfiles(path); err == nil {
		t.Error("a broken file loaded without error")
	}
}

func TestProfileCommands(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	vars := map[string]string{"RAYFLEET_CONFIG": path}

	r := runCLI(t, vars, "", "profile", "list")
	r.wantCode(t, 0)
	contains(t, "empty list", r.stdout, "No profiles")

	r = runCLI(t, vars, "", "profile", "set", "local", "--endpoint", "127.0.0.1:8080")
	r.wantCode(t, 2)
	contains(t, "stderr", r.stderr, "--access-key-id", "--access-key-secret")

	r = runCLI(t, vars, "", "profile", "set", "local", "--endpoint", "127.0.0.1:8080",
		"--access-key-id", "AKLOCAL", "--access-key-secret", "local-secret-abcdef", "-w", "w-local")
	r.wantCode(t, 0)
	contains(t, "stdout", r.stdout, "Saved profile local", "current")

	// The secret from stdin keeps it out of argv.
	r = runCLI(t, vars, "prod-secret-uvwxyz\n", "profile", "set", "prod", "--endpoint", "https://rayfleet.example.com",
		"--access-key-id", "AKPROD", "--access-key-secret", "-")
	r.wantCode(t, 0)
	pf, _ := LoadProfiles(path)
	if pf.Profiles["prod"].AccessKeySecret != "prod-secret-uvwxyz" || pf.Current != "local" {
		t.Errorf("after set: %+v", pf)
	}

	// Changing one field of an existing profile keeps the rest.
	r = runCLI(t, vars, "", "profile", "set", "prod", "--workspace", "w-prod")
	r.wantCode(t, 0)
	pf, _ = LoadProfiles(path)
	if p := pf.Profiles["prod"]; p.WorkspaceID != "w-prod" || p.AccessKeyID != "AKPROD" || p.AccessKeySecret != "prod-secret-uvwxyz" {
		t.Errorf("after partial set: %+v", p)
	}

	r = runCLI(t, vars, "", "profile", "list")
	r.wantCode(t, 0)
	contains(t, "list", r.stdout, "CURRENT", "NAME", "ENDPOINT", "local", "prod", "AKLOCAL", "w-prod")
	for _, line := range strings.Split(r.stdout, "\n") {
		if strings.Contains(line, "local") && !strings.HasPrefix(line, "*") {
			t.Errorf("current profile not marked: %q", line)
		}
	}

	for _, args := range [][]string{{"profile", "show"}, {"profile", "show", "prod"}, {"profile", "show", "prod", "-o", "json"}, {"profile", "list", "-o", "json"}} {
		r = runCLI(t, vars, "", args...)
		r.wantCode(t, 0)
		if strings.Contains(r.stdout, "local-secret-abcdef") || strings.Contains(r.stdout, "prod-secret-uvwxyz") {
			t.Errorf("%v shows a secret:\n%s", args, r.stdout)
		}
	}
	r = runCLI(t, vars, "", "profile", "show")
	contains(t, "show", r.stdout, "local", "127.0.0.1:8080", "AKLOCAL", "********cdef", "w-local")

	r = runCLI(t, vars, "", "profile", "use", "prod")
	r.wantCode(t, 0)
	contains(t, "use", r.stdout, "Now using profile prod")
	if pf, _ = LoadProfiles(path); pf.Current != "prod" {
		t.Errorf("current %q after use", pf.Current)
	}

	for _, args := range [][]string{{"profile", "use", "nope"}, {"profile", "show", "nope"}, {"profile", "delete", "nope"}} {
		r = runCLI(t, vars, "", args...)
		r.wantCode(t, 4)
		oneErrorLine(t, r)
	}

	r = runCLI(t, vars, "", "profile", "delete", "prod")
	r.wantCode(t, 0)
	contains(t, "delete", r.stdout, "Deleted profile prod", "current profile")
	if pf, _ = LoadProfiles(path); pf.Current != "" || len(pf.Profiles) != 1 {
		t.Errorf("after delete: %+v", pf)
	}
}

func TestCredentialPrecedence(t *testing.T) {
	const listOK = `{"requestId":"R","rayClusters":[]}`
	fileSrv := newFakeServer(t, answer(200, listOK))
	envSrv := newFakeServer(t, answer(200, listOK))
	flagSrv := newFakeServer(t, answer(200, listOK))
	otherSrv := newFakeServer(t, answer(200, listOK))
	for _, s := range []*fakeServer{fileSrv, envSrv, flagSrv, otherSrv} {
		s.keys = map[string]string{"AKFILE": "file-secret", "AKENV": "env-secret", "AKOTHER": "other-secret"}
	}
	path := filepath.Join(t.TempDir(), "config.json")
	if err := SaveProfile(path, "main", Profile{Endpoint: fileSrv.srv.URL, AccessKeyID: "AKFILE", AccessKeySecret: "file-secret", WorkspaceID: "w-file"}); err != nil {
		t.Fatal(err)
	}
	if err := SaveProfile(path, "other", Profile{Endpoint: otherSrv.srv.URL, AccessKeyID: "AKOTHER", AccessKeySecret: "other-secret", WorkspaceID: "w-other"}); err != nil {
		t.Fatal(err)
	}
	envVars := map[string]string{
		"RAYFLEET_CONFIG":            path,
		"RAYFLEET_ENDPOINT":          envSrv.srv.URL,
		"RAYFLEET_ACCESS_KEY_ID":     "AKENV",
		"RAYFLEET_ACCESS_KEY_SECRET": "env-secret",
		"RAYFLEET_WORKSPACE":         "w-env",
	}

	tests := []struct {
		name    string
		vars    map[string]string
		args    []string
		srv     *fakeServer
		key, ws string
	}{
		{"file only", map[string]string{"RAYFLEET_CONFIG": path}, nil, fileSrv, "AKFILE", "w-file"},
		{"env beats file", envVars, nil, envSrv, "AKENV", "w-env"},
		{"flags beat env", envVars, []string{"--endpoint", flagSrv.srv.URL, "-w", "w-flag"}, flagSrv, "AKENV", "w-flag"},
		{"flags beat file", map[string]string{"RAYFLEET_CONFIG": path}, []string{"--endpoint", flagSrv.srv.URL, "--workspace", "w-flag"}, flagSrv, "AKFILE", "w-flag"},
		{"RAYFLEET_PROFILE picks the profile", map[string]string{"RAYFLEET_CONFIG": path, "RAYFLEET_PROFILE": "other"}, nil, otherSrv, "AKOTHER", "w-other"},
		{"--profile beats RAYFLEET_PROFILE", map[string]string{"RAYFLEET_CONFIG": path, "RAYFLEET_PROFILE": "other"}, []string{"--profile", "main"}, fileSrv, "AKFILE", "w-file"},
		{"--profile beats env settings", envVars, []string{"--profile", "other"}, otherSrv, "AKOTHER", "w-other"},
		{"--profile loses to flags", envVars, []string{"--profile", "other", "-w", "w-flag"}, otherSrv, "AKOTHER", "w-flag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := map[*fakeServer]int{}
			for _, s := range []*fakeServer{fileSrv, envSrv, flagSrv, otherSrv} {
				before[s] = len(s.recorded())
			}
			r := runCLI(t, tt.vars, "", append([]string{"cluster", "list"}, tt.args...)...)
			r.wantCode(t, 0)
			for _, s := range []*fakeServer{fileSrv, envSrv, flagSrv, otherSrv} {
				calls := s.recorded()[before[s]:]
				if s != tt.srv {
					if len(calls) != 0 {
						t.Errorf("the wrong server got %d calls", len(calls))
					}
					continue
				}
				if len(calls) != 1 {
					t.Fatalf("the expected server got %d calls", len(calls))
				}
				if calls[0].KeyID != tt.key {
					t.Errorf("signed with %s, want %s", calls[0].KeyID, tt.key)
				}
				if want := "/api/v1/workspaces/" + tt.ws + "/rayCluster"; calls[0].Path != want {
					t.Errorf("path %s, want %s", calls[0].Path, want)
				}
			}
		})
	}
}

func TestProfileFromServerFirstStart(t *testing.T) {
	// The server writes the profile through SaveProfile into $HOME; the CLI
	// then works with no other configuration.
	srv := newFakeServer(t, answer(200, `{"requestId":"R","rayClusters":[]}`))
	home := t.TempDir()
	path, err := ProfilePath(func(k string) string { return map[string]string{"HOME": home}[k] })
	if err != nil {
		t.Fatal(err)
	}
	if err := SaveProfile(path, "default", Profile{
		Endpoint:    strings.TrimPrefix(srv.srv.URL, "http://"),
		AccessKeyID: testKey, AccessKeySecret: testSecret, WorkspaceID: testWS,
	}); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, map[string]string{"HOME": home}, "", "cluster", "list")
	r.wantCode(t, 0)
	srv.only(t)
}

// TestDamagedProfileFile: a truncated profile file does not stop a command
// whose endpoint and credentials all come from the environment; where it
// is needed, the error names it.
func TestDamagedProfileFile(t *testing.T) {
	srv := newFakeServer(t, answer(200, `{"requestId":"R","rayClusters":[]}`))
	vars := srv.vars(t)
	path := vars["RAYFLEET_CONFIG"]
	if err := os.WriteFile(path, []byte(`{"current":"default","profiles":{"default":{"endpoint":"127.0.0.1:8`), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, vars, "", "cluster", "list")
	r.wantCode(t, 0)
	if c := srv.only(t); c.KeyID != testKey {
		t.Fatalf("signed with %s", c.KeyID)
	}

	without := func(keys ...string) map[string]string {
		v := maps.Clone(vars)
		for _, k := range keys {
			delete(v, k)
		}
		return v
	}
	r = runCLI(t, without("RAYFLEET_ACCESS_KEY_SECRET"), "", "cluster", "list")
	if r.code == 0 {
		t.Fatal("a command that needs the damaged profile succeeded")
	}
	oneErrorLine(t, r)
	contains(t, "stderr", r.stderr, path, "not valid", "fix or remove it")
	r = runCLI(t, without("RAYFLEET_ENDPOINT"), "", "cluster", "list")
	contains(t, "stderr", r.stderr, path, "fix or remove it")
	r = runCLI(t, vars, "", "--profile", "default", "cluster", "list")
	contains(t, "stderr", r.stderr, `profile "default"`, path)
	r = runCLI(t, without("RAYFLEET_WORKSPACE"), "", "cluster", "list")
	contains(t, "stderr", r.stderr, "no workspace", path)
	if n := len(srv.recorded()); n != 1 {
		t.Fatalf("server got %d calls, want only the first command's", n)
	}
}
