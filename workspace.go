package rayfleet

import (
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
	CreateTime  time.Time
	Creator     string
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
