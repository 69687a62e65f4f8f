package sqlstore

import (
	"context"
	"fmt"

	"github.com/rayfleet/rayfleet"
)

// CreateQueue stores a new queue in an existing workspace.
func (s *Store) CreateQueue(ctx context.Context, q rayfleet.Queue) error {
	return s.writeOne(ctx, func(ex execFunc) error { return s.insertQueue(ctx, ex, q) })
}

func (s *Store) insertQueue(ctx context.Context, ex execFunc, q rayfleet.Queue) error {
	envs, err := encodeList(q.Environments)
	if err != nil {
		return fmt.Errorf("create queue %s: %w", q.Name, err)
	}
	_, err = ex(ctx, `INSERT INTO queues (account_id, workspace_id, name, max_cu, category, description, create_time, creator, environments, payment_type)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		q.AccountID, q.WorkspaceID, q.Name, q.MaxCU, q.Category, q.Description, toMS(q.CreateTime), q.Creator, envs, q.PaymentType)
	switch {
	case s.d.isUnique(err):
		return alreadyExists("queue", q.Name)
	case s.d.isForeignKey(err):
		return notFound("workspace", q.WorkspaceID)
	case err != nil:
		return fmt.Errorf("create queue %s: %w", q.Name, err)
	}
	return nil
}

const queueCols = "account_id, workspace_id, name, max_cu, category, description, create_time, creator, environments, payment_type"

func scanQueue(sc interface{ Scan(...any) error }) (rayfleet.Queue, error) {
	var q rayfleet.Queue
	var ct int64
	var envs []byte
	if err := sc.Scan(&q.AccountID, &q.WorkspaceID, &q.Name, &q.MaxCU, &q.Category, &q.Description, &ct, &q.Creator, &envs, &q.PaymentType); err != nil {
		return q, err
	}
	q.CreateTime = fromMS(ct)
	if err := decodeList(envs, &q.Environments); err != nil {
		return q, fmt.Errorf("decode environments of queue %s: %w", q.Name, err)
	}
	return q, nil
}

// GetQueue loads a queue by name.
func (s *Store) GetQueue(ctx context.Context, accountID, workspaceID, name string) (rayfleet.Queue, error) {
	qs, err := s.queues(ctx, "SELECT "+queueCols+" FROM queues WHERE account_id = ? AND workspace_id = ? AND name = ?",
		accountID, workspaceID, name)
	if err != nil {
		return rayfleet.Queue{}, fmt.Errorf("get queue %s: %w", name, err)
	}
	if len(qs) == 0 {
		return rayfleet.Queue{}, notFound("queue", name)
	}
	return qs[0], nil
}

// ListQueues returns a workspace's queues, oldest first (the root queue
// leads), and an empty list for an unknown workspace.
func (s *Store) ListQueues(ctx context.Context, accountID, workspaceID string) ([]rayfleet.Queue, error) {
	qs, err := s.queues(ctx, "SELECT "+queueCols+" FROM queues WHERE account_id = ? AND workspace_id = ? ORDER BY create_time, name",
		accountID, workspaceID)
	if err != nil {
		return nil, fmt.Errorf("list queues: %w", err)
	}
	return qs, nil
}

func (s *Store) queues(ctx context.Context, query string, args ...any) ([]rayfleet.Queue, error) {
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []rayfleet.Queue
	for rows.Next() {
		q, err := scanQueue(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, q)
	}
	return out, rows.Err()
}

// UpdateQueue writes a queue's settings: MaxCU, Category, Description,
// Environments and PaymentType. Its key, CreateTime and Creator are not the
// caller's to change.
func (s *Store) UpdateQueue(ctx context.Context, q rayfleet.Queue) error {
	envs, err := encodeList(q.Environments)
	if err != nil {
		return fmt.Errorf("update queue %s: %w", q.Name, err)
	}
	return s.writeOne(ctx, func(ex execFunc) error {
		res, err := ex(ctx, `UPDATE queues SET max_cu = ?, category = ?, description = ?, environments = ?, payment_type = ?
			WHERE account_id = ? AND workspace_id = ? AND name = ?`,
			q.MaxCU, q.Category, q.Description, envs, q.PaymentType, q.AccountID, q.WorkspaceID, q.Name)
		if err != nil {
			return fmt.Errorf("update queue %s: %w", q.Name, err)
		}
		n, err := affected(res)
		if err != nil {
			return fmt.Errorf("update queue %s: %w", q.Name, err)
		}
		if n == 0 {
			return notFound("queue", q.Name)
		}
		return nil
	})
}

// DeleteQueue removes a queue. Whether clusters still use it is the
// caller's question: the store does not read specs.
func (s *Store) DeleteQueue(ctx context.Context, accountID, workspaceID, name string) error {
	res, err := s.exec(ctx, "DELETE FROM queues WHERE account_id = ? AND workspace_id = ? AND name = ?", accountID, workspaceID, name)
	if err != nil {
		return fmt.Errorf("delete queue %s: %w", name, err)
	}
	n, err := affected(res)
	if err != nil {
		return fmt.Errorf("delete queue %s: %w", name, err)
	}
	if n == 0 {
		return notFound("queue", name)
	}
	return nil
}
