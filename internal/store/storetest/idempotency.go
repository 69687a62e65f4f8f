package storetest

import (
	"testing"
	"time"

	"github.com/rayfleet/rayfleet"
)

func testIdempotency(t *testing.T, newStore NewStore) {
	s, ctx := newStore(t), t.Context()
	a, b := AccountID(1), AccountID(2)
	first := NewIdempotency(a, "token-1", At(10))

	got, created, err := s.PutIdempotency(ctx, first)
	must(t, err)
	if !created {
		t.Fatal("PutIdempotency of a new token answered false")
	}
	wantEqual(t, got, first, "PutIdempotency's answer for a new token")

	// The same token again, even with other parameters, answers the first.
	second := NewIdempotency(a, "token-1", At(11))
	second.Operation, second.ParamsHash, second.Response = "StartRayCluster", "other", []byte(`{"other":true}`)
	got, created, err = s.PutIdempotency(ctx, second)
	must(t, err)
	if created {
		t.Fatal("PutIdempotency of an existing token answered true")
	}
	wantEqual(t, got, first, "PutIdempotency's answer for an existing token")

	// GetIdempotency finds it, from any time up to its own.
	for _, since := range []time.Time{{}, At(9), first.CreateTime} {
		got, found, err := s.GetIdempotency(ctx, a, first.Token, since)
		must(t, err)
		if !found {
			t.Fatalf("GetIdempotency since %v: not found", since)
		}
		wantEqual(t, got, first, "GetIdempotency")
	}
	if _, found, err := s.GetIdempotency(ctx, a, first.Token, first.CreateTime.Add(time.Millisecond)); err != nil || found {
		t.Fatalf("GetIdempotency of a record older than since: found=%v err=%v", found, err)
	}
	if _, found, err := s.GetIdempotency(ctx, a, "token-9", time.Time{}); err != nil || found {
		t.Fatalf("GetIdempotency of a missing token: found=%v err=%v", found, err)
	}
	if _, found, err := s.GetIdempotency(ctx, b, first.Token, time.Time{}); err != nil || found {
		t.Fatalf("GetIdempotency by another account: found=%v err=%v", found, err)
	}

	// Tokens are per account.
	other := NewIdempotency(b, "token-1", At(12))
	got, created, err = s.PutIdempotency(ctx, other)
	must(t, err)
	if !created {
		t.Fatal("PutIdempotency of another account's token answered false")
	}
	wantEqual(t, got, other, "PutIdempotency's answer for another account's token")

	// Expiry removes records made strictly before the time given.
	must(t, s.DeleteIdempotencyBefore(ctx, first.CreateTime))
	if _, created, err = s.PutIdempotency(ctx, second); err != nil || created {
		t.Fatalf("DeleteIdempotencyBefore(its own time) removed the record (created=%v, err=%v)", created, err)
	}
	must(t, s.DeleteIdempotencyBefore(ctx, first.CreateTime.Add(time.Millisecond)))
	if _, found, err := s.GetIdempotency(ctx, a, first.Token, time.Time{}); err != nil || found {
		t.Fatalf("GetIdempotency after expiry: found=%v err=%v", found, err)
	}
	got, created, err = s.PutIdempotency(ctx, second)
	must(t, err)
	if !created {
		t.Fatal("PutIdempotency after expiry answered false")
	}
	wantEqual(t, got, second, "PutIdempotency's answer after expiry")
	// Records of other accounts made later stay.
	if _, created, err := s.PutIdempotency(ctx, other); err != nil || created {
		t.Fatalf("expiry removed a later record of another account (created=%v, err=%v)", created, err)
	}

	// A record without a response keeps none; its time keeps milliseconds.
	bare := rayfleet.Idempotency{AccountID: a, Token: "token-2", Operation: "DeleteRayCluster", CreateTime: At(20).Add(1500 * time.Microsecond)}
	got, _, err = s.PutIdempotency(ctx, bare)
	must(t, err)
	bare.CreateTime = bare.CreateTime.Truncate(time.Millisecond)
	wantEqual(t, got, bare, "PutIdempotency's answer for a record without response")
	got, _, err = s.PutIdempotency(ctx, rayfleet.Idempotency{AccountID: a, Token: "token-2", CreateTime: At(21)})
	must(t, err)
	wantEqual(t, got, bare, "the stored record without response")
}
