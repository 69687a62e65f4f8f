package app

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rayfleet/rayfleet/internal/cli"
	"github.com/rayfleet/rayfleet/internal/poll"
)

// TestCLIJobs runs `rayfleet job` against a real server and real Ray: a
// job with a local working directory submitted to a cluster by its name
// and followed to Succeeded, its log read and followed through the
// gateway, the list as JSON, a failing job exiting 5 with Ray's message, a
// sleeping one cancelled, a job on a cluster of its own, and the log of a
// job whose cluster is gone.
func TestCLIJobs(t *testing.T) {
	needRay(t)
	srv, cred := testServer(t)
	vars := map[string]string{
		"RAYFLEET_CONFIG":            filepath.Join(t.TempDir(), "config.json"),
		"RAYFLEET_ENDPOINT":          srv.Addr,
		"RAYFLEET_ACCESS_KEY_ID":     cred.AccessKeyID,
		"RAYFLEET_ACCESS_KEY_SECRET": cred.AccessKeySecret,
		"RAYFLEET_WORKSPACE":         cred.WorkspaceID,
	}
	run := func(args ...string) (int, string, string) {
		t.Helper()
		var out, errb bytes.Buffer
		code := cli.Run(context.Background(), cli.Env{Args: args, Getenv: func(k string) string { return vars[k] }, Stdout: &out, Stderr: &errb}, nil)
		return code, out.String(), errb.String()
	}
	code, out, errs := run("cluster", "create", "--name", "jobs", "--head-cpu", "1", "--head-memory", "2Gi", "--wait", "--wait-interval", "200ms")
	if code != 0 {
		t.Fatalf("cluster create: %d\n%s\n%s", code, out, errs)
	}
	cluster := regexp.MustCompile(`ray-[a-z0-9]{16}`).FindString(out)

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "script.py"), []byte("print('marker-from-the-working-dir')\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs = run("job", "submit", "--cluster", "jobs", "--name", "hello", "--working-dir", dir,
		"--wait", "--wait-interval", "200ms", "--", "python", "script.py")
	job := regexp.MustCompile(`rj-[a-z0-9]{16}`).FindString(out)
	if code != 0 || job == "" || !strings.Contains(out, "Job "+job+" Succeeded") || !strings.Contains(errs, job+" ") {
		t.Fatalf("job submit --wait: %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	code, out, errs = run("job", "logs", job)
	if code != 0 || !strings.Contains(out, "marker-from-the-working-dir") {
		t.Fatalf("job logs: %d %q %q", code, out, errs)
	}
	// The job has ended: the tail gives the whole log and the head closes it.
	code, out, errs = run("job", "logs", job, "--follow")
	if code != 0 || !strings.Contains(out, "marker-from-the-working-dir") {
		t.Fatalf("job logs --follow: %d %q %q", code, out, errs)
	}
	code, out, errs = run("job", "list", "-o", "json")
	var list struct {
		RayJobs []struct{ SubmissionID, Status string }
	}
	if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil || len(list.RayJobs) != 1 ||
		list.RayJobs[0].SubmissionID != job || list.RayJobs[0].Status != "Succeeded" {
		t.Fatalf("job list -o json: %d %q %q (%v)", code, out, errs, err)
	}
	code, out, _ = run("job", "get", job)
	if code != 0 || !strings.Contains(out, "Succeeded") || !strings.Contains(out, "gcs://_ray_pkg_") || !strings.Contains(out, cluster) {
		t.Fatalf("job get: %d %q", code, out)
	}

	code, out, errs = run("job", "submit", "--cluster", cluster, "--wait", "--wait-interval", "200ms",
		"--", "python", "-c", "import sys; sys.exit(3)")
	if code != 5 || !strings.Contains(out, "Failed") || !strings.Contains(out, "exit code 3") || !strings.Contains(errs, "ended Failed") {
		t.Fatalf("failing job: %d\nstdout: %s\nstderr: %s", code, out, errs)
	}

	code, out, errs = run("job", "submit", "--cluster", cluster, "-o", "json", "--", "python", "-c", "import time; time.sleep(600)")
	var sub struct{ SubmissionID string }
	if err := json.Unmarshal([]byte(out), &sub); code != 0 || err != nil || sub.SubmissionID == "" {
		t.Fatalf("submit -o json: %d %q %q (%v)", code, out, errs, err)
	}
	poll.Until(t, rayWait, "the sleeper to run", func() bool {
		_, out, _ := run("job", "get", sub.SubmissionID, "-o", "json")
		return strings.Contains(out, `"status": "Running"`)
	})
	code, out, errs = run("job", "cancel", sub.SubmissionID, "--wait", "--wait-interval", "200ms")
	if code != 0 || !strings.Contains(out, "Job "+sub.SubmissionID+" Cancelled") {
		t.Fatalf("cancel --wait: %d %q %q", code, out, errs)
	}

	// A job on a cluster of its own, sized by cluster create's flags.
	code, out, errs = run("job", "submit", "--name", "own", "--head-cpu", "1", "--head-memory", "2Gi",
		"--wait", "--wait-interval", "200ms", "--", "python", "-c", "print(6 * 7)")
	if code != 0 || !strings.Contains(out, "Succeeded") {
		t.Fatalf("job on its own cluster: %d\nstdout: %s\nstderr: %s", code, out, errs)
	}

	// With the cluster gone the head has no log to give; the stored logs are
	// another operation's.
	if code, _, errs = run("cluster", "delete", cluster); code != 0 {
		t.Fatalf("cluster delete: %d %s", code, errs)
	}
	code, _, errs = run("job", "logs", job)
	if code != 4 || !strings.Contains(errs, "ListRayLogs") {
		t.Fatalf("logs of a job whose cluster is gone: %d %q", code, errs)
	}
}
