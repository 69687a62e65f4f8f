package sqlstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/rayfleet/rayfleet/internal/store"
)

// wakeChannel is the PostgreSQL channel on which processes sharing a
// database tell each other of clusters whose desired state changed.
const wakeChannel = "rayfleet_wake"

// Wakes carries word of changed clusters between the processes sharing a
// PostgreSQL database, so that a cluster created or changed through one
// process's API is reconciled at once by another's reconciler rather than at
// its next resync. On SQLite the server is the only process: Wake and
// Listen do nothing.
type Wakes struct {
	s    *Store
	self string // this process's mark: its own notifications are not its news

	mu     sync.Mutex
	schema string // current_schema(), once known
}

// Wakes returns the store's Wakes.
func (s *Store) Wakes() *Wakes {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &Wakes{s: s, self: hex.EncodeToString(b[:])}
}

// currentSchema reads current_schema() once it succeeds; a failure is
// tried again by the next call.
func (w *Wakes) currentSchema(ctx context.Context) (string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.schema == "" {
		if err := w.s.write.QueryRowContext(ctx, "SELECT current_schema()").Scan(&w.schema); err != nil {
			return "", err
		}
	}
	return w.schema, nil
}

// Wake tells the other processes that ref's desired state changed. It is
// best effort: a lost wake costs at most one resync interval.
func (w *Wakes) Wake(ctx context.Context, ref store.ClusterRef) error {
	if w.s.d.name == "sqlite" {
		return nil
	}
	schema, err := w.currentSchema(ctx)
	if err != nil {
		return fmt.Errorf("wake: %w", err)
	}
	payload := strings.Join([]string{w.self, schema, ref.AccountID, ref.WorkspaceID, ref.ID}, "|")
	if _, err := w.s.exec(ctx, "SELECT pg_notify(?, ?)", wakeChannel, payload); err != nil {
		return fmt.Errorf("wake: %w", err)
	}
	return nil
}

// Listen calls fn with each cluster another process wakes, until ctx ends.
// It holds a session of the lock pool; when the session breaks it opens
// another (waiting retry in between) and calls missed, since wakes sent
// meanwhile are lost.
func (w *Wakes) Listen(ctx context.Context, retry time.Duration, fn func(store.ClusterRef), missed func(error)) {
	if w.s.d.name == "sqlite" {
		return
	}
	for ctx.Err() == nil {
		err := w.listen(ctx, fn)
		if ctx.Err() != nil {
			return
		}
		missed(err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(retry):
		}
	}
}

func (w *Wakes) listen(ctx context.Context, fn func(store.ClusterRef)) error {
	schema, err := w.currentSchema(ctx)
	if err != nil {
		return err
	}
	conn, err := w.s.lockPool("wake").Conn(ctx)
	if err != nil {
		return err
	}
	defer discard(conn)
	return conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("listen: unexpected driver connection %T", dc)
		}
		pc := sc.Conn()
		if _, err := pc.Exec(ctx, "LISTEN "+wakeChannel); err != nil {
			return fmt.Errorf("listen: %w", err)
		}
		for {
			n, err := pc.WaitForNotification(ctx)
			if err != nil {
				return fmt.Errorf("listen: %w", err)
			}
			parts := strings.Split(n.Payload, "|")
			if len(parts) != 5 || parts[0] == w.self || parts[1] != schema {
				continue
			}
			fn(store.ClusterRef{AccountID: parts[2], WorkspaceID: parts[3], ID: parts[4]})
		}
	})
}
