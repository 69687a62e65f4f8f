package service_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/store"
)

// countingStore counts access-key reads of the real store it wraps.
type countingStore struct {
	store.Store
	keyReads atomic.Int32
}

func (c *countingStore) GetAccessKey(ctx context.Context, id string) (rayfleet.AccessKey, error) {
	c.keyReads.Add(1)
	return c.Store.GetAccessKey(ctx, id)
}

// TestAuthenticateCache: an accepted key is trusted for 2 s without reading
// the store again; refusals are never remembered.
func TestAuthenticateCache(t *testing.T) {
	s, p, _ := newService(t)
	cs := &countingStore{Store: s.Store}
	s.Store = cs
	// newService authenticated once already: start past that entry's TTL.
	now := time.Now().Add(time.Minute)
	s.Now = func() time.Time { return now }
	ctx := context.Background()

	for range 3 {
		if got, _, err := s.Authenticate(ctx, p.AccessKeyID); err != nil || got.AccountID != p.AccountID {
			t.Fatalf("Authenticate: %+v %v", got, err)
		}
	}
	if n := cs.keyReads.Load(); n != 1 {
		t.Fatalf("3 calls within the TTL read the store %d times, want 1", n)
	}
	now = now.Add(3 * time.Second)
	if _, _, err := s.Authenticate(ctx, p.AccessKeyID); err != nil {
		t.Fatal(err)
	}
	if n := cs.keyReads.Load(); n != 2 {
		t.Fatalf("a call after the TTL did not read the store again (%d reads)", n)
	}
	for range 2 {
		_, _, err := s.Authenticate(ctx, "LTAInosuchkey")
		if rayfleet.ErrorCode(err) != rayfleet.EAKNOTFOUND {
			t.Fatalf("unknown key: %v", err)
		}
	}
	if n := cs.keyReads.Load(); n != 4 {
		t.Fatalf("refusals were cached (%d reads, want 4)", n)
	}
}
