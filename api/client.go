package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rayfleet/rayfleet/api/signer"
)

// Client calls a rayfleet server (or anything speaking the same API), signing
// every request with ACS3-HMAC-SHA256.
type Client struct {
	// Endpoint is host:port, or a URL with a scheme ("https://host").
	Endpoint    string
	Credentials signer.Credentials
	HTTP        *http.Client
	// UserAgent is sent on every request.
	UserAgent string
}

// Error is an API error as the server reported it.
type Error struct {
	StatusCode int
	RequestID  string
	Code       string
	Message    string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s (request id %s)", e.Code, e.Message, e.RequestID)
}

func (c *Client) baseURL() string {
	if strings.Contains(c.Endpoint, "://") {
		return strings.TrimRight(c.Endpoint, "/")
	}
	return "http://" + c.Endpoint
}

// Do sends one call: action is the operation name (x-acs-action), in is the
// JSON body (nil for none), out receives the JSON answer (nil to discard).
func (c *Client) Do(ctx context.Context, action, method, path string, query url.Values, in, out any) error {
	return c.send(ctx, action, Version, method, c.baseURL()+path, query, in, out)
}

// rpc sends one call of an RPC-style API (RAM's, STS's): a POST to "/"
// with the parameters in the query, the operation and its version in
// x-acs-action and x-acs-version.
func (c *Client) rpc(ctx context.Context, action, version string, params url.Values, out any) error {
	return c.send(ctx, action, version, http.MethodPost, strings.TrimRight(c.baseURL(), "/")+"/", params, nil, out)
}

// send signs and sends one call to u and decodes its answer.
func (c *Client) send(ctx context.Context, action, version, method, u string, query url.Values, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("encode %s request: %w", action, err)
		}
	}
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s: %w", action, err)
	}
	req.Header.Set("x-acs-action", action)
	req.Header.Set("x-acs-version", version)
	req.Header.Set("accept", "application/json")
	if body != nil {
		req.Header.Set("content-type", "application/json; charset=utf-8")
	}
	if c.UserAgent != "" {
		req.Header.Set("user-agent", c.UserAgent)
	}
	if err := signer.SignACS3(req, body, c.Credentials, time.Now(), signer.NewNonce()); err != nil {
		return fmt.Errorf("sign %s: %w", action, err)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", action, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s: read response: %w", action, err)
	}
	if resp.StatusCode >= 400 {
		var e ErrorResponse
		if json.Unmarshal(data, &e) != nil || e.Code == "" {
			return &Error{StatusCode: resp.StatusCode, Code: "HTTP" + strconv.Itoa(resp.StatusCode),
				Message: strings.TrimSpace(string(truncate(data, 200)))}
		}
		return &Error{StatusCode: resp.StatusCode, RequestID: e.RequestID, Code: e.Code, Message: e.Message}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s: decode response: %w", action, err)
	}
	return nil
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

func clusterPath(ws string, rest ...string) string { return workspacePath(ws, "rayCluster", rest) }

// workspacePath is the path of a workspace's resource of kind (rayCluster,
// rayJob), with rest after it, each segment escaped.
func workspacePath(ws, kind string, rest []string) string {
	p := "/api/v1/workspaces/" + url.PathEscape(ws) + "/" + kind
	for _, r := range rest {
		p += "/" + url.PathEscape(r)
	}
	return p
}

// ListClustersOptions are the query parameters of ListRayCluster.
type ListClustersOptions struct {
	PageNum, PageSize               int
	State, Name, Creator, QueueName string
}

// ListClusters calls ListRayCluster.
func (c *Client) ListClusters(ctx context.Context, ws string, o ListClustersOptions) (*ListClustersResponse, error) {
	q := url.Values{}
	if o.PageNum > 0 {
		q.Set("pageNum", strconv.Itoa(o.PageNum))
	}
	if o.PageSize > 0 {
		q.Set("pageSize", strconv.Itoa(o.PageSize))
	}
	for k, v := range map[string]string{"state": o.State, "name": o.Name, "creator": o.Creator, "queueName": o.QueueName} {
		if v != "" {
			q.Set(k, v)
		}
	}
	var out ListClustersResponse
	return &out, c.Do(ctx, "ListRayCluster", http.MethodGet, clusterPath(ws), q, nil, &out)
}

// GetCluster calls GetRayCluster.
func (c *Client) GetCluster(ctx context.Context, ws, id string) (*Cluster, error) {
	var out Cluster
	return &out, c.Do(ctx, "GetRayCluster", http.MethodGet, clusterPath(ws, id), nil, nil, &out)
}

// CreateCluster calls CreateRayCluster.
func (c *Client) CreateCluster(ctx context.Context, ws string, req *ClusterRequest) (*ClusterIDResponse, error) {
	var out ClusterIDResponse
	return &out, c.Do(ctx, "CreateRayCluster", http.MethodPost, clusterPath(ws), nil, req, &out)
}

// UpdateCluster calls UpdateRayCluster.
func (c *Client) UpdateCluster(ctx context.Context, ws, id string, req *ClusterRequest) (*ClusterIDResponse, error) {
	var out ClusterIDResponse
	return &out, c.Do(ctx, "UpdateRayCluster", http.MethodPost, clusterPath(ws, id), nil, req, &out)
}

// StartCluster calls StartRayCluster.
func (c *Client) StartCluster(ctx context.Context, ws, id string, req *StartRequest) (*RequestIDResponse, error) {
	var out RequestIDResponse
	return &out, c.Do(ctx, "StartRayCluster", http.MethodPost, clusterPath(ws, id, "start"), nil, req, &out)
}

// StopCluster calls StopRayCluster.
func (c *Client) StopCluster(ctx context.Context, ws, id string, req *StopRequest) (*RequestIDResponse, error) {
	var out RequestIDResponse
	return &out, c.Do(ctx, "StopRayCluster", http.MethodPost, clusterPath(ws, id, "stop"), nil, req, &out)
}

// DeleteCluster calls DeleteRayCluster.
func (c *Client) DeleteCluster(ctx context.Context, ws, id string) (*RequestIDResponse, error) {
	var out RequestIDResponse
	return &out, c.Do(ctx, "DeleteRayCluster", http.MethodDelete, clusterPath(ws, id), nil, nil, &out)
}

// ListWorkspaces calls ListWorkspaces.
func (c *Client) ListWorkspaces(ctx context.Context, name string, maxResults int, nextToken string) (*ListWorkspacesResponse, error) {
	q := url.Values{}
	if name != "" {
		q.Set("name", name)
	}
	if maxResults > 0 {
		q.Set("maxResults", strconv.Itoa(maxResults))
	}
	if nextToken != "" {
		q.Set("nextToken", nextToken)
	}
	var out ListWorkspacesResponse
	return &out, c.Do(ctx, "ListWorkspaces", http.MethodGet, "/api/v1/workspaces", q, nil, &out)
}

// CreateWorkspace calls CreateWorkspace.
func (c *Client) CreateWorkspace(ctx context.Context, req *CreateWorkspaceRequest) (*CreateWorkspaceResponse, error) {
	var out CreateWorkspaceResponse
	return &out, c.Do(ctx, "CreateWorkspace", http.MethodPost, "/api/v1/workspaces", nil, req, &out)
}

// UpdateWorkspace calls UpdateWorkspace.
func (c *Client) UpdateWorkspace(ctx context.Context, req *UpdateWorkspaceRequest) (*UpdateWorkspaceResponse, error) {
	var out UpdateWorkspaceResponse
	return &out, c.Do(ctx, "UpdateWorkspace", http.MethodPost, "/api/v1/workspaces/update", nil, req, &out)
}

// DeleteWorkspace calls DeleteWorkspace.
func (c *Client) DeleteWorkspace(ctx context.Context, ws string) (*RequestIDResponse, error) {
	var out RequestIDResponse
	return &out, c.Do(ctx, "DeleteWorkspace", http.MethodDelete, "/api/v1/workspaces/"+url.PathEscape(ws), nil, nil, &out)
}

// ListQueues calls ListWorkspaceQueues.
func (c *Client) ListQueues(ctx context.Context, ws string) (*ListQueuesResponse, error) {
	var out ListQueuesResponse
	return &out, c.Do(ctx, "ListWorkspaceQueues", http.MethodGet, "/api/v1/workspaces/"+url.PathEscape(ws)+"/queues", nil, nil, &out)
}

// CreateQueue calls CreateWorkspaceQueue.
func (c *Client) CreateQueue(ctx context.Context, req *QueueRequest) (*RequestIDResponse, error) {
	var out RequestIDResponse
	return &out, c.Do(ctx, "CreateWorkspaceQueue", http.MethodPost, "/api/v1/workspaces/queues", nil, req, &out)
}

// EditQueue calls EditWorkspaceQueue.
func (c *Client) EditQueue(ctx context.Context, req *QueueRequest) (*CapitalRequestIDResponse, error) {
	var out CapitalRequestIDResponse
	return &out, c.Do(ctx, "EditWorkspaceQueue", http.MethodPost, "/api/v1/workspaces/queues/action/edit", nil, req, &out)
}

// DeleteQueue calls DeleteWorkspaceQueue.
func (c *Client) DeleteQueue(ctx context.Context, ws, name string) (*CapitalRequestIDResponse, error) {
	var out CapitalRequestIDResponse
	return &out, c.Do(ctx, "DeleteWorkspaceQueue", http.MethodDelete,
		"/api/v1/workspaces/"+url.PathEscape(ws)+"/queues/"+url.PathEscape(name), nil, nil, &out)
}

// ListReleaseVersions calls ListReleaseVersions.
func (c *Client) ListReleaseVersions(ctx context.Context, q url.Values) (*ListReleaseVersionsResponse, error) {
	var out ListReleaseVersionsResponse
	return &out, c.Do(ctx, "ListReleaseVersions", http.MethodGet, "/api/v1/releaseVersions", q, nil, &out)
}

// ListNetworkServices calls ListNetworkServices.
func (c *Client) ListNetworkServices(ctx context.Context, ws string) (*ListNetworkServicesResponse, error) {
	var out ListNetworkServicesResponse
	return &out, c.Do(ctx, "ListNetworkServices", http.MethodGet, "/api/v1/workspaces/"+url.PathEscape(ws)+"/networkServices", nil, nil, &out)
}

// CreateNetworkService calls CreateNetworkService.
func (c *Client) CreateNetworkService(ctx context.Context, ws string, req *CreateNetworkServiceRequest) (*OperationResponse, error) {
	var out OperationResponse
	return &out, c.Do(ctx, "CreateNetworkService", http.MethodPost, "/api/v1/workspaces/"+url.PathEscape(ws)+"/networkServices", nil, req, &out)
}
