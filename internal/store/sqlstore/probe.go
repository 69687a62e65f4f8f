package sqlstore

import (
	"context"
	"fmt"
	"time"
)

// ProbeWrite writes one small row (name, at) and commits it, to tell
// whether the database takes writes now: a full disk, a database gone
// read-only or a standby PostgreSQL fail it while reads still work. It
// touches no cluster, so the list snapshot does not see it.
func (s *Store) ProbeWrite(ctx context.Context, name string, at time.Time) error {
	st, err := s.stmt(ctx, s.write, `INSERT INTO write_probes (name, at) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET at = excluded.at`)
	if err == nil {
		_, err = st.ExecContext(ctx, name, toMS(at))
	}
	if err != nil {
		return fmt.Errorf("probe write: %w", err)
	}
	return nil
}
