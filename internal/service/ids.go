package service

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/rayfleet/rayfleet"
)

const (
	lowerAlnum = "abcdefghijklmnopqrstuvwxyz0123456789"
	digits     = "0123456789"
	alnum      = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

// randString draws n characters of alphabet from r without modulo bias.
func randString(r io.Reader, alphabet string, n int) (string, error) {
	out := make([]byte, 0, n)
	buf := make([]byte, n*2)
	limit := 256 - 256%len(alphabet)
	for len(out) < n {
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", fmt.Errorf("random: %w", err)
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out), nil
}

func randHex(r io.Reader, nbytes int) (string, error) {
	b := make([]byte, nbytes)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	return hex.EncodeToString(b), nil
}

func (s *Service) newID(prefix, alphabet string, n int) (string, error) {
	v, err := randString(s.Random, alphabet, n)
	return prefix + v, err
}

// NewClusterID returns "ray-" + 16 of [a-z0-9].
func (s *Service) newClusterID() (string, error) { return s.newID("ray-", lowerAlnum, 16) }

// newInstanceID returns "<clusterId>-" + 8 of [a-z0-9].
func (s *Service) newInstanceID(clusterID string) (string, error) {
	return s.newID(clusterID+"-", lowerAlnum, 8)
}

func (s *Service) newWorkspaceID() (string, error) {
	h, err := randHex(s.Random, 8)
	return "w-" + h, err
}

func (s *Service) newNetworkServiceID() (string, error) {
	h, err := randHex(s.Random, 8)
	return "ns-" + h, err
}

// newToken returns a cluster access token: 128 random bits, 32 hex characters.
func (s *Service) newToken() (string, error) { return randHex(s.Random, 16) }

// newAccountID returns 16 digits, not starting with 0.
func (s *Service) newAccountID() (string, error) {
	first, err := randString(s.Random, "123456789", 1)
	if err != nil {
		return "", err
	}
	rest, err := randString(s.Random, digits, 15)
	return first + rest, err
}

// newUserUID returns 18 digits, not starting with 0.
func (s *Service) newUserUID() (string, error) {
	first, err := randString(s.Random, "123456789", 1)
	if err != nil {
		return "", err
	}
	rest, err := randString(s.Random, digits, 17)
	return first + rest, err
}

// newAccessKey returns an access key id ("LTAI" + 20) and a 30-character secret.
func (s *Service) newAccessKey() (id, secret string, err error) {
	if id, err = s.newID("LTAI", alnum, 20); err != nil {
		return "", "", err
	}
	secret, err = randString(s.Random, alnum, 30)
	return id, secret, err
}

// NewRequestID returns an uppercase UUID-shaped request id.
func NewRequestID(r io.Reader) string {
	var b [16]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%X-%X-%X-%X-%X", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func isConflict(err error) bool { return errors.Is(err, rayfleet.ErrConflict) }
