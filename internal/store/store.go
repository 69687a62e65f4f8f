// Package store declares the storage contract of rayfleet: one interface that
// every backend (internal/store/sqlstore: SQLite and PostgreSQL) implements
// and that internal/store/storetest checks. It imports only the domain.
//
// Every read and write of a tenant's object is scoped by account id: a store
// never returns an object of another account, and an object of another account
// looks exactly like a missing one (ResourceNotFound).
package store

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/rayfleet/rayfleet"
)

// Store is the storage contract.
//
// Not-found is a *rayfleet.Error with code rayfleet.ENOTFOUND; a create whose
// key exists is rayfleet.EDENIED ("already exists"); a lost optimistic
// concurrency race is rayfleet.ErrConflict (wrapped).
type Store interface {
	// Accounts, users and access keys.
	CreateAccount(ctx context.Context, a rayfleet.Account) error
	GetAccount(ctx context.Context, id string) (rayfleet.Account, error)
	ListAccounts(ctx context.Context) ([]rayfleet.Account, error)
	CreateUser(ctx context.Context, u rayfleet.User) error
	GetUser(ctx context.Context, accountID, uid string) (rayfleet.User, error)
	CreateAccessKey(ctx context.Context, k rayfleet.AccessKey) error
	// GetAccessKey finds a key by its id alone: it is how a request's account
	// is found in the first place.
	GetAccessKey(ctx context.Context, id string) (rayfleet.AccessKey, error)

	// RAM users: names are unique within an account. GetUserByName,
	// UpdateUser and DeleteUser see only the account's own users.
	GetUserByName(ctx context.Context, accountID, name string) (rayfleet.User, error)
	// ListUsers returns the account's users, oldest first.
	ListUsers(ctx context.Context, accountID string) ([]rayfleet.User, error)
	// UpdateUser reads the user, calls fn on it and writes Name, Nickname,
	// Comments and UpdateTime back in one transaction; a name taken by
	// another user of the account is EDENIED.
	UpdateUser(ctx context.Context, accountID, uid string, fn func(*rayfleet.User) error) (rayfleet.User, error)
	// DeleteUser removes a user; it fails with EDENIED while the user has
	// access keys or attached policies.
	DeleteUser(ctx context.Context, accountID, uid string) error
	// ListAccessKeys returns a user's keys, oldest first.
	ListAccessKeys(ctx context.Context, accountID, userUID string) ([]rayfleet.AccessKey, error)
	// SetAccessKeyStatus and DeleteAccessKey act on a key of that user of
	// that account only; any other key is not found.
	SetAccessKeyStatus(ctx context.Context, accountID, userUID, id, status string) error
	DeleteAccessKey(ctx context.Context, accountID, userUID, id string) error

	// Custom policies and their versions. CreatePolicy stores the policy
	// with its first version, v1, as the default.
	CreatePolicy(ctx context.Context, p rayfleet.Policy, document string) error
	GetPolicy(ctx context.Context, accountID, name string) (rayfleet.Policy, error)
	// ListPolicies returns the account's custom policies, by name.
	ListPolicies(ctx context.Context, accountID string) ([]rayfleet.Policy, error)
	// DeletePolicy removes a policy with all its versions; it fails with
	// EDENIED while the policy is attached to a user.
	DeletePolicy(ctx context.Context, accountID, name string) error
	// CreatePolicyVersion adds the next version (v<n+1>) of a policy, made
	// the default when setDefault. A policy holding MaxPolicyVersions
	// versions is EDENIED unless rotate, which first removes its oldest
	// version that is not the default.
	CreatePolicyVersion(ctx context.Context, accountID, name, document string, setDefault, rotate bool, now time.Time) (rayfleet.PolicyVersion, error)
	// ListPolicyVersions returns a policy's versions, oldest first.
	ListPolicyVersions(ctx context.Context, accountID, name string) ([]rayfleet.PolicyVersion, error)

	// Attachments. AttachPolicy fails with ENOTFOUND for a user or custom
	// policy the account does not have, and EDENIED when already attached;
	// DetachPolicy is ENOTFOUND when not attached.
	AttachPolicy(ctx context.Context, a rayfleet.PolicyAttachment) error
	DetachPolicy(ctx context.Context, accountID, userUID, policyType, policyName string) error
	// ListAttachments returns the account's attachments that match f,
	// oldest first, with each custom policy's default document.
	ListAttachments(ctx context.Context, f AttachmentFilter) ([]rayfleet.PolicyAttachment, error)

	// Workspaces. CreateWorkspace stores the workspace with its first queue
	// and network service in one transaction.
	CreateWorkspace(ctx context.Context, w rayfleet.Workspace, root rayfleet.Queue, ns rayfleet.NetworkService) error
	GetWorkspace(ctx context.Context, accountID, id string) (rayfleet.Workspace, error)
	ListWorkspaces(ctx context.Context, f WorkspaceFilter) ([]rayfleet.Workspace, int, error)
	// UpdateWorkspace writes a workspace's settings, Name and CU; ENOTFOUND
	// when it is not there. Whether the queues' limits still fit is the
	// caller's question, asked under the workspace's lock.
	UpdateWorkspace(ctx context.Context, w rayfleet.Workspace) error
	// DeleteWorkspace removes the workspace with its queues, network
	// services and jobs; it fails with EDENIED while any cluster row of it
	// remains.
	DeleteWorkspace(ctx context.Context, accountID, id string) error

	// Queues. UpdateQueue writes MaxCU, Category, Description,
	// Environments and PaymentType.
	CreateQueue(ctx context.Context, q rayfleet.Queue) error
	GetQueue(ctx context.Context, accountID, workspaceID, name string) (rayfleet.Queue, error)
	ListQueues(ctx context.Context, accountID, workspaceID string) ([]rayfleet.Queue, error)
	UpdateQueue(ctx context.Context, q rayfleet.Queue) error
	DeleteQueue(ctx context.Context, accountID, workspaceID, name string) error

	// Network services.
	CreateNetworkService(ctx context.Context, n rayfleet.NetworkService) error
	ListNetworkServices(ctx context.Context, accountID, workspaceID string) ([]rayfleet.NetworkService, error)

	// Clusters. Get and List never return rows marked Deleted; the
	// reconciler sees them through ListClusterRefs and GetClusterAny.
	//
	// Every write of a cluster keeps its workspace's queue usage (what
	// CapacityInUse returns) in the same transaction: a cluster holds
	// Spec.Needs() of its queues while HoldsCapacity. A write that makes a
	// cluster hold more of a queue than before fails, writing nothing,
	// with rayfleet.EQUOTA when the queue would then hold more than its
	// limit, and with rayfleet.EINVALID when the queue does not exist; so
	// of concurrent writes that together would overfill a queue, through
	// any stores on the database, only those that fit succeed.
	CreateCluster(ctx context.Context, c rayfleet.Cluster) error
	GetCluster(ctx context.Context, accountID, workspaceID, id string) (rayfleet.Cluster, error)
	// GetClusterAny is GetCluster that also returns rows marked Deleted.
	GetClusterAny(ctx context.Context, accountID, workspaceID, id string) (rayfleet.Cluster, error)
	// ListClusters returns a page of the clusters that match f and how many
	// match in all. The clusters are whole except for RunningSpec and
	// Instances, which lists do not show and a store may leave zero; read
	// a cluster with GetCluster for those. A list reflects every write
	// that completed before it began, through this store or any other on
	// the same database. A workspace that does not exist, or is another
	// account's, lists no clusters.
	ListClusters(ctx context.Context, f ClusterFilter) ([]rayfleet.Cluster, int, error)
	// UpdateCluster reads the cluster (deleted rows included), calls fn on it
	// and writes the result if its Version is still the one read, bumping it.
	// When fn returns an error nothing is written and that error is returned.
	// A lost race returns an error wrapping rayfleet.ErrConflict.
	UpdateCluster(ctx context.Context, accountID, workspaceID, id string, fn func(*rayfleet.Cluster) error) (rayfleet.Cluster, error)
	// UpdateClusterFrom is UpdateCluster without the read: read is the row
	// as the caller read it (GetClusterAny), fn is called on a copy of it,
	// and the result is written if the row's Version is still read.Version.
	// A row written or purged since returns an error wrapping
	// rayfleet.ErrConflict. fn must not change what the copy shares with
	// read (slices, maps), only replace it.
	UpdateClusterFrom(ctx context.Context, read rayfleet.Cluster, fn func(*rayfleet.Cluster) error) (rayfleet.Cluster, error)
	// ClusterForGateway is the gateway's lookup of a live cluster by
	// workspace and id, not scoped by account (a gateway request is
	// authenticated by a data-plane credential, which names its account).
	ClusterForGateway(ctx context.Context, workspaceID, id string) (rayfleet.Cluster, error)
	// PurgeCluster removes the row for good.
	PurgeCluster(ctx context.Context, accountID, workspaceID, id string) error
	// ClustersHoldingCapacity returns the clusters of a workspace, deleted
	// rows included, whose HoldsCapacity is true.
	ClustersHoldingCapacity(ctx context.Context, accountID, workspaceID string) ([]rayfleet.Cluster, error)
	// CapacityInUse is, by queue, what the clusters ClustersHoldingCapacity
	// returns hold (the sum of their Spec.Needs()), as the cluster writes
	// keep it: a read of the workspace's queues, whatever its number of
	// clusters. Queues nothing holds may be absent or zero.
	CapacityInUse(ctx context.Context, accountID, workspaceID string) (map[string]rayfleet.Resources, error)
	// CountClusterRows counts a workspace's cluster rows, deleted ones
	// (not yet purged) included.
	CountClusterRows(ctx context.Context, accountID, workspaceID string) (int, error)
	// ListClusterRefs returns the keys of every cluster row of every account,
	// deleted rows included: the reconciler's resync.
	ListClusterRefs(ctx context.Context) ([]ClusterRef, error)
	// CountClustersByState counts cluster rows that are not deleted, by state.
	CountClustersByState(ctx context.Context) (map[rayfleet.State]int, error)

	// Ray jobs. A job's ID is the submission id rayfleet chose and gives
	// Ray; it is unique across accounts. Every read and write is scoped by
	// account and workspace, like a cluster's.
	//
	// CreateJob stores a new job at version 1: EDENIED when the id exists,
	// ENOTFOUND when the workspace does not (or is another account's).
	CreateJob(ctx context.Context, j rayfleet.Job) error
	GetJob(ctx context.Context, accountID, workspaceID, id string) (rayfleet.Job, error)
	// ListJobs returns a page of the jobs that match f, newest first
	// (SubmitTime descending, then ID descending), and how many match in
	// all. A workspace that does not exist, or is another account's, lists
	// no jobs.
	ListJobs(ctx context.Context, f JobFilter) ([]rayfleet.Job, int, error)
	// UpdateJob reads the job, calls fn on it and writes the result if its
	// Version is still the one read, bumping it; a lost race returns an
	// error wrapping rayfleet.ErrConflict. A status fn changes must be one
	// the read status CanBecome, or nothing is written and the error wraps
	// ErrStatusBackwards. When fn returns an error nothing is written and
	// that error is returned. fn must not change the job's keys.
	UpdateJob(ctx context.Context, accountID, workspaceID, id string, fn func(*rayfleet.Job) error) (rayfleet.Job, error)
	// SetJobStatus writes u over the job in one statement, without a read
	// first, if the job's status at that moment CanBecome u.Status; so
	// writers that race, or one that acts on what it read long ago, can
	// only move a job forward, and a final job stays as it ended. It
	// returns the job as it is after the call and whether u was written.
	SetJobStatus(ctx context.Context, accountID, workspaceID, id string, u JobStatusUpdate) (rayfleet.Job, bool, error)
	// ListUnfinishedJobs returns the jobs of a cluster whose status is not
	// final, in the order they were created (CreateJob's order, not
	// SubmitTime's): the queue the reconciler hands out the cluster's job
	// slots from.
	ListUnfinishedJobs(ctx context.Context, c ClusterRef) ([]rayfleet.Job, error)
	// ListUnfinishedJobClusters returns, once each, the clusters of every
	// account that have an unfinished job (whether or not the cluster row
	// still exists): the reconciler's resync of jobs.
	ListUnfinishedJobClusters(ctx context.Context) ([]ClusterRef, error)

	// Data-plane credentials. CreateDataPlaneTokens stores tokens in one
	// transaction, all or none: EDENIED when a token's hash exists.
	CreateDataPlaneTokens(ctx context.Context, ts []rayfleet.DataPlaneToken) error
	// ListDataPlaneTokens returns the account's tokens that match f, in no
	// particular order.
	ListDataPlaneTokens(ctx context.Context, f DataPlaneTokenFilter) ([]rayfleet.DataPlaneToken, error)
	// GetDataPlaneToken finds a token by the hash of it alone, whatever its
	// account ("" finds nothing): the gateway's lookup, which knows no
	// account before it.
	GetDataPlaneToken(ctx context.Context, tokenHash string) (rayfleet.DataPlaneToken, error)
	// DeleteDataPlaneTokensBefore removes every account's tokens that
	// expired before t and returns how many it removed.
	DeleteDataPlaneTokensBefore(ctx context.Context, t time.Time) (int64, error)

	// Idempotency records: PutIdempotency stores rec unless a record with the
	// same (AccountID, Token) exists, in which case it returns that one and
	// false. A write that should happen at most once per token carries its
	// record instead (WithClientToken), so that the two are stored together.
	PutIdempotency(ctx context.Context, rec rayfleet.Idempotency) (rayfleet.Idempotency, bool, error)
	// GetIdempotency returns the record of (accountID, token) if one was
	// created at or after since; found is false otherwise.
	GetIdempotency(ctx context.Context, accountID, token string, since time.Time) (rec rayfleet.Idempotency, found bool, err error)
	DeleteIdempotencyBefore(ctx context.Context, t time.Time) error

	// Audit log. ListAudit returns the account's events that match f,
	// newest first.
	AppendAudit(ctx context.Context, e rayfleet.AuditEvent) error
	ListAudit(ctx context.Context, f AuditFilter) ([]rayfleet.AuditEvent, error)
	// DeleteAuditBefore removes every account's events older than t and
	// returns how many it removed.
	DeleteAuditBefore(ctx context.Context, t time.Time) (int64, error)

	Close() error
}

// AuditFilter selects audit events of one account; empty fields match any.
// Since is inclusive, Until exclusive.
type AuditFilter struct {
	AccountID string
	UserName  string
	Action    string
	Result    string
	Since     time.Time
	Until     time.Time
	Offset    int
	Limit     int // 0 means no limit
}

// DataPlaneTokenFilter selects the tokens one user got with one access key
// for some clusters of one workspace that expire after ExpiresAfter. Every
// field is required but ExpiresAfter (zero: expired ones too).
type DataPlaneTokenFilter struct {
	AccountID    string
	UserUID      string
	AccessKeyID  string
	WorkspaceID  string
	ClusterIDs   []string
	ExpiresAfter time.Time
}

// AttachmentFilter selects attachments of one account; empty fields match
// any.
type AttachmentFilter struct {
	AccountID  string
	UserUID    string
	PolicyType string
	PolicyName string
}

// ClusterRef names one cluster row.
type ClusterRef struct {
	AccountID   string
	WorkspaceID string
	ID          string
}

// WorkspaceFilter selects workspaces of one account. Name is a substring;
// a workspace matches Tags when it has every one of them.
type WorkspaceFilter struct {
	AccountID string
	Name      string
	Status    string
	Tags      []TagFilter
	Offset    int
	Limit     int // 0 means no limit
}

// TagFilter matches a resource having the tag Key, with the value Value
// unless AnyValue.
type TagFilter struct {
	Key      string
	Value    string
	AnyValue bool
}

// ClusterFilter selects the clusters of one workspace, newest first
// (CreateTime descending, then ID). Name is a substring; QueueName matches a
// cluster any of whose nodes use that queue.
type ClusterFilter struct {
	AccountID   string
	WorkspaceID string
	State       rayfleet.State
	Name        string
	Creator     string
	QueueName   string
	Offset      int
	Limit       int // 0 means no limit
}

// JobFilter selects the jobs of one workspace, as ListRayJob's query does:
// Name, ID (the submissionId) and TaskBizID match exactly; SubmittedFrom
// and SubmittedUntil bound SubmitTime, both inclusive, the zero time
// leaving that side open.
type JobFilter struct {
	AccountID      string
	WorkspaceID    string
	Name           string
	ID             string
	TaskBizID      string
	SubmittedFrom  time.Time
	SubmittedUntil time.Time
	Offset         int
	Limit          int // 0 means no limit
}

// JobStatusUpdate is what SetJobStatus writes: the status and message, and
// the start and end times when not zero (zero keeps the stored ones).
type JobStatusUpdate struct {
	Status    rayfleet.JobStatus
	Message   string
	StartTime time.Time
	EndTime   time.Time
}

// ErrStatusBackwards says an UpdateJob would have moved a job's status to
// one it cannot become (rayfleet.JobStatus.CanBecome).
var ErrStatusBackwards = errors.New("a job's status cannot go back, nor leave a final status")

// A ClientToken is the record of a call made with a client token, to be
// stored in the same transaction as the write the call makes, so that no
// crash can leave the one without the other: a retry either finds the
// record, and with it the first call's write, or finds neither and acts.
//
// The writes that take one from their context (WithClientToken) are
// CreateWorkspace, CreateQueue, UpdateQueue, CreateNetworkService,
// CreateCluster, UpdateCluster and CreateJob. The first of them to commit
// with it stores Record and marks it stored; later writes with the same
// context store it no more. When a record of the token is found already (one
// created at or after Since; an older one is replaced), nothing is written
// and the write fails with an error wrapping ErrTokenUsed.
type ClientToken struct {
	Record rayfleet.Idempotency
	Since  time.Time
	stored atomic.Bool
}

// ErrTokenUsed says a write carried a client token that was recorded before.
var ErrTokenUsed = errors.New("client token already used")

// MarkStored is called by a store once t's record is committed.
func (t *ClientToken) MarkStored() { t.stored.Store(true) }

// Stored reports whether a write stored t's record.
func (t *ClientToken) Stored() bool { return t.stored.Load() }

type clientTokenKey struct{}

// WithClientToken returns ctx carrying t for the writes made with it.
func WithClientToken(ctx context.Context, t *ClientToken) context.Context {
	return context.WithValue(ctx, clientTokenKey{}, t)
}

// ClientTokenOf returns the client token ctx carries that no write has
// stored yet, or nil.
func ClientTokenOf(ctx context.Context) *ClientToken {
	t, _ := ctx.Value(clientTokenKey{}).(*ClientToken)
	if t == nil || t.Stored() {
		return nil
	}
	return t
}
