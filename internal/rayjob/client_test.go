package rayjob

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/rayfleet/rayfleet"
)

// fakeHead answers the job API from a map of submitted jobs, refusing a
// second submit of an id as Ray's job manager does; failSubmit makes every
// submit fail as a head whose job agent is not up yet does, after it
// recorded the job when recordAnyway.
type fakeHead struct {
	jobs         map[string]SubmitRequest
	failSubmit   int // HTTP status, 0 for none
	recordAnyway bool
	seen         []*http.Request
	bodies       []string
}

func (f *fakeHead) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.seen, f.bodies = append(f.seen, r), append(f.bodies, string(b))
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/api/jobs/":
		var req SubmitRequest
		_ = json.Unmarshal(b, &req)
		if _, ok := f.jobs[req.SubmissionID]; ok {
			http.Error(w, "Traceback...\nValueError: Job with submission_id "+req.SubmissionID+" already exists.", http.StatusBadRequest)
			return
		}
		if f.recordAnyway || f.failSubmit == 0 {
			f.jobs[req.SubmissionID] = req
		}
		if f.failSubmit != 0 {
			http.Error(w, "No available agent to submit job, please try again later.", f.failSubmit)
			return
		}
		_, _ = io.WriteString(w, `{"job_id":null,"submission_id":"`+req.SubmissionID+`"}`)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/api/jobs/"):
		id := strings.TrimPrefix(r.URL.Path, "/api/jobs/")
		req, ok := f.jobs[id]
		if !ok {
			http.Error(w, "Job "+id+" does not exist", http.StatusNotFound)
			return
		}
		_ = json.NewEncoder(w).Encode(JobInfo{SubmissionID: id, Status: "PENDING", Entrypoint: req.Entrypoint, Type: "SUBMISSION"})
	default:
		http.NotFound(w, r)
	}
}

func newFake(t *testing.T) (*fakeHead, *Client) {
	f := &fakeHead{jobs: map[string]SubmitRequest{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, &Client{Address: srv.URL + "/", Token: "t0k3n", Header: http.Header{"Ray-Token": {"gw"}}}
}

func TestSubmitIsIdempotent(t *testing.T) {
	ctx := t.Context()
	f, c := newFake(t)
	req := SubmitRequest{SubmissionID: "rj-0123456789abcdef", Entrypoint: "python main.py", EntrypointNumCPUs: 1}
	created, err := c.Submit(ctx, req)
	if err != nil || !created {
		t.Fatalf("first submit: %v, %v", created, err)
	}
	r := f.seen[0]
	if r.Header.Get("Authorization") != "Bearer t0k3n" || r.Header.Get("Ray-Token") != "gw" || r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("submit headers %v", r.Header)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(f.bodies[0]), &body); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"submission_id": "rj-0123456789abcdef", "entrypoint": "python main.py", "entrypoint_num_cpus": 1.0}
	if !reflect.DeepEqual(body, want) {
		t.Errorf("submit body %v, want %v", body, want)
	}

	// Again, as after a crash: the head refuses, the job is there, and
	// that is success without a second job.
	created, err = c.Submit(ctx, req)
	if err != nil || created {
		t.Fatalf("second submit: created %v, %v; want false, nil", created, err)
	}
	if len(f.jobs) != 1 {
		t.Fatalf("the head holds %d jobs", len(f.jobs))
	}

	// A submit whose answer failed but that the head recorded is found.
	f.failSubmit, f.recordAnyway = http.StatusInternalServerError, true
	created, err = c.Submit(ctx, SubmitRequest{SubmissionID: "rj-lost-answer", Entrypoint: "x"})
	if err != nil || created {
		t.Fatalf("submit recorded despite a 500: created %v, %v; want false, nil", created, err)
	}
	// One that the head did not record is an error naming the refusal.
	f.recordAnyway = false
	_, err = c.Submit(ctx, SubmitRequest{SubmissionID: "rj-not-there", Entrypoint: "x"})
	var e *Error
	if !errors.As(err, &e) || e.StatusCode != http.StatusInternalServerError || !strings.Contains(err.Error(), "No available agent") {
		t.Fatalf("a failed submit: %v", err)
	}
	if _, err := c.Submit(ctx, SubmitRequest{Entrypoint: "x"}); err == nil {
		t.Fatal("a submit without a submission id was sent")
	}
}

func TestErrors(t *testing.T) {
	ctx := t.Context()
	_, c := newFake(t)
	_, err := c.Job(ctx, "rj-missing")
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("an unknown job: %v, want ErrNotFound", err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
	}))
	defer srv.Close()
	_, err = (&Client{Address: srv.URL}).Version(ctx)
	if errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "token") {
		t.Fatalf("a 401: %v, want an error that says the token was refused", err)
	}
	if _, err := c.PackageExists(ctx, "s3://bucket/pkg.zip"); !errors.Is(err, errPackageURI) {
		t.Fatalf("a package URI that is not gcs://: %v", err)
	}
}

func TestRequestFor(t *testing.T) {
	j := rayfleet.Job{ID: "rj-1", Spec: rayfleet.JobSpec{
		Entrypoint: "python main.py", WorkingDir: "gcs://_ray_pkg_0123456789abcdef.zip",
		RuntimeEnvJSON: `{"pip":["requests==2.26.0"],"env_vars":{"KEY":"VALUE"},"working_dir":"s3://old/code.zip"}`,
		MetadataJSON:   `{"resourceName":"test"}`, EntrypointNumCPUs: "0.5", EntrypointNumGPUs: "1", EntrypointMemory: "1Gi",
		EntrypointResources: `{"fpu": 2}`,
	}}
	req, err := RequestFor(&j)
	if err != nil {
		t.Fatal(err)
	}
	want := SubmitRequest{
		SubmissionID: "rj-1", Entrypoint: "python main.py",
		RuntimeEnv: map[string]any{"pip": []any{"requests==2.26.0"}, "env_vars": map[string]any{"KEY": "VALUE"}, "working_dir": "gcs://_ray_pkg_0123456789abcdef.zip"},
		Metadata:   map[string]string{"resourceName": "test"}, EntrypointNumCPUs: 0.5, EntrypointNumGPUs: 1, EntrypointMemory: 1 << 30,
		EntrypointResources: map[string]float64{"fpu": 2},
	}
	if !reflect.DeepEqual(req, want) {
		t.Errorf("RequestFor:\n got %+v\nwant %+v", req, want)
	}
	bare, err := RequestFor(&rayfleet.Job{ID: "rj-2", Spec: rayfleet.JobSpec{Entrypoint: "true"}})
	if err != nil || !reflect.DeepEqual(bare, SubmitRequest{SubmissionID: "rj-2", Entrypoint: "true"}) {
		t.Errorf("RequestFor of a bare job: %+v, %v", bare, err)
	}
	b, _ := json.Marshal(bare)
	if string(b) != `{"submission_id":"rj-2","entrypoint":"true"}` {
		t.Errorf("a bare request is sent as %s", b)
	}
}
