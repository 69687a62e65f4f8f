package service

import (
	"context"
	"fmt"
	"slices"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/store"
)

// QueueInfo is a queue with the capacity its clusters use now.
type QueueInfo struct {
	rayfleet.Queue
	Used rayfleet.Resources
}

// QueueInput is the body of CreateWorkspaceQueue and EditWorkspaceQueue.
type QueueInput struct {
	WorkspaceID string
	Name        string
	// CU is the queue's limit; 0 on edit keeps it.
	CU          int64
	Description *string
	Category    string
	// Environments, when not nil, are those the queue serves; a new queue
	// serves both without them.
	Environments *[]string
	// PaymentType is PayAsYouGo or Pre; "" is PayAsYouGo for a new queue
	// and keeps it on edit.
	PaymentType string
	ClientToken string
}

// ListQueues lists a workspace's queues with their usage; with environment
// (dev or production), only the queues that serve it.
func (s *Service) ListQueues(ctx context.Context, p rayfleet.Principal, wsID, environment string) ([]QueueInfo, error) {
	if err := s.authorize(ctx, p, "ListWorkspaceQueues", s.wsARN(p, wsID)); err != nil {
		return nil, err
	}
	if environment != "" && !slices.Contains(rayfleet.QueueEnvironments(), environment) {
		return nil, rayfleet.Errorf(rayfleet.EINVALID, "environment must be dev or production, got %q", environment)
	}
	if _, err := s.workspace(ctx, p, wsID); err != nil {
		return nil, err
	}
	qs, err := s.Store.ListQueues(ctx, p.AccountID, wsID)
	if err != nil {
		return nil, fmt.Errorf("list queues: %w", err)
	}
	used, err := s.usage(ctx, p.AccountID, wsID)
	if err != nil {
		return nil, err
	}
	out := make([]QueueInfo, 0, len(qs))
	for _, q := range qs {
		if environment == "" || slices.Contains(q.Environments, environment) {
			out = append(out, QueueInfo{Queue: q, Used: used[q.Name]})
		}
	}
	return out, nil
}

// queuePayment is the payment type of a workspace's root queue: a
// subscription workspace's is Pre, as queues spell it.
func queuePayment(workspacePayment string) string {
	if workspacePayment == "PayAsYouGo" || workspacePayment == "" {
		return "PayAsYouGo"
	}
	return "Pre"
}

// checkQueueInput checks the settings a create or an edit gives.
func checkQueueInput(in QueueInput) error {
	switch in.PaymentType {
	case "", "PayAsYouGo", "Pre":
	default:
		return rayfleet.Errorf(rayfleet.EINVALID, "paymentType must be PayAsYouGo or Pre, got %q", in.PaymentType)
	}
	if in.Environments != nil {
		return rayfleet.ValidateQueueEnvironments("environments", *in.Environments)
	}
	return nil
}

func (s *Service) usage(ctx context.Context, accountID, wsID string) (map[string]rayfleet.Resources, error) {
	used, err := s.Store.CapacityInUse(ctx, accountID, wsID)
	if err != nil {
		return nil, fmt.Errorf("load capacity: %w", err)
	}
	return used, nil
}

// CreateQueue adds a queue to a workspace. The queues' limits together may
// not exceed the workspace quota.
func (s *Service) CreateQueue(ctx context.Context, p rayfleet.Principal, in QueueInput) (Outcome, error) {
	if err := s.authorize(ctx, p, "CreateWorkspaceQueue", s.wsARN(p, in.WorkspaceID)); err != nil {
		return Outcome{}, err
	}
	if err := rayfleet.ValidateQueueName(in.Name); err != nil {
		return Outcome{}, err
	}
	if in.CU < 1 {
		return Outcome{}, rayfleet.Errorf(rayfleet.EINVALID, "resourceSpec.cu must be at least 1, got %d", in.CU)
	}
	switch in.Category {
	case "":
		in.Category = "CPU"
	case "CPU", "GPU":
	default:
		return Outcome{}, rayfleet.Errorf(rayfleet.EINVALID, "queueCategory must be CPU or GPU, got %q", in.Category)
	}
	if err := checkQueueInput(in); err != nil {
		return Outcome{}, err
	}
	if in.PaymentType == "" {
		in.PaymentType = "PayAsYouGo"
	}
	if in.Environments == nil {
		envs := rayfleet.QueueEnvironments()
		in.Environments = &envs
	}
	w, err := s.workspace(ctx, p, in.WorkspaceID)
	if err != nil {
		return Outcome{}, err
	}
	token := in.ClientToken
	in.ClientToken = ""
	return s.idempotent(ctx, p, token, "CreateWorkspaceQueue", in, func(guard guard) (Outcome, error) {
		unlock, err := s.lock(ctx, p.AccountID+"/"+w.ID)
		if err != nil {
			return Outcome{}, err
		}
		defer unlock()
		if err := s.checkQuotaSum(ctx, w, in.Name, in.CU); err != nil {
			return Outcome{}, err
		}
		q := rayfleet.Queue{
			AccountID: p.AccountID, WorkspaceID: w.ID, Name: in.Name, MaxCU: in.CU, Category: in.Category,
			Environments: *in.Environments, PaymentType: in.PaymentType, CreateTime: s.now(), Creator: p.UserUID,
		}
		if in.Description != nil {
			q.Description = *in.Description
		}
		if err := s.Store.CreateQueue(guard(ctx, Outcome{}), q); err != nil {
			if rayfleet.ErrorCode(err) == rayfleet.EDENIED {
				return Outcome{}, rayfleet.Errorf(rayfleet.EDENIED, "queue %q already exists in workspace %s", in.Name, w.ID)
			}
			return Outcome{}, fmt.Errorf("create queue: %w", err)
		}
		return Outcome{}, nil
	})
}

// checkQuotaSum refuses a queue limit that would take the workspace's queues
// together over its quota. name is the queue being set (its old limit does
// not count).
func (s *Service) checkQuotaSum(ctx context.Context, w rayfleet.Workspace, name string, cu int64) error {
	qs, err := s.Store.ListQueues(ctx, w.AccountID, w.ID)
	if err != nil {
		return fmt.Errorf("list queues: %w", err)
	}
	var others int64
	for _, q := range qs {
		if q.Name != name {
			others += q.MaxCU
		}
	}
	if others+cu > w.CU {
		return rayfleet.Errorf(rayfleet.EQUOTA,
			"workspace %s has a quota of %d CU and its other queues hold %d CU, so queue %q can have at most %d CU, not %d; lower another queue (e.g. %s) first",
			w.ID, w.CU, others, name, max(w.CU-others, 0), cu, rayfleet.RootQueue)
	}
	return nil
}

// EditQueue changes a queue's limit or description. A limit below what its
// clusters use now is refused.
func (s *Service) EditQueue(ctx context.Context, p rayfleet.Principal, in QueueInput) (Outcome, error) {
	if err := s.authorize(ctx, p, "EditWorkspaceQueue", s.wsARN(p, in.WorkspaceID)); err != nil {
		return Outcome{}, err
	}
	if in.Name == "" {
		return Outcome{}, rayfleet.Errorf(rayfleet.EMISSING, "workspaceQueueName is required")
	}
	if in.CU < 0 {
		return Outcome{}, rayfleet.Errorf(rayfleet.EINVALID, "resourceSpec.cu must be at least 1, got %d", in.CU)
	}
	if err := checkQueueInput(in); err != nil {
		return Outcome{}, err
	}
	w, err := s.workspace(ctx, p, in.WorkspaceID)
	if err != nil {
		return Outcome{}, err
	}
	token := in.ClientToken
	in.ClientToken = ""
	return s.idempotent(ctx, p, token, "EditWorkspaceQueue", in, func(guard guard) (Outcome, error) {
		unlock, err := s.lock(ctx, p.AccountID+"/"+w.ID)
		if err != nil {
			return Outcome{}, err
		}
		defer unlock()
		q, err := s.Store.GetQueue(ctx, p.AccountID, w.ID, in.Name)
		if err != nil {
			if rayfleet.IsNotFound(err) {
				return Outcome{}, rayfleet.Errorf(rayfleet.ENOTFOUND, "queue %q not found in workspace %s", in.Name, w.ID)
			}
			return Outcome{}, err
		}
		if in.CU != 0 {
			if err := s.checkQuotaSum(ctx, w, in.Name, in.CU); err != nil {
				return Outcome{}, err
			}
			used, err := s.usage(ctx, p.AccountID, w.ID)
			if err != nil {
				return Outcome{}, err
			}
			if !used[q.Name].Fits(rayfleet.CU(in.CU)) {
				return Outcome{}, rayfleet.Errorf(rayfleet.EDENIED, "queue %q is using %s now, more than %d CU (%s); stop clusters in it first",
					q.Name, used[q.Name], in.CU, rayfleet.CU(in.CU))
			}
			q.MaxCU = in.CU
		}
		if in.Description != nil {
			q.Description = *in.Description
		}
		if in.Environments != nil {
			q.Environments = *in.Environments
		}
		if in.PaymentType != "" {
			q.PaymentType = in.PaymentType
		}
		if err := s.Store.UpdateQueue(guard(ctx, Outcome{}), q); err != nil {
			return Outcome{}, fmt.Errorf("update queue: %w", err)
		}
		return Outcome{}, nil
	})
}

// DeleteQueue deletes a queue no cluster uses. The root queue stays.
func (s *Service) DeleteQueue(ctx context.Context, p rayfleet.Principal, wsID, name string) error {
	if err := s.authorize(ctx, p, "DeleteWorkspaceQueue", s.wsARN(p, wsID)); err != nil {
		return err
	}
	w, err := s.workspace(ctx, p, wsID)
	if err != nil {
		return err
	}
	if name == rayfleet.RootQueue {
		return rayfleet.Errorf(rayfleet.EDENIED, "the %s queue cannot be deleted; lower its limit instead", rayfleet.RootQueue)
	}
	unlock, err := s.lock(ctx, p.AccountID+"/"+w.ID)
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := s.Store.GetQueue(ctx, p.AccountID, w.ID, name); err != nil {
		if rayfleet.IsNotFound(err) {
			return rayfleet.Errorf(rayfleet.ENOTFOUND, "queue %q not found in workspace %s", name, w.ID)
		}
		return err
	}
	n, _, err := s.Store.ListClusters(ctx, store.ClusterFilter{AccountID: p.AccountID, WorkspaceID: w.ID, QueueName: name, Limit: 1})
	if err != nil {
		return fmt.Errorf("list clusters: %w", err)
	}
	if len(n) > 0 {
		return rayfleet.Errorf(rayfleet.EDENIED, "queue %q is used by Ray cluster %s (and maybe others); move or delete them first", name, n[0].ID)
	}
	held, err := s.usage(ctx, p.AccountID, w.ID)
	if err != nil {
		return err
	}
	if r := held[name]; r.MilliCPU > 0 || r.MemoryBytes > 0 {
		return rayfleet.Errorf(rayfleet.EDENIED, "queue %q still holds %s for clusters being deleted; try again when they are gone", name, r)
	}
	return s.Store.DeleteQueue(ctx, p.AccountID, w.ID, name)
}
