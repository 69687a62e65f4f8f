package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Home is where a runtime bound to one machine keeps its nodes: the local
// runtime's node records and processes live under one server's data
// directory, and only a reconciler there can see them.
type Home struct {
	ID    string // chosen once by the runtime, kept beside its records
	Host  string // for people: the machine's name
	Dir   string // for people: the directory of the records
	Since time.Time
}

// HomeClaim is the outcome of ClaimHome.
type HomeClaim struct {
	// Home is the runtime's home after the claim: the claimer's own if
	// Claimed, else the one that holds it.
	Home    Home
	Claimed bool
	// Busy is how many clusters may still have nodes (any not Stopped,
	// deleted ones still being ended included) when the claim was refused.
	Busy int
}

// ClaimHome records h as the home of runtime, and reports whether this
// caller may reconcile it: yes if no home is recorded, if h is the one
// recorded, if no cluster may still have nodes (nothing would be left
// behind or started twice), or if force. Only the reconciler lease's holder
// calls it.
func (s *Store) ClaimHome(ctx context.Context, runtime string, h Home, force bool) (HomeClaim, error) {
	var out HomeClaim
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var cur Home
		var since int64
		err := tx.QueryRowContext(ctx, s.d.rebind("SELECT home, host, dir, since FROM runtime_homes WHERE runtime = ?"+s.forUpdate()), runtime).
			Scan(&cur.ID, &cur.Host, &cur.Dir, &since)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		case cur.ID == h.ID:
			cur.Since = fromMS(since)
			out = HomeClaim{Home: cur, Claimed: true}
			if cur.Host == h.Host && cur.Dir == h.Dir {
				return nil
			}
			h.Since = cur.Since // the same records, moved or renamed
		default:
			cur.Since = fromMS(since)
			if !force {
				if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM clusters WHERE state <> 'Stopped'").Scan(&out.Busy); err != nil {
					return err
				}
				if out.Busy > 0 {
					out.Home = cur
					return nil
				}
			}
		}
		if h.Since.IsZero() {
			h.Since = time.Now()
		}
		if _, err := tx.ExecContext(ctx, s.d.rebind(`INSERT INTO runtime_homes (runtime, home, host, dir, since) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (runtime) DO UPDATE SET home = excluded.home, host = excluded.host, dir = excluded.dir, since = excluded.since`),
			runtime, h.ID, h.Host, h.Dir, toMS(h.Since)); err != nil {
			return err
		}
		out = HomeClaim{Home: h, Claimed: true}
		return nil
	})
	if err != nil {
		return HomeClaim{}, fmt.Errorf("claim the %s runtime's home: %w", runtime, err)
	}
	return out, nil
}
