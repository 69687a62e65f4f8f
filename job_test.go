package rayfleet

import (
	"strings"
	"testing"
	"time"
)

func TestJobStatusCanBecome(t *testing.T) {
	final := []JobStatus{JobSucceeded, JobFailed, JobCancelled, JobTimeout}
	for _, tc := range []struct {
		from, to JobStatus
		ok       bool
	}{
		{JobSubmitted, JobSubmitted, true},
		{JobSubmitted, JobPending, true},
		{JobSubmitted, JobRunning, true},
		{JobSubmitted, JobFailed, true},
		{JobPending, JobRunning, true},
		{JobPending, JobSubmitted, false},
		{JobRunning, JobPending, false},
		{JobRunning, JobCancelling, true},
		{JobRunning, JobSucceeded, true},
		{JobCancelling, JobRunning, false},
		{JobCancelling, JobPending, false},
		{JobCancelling, JobCancelled, true},
		{JobCancelling, JobSucceeded, true}, // it ended before the stop took
		{JobCancelling, JobTimeout, true},
		{JobRunning, "Bogus", false},
		{"Bogus", JobRunning, false},
	} {
		if got := tc.from.CanBecome(tc.to); got != tc.ok {
			t.Errorf("%s → %s: %v, want %v", tc.from, tc.to, got, tc.ok)
		}
	}
	// A final status is never left, not even for itself or another final one.
	for _, f := range final {
		if !f.Final() || !f.Valid() {
			t.Errorf("%s: Final %v, Valid %v", f, f.Final(), f.Valid())
		}
		for _, to := range JobStatuses {
			if f.CanBecome(to) {
				t.Errorf("final %s may become %s", f, to)
			}
		}
	}
	// Predecessors agrees with CanBecome.
	for _, to := range JobStatuses {
		for _, p := range to.Predecessors() {
			if !p.CanBecome(to) {
				t.Errorf("%s listed as a predecessor of %s", p, to)
			}
		}
	}
	if got := JobRunning.Predecessors(); len(got) != 3 {
		t.Errorf("predecessors of Running: %v, want Submitted, Pending, Running", got)
	}
}

func TestJobStatusOfRay(t *testing.T) {
	for _, tc := range []struct {
		ray  string
		stop JobStop
		want JobStatus
	}{
		{RayJobPending, JobStopNone, JobPending},
		{RayJobRunning, JobStopNone, JobRunning},
		{RayJobSucceeded, JobStopNone, JobSucceeded},
		{RayJobFailed, JobStopNone, JobFailed},
		{RayJobStopped, JobStopNone, JobCancelled}, // stopped through the cluster's job API
		{RayJobRunning, JobStopCancel, JobCancelling},
		{RayJobPending, JobStopTimeout, JobCancelling},
		{RayJobStopped, JobStopCancel, JobCancelled},
		{RayJobStopped, JobStopTimeout, JobTimeout},
		{RayJobSucceeded, JobStopCancel, JobSucceeded},
		{RayJobFailed, JobStopTimeout, JobFailed},
	} {
		got, ok := JobStatusOfRay(tc.ray, tc.stop)
		if !ok || got != tc.want {
			t.Errorf("Ray %s with stop %q: %s, %v; want %s", tc.ray, tc.stop, got, ok, tc.want)
		}
	}
	if _, ok := JobStatusOfRay("DONE", JobStopNone); ok {
		t.Error("an unknown Ray status mapped")
	}
}

func validJobSpec() JobSpec {
	return JobSpec{Name: "my-job", Entrypoint: "python main.py", ClusterID: "ray-k7nm8ahl5te4tg91"}
}

func TestJobSpecValidate(t *testing.T) {
	head := &HeadSpec{QueueName: RootQueue, CPU: "2", Memory: "8Gi"}
	for _, tc := range []struct {
		name string
		edit func(*JobSpec)
		code string // "" for valid
		in   string // a word the message must hold
	}{
		{"minimal", func(*JobSpec) {}, "", ""},
		{"every field", func(s *JobSpec) {
			s.RuntimeEnvJSON = `{"pip":["requests==2.26.0"],"env_vars":{"KEY":"VALUE"}}`
			s.MetadataJSON = `{"resourceName": "test"}`
			s.EntrypointNumCPUs, s.EntrypointNumGPUs, s.EntrypointMemory, s.EntrypointResources = "1", "0.5", "4Gi", `{"fpu": 1}`
			s.ActiveDeadlineSeconds, s.TTLSecondsAfterFinished, s.ExtraParam = 3600, 60, "{}"
			s.Tags = []Tag{{Key: "jobname", Value: "test"}}
		}, "", ""},
		{"temporary cluster", func(s *JobSpec) { s.ClusterID, s.Head = "", head }, "", ""},
		{"no name is fine", func(s *JobSpec) { s.Name = "" }, "", ""},
		{"long name", func(s *JobSpec) { s.Name = strings.Repeat("x", 65) }, EINVALID, "name"},
		{"no entrypoint", func(s *JobSpec) { s.Entrypoint = " " }, EMISSING, "entrypoint"},
		{"no cluster", func(s *JobSpec) { s.ClusterID = "" }, EMISSING, "clusterId"},
		{"both", func(s *JobSpec) { s.Head = head }, EINVALID, "clusterId"},
		{"bad head", func(s *JobSpec) { s.ClusterID, s.Head = "", &HeadSpec{CPU: "x", Memory: "8Gi"} }, EINVALID, "headSpec.cpu"},
		{"bad worker", func(s *JobSpec) {
			s.ClusterID, s.Head = "", head
			s.Workers = []WorkerSpec{{GroupName: "g", Replica: 0, CPU: "1", Memory: "1Gi"}}
		}, EINVALID, "workerSpec[0].replica"},
		{"runtime env not an object", func(s *JobSpec) { s.RuntimeEnvJSON = `["pip"]` }, EINVALID, "runtimeEnvJson"},
		{"metadata of numbers", func(s *JobSpec) { s.MetadataJSON = `{"a": 1}` }, EINVALID, "metadataJson"},
		{"cpus not a number", func(s *JobSpec) { s.EntrypointNumCPUs = "two" }, EINVALID, "entrypointNumCpus"},
		{"negative gpus", func(s *JobSpec) { s.EntrypointNumGPUs = "-1" }, EINVALID, "entrypointNumGpus"},
		{"memory without unit or bytes", func(s *JobSpec) { s.EntrypointMemory = "4G1" }, EINVALID, "entrypointMemory"},
		{"resources not numbers", func(s *JobSpec) { s.EntrypointResources = `{"fpu": "one"}` }, EINVALID, "entrypointResources"},
		{"negative resource", func(s *JobSpec) { s.EntrypointResources = `{"fpu": -1}` }, EINVALID, "entrypointResources"},
		{"extraParam not JSON", func(s *JobSpec) { s.ExtraParam = "{" }, EINVALID, "extraParam"},
		{"negative deadline", func(s *JobSpec) { s.ActiveDeadlineSeconds = -1 }, EINVALID, "activeDeadlineSeconds"},
		{"negative ttl", func(s *JobSpec) { s.TTLSecondsAfterFinished = -1 }, EINVALID, "ttlSecondsAfterFinished"},
		{"a working dir URI", func(s *JobSpec) { s.WorkingDir = "gcs://_ray_pkg_0123456789abcdef.zip" }, "", ""},
		{"a working dir on a server", func(s *JobSpec) { s.WorkingDir = "https://example.com/code.zip" }, "", ""},
		{"a local working dir", func(s *JobSpec) { s.WorkingDir = "/etc" }, EINVALID, "workingDir"},
		{"a relative working dir", func(s *JobSpec) { s.WorkingDir = "./src" }, EINVALID, "workingDir"},
		{"a runtime env with a URI working dir", func(s *JobSpec) {
			s.RuntimeEnvJSON = `{"working_dir":"s3://bucket/code.zip","py_modules":["gcs://_ray_pkg_1.zip"]}`
		}, "", ""},
		{"a runtime env with a local working dir", func(s *JobSpec) { s.RuntimeEnvJSON = `{"working_dir":"/root"}` }, EINVALID, "working_dir"},
		{"a runtime env with local modules", func(s *JobSpec) { s.RuntimeEnvJSON = `{"py_modules":["gcs://_ray_pkg_1.zip","/opt/mod"]}` }, EINVALID, "py_modules"},
		{"a runtime env with modules not a list", func(s *JobSpec) { s.RuntimeEnvJSON = `{"py_modules":"/opt/mod"}` }, EINVALID, "py_modules"},
		{"empty tag key", func(s *JobSpec) { s.Tags = []Tag{{Value: "v"}} }, EINVALID, "tags[0]"},
	} {
		s := validJobSpec()
		tc.edit(&s)
		err := s.Validate()
		if tc.code == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if ErrorCode(err) != tc.code || !strings.Contains(ErrorMessage(err), tc.in) {
			t.Errorf("%s: %v; want %s naming %s", tc.name, err, tc.code, tc.in)
		}
	}
}

func TestEntrypointNeeds(t *testing.T) {
	s := JobSpec{EntrypointNumCPUs: "1.5", EntrypointNumGPUs: "0", EntrypointMemory: "4Gi", EntrypointResources: `{"fpu": 1, "custom": 0.25}`}
	n, err := s.EntrypointNeeds()
	if err != nil || n.NumCPUs != 1.5 || n.NumGPUs != 0 || n.MemoryBytes != 4<<30 || n.Resources["fpu"] != 1 || n.Resources["custom"] != 0.25 {
		t.Errorf("%+v, %v", n, err)
	}
	// Memory may be bytes, as Ray's own entrypoint_memory is.
	s = JobSpec{EntrypointMemory: "1073741824"}
	if n, err := s.EntrypointNeeds(); err != nil || n.MemoryBytes != 1<<30 {
		t.Errorf("bytes: %+v, %v", n, err)
	}
	if n, err := (&JobSpec{}).EntrypointNeeds(); err != nil || n.NumCPUs != 0 || n.Resources != nil {
		t.Errorf("nothing: %+v, %v", n, err)
	}
}

func TestJobDuration(t *testing.T) {
	t0 := time.Date(2026, 6, 11, 8, 0, 0, 0, time.UTC)
	j := Job{}
	if j.Duration(t0) != 0 {
		t.Error("a job not started has a duration")
	}
	j.StartTime = t0
	if got := j.Duration(t0.Add(90 * time.Second)); got != 90*time.Second {
		t.Errorf("running: %v", got)
	}
	j.EndTime = t0.Add(time.Minute)
	if got := j.Duration(t0.Add(time.Hour)); got != time.Minute {
		t.Errorf("ended: %v", got)
	}
	if got := JobLogPath("w-1", "rj-2"); got != "w-1/ray/logs/rj-2_default/" {
		t.Errorf("log path %s", got)
	}
}
