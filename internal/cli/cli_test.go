package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rayfleet/rayfleet/api"
	"github.com/rayfleet/rayfleet/api/signer"
)

const (
	testKey    = "AKIDTEST0001"
	testSecret = "test-secret-0123456789"
	testWS     = "w-0123456789abcdef"
)

// call is one request the fake server received, after its signature checked out.
type call struct {
	Method, Path, Query, Action, KeyID string
	Body                               []byte
}

// fakeServer is an httptest server that verifies every request's ACS3
// signature with api/signer, records it, and answers what handle says.
type fakeServer struct {
	t      *testing.T
	srv    *httptest.Server
	keys   map[string]string // access key id → secret
	handle func(c call) (int, string)

	mu    sync.Mutex
	calls []call
}

func newFakeServer(t *testing.T, handle func(call) (int, string)) *fakeServer {
	t.Helper()
	f := &fakeServer{t: t, keys: map[string]string{testKey: testSecret}, handle: handle}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// answer returns a handler that gives every request the same answer.
func answer(status int, body string) func(call) (int, string) {
	return func(call) (int, string) { return status, body }
}

func (f *fakeServer) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		f.t.Errorf("read body: %v", err)
	}
	signed, err := signer.Parse(r)
	if err == nil {
		secret, ok := f.keys[signed.AccessKeyID]
		if !ok {
			err = fmt.Errorf("unknown access key %q", signed.AccessKeyID)
		} else {
			err = signed.Verify(r, body, secret, time.Now())
		}
	}
	if err != nil {
		f.t.Errorf("%s %s: bad signature: %v", r.Method, r.URL, err)
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"RequestId":"SIG","Code":"SignatureDoesNotMatch","Message":"bad signature"}`)
		return
	}
	if v := r.Header.Get("x-acs-version"); v != api.Version {
		f.t.Errorf("%s %s: x-acs-version %q", r.Method, r.URL, v)
	}
	c := call{
		Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery,
		Action: r.Header.Get("x-acs-action"), KeyID: signed.AccessKeyID, Body: body,
	}
	f.mu.Lock()
	f.calls = append(f.calls, c)
	f.mu.Unlock()
	status, resp := f.handle(c)
	w.Header().Set("content-type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, resp)
}

func (f *fakeServer) recorded() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

// only returns the single call the server got, failing otherwise.
func (f *fakeServer) only(t *testing.T) call {
	t.Helper()
	calls := f.recorded()
	if len(calls) != 1 {
		t.Fatalf("server got %d calls, want 1: %+v", len(calls), calls)
	}
	return calls[0]
}

// vars is an environment that points at f with working credentials and a
// profile file that does not exist.
func (f *fakeServer) vars(t *testing.T) map[string]string {
	return map[string]string{
		"RAYFLEET_CONFIG":            filepath.Join(t.TempDir(), "config.json"),
		"RAYFLEET_ENDPOINT":          f.srv.URL,
		"RAYFLEET_ACCESS_KEY_ID":     testKey,
		"RAYFLEET_ACCESS_KEY_SECRET": testSecret,
		"RAYFLEET_WORKSPACE":         testWS,
	}
}

type result struct {
	code           int
	stdout, stderr string
}

// runCLI runs the CLI in-process with the given environment and stdin.
func runCLI(t *testing.T, vars map[string]string, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	env := Env{
		Args:   args,
		Getenv: func(k string) string { return vars[k] },
		Stdin:  strings.NewReader(stdin),
		Stdout: &stdout,
		Stderr: &stderr,
	}
	code := Run(context.Background(), env, nil)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

func (r result) wantCode(t *testing.T, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
}

func contains(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s does not contain %q:\n%s", what, sub, s)
		}
	}
}

// oneErrorLine checks that stderr is exactly one line starting "error: ".
func oneErrorLine(t *testing.T, r result) {
	t.Helper()
	if !strings.HasPrefix(r.stderr, "error: ") || strings.Count(r.stderr, "\n") != 1 || !strings.HasSuffix(r.stderr, "\n") {
		t.Errorf("stderr is not one error line: %q", r.stderr)
	}
}

// jsonEqual compares JSON by value, so key order and spacing do not matter.
func jsonEqual(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got invalid JSON %q: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want invalid JSON %q: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		gi, _ := json.MarshalIndent(g, "", "  ")
		wi, _ := json.MarshalIndent(w, "", "  ")
		t.Errorf("JSON differs\ngot:\n%s\nwant:\n%s", gi, wi)
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// closedEndpoint returns an address nothing listens on.
func closedEndpoint(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
