package reconcile

import (
	"testing"
	"time"

	"github.com/rayfleet/rayfleet/internal/poll"
)

func TestQueueDedupesAndRequeuesWhileActive(t *testing.T) {
	q := newQueue()
	a, b := Ref{ID: "a"}, Ref{ID: "b"}
	q.add(a)
	q.add(a)
	q.add(b)
	if q.len() != 2 {
		t.Fatalf("len = %d, want 2", q.len())
	}
	got, _ := q.get()
	if got != a {
		t.Fatalf("got %v", got)
	}
	q.add(a) // while active: handed out again after done, not now
	if g2, _ := q.get(); g2 != b {
		t.Fatalf("got %v, want b", g2)
	}
	if q.len() != 0 {
		t.Fatalf("a was handed out twice at once")
	}
	q.done(a)
	if g3, _ := q.get(); g3 != a {
		t.Fatalf("a was not requeued after done")
	}
	q.done(a)
	q.done(b)

	q.addAfter(a, 20*time.Millisecond)
	poll.Until(t, 5*time.Second, "addAfter to fire", func() bool { return q.len() > 0 })
	q.close()
	if _, ok := q.get(); ok {
		t.Fatal("get after close")
	}
}
