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

	// Workspaces. CreateWorkspace stores the workspace with its first queue
	// and network service in one transaction.
	CreateWorkspace(ctx context.Context, w rayfleet.Workspace, root rayfleet.Queue, ns rayfleet.NetworkService) error
	GetWorkspace(ctx context.Context, accountID, id string) (rayfleet.Workspace, error)
	ListWorkspaces(ctx context.Context, f WorkspaceFilter) ([]rayfleet.Workspace, int, error)
	// DeleteWorkspace removes the workspace with its queues and network
	// services; it fails with EDENIED while any cluster row of it remains.
	DeleteWorkspace(ctx context.Context, accountID, id string) error

	// Queues.
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
	CreateCluster(ctx context.Context, c rayfleet.Cluster) error
	GetCluster(ctx context.Context, accountID, workspaceID, id string) (rayfleet.Cluster, error)
	// GetClusterAny is GetCluster that also returns rows marked Deleted.
	GetClusterAny(ctx context.Context, accountID, workspaceID, id string) (rayfleet.Cluster, error)
	// ListClusters returns a page of the clusters that match f and how many
	// match in all. The clusters are whole except for RunningSpec and
	// Instances, which lists do not show and a store may leave zero; read
	// a cluster with GetCluster for those. Each listed cluster carries its
	// Rev: it differs after every write to the row, and no other state of
	// any cluster, the same id created again included, ever had it. A list reflects every write
	// that completed before it began, through this store or any other on
	// the same database. A workspace that does not exist, or is another
	// account's, lists no clusters.
	ListClusters(ctx context.Context, f ClusterFilter) ([]rayfleet.Cluster, int, error)
	// UpdateCluster reads the cluster (deleted rows included), calls fn on it
	// and writes the result if its Version is still the one read, bumping it.
	// When fn returns an error nothing is written and that error is returned.
	// A lost race returns an error wrapping rayfleet.ErrConflict.
	UpdateCluster(ctx context.Context, accountID, workspaceID, id string, fn func(*rayfleet.Cluster) error) (rayfleet.Cluster, error)
	// ClusterForGateway and ClusterByTokenHash are the gateway's lookups,
	// not scoped by account (a gateway request is authenticated by the
	// cluster's token): a live cluster by workspace and id, and the live
	// cluster whose current token hashes to tokenHash ("" finds nothing).
	ClusterForGateway(ctx context.Context, workspaceID, id string) (rayfleet.Cluster, error)
	ClusterByTokenHash(ctx context.Context, tokenHash string) (rayfleet.Cluster, error)
	// PurgeCluster removes the row for good.
	PurgeCluster(ctx context.Context, accountID, workspaceID, id string) error
	// ClustersHoldingCapacity returns the clusters of a workspace, deleted
	// rows included, whose HoldsCapacity is true.
	ClustersHoldingCapacity(ctx context.Context, accountID, workspaceID string) ([]rayfleet.Cluster, error)
	// ListClusterRefs returns the keys of every cluster row of every account,
	// deleted rows included: the reconciler's resync.
	ListClusterRefs(ctx context.Context) ([]ClusterRef, error)
	// CountClustersByState counts cluster rows that are not deleted, by state.
	CountClustersByState(ctx context.Context) (map[rayfleet.State]int, error)

	// Idempotency records: PutIdempotency stores rec unless a record with the
	// same (AccountID, Token) exists, in which case it returns that one and
	// false.
	PutIdempotency(ctx context.Context, rec rayfleet.Idempotency) (rayfleet.Idempotency, bool, error)
	// GetIdempotency returns the record of (accountID, token) if one was
	// created at or after since; found is false otherwise.
	GetIdempotency(ctx context.Context, accountID, token string, since time.Time) (rec rayfleet.Idempotency, found bool, err error)
	DeleteIdempotencyBefore(ctx context.Context, t time.Time) error

	Close() error
}

// ClusterRef names one cluster row.
type ClusterRef struct {
	AccountID   string
	WorkspaceID string
	ID          string
}

// WorkspaceFilter selects workspaces of one account. Name is a substring.
type WorkspaceFilter struct {
	AccountID string
	Name      string
	Status    string
	Offset    int
	Limit     int // 0 means no limit
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

	// Known, when set, lets the caller keep what it derives from a listed
	// cluster for as long as the cluster is unchanged. A store that holds
	// listed rows in memory calls it once for each cluster of the page, in
	// list order, with the Memo of that row: a slot the caller may fill,
	// which the store keeps until the row is written (the next version of
	// the row gets an empty Memo) or dropped. The clusters it returns true
	// for are left out of the returned page (the total still counts them):
	// the caller has what it needs of them. A store may never call it, and
	// then returns the whole page.
	Known func(id string, memo *Memo) bool
}

// A Memo is where a caller keeps what it derived from one version of a
// stored row (see ClusterFilter.Known). Every value stored in a Memo must
// have the same concrete type.
type Memo struct{ v atomic.Value }

// Load returns what was stored, or nil.
func (m *Memo) Load() any { return m.v.Load() }

// Store keeps v.
func (m *Memo) Store(v any) { m.v.Store(v) }
