package rayfleet

import (
	"slices"
	"time"
	"unicode/utf8"
)

// Workspace statuses.
const (
	WorkspaceStarting    = "STARTING"
	WorkspaceRunning     = "RUNNING"
	WorkspaceTerminating = "TERMINATING"
	WorkspaceTerminated  = "TERMINATED"
)

// Workspace is a unit of capacity and of access in an account: its quota in CU
// is split among its queues.
type Workspace struct {
	ID          string
	AccountID   string
	Name        string
	CU          int64
	Status      string
	OSSBucket   string
	PaymentType string
	ReleaseType string
	CreateTime  time.Time
	Creator     string
	// Tags label the workspace; ListWorkspaces filters on them.
	Tags []Tag
}

// Workspace tag limits.
const (
	MaxWorkspaceTags = 20
	MaxTagKeyLen     = 128
	MaxTagValueLen   = 128
)

// ValidateWorkspaceTags checks a workspace's tags, named field in
// messages: at most MaxWorkspaceTags, each with a key of 1 to MaxTagKeyLen
// characters used once and a value of at most MaxTagValueLen.
func ValidateWorkspaceTags(field string, tags []Tag) error {
	if len(tags) > MaxWorkspaceTags {
		return Errorf(EINVALID, "%s has %d entries; at most %d are allowed", field, len(tags), MaxWorkspaceTags)
	}
	seen := make(map[string]bool, len(tags))
	for i, t := range tags {
		if t.Key == "" || utf8.RuneCountInString(t.Key) > MaxTagKeyLen {
			return Errorf(EINVALID, "%s[%d].key must be 1 to %d characters", field, i, MaxTagKeyLen)
		}
		if utf8.RuneCountInString(t.Value) > MaxTagValueLen {
			return Errorf(EINVALID, "%s[%d].value must be at most %d characters", field, i, MaxTagValueLen)
		}
		if seen[t.Key] {
			return Errorf(EINVALID, "%s[%d].key %q is used by another tag; keys must be unique", field, i, t.Key)
		}
		seen[t.Key] = true
	}
	return nil
}

// ValidateWorkspaceName checks a workspace name.
func ValidateWorkspaceName(name string) error {
	if name == "" || utf8.RuneCountInString(name) > MaxNameLen {
		return Errorf(EINVALID, "workspaceName must be 1 to %d characters", MaxNameLen)
	}
	return nil
}

// RootQueue is the name of the queue every workspace is created with.
const RootQueue = "root_queue"

// Queue is a share of a workspace's capacity that clusters are placed in.
type Queue struct {
	AccountID   string
	WorkspaceID string
	Name        string
	// MaxCU is the queue's upper limit; its resources are CU(MaxCU).
	MaxCU       int64
	Category    string
	Description string
	// Environments are those the queue serves, of QueueEnvironments.
	Environments []string
	PaymentType  string
	CreateTime   time.Time
	Creator      string
}

// QueueEnvironments are the environments a queue may serve, and those a
// queue serves unless told otherwise.
func QueueEnvironments() []string { return []string{"dev", "production"} }

// ValidateQueueEnvironments checks a queue's environments, named field in
// messages: one or more of QueueEnvironments, each once.
func ValidateQueueEnvironments(field string, envs []string) error {
	if len(envs) == 0 {
		return Errorf(EINVALID, "%s must name at least one of dev and production", field)
	}
	seen := map[string]bool{}
	for i, e := range envs {
		if !slices.Contains(QueueEnvironments(), e) {
			return Errorf(EINVALID, "%s[%d] must be dev or production, got %q", field, i, e)
		}
		if seen[e] {
			return Errorf(EINVALID, "%s names %s twice", field, e)
		}
		seen[e] = true
	}
	return nil
}

// Max returns the queue's capacity.
func (q *Queue) Max() Resources { return CU(q.MaxCU) }

// ValidateQueueName checks a queue name: 1-64 of letters, digits, '-', '_', '.'.
func ValidateQueueName(name string) error {
	if name == "" || len(name) > MaxNameLen {
		return Errorf(EINVALID, "workspaceQueueName must be 1 to %d characters", MaxNameLen)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return Errorf(EINVALID, "workspaceQueueName %q may hold only letters, digits, '-', '_' and '.'", name)
		}
	}
	return nil
}

// DefaultNetworkService is the network service every workspace is created with.
const DefaultNetworkService = "vpc"

// NetworkService is a named network profile of a workspace that runtimes turn
// into labels and policies on the nodes of clusters that name it.
type NetworkService struct {
	ID              string
	AccountID       string
	WorkspaceID     string
	Name            string
	VpcID           string
	VSwitchIDs      []string
	SecurityGroupID string
	Type            string
	State           string
	CreateTime      time.Time
}
