package keylock

import (
	"sync"
	"testing"
)

// TestSet: one holder of a key at a time, other keys not held up, and
// nothing kept once every holder and waiter is gone.
func TestSet(t *testing.T) {
	var s Set
	unlock := s.Lock("a")
	second := make(chan struct{})
	go func() {
		defer close(second)
		s.Lock("a")()
	}()
	s.Lock("b")() // another key does not wait
	select {
	case <-second:
		t.Fatal("a second holder of a took it while the first held it")
	default:
	}
	unlock()
	<-second

	var wg sync.WaitGroup
	n := 0
	for range 50 {
		wg.Go(func() {
			defer s.Lock("c")()
			n++ // the race detector sees two holders at once
		})
	}
	wg.Wait()
	if n != 50 || s.Len() != 0 {
		t.Fatalf("%d increments, %d keys kept", n, s.Len())
	}
}
