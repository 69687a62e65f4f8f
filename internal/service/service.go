package service

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/keylock"
	"github.com/rayfleet/rayfleet/internal/store"
)

// Sealer seals secrets at rest.
type Sealer interface {
	Seal(plaintext []byte) ([]byte, error)
	Open(sealed []byte) ([]byte, error)
}

// Waker is told when a cluster's desired state changed, so it is reconciled
// now rather than at the next resync (and the jobs that wait for it, or end
// with it, looked at).
type Waker interface {
	Wake(ref store.ClusterRef)
}

// Revoker is told, after the store holds the change, of what may end
// data-plane credentials, so that a gateway remembering them stops
// honouring them at once and cuts what is open with them:
//   - Revoke: a cluster's instance ended or was replaced (it stopped, was
//     deleted, or a new instance started): every credential for it ends.
//   - RevokeUser: what a user may do narrowed (a policy attached, which may
//     deny, or detached, or a policy it holds changed; the user deleted).
//   - RevokeKey: an access key was disabled or deleted, and with it the
//     credentials got with it or with its temporary (STS) credentials.
//
// For a user or a key the gateway checks the credentials again and ends
// those no longer allowed.
type Revoker interface {
	Revoke(workspaceID, clusterID string)
	RevokeUser(accountID, userUID string)
	RevokeKey(accountID, accessKeyID string)
}

// GPUType is one entry of the configured GPU table: what a gpuSpec means.
type GPUType struct {
	GPUs         int               `yaml:"gpus" json:"gpus"`
	Resource     string            `yaml:"resource" json:"resource"`
	NodeSelector map[string]string `yaml:"nodeSelector" json:"nodeSelector"`
}

// Endpoints are the base addresses the gateway serves clusters at.
type Endpoints struct {
	// URL is the public base URL of the gateway, e.g. https://ray.example.com.
	URL string
	// InnerURL is the internal base URL (jobUrlInner).
	InnerURL string
	// GRPCAddress is host:port of the Ray client endpoint.
	GRPCAddress string
	// ClusterDomain, when set, puts each cluster's dashboardUrl and jobUrl
	// on a host of its own, <clusterId>.<ClusterDomain>, with URL's scheme
	// and port (the gateway serves dashboards there only).
	ClusterDomain string
}

// Service implements the API actions. Every field is required except Waker,
// JobWaker, LogBucket, Revoker, Logger, WorkspaceRuntime, Locker, Logs and LogURLs.
type Service struct {
	Store     store.Store
	Sealer    Sealer
	Now       func() time.Time
	Random    io.Reader
	Releases  []rayfleet.ReleaseVersion
	GPUTypes  map[string]GPUType
	Endpoints Endpoints
	RegionID  string
	Waker     Waker
	// JobWaker, if not nil, is told of the clusters whose jobs changed (a
	// job submitted or cancelled), keyed as Waker is: the job runner looks
	// at a cluster's jobs together.
	JobWaker Waker
	// Revoker, if not nil, is told of what ends data-plane credentials.
	Revoker Revoker
	Logger  *slog.Logger
	// WorkspaceRuntime, if not nil, is told of deleted workspaces.
	WorkspaceRuntime WorkspaceRuntime
	// Locker, if not nil, makes the decisions wsLocks serialises in this
	// process wait for each other across the processes that share the
	// store too (several API replicas on one PostgreSQL database).
	Locker Locker
	// Logs, if not nil, is where jobs' logs are kept; LogURLs signs the
	// URLs that open them (GetRayLog).
	Logs    LogStore
	LogURLs LogURLs

	// DataPlaneTokenTTL is how long a data-plane credential lasts (0:
	// DefaultDataPlaneTokenTTL).
	DataPlaneTokenTTL time.Duration

	// wsLocks serialises capacity decisions per workspace, so two calls
	// cannot both admit into the same free capacity.
	wsLocks keylock.Set
	// tokenLocks serialises calls that carry the same client token.
	tokenLocks keylock.Set
	// auths remembers recently authenticated access keys (Authenticate).
	auths authCache
	// policies remembers the parsed policies of recent callers.
	policies policyCache
	// credentials remembers the data-plane credentials handed out.
	credentials credentialCache
}

// now returns the injected time at millisecond precision, the precision the
// API and the store keep.
func (s *Service) now() time.Time { return s.Now().UTC().Truncate(time.Millisecond) }

func (s *Service) wake(c *rayfleet.Cluster) {
	if s.Waker != nil {
		s.Waker.Wake(store.ClusterRef{AccountID: c.AccountID, WorkspaceID: c.WorkspaceID, ID: c.ID})
	}
}

func (s *Service) revoke(c *rayfleet.Cluster) {
	if s.Revoker != nil {
		s.Revoker.Revoke(c.WorkspaceID, c.ID)
	}
}

func (s *Service) revokeUser(accountID, uid string) {
	if s.Revoker != nil {
		s.Revoker.RevokeUser(accountID, uid)
	}
}

func (s *Service) revokeKey(accountID, keyID string) {
	if s.Revoker != nil {
		s.Revoker.RevokeKey(accountID, keyID)
	}
}

// workspace loads a workspace of the caller's account; another account's
// workspace is reported exactly like a missing one.
func (s *Service) workspace(ctx context.Context, p rayfleet.Principal, id string) (rayfleet.Workspace, error) {
	if id == "" {
		return rayfleet.Workspace{}, rayfleet.Errorf(rayfleet.EMISSING, "workspaceId is required")
	}
	w, err := s.Store.GetWorkspace(ctx, p.AccountID, id)
	if err != nil {
		if rayfleet.IsNotFound(err) {
			return w, rayfleet.Errorf(rayfleet.ENOTFOUND, "workspace %s not found", id)
		}
		return w, err
	}
	return w, nil
}

// hashToken is how tokens are stored: SHA-256, hex.
func hashToken(t string) string {
	h := sha256.Sum256([]byte(t))
	return hex.EncodeToString(h[:])
}

// Locker holds a lock named by kind and key across processes until
// unlock. The service takes kinds in one order: "token" (a clientToken's)
// before "ws" (a workspace's, or a user's keys).
type Locker interface {
	Lock(ctx context.Context, kind, key string) (unlock func(), err error)
}

// lock takes the lock of key: in this process, and through Locker across
// processes. Capacity decisions (admission, queue limits) and access-key
// counts hold it from their read to their write.
func (s *Service) lock(ctx context.Context, key string) (func(), error) {
	return s.lockIn(ctx, &s.wsLocks, "ws", key)
}

// lockIn takes key's lock in km, and through Locker the lock of kind and
// key.
func (s *Service) lockIn(ctx context.Context, km *keylock.Set, kind, key string) (func(), error) {
	unlock := km.Lock(key)
	if s.Locker == nil {
		return unlock, nil
	}
	release, err := s.Locker.Lock(ctx, kind, key)
	if err != nil {
		unlock()
		return nil, fmt.Errorf("lock %s: %w", key, err)
	}
	return func() {
		release()
		unlock()
	}, nil
}

// retryConflict runs fn again while it loses optimistic-concurrency races, a
// bounded number of times.
func retryConflict(ctx context.Context, fn func() error) error {
	var err error
	for range 10 {
		if err = fn(); !isConflict(err) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return fmt.Errorf("gave up after repeated write conflicts: %w", err)
}
