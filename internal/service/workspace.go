package service

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/store"
)

// Workspace limits.
const (
	DefaultWorkspaceCU = 64
	MaxWorkspaceCU     = 100000
)

// CreateWorkspaceInput is CreateWorkspace's body, as the service needs it.
type CreateWorkspaceInput struct {
	Name        string
	CU          int64
	OSSBucket   string
	PaymentType string
	ReleaseType string
	Tags        []rayfleet.Tag
	ClientToken string
}

// ListWorkspacesInput is ListWorkspaces' query. Limit 0 is the default page.
type ListWorkspacesInput struct {
	// Name is a case-insensitive substring of the name.
	Name string
	// State is a workspace status, in any case: those the hosted product
	// reports (STARTING, RUNNING, TERMINATING, TERMINATED) or documents
	// for the filter (Starting, Running, Stopping, Stopped, Error).
	State  string
	Tags   []TagFilter
	Offset int
	Limit  int
}

// TagFilter asks for the tag Key with the value Value, or with any value
// when AnyValue.
type TagFilter struct {
	Key      string
	Value    string
	AnyValue bool
}

// workspaceStates are the values ListWorkspaces' state filter takes, upper
// case. rayfleet's workspaces are RUNNING from their creation on; the
// others are valid filters that match none.
var workspaceStates = []string{
	rayfleet.WorkspaceStarting, rayfleet.WorkspaceRunning, rayfleet.WorkspaceTerminating, rayfleet.WorkspaceTerminated,
	"STOPPING", "STOPPED", "ERROR",
}

// ListWorkspaces lists the caller's workspaces, newest first.
func (s *Service) ListWorkspaces(ctx context.Context, p rayfleet.Principal, in ListWorkspacesInput) ([]rayfleet.Workspace, int, error) {
	if err := s.authorize(ctx, p, "ListWorkspaces", "*"); err != nil {
		return nil, 0, err
	}
	if in.Limit < 0 || in.Limit > 100 {
		return nil, 0, rayfleet.Errorf(rayfleet.EINVALID, "maxResults must be between 1 and 100, got %d", in.Limit)
	}
	if in.Limit == 0 {
		in.Limit = 20
	}
	if in.Offset < 0 {
		return nil, 0, rayfleet.Errorf(rayfleet.EINVALID, "nextToken is not valid")
	}
	f := store.WorkspaceFilter{AccountID: p.AccountID, Name: in.Name, Offset: in.Offset, Limit: in.Limit}
	if in.State != "" {
		f.Status = strings.ToUpper(in.State)
		if !slices.Contains(workspaceStates, f.Status) {
			return nil, 0, rayfleet.Errorf(rayfleet.EINVALID, "state must be one of Starting, Running, Stopping, Stopped, Error, Terminating, Terminated; got %q", in.State)
		}
	}
	if len(in.Tags) > rayfleet.MaxWorkspaceTags {
		return nil, 0, rayfleet.Errorf(rayfleet.EINVALID, "tag has %d entries; at most %d are allowed", len(in.Tags), rayfleet.MaxWorkspaceTags)
	}
	for i, t := range in.Tags {
		if t.Key == "" {
			return nil, 0, rayfleet.Errorf(rayfleet.EMISSING, "tag[%d].key is required", i)
		}
		f.Tags = append(f.Tags, store.TagFilter(t))
	}
	ws, total, err := s.listVisibleWorkspaces(ctx, p, f)
	if err != nil {
		return nil, 0, fmt.Errorf("list workspaces: %w", err)
	}
	return ws, total, nil
}

// CreateWorkspace creates a workspace with its root queue (holding the whole
// quota) and the default network service.
func (s *Service) CreateWorkspace(ctx context.Context, p rayfleet.Principal, in CreateWorkspaceInput) (Outcome, error) {
	if err := s.authorize(ctx, p, "CreateWorkspace", "*"); err != nil {
		return Outcome{}, err
	}
	if err := rayfleet.ValidateWorkspaceName(in.Name); err != nil {
		return Outcome{}, err
	}
	if in.CU == 0 {
		in.CU = DefaultWorkspaceCU
	}
	if in.CU < 1 || in.CU > MaxWorkspaceCU {
		return Outcome{}, rayfleet.Errorf(rayfleet.EINVALID, "resourceSpec.cu must be between 1 and %d, got %d", MaxWorkspaceCU, in.CU)
	}
	switch in.PaymentType {
	case "":
		in.PaymentType = "PayAsYouGo"
	case "PayAsYouGo", "Pre", "Subscription":
	default:
		return Outcome{}, rayfleet.Errorf(rayfleet.EINVALID, "paymentType must be PayAsYouGo, Pre or Subscription, got %q", in.PaymentType)
	}
	if in.ReleaseType == "" {
		in.ReleaseType = "pro"
	}
	if err := rayfleet.ValidateWorkspaceTags("tag", in.Tags); err != nil {
		return Outcome{}, err
	}
	token := in.ClientToken
	in.ClientToken = ""
	return s.idempotent(ctx, p, token, "CreateWorkspace", in, func(guard guard) (Outcome, error) {
		id, err := s.createWorkspace(ctx, p, in, guard)
		return Outcome{WorkspaceID: id}, err
	})
}

func (s *Service) createWorkspace(ctx context.Context, p rayfleet.Principal, in CreateWorkspaceInput, guard guard) (string, error) {
	id, err := s.newWorkspaceID()
	if err != nil {
		return "", err
	}
	nsID, err := s.newNetworkServiceID()
	if err != nil {
		return "", err
	}
	now := s.now()
	w := rayfleet.Workspace{
		ID: id, AccountID: p.AccountID, Name: in.Name, CU: in.CU, Status: rayfleet.WorkspaceRunning,
		OSSBucket: in.OSSBucket, PaymentType: in.PaymentType, ReleaseType: in.ReleaseType,
		CreateTime: now, Creator: p.UserUID, Tags: in.Tags,
	}
	root := rayfleet.Queue{
		AccountID: p.AccountID, WorkspaceID: id, Name: rayfleet.RootQueue, MaxCU: in.CU,
		Category: "CPU", Description: "The workspace's first queue; holds the whole quota until other queues take a share.",
		Environments: rayfleet.QueueEnvironments(), PaymentType: queuePayment(in.PaymentType),
		CreateTime: now, Creator: p.UserUID,
	}
	ns := rayfleet.NetworkService{
		ID: nsID, AccountID: p.AccountID, WorkspaceID: id, Name: rayfleet.DefaultNetworkService,
		Type: "NetworkService", State: "running", CreateTime: now,
	}
	if err := s.Store.CreateWorkspace(guard(ctx, Outcome{WorkspaceID: id}), w, root, ns); err != nil {
		return "", fmt.Errorf("create workspace: %w", err)
	}
	return id, nil
}

// UpdateWorkspaceInput is UpdateWorkspace's body as the service needs it:
// what is nil stays as it is.
type UpdateWorkspaceInput struct {
	WorkspaceID string
	Name        *string
	CU          *int64
}

// UpdateWorkspace renames a workspace or changes its quota. The queues'
// limits are left as they are, so a quota below their sum is refused
// (lower the queues first), and a quota raised is free for EditWorkspaceQueue
// and CreateWorkspaceQueue to give out.
func (s *Service) UpdateWorkspace(ctx context.Context, p rayfleet.Principal, in UpdateWorkspaceInput) error {
	if err := s.authorize(ctx, p, "UpdateWorkspace", s.wsARN(p, in.WorkspaceID)); err != nil {
		return err
	}
	if in.Name != nil {
		if err := rayfleet.ValidateWorkspaceName(*in.Name); err != nil {
			return err
		}
	}
	if in.CU != nil && (*in.CU < 1 || *in.CU > MaxWorkspaceCU) {
		return rayfleet.Errorf(rayfleet.EINVALID, "cu must be between 1 and %d, got %d", MaxWorkspaceCU, *in.CU)
	}
	if _, err := s.workspace(ctx, p, in.WorkspaceID); err != nil {
		return err
	}
	unlock, err := s.lock(ctx, p.AccountID+"/"+in.WorkspaceID)
	if err != nil {
		return err
	}
	defer unlock()
	// Read again under the lock, which queue changes take too.
	w, err := s.workspace(ctx, p, in.WorkspaceID)
	if err != nil {
		return err
	}
	if in.Name != nil {
		w.Name = *in.Name
	}
	if in.CU != nil {
		qs, err := s.Store.ListQueues(ctx, p.AccountID, w.ID)
		if err != nil {
			return fmt.Errorf("list queues: %w", err)
		}
		var held int64
		for _, q := range qs {
			held += q.MaxCU
		}
		if held > *in.CU {
			return rayfleet.Errorf(rayfleet.EDENIED,
				"the queues of workspace %s have limits of %d CU together, more than %d CU; lower them (EditWorkspaceQueue) first",
				w.ID, held, *in.CU)
		}
		w.CU = *in.CU
	}
	if err := s.Store.UpdateWorkspace(ctx, w); err != nil {
		if rayfleet.IsNotFound(err) {
			return rayfleet.Errorf(rayfleet.ENOTFOUND, "workspace %s not found", w.ID)
		}
		return fmt.Errorf("update workspace: %w", err)
	}
	return nil
}

// WorkspaceRuntime is the part of a runtime that keeps something per
// workspace (the kuberay runtime's namespace). DeleteWorkspace removes it;
// it is idempotent and fine for a workspace that never ran a cluster.
type WorkspaceRuntime interface {
	DeleteWorkspace(ctx context.Context, accountID, workspaceID string) error
}

// DeleteWorkspace deletes an empty workspace with its queues and network
// services; it is refused while the workspace holds clusters. With a
// WorkspaceRuntime, what the runtime keeps for the workspace is removed
// first, so that a failure or a crash in between leaves the workspace
// there to delete again, never an orphan the API no longer names.
func (s *Service) DeleteWorkspace(ctx context.Context, p rayfleet.Principal, wsID string) error {
	if err := s.authorize(ctx, p, "DeleteWorkspace", s.wsARN(p, wsID)); err != nil {
		return err
	}
	if _, err := s.workspace(ctx, p, wsID); err != nil {
		return err
	}
	unlock, err := s.lock(ctx, p.AccountID+"/"+wsID)
	if err != nil {
		return err
	}
	defer unlock()
	cleaned := false
	if s.WorkspaceRuntime != nil {
		n, err := s.clusterRows(ctx, p.AccountID, wsID)
		if err != nil {
			return err
		}
		// With cluster rows left the store refuses below; their runtime
		// objects, still being torn down, must not lose their namespace.
		if n == 0 {
			if err := s.WorkspaceRuntime.DeleteWorkspace(ctx, p.AccountID, wsID); err != nil {
				return fmt.Errorf("delete workspace %s from the runtime: %w", wsID, err)
			}
			cleaned = true
		}
	}
	err = s.Store.DeleteWorkspace(ctx, p.AccountID, wsID)
	if rayfleet.IsNotFound(err) {
		return rayfleet.Errorf(rayfleet.ENOTFOUND, "workspace %s not found", wsID)
	}
	if err == nil && s.WorkspaceRuntime != nil && !cleaned {
		// The last rows were purged between the count and the delete.
		if err := s.WorkspaceRuntime.DeleteWorkspace(ctx, p.AccountID, wsID); err != nil && s.Logger != nil {
			s.Logger.ErrorContext(ctx, "deleted workspace left in the runtime", "workspaceId", wsID, "err", err.Error())
		}
	}
	return err
}

// clusterRows counts the workspace's cluster rows, deleted ones included.
func (s *Service) clusterRows(ctx context.Context, accountID, wsID string) (int, error) {
	n, err := s.Store.CountClusterRows(ctx, accountID, wsID)
	if err != nil {
		return 0, fmt.Errorf("count clusters: %w", err)
	}
	return n, nil
}
