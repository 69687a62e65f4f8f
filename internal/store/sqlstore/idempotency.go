package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/store"
)

// putTokenSQL stores a client token's record, replacing one of the same
// token only when it is older than the given time (expired, not yet
// removed).
const putTokenSQL = `INSERT INTO idempotency (account_id, token, operation, params_hash, response, create_time)
	VALUES (?, ?, ?, ?, ?, ?)
	ON CONFLICT (account_id, token) DO UPDATE SET operation = excluded.operation, params_hash = excluded.params_hash,
		response = excluded.response, create_time = excluded.create_time
	WHERE idempotency.create_time < ?`

// putToken stores tok's record in tx, the transaction of the write it
// guards; a live record of the token fails it with store.ErrTokenUsed.
func (s *Store) putToken(ctx context.Context, tx *sql.Tx, tok *store.ClientToken) error {
	r := tok.Record
	res, err := tx.ExecContext(ctx, s.d.rebind(putTokenSQL),
		r.AccountID, r.Token, r.Operation, r.ParamsHash, blob(r.Response), toMS(r.CreateTime), toMS(tok.Since))
	if err != nil {
		return fmt.Errorf("put client token: %w", err)
	}
	n, err := affected(res)
	if err != nil {
		return fmt.Errorf("put client token: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("client token %q: %w", r.Token, store.ErrTokenUsed)
	}
	return nil
}

// PutIdempotency stores rec unless a record with its (AccountID, Token)
// exists; then it returns that record and false.
func (s *Store) PutIdempotency(ctx context.Context, rec rayfleet.Idempotency) (rayfleet.Idempotency, bool, error) {
	// The insert and the read are two statements, so the record found by the
	// insert's conflict may be expired and deleted before the read: try again.
	for range 3 {
		res, err := s.exec(ctx, `INSERT INTO idempotency (account_id, token, operation, params_hash, response, create_time)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (account_id, token) DO NOTHING`,
			rec.AccountID, rec.Token, rec.Operation, rec.ParamsHash, blob(rec.Response), toMS(rec.CreateTime))
		if err != nil {
			return rayfleet.Idempotency{}, false, fmt.Errorf("put client token: %w", err)
		}
		n, err := affected(res)
		if err != nil {
			return rayfleet.Idempotency{}, false, fmt.Errorf("put client token: %w", err)
		}
		if n == 1 {
			// Answer with what a later read returns.
			rec.Response = copyBlob(rec.Response)
			rec.CreateTime = fromMS(toMS(rec.CreateTime))
			return rec, true, nil
		}
		prev, found, err := s.GetIdempotency(ctx, rec.AccountID, rec.Token, time.Time{})
		if err != nil {
			return rayfleet.Idempotency{}, false, err
		}
		if found {
			return prev, false, nil
		}
	}
	return rayfleet.Idempotency{}, false, fmt.Errorf("put client token: the existing record kept disappearing")
}

// GetIdempotency loads the record of (accountID, token) made at or after
// since, so records older than the window that DeleteIdempotencyBefore has
// not removed yet are ignored; found is false when there is none.
func (s *Store) GetIdempotency(ctx context.Context, accountID, token string, since time.Time) (rec rayfleet.Idempotency, found bool, err error) {
	rec = rayfleet.Idempotency{AccountID: accountID, Token: token}
	var resp []byte
	var ct int64
	from := toMS(since)
	if since.IsZero() {
		from = math.MinInt64 // everything, the times before 1970 included
	}
	found, err = s.row(ctx, `SELECT operation, params_hash, response, create_time FROM idempotency
		WHERE account_id = ? AND token = ? AND create_time >= ?`,
		[]any{accountID, token, from}, &rec.Operation, &rec.ParamsHash, &resp, &ct)
	if err != nil {
		return rayfleet.Idempotency{}, false, fmt.Errorf("get client token: %w", err)
	}
	if !found {
		return rayfleet.Idempotency{}, false, nil
	}
	rec.Response = copyBlob(resp)
	rec.CreateTime = fromMS(ct)
	return rec, true, nil
}

// DeleteIdempotencyBefore removes the records of every account made before t.
func (s *Store) DeleteIdempotencyBefore(ctx context.Context, t time.Time) error {
	if _, err := s.exec(ctx, "DELETE FROM idempotency WHERE create_time < ?", toMS(t)); err != nil {
		return fmt.Errorf("expire client tokens: %w", err)
	}
	return nil
}
