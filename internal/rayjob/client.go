package rayjob

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/rayfleet/rayfleet"
)

// Client talks to one Ray head's job API.
type Client struct {
	// Address is the base URL of the head's dashboard
	// (http://127.0.0.1:8265), or of anything that serves the job API
	// under it the same way (a gateway's jobUrl).
	Address string
	// Token, when set, is sent as "Authorization: Bearer <token>": the
	// head's Ray token under RAY_AUTH_MODE=token.
	Token string
	// Header is added to every request (a gateway's ray-token, say).
	Header http.Header
	// HTTP is the client to send with; nil is http.DefaultClient. Its
	// timeout, or the context's deadline, bounds each call.
	HTTP *http.Client
}

// ErrNotFound says the head has no job (or package) of that id.
var ErrNotFound = errors.New("not found on the Ray head")

// Error is an answer of the head other than success.
type Error struct {
	Method, Path string
	StatusCode   int
	// Body is the start of the answer: Ray puts a Python traceback there.
	Body string
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("ray job API %s %s: HTTP %d", e.Method, e.Path, e.StatusCode)
	if e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden {
		msg += " (the head's token authentication refused the request: wrong or missing token)"
	}
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// Is makes a 404 match ErrNotFound.
func (e *Error) Is(target error) bool {
	return target == ErrNotFound && e.StatusCode == http.StatusNotFound
}

// SubmitRequest is the body of POST /api/jobs/, Ray's JobSubmitRequest.
// Zero resource fields are left out, which Ray reads as "none reserved".
type SubmitRequest struct {
	SubmissionID        string             `json:"submission_id"`
	Entrypoint          string             `json:"entrypoint"`
	RuntimeEnv          map[string]any     `json:"runtime_env,omitempty"`
	Metadata            map[string]string  `json:"metadata,omitempty"`
	EntrypointNumCPUs   float64            `json:"entrypoint_num_cpus,omitempty"`
	EntrypointNumGPUs   float64            `json:"entrypoint_num_gpus,omitempty"`
	EntrypointMemory    int64              `json:"entrypoint_memory,omitempty"`
	EntrypointResources map[string]float64 `json:"entrypoint_resources,omitempty"`
}

// JobInfo is a job as the head reports it (Ray's JobDetails). Times are
// Unix milliseconds, 0 when not yet.
type JobInfo struct {
	Type           string            `json:"type"`
	JobID          string            `json:"job_id"`
	SubmissionID   string            `json:"submission_id"`
	Status         string            `json:"status"`
	Entrypoint     string            `json:"entrypoint"`
	Message        string            `json:"message"`
	ErrorType      string            `json:"error_type"`
	StartTime      int64             `json:"start_time"`
	EndTime        int64             `json:"end_time"`
	Metadata       map[string]string `json:"metadata"`
	RuntimeEnv     map[string]any    `json:"runtime_env"`
	DriverNodeID   string            `json:"driver_node_id"`
	DriverExitCode *int              `json:"driver_exit_code"`
}

// Version is the head's answer to GET /api/version.
type Version struct {
	Version     string `json:"version"`
	RayVersion  string `json:"ray_version"`
	RayCommit   string `json:"ray_commit"`
	SessionName string `json:"session_name"`
}

// maxAnswer bounds what is read of an answer; logs are the largest.
const maxAnswer = 64 << 20

// do sends one request and returns the answer's body for a 200. body, when
// not nil, is sent with contentType.
func (c *Client) do(ctx context.Context, method, path string, body []byte, contentType string) ([]byte, error) {
	resp, err := c.send(ctx, method, path, body, contentType)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, fmt.Errorf("ray job API %s %s: read the answer: %w", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &Error{Method: method, Path: path, StatusCode: resp.StatusCode, Body: lastLines(string(data), 600)}
	}
	return data, nil
}

// send sends one request and returns the answer, whatever its status; the
// caller closes its body.
func (c *Client) send(ctx context.Context, method, path string, body []byte, contentType string) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.Address, "/")+path, rd)
	if err != nil {
		return nil, fmt.Errorf("ray job API %s %s: %w", method, path, err)
	}
	for k, vs := range c.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ray job API %s %s: %w", method, path, err)
	}
	return resp, nil
}

// lastLines keeps the end of a long answer, where a traceback says what
// went wrong.
func lastLines(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return s
}

func (c *Client) getJSON(ctx context.Context, path string, out any) error {
	data, err := c.do(ctx, http.MethodGet, path, nil, "")
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("ray job API GET %s: decode the answer: %w", path, err)
	}
	return nil
}

func jobPath(id string, rest ...string) string {
	p := "/api/jobs/" + url.PathEscape(id)
	for _, r := range rest {
		p += "/" + r
	}
	return p
}

// Submit hands a job to the head under req.SubmissionID. It is idempotent:
// when the head already has a job of that id (submitted before a crash,
// or by a call whose answer was lost), created is false and the error nil.
// Any submit that does not succeed is followed by a look-up of the id, so
// a refusal for a duplicate is told from any other by what the head holds,
// not by the wording of its traceback.
func (c *Client) Submit(ctx context.Context, req SubmitRequest) (created bool, err error) {
	if req.SubmissionID == "" {
		return false, errors.New("submit a Ray job: rayfleet chooses the submission id, and none was given")
	}
	body, err := json.Marshal(req)
	if err != nil {
		return false, fmt.Errorf("submit Ray job %s: %w", req.SubmissionID, err)
	}
	_, submitErr := c.do(ctx, http.MethodPost, "/api/jobs/", body, "application/json")
	if submitErr == nil {
		return true, nil
	}
	_, getErr := c.Job(ctx, req.SubmissionID)
	switch {
	case getErr == nil:
		return false, nil
	case errors.Is(getErr, ErrNotFound):
		return false, fmt.Errorf("submit Ray job %s: %w", req.SubmissionID, submitErr)
	}
	return false, fmt.Errorf("submit Ray job %s: %w (and looking it up: %w)", req.SubmissionID, submitErr, getErr)
}

// Job returns one job; an error wrapping ErrNotFound when the head has
// none of that id.
func (c *Client) Job(ctx context.Context, id string) (JobInfo, error) {
	var j JobInfo
	return j, c.getJSON(ctx, jobPath(id), &j)
}

// Jobs returns every job the head knows, submitted ones and drivers run
// directly.
func (c *Client) Jobs(ctx context.Context) ([]JobInfo, error) {
	var js []JobInfo
	return js, c.getJSON(ctx, "/api/jobs/", &js)
}

// Stop asks the head to stop a job. stopped is false when the job had
// ended already; an unknown job is an error wrapping ErrNotFound.
func (c *Client) Stop(ctx context.Context, id string) (stopped bool, err error) {
	data, err := c.do(ctx, http.MethodPost, jobPath(id, "stop"), nil, "")
	if err != nil {
		return false, err
	}
	var r struct {
		Stopped bool `json:"stopped"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return false, fmt.Errorf("ray job API stop %s: decode the answer: %w", id, err)
	}
	return r.Stopped, nil
}

// Logs returns the driver's log of a job, whole.
func (c *Client) Logs(ctx context.Context, id string) (string, error) {
	var r struct {
		Logs string `json:"logs"`
	}
	return r.Logs, c.getJSON(ctx, jobPath(id, "logs"), &r)
}

// Version returns the head's versions: the job API's and Ray's.
func (c *Client) Version(ctx context.Context) (Version, error) {
	var v Version
	return v, c.getJSON(ctx, "/api/version", &v)
}

// packagePath is the API path of a package URI (gcs://<name>).
func packagePath(uri string) (string, error) {
	protocol, name, ok := strings.Cut(uri, "://")
	if !ok || protocol != "gcs" || name == "" || strings.Contains(name, "/") {
		return "", fmt.Errorf("package %q: %w", uri, errPackageURI)
	}
	return "/api/packages/" + protocol + "/" + url.PathEscape(name), nil
}

// PackageExists reports whether the head holds a package. Asking also pins
// it on the head for a while (Ray's pin_runtime_env_uri), so a package
// found is not evicted before the job that names it starts.
func (c *Client) PackageExists(ctx context.Context, uri string) (bool, error) {
	p, err := packagePath(uri)
	if err != nil {
		return false, err
	}
	_, err = c.do(ctx, http.MethodGet, p, nil, "")
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrNotFound):
		return false, nil
	}
	return false, err
}

// UploadPackage puts a package's bytes on the head under uri.
func (c *Client) UploadPackage(ctx context.Context, uri string, data []byte) error {
	p, err := packagePath(uri)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, http.MethodPut, p, data, "application/octet-stream")
	return err
}

// UploadWorkingDir sends a local directory the way `ray job submit
// --working-dir` does: it names the package by the directory's hash, and
// zips and uploads it unless the head has it already. It returns the URI
// for the job's runtime_env working_dir.
func (c *Client) UploadWorkingDir(ctx context.Context, w WorkingDir) (string, error) {
	uri, err := w.URI()
	if err != nil {
		return "", err
	}
	if ok, err := c.PackageExists(ctx, uri); err != nil || ok {
		return uri, err
	}
	var buf bytes.Buffer
	if err := w.Zip(&buf); err != nil {
		return "", err
	}
	if err := c.UploadPackage(ctx, uri, buf.Bytes()); err != nil {
		return "", err
	}
	return uri, nil
}

// RequestFor builds the submission of a job: its id as the submission id,
// the entrypoint, the runtime env with the job's workingDir as its
// working_dir (workingDir wins over a working_dir in runtimeEnvJson), the
// metadata and what the entrypoint reserves. The spec must have passed
// Validate.
func RequestFor(j *rayfleet.Job) (SubmitRequest, error) {
	req := SubmitRequest{SubmissionID: j.ID, Entrypoint: j.Spec.Entrypoint}
	if s := strings.TrimSpace(j.Spec.RuntimeEnvJSON); s != "" {
		if err := json.Unmarshal([]byte(s), &req.RuntimeEnv); err != nil {
			return SubmitRequest{}, fmt.Errorf("job %s: runtimeEnvJson: %w", j.ID, err)
		}
	}
	if j.Spec.WorkingDir != "" {
		if req.RuntimeEnv == nil {
			req.RuntimeEnv = map[string]any{}
		}
		req.RuntimeEnv["working_dir"] = j.Spec.WorkingDir
	}
	if s := strings.TrimSpace(j.Spec.MetadataJSON); s != "" {
		if err := json.Unmarshal([]byte(s), &req.Metadata); err != nil {
			return SubmitRequest{}, fmt.Errorf("job %s: metadataJson: %w", j.ID, err)
		}
	}
	n, err := j.Spec.EntrypointNeeds()
	if err != nil {
		return SubmitRequest{}, fmt.Errorf("job %s: %w", j.ID, err)
	}
	req.EntrypointNumCPUs, req.EntrypointNumGPUs, req.EntrypointMemory, req.EntrypointResources = n.NumCPUs, n.NumGPUs, n.MemoryBytes, n.Resources
	return req, nil
}
