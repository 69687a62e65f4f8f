package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func TestAPIErrors(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		code   int
		line   string
	}{
		{
			"invalid parameter", 400,
			`{"RequestId":"REQ-400","HostId":"h","Code":"InvalidParameter","Message":"name must be 1-64 characters","Recommend":"r"}`,
			3, "error: InvalidParameter: name must be 1-64 characters (request id REQ-400)\n",
		},
		{
			"forbidden", 403, `{"RequestId":"REQ-403","Code":"Forbidden.RAM","Message":"You are not authorized to perform this operation"}`,
			3, "error: Forbidden.RAM: You are not authorized to perform this operation (request id REQ-403)\n",
		},
		{
			"conflict", 409, `{"RequestId":"REQ-409","Code":"OperationDenied","Message":"the cluster is Stopping"}`,
			3, "error: OperationDenied: the cluster is Stopping (request id REQ-409)\n",
		},
		{
			"not found", 404, `{"RequestId":"REQ-404","Code":"ResourceNotFound","Message":"cluster ray-x not found"}`,
			4, "error: ResourceNotFound: cluster ray-x not found (request id REQ-404)\n",
		},
		{
			"unknown access key", 404, `{"RequestId":"REQ-AK","Code":"InvalidAccessKeyId.NotFound","Message":"Specified access key is not found."}`,
			3, "error: InvalidAccessKeyId.NotFound: Specified access key is not found. (request id REQ-AK)\n",
		},
		{
			"internal", 500, `{"RequestId":"REQ-500","Code":"Error.Internal","Message":"An internal error occurred."}`,
			1, "error: Error.Internal: An internal error occurred. (request id REQ-500)\n",
		},
		{"not JSON", 502, `<html>Bad Gateway</html>`, 1, "error: HTTP502: <html>Bad Gateway</html>\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFakeServer(t, answer(tt.status, tt.body))
			for _, args := range [][]string{
				{"cluster", "get", "ray-x"},
				{"cluster", "get", "ray-x", "-o", "json"},
				{"cluster", "delete", "ray-x"},
			} {
				r := runCLI(t, srv.vars(t), "", args...)
				r.wantCode(t, tt.code)
				if r.stderr != tt.line {
					t.Errorf("%v: stderr %q, want %q", args, r.stderr, tt.line)
				}
				if r.stdout != "" {
					t.Errorf("%v: stdout %q, want nothing", args, r.stdout)
				}
			}
		})
	}
}

func TestConnectionRefused(t *testing.T) {
	addr := closedEndpoint(t)
	vars := map[string]string{
		"RAYFLEET_CONFIG":            t.TempDir() + "/config.json",
		"RAYFLEET_ENDPOINT":          addr,
		"RAYFLEET_ACCESS_KEY_ID":     testKey,
		"RAYFLEET_ACCESS_KEY_SECRET": testSecret,
		"RAYFLEET_WORKSPACE":         testWS,
	}
	r := runCLI(t, vars, "", "cluster", "list")
	r.wantCode(t, 1)
	oneErrorLine(t, r)
	contains(t, "stderr", r.stderr, "cannot reach the rayfleet server at "+addr, "refused", "rayfleet server")
}

func TestMissingCredentials(t *testing.T) {
	for _, vars := range []map[string]string{
		{"RAYFLEET_CONFIG": t.TempDir() + "/config.json"},
		{"RAYFLEET_CONFIG": t.TempDir() + "/config.json", "RAYFLEET_ACCESS_KEY_ID": testKey, "RAYFLEET_ENDPOINT": "127.0.0.1:1"},
		{}, // neither RAYFLEET_CONFIG nor HOME
	} {
		r := runCLI(t, vars, "", "cluster", "list", "-w", testWS)
		r.wantCode(t, 2)
		oneErrorLine(t, r)
		contains(t, "stderr", r.stderr, "no credentials", `"rayfleet server"`, "RAYFLEET_ACCESS_KEY_ID", "RAYFLEET_ACCESS_KEY_SECRET")
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{}, "rayfleet needs a command"},
		{[]string{"clustr"}, `unknown command "clustr" for "rayfleet" (did you mean "cluster"?`},
		{[]string{"cluster"}, "rayfleet cluster needs a command: create, delete, env, get, list"},
		{[]string{"cluster", "lst"}, `unknown command "lst" for "rayfleet cluster" (did you mean "list"?`},
		{[]string{"cluster", "list", "--bogus"}, `unknown flag: --bogus (see "rayfleet cluster list --help")`},
		{[]string{"cluster", "list", "--page", "x"}, `invalid argument "x"`},
		{[]string{"cluster", "get"}, "missing ID"},
		{[]string{"cluster", "get", "a", "b"}, `unexpected argument "b"`},
		{[]string{"-o", "yaml", "cluster", "list"}, `-o must be table or json, not "yaml"`},
		{[]string{"queue", "create", "q"}, "--cu is required"},
		{[]string{"workspace", "create"}, "missing NAME"},
		{[]string{"--profile", "nope", "cluster", "list"}, `profile "nope" not found`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			srv := newFakeServer(t, answer(200, `{"requestId":"R"}`))
			r := runCLI(t, srv.vars(t), "", tt.args...)
			r.wantCode(t, 2)
			oneErrorLine(t, r)
			contains(t, "stderr", r.stderr, tt.want)
			if n := len(srv.recorded()); n != 0 {
				t.Errorf("a usage error sent %d requests", n)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	r := runCLI(t, nil, "", "--help")
	r.wantCode(t, 0)
	contains(t, "root help", r.stdout, "Exit codes:", "0  success", "2  usage error", "3  the API refused",
		"4  not found", "Examples:", "cluster", "workspace", "queue", "release-version", "network-service",
		"profile", "version", "RAYFLEET_ACCESS_KEY_ID")
	for _, args := range [][]string{
		{"cluster", "--help"},
		{"cluster", "create", "--help"},
		{"cluster", "list", "-h"},
		{"queue", "edit", "--help"},
		{"profile", "set", "--help"},
		{"help", "workspace"},
		{"network-service", "create", "--help"},
	} {
		r := runCLI(t, nil, "", args...)
		r.wantCode(t, 0)
		contains(t, strings.Join(args, " "), r.stdout, "Usage:", "Examples:", "  rayfleet ")
		if r.stderr != "" {
			t.Errorf("%v: stderr %q", args, r.stderr)
		}
	}
}

func TestExtraCommands(t *testing.T) {
	var got []string
	extra := []Command{{
		Name:    "server",
		Summary: "Run the rayfleet server",
		Run: func(_ context.Context, env Env, args []string) int {
			got = args
			env.Stdout.Write([]byte("serving\n"))
			return 7
		},
	}}
	run := func(args ...string) (int, string) {
		var out bytes.Buffer
		code := Run(context.Background(), Env{Args: args, Stdout: &out, Stderr: &out}, extra)
		return code, out.String()
	}
	code, out := run("server", "--listen", "127.0.0.1:0", "--help")
	if code != 7 || out != "serving\n" {
		t.Errorf("server: code %d output %q, want 7 and the command's own output", code, out)
	}
	if strings.Join(got, " ") != "--listen 127.0.0.1:0 --help" {
		t.Errorf("server got args %q, want its flags untouched", got)
	}
	code, out = run("--help")
	if code != 0 || !strings.Contains(out, "server") || !strings.Contains(out, "Run the rayfleet server") {
		t.Errorf("root help (code %d) does not list the extra command:\n%s", code, out)
	}
}

func TestVersion(t *testing.T) {
	r := runCLI(t, nil, "", "version")
	r.wantCode(t, 0)
	contains(t, "stdout", r.stdout, "rayfleet ", "API 2023-08-08")
	r = runCLI(t, nil, "", "version", "-o", "json")
	r.wantCode(t, 0)
	contains(t, "stdout", r.stdout, `"apiVersion": "2023-08-08"`, `"version":`)
}

func TestFormatTime(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		ago  time.Duration
		want string
	}{
		{3 * time.Second, "just now"},
		{42 * time.Second, "42s ago"},
		{5 * time.Minute, "5m ago"},
		{30 * time.Hour, "30h ago"},
		{4 * 24 * time.Hour, "4d ago"},
	}
	for _, tt := range tests {
		if got := formatTime(now.Add(-tt.ago).UnixMilli(), now, true); got != tt.want {
			t.Errorf("%v ago: %q, want %q", tt.ago, got, tt.want)
		}
	}
	old := now.Add(-90 * 24 * time.Hour)
	if got, want := formatTime(old.UnixMilli(), now, true), old.Local().Format("2006-01-02"); got != want {
		t.Errorf("90 days ago: %q, want %q", got, want)
	}
	if got, want := formatTime(old.UnixMilli(), now, false), old.Local().Format(time.RFC3339); got != want {
		t.Errorf("not a terminal: %q, want %q", got, want)
	}
	if got := formatTime(0, now, true); got != "-" {
		t.Errorf("zero time: %q, want -", got)
	}
}

func TestMask(t *testing.T) {
	for in, want := range map[string]string{"": "", "short": "********", "abcdefghijklmnop": "********mnop"} {
		if got := mask(in); got != want {
			t.Errorf("mask(%q) = %q, want %q", in, got, want)
		}
	}
}
