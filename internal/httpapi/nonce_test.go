package httpapi

import (
	"fmt"
	"testing"
	"time"
)

// One owner filling its share of the nonce cache is throttled alone: the
// others' nonces are still recorded, and its entries count again once they
// expire.
func TestNonceShareOfOneOwner(t *testing.T) {
	c := NewNonceCache(64 * 64)
	now := time.Unix(1_800_000_000, 0)
	exp := now.Add(SignatureWindow)
	n := 0
	for ; ; n++ {
		if err := c.Use("greedy", fmt.Sprint("g-", n), exp, now); err != nil {
			break
		}
	}
	if n != c.MaxPerOwner {
		t.Fatalf("one owner holds %d nonces, want its share %d", n, c.MaxPerOwner)
	}
	for i := range 100 {
		if err := c.Use("other", fmt.Sprint("o-", i), exp, now); err != nil {
			t.Fatalf("another owner's nonce %d refused: %v", i, err)
		}
	}
	if err := c.Use("other", "o-1", exp, now); err == nil {
		t.Fatal("a nonce was taken twice")
	}
	later := exp.Add(2 * time.Minute) // past every expiry and the shards' GC interval
	for i := range c.MaxPerOwner {
		if err := c.Use("greedy", fmt.Sprint("again-", i), later.Add(SignatureWindow), later); err != nil {
			t.Fatalf("after expiry, nonce %d of the greedy owner: %v", i, err)
		}
	}
}
