// Package s3test gives tests a real S3-compatible server: versitygw, the
// binary scripts/s3.sh builds, serving a temporary directory on a free
// loopback port, with one bucket.
//
//   - Start finds the binary in $RAYFLEET_TEST_S3_SERVER. Without it a test
//     that needs S3 skips and says how to get it, unless
//     RAYFLEET_TEST_REQUIRE_S3 is set (the README's test command sets it):
//     then it fails. The server ends with the test.
//
// It imports internal/poll and the standard library only.
package s3test

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rayfleet/rayfleet/internal/poll"
)

// RequireEnv makes a missing S3 server a failure instead of a skip.
const RequireEnv = "RAYFLEET_TEST_REQUIRE_S3"

// Server is a running S3-compatible server with one bucket.
type Server struct {
	// Endpoint is its base URL, http://127.0.0.1:<port>.
	Endpoint string
	Bucket   string
	// AccessKeyID and SecretAccessKey are its root user's.
	AccessKeyID, SecretAccessKey string
	// Dir is the directory it serves, a subdirectory per bucket.
	Dir string
}

// Start starts a server with bucket.
func Start(t *testing.T, bucket string) *Server {
	t.Helper()
	bin := os.Getenv("RAYFLEET_TEST_S3_SERVER")
	if bin == "" {
		if os.Getenv(RequireEnv) != "" {
			t.Fatal(RequireEnv + " is set but RAYFLEET_TEST_S3_SERVER is not: run scripts/s3.sh and set it to what it prints")
		}
		t.Skip("no S3 server: run scripts/s3.sh and set RAYFLEET_TEST_S3_SERVER to what it prints")
	}
	s := &Server{Bucket: bucket, AccessKeyID: "rayfleettestkey", SecretAccessKey: "rayfleet-test-secret-0123456789", Dir: t.TempDir()}
	// versitygw's posix backend: a bucket is a directory; without its
	// metadata in extended attributes (--nometa) any file system serves.
	if err := os.Mkdir(filepath.Join(s.Dir, bucket), 0o700); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // a race with other programs for the port, accepted as elsewhere
	s.Endpoint = "http://" + addr
	cmd := exec.Command(bin, "--port", addr, "--access", s.AccessKeyID, "--secret", s.SecretAccessKey, "posix", "--nometa", s.Dir)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		// Killed: its exit status says nothing the test needs.
		err := <-exited
		_ = err
	})
	poll.UntilSeen(t, time.Minute, "the S3 server to listen", func() (bool, string) {
		select {
		case err := <-exited:
			t.Fatalf("the S3 server exited: %v\n%s", err, out.String())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.Endpoint, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return true, ""
	}, poll.Every(100*time.Millisecond))
	return s
}
