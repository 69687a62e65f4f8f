package sqlstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"
)

// UseNonce records a signature nonce until expires and reports whether it
// is fresh: false when another request (through any process sharing the
// database) used it and it has not expired by now. The nonce (any bytes)
// is kept as its SHA-256.
func (s *Store) UseNonce(ctx context.Context, nonce string, expires, now time.Time) (bool, error) {
	sum := sha256.Sum256([]byte(nonce))
	nonce = hex.EncodeToString(sum[:])
	res, err := s.exec(ctx, `INSERT INTO signature_nonces (nonce, expires) VALUES (?, ?)
		ON CONFLICT (nonce) DO UPDATE SET expires = excluded.expires WHERE signature_nonces.expires < ?`,
		nonce, toMS(expires), toMS(now))
	if err != nil {
		return false, fmt.Errorf("use signature nonce: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("use signature nonce: %w", err)
	}
	return n == 1, nil
}

// DeleteNoncesBefore forgets the nonces that expired before t.
func (s *Store) DeleteNoncesBefore(ctx context.Context, t time.Time) error {
	if _, err := s.exec(ctx, "DELETE FROM signature_nonces WHERE expires < ?", toMS(t)); err != nil {
		return fmt.Errorf("delete old signature nonces: %w", err)
	}
	return nil
}
