package reconcile

import (
	"sync"
	"time"
)

// queue is a keyed work queue: a key is handed to one worker at a time; a
// key added while it is being worked on is handed out again once the worker
// is done; a key added many times while waiting is handed out once.
type queue struct {
	mu       sync.Mutex
	cond     *sync.Cond
	items    []Ref
	queued   map[Ref]bool
	active   map[Ref]bool
	dirty    map[Ref]bool
	timers   map[Ref]*time.Timer
	shutdown bool
}

func newQueue() *queue {
	q := &queue{queued: map[Ref]bool{}, active: map[Ref]bool{}, dirty: map[Ref]bool{}, timers: map[Ref]*time.Timer{}}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// add queues ref now.
func (q *queue) add(ref Ref) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.addLocked(ref)
}

func (q *queue) addLocked(ref Ref) {
	if q.shutdown {
		return
	}
	if t := q.timers[ref]; t != nil {
		t.Stop()
		delete(q.timers, ref)
	}
	if q.active[ref] {
		q.dirty[ref] = true
		return
	}
	if q.queued[ref] {
		return
	}
	q.queued[ref] = true
	q.items = append(q.items, ref)
	q.cond.Signal()
}

// addAfter queues ref after d, unless it is queued sooner.
func (q *queue) addAfter(ref Ref, d time.Duration) {
	if d <= 0 {
		q.add(ref)
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.shutdown || q.queued[ref] || q.dirty[ref] {
		return
	}
	if t := q.timers[ref]; t != nil {
		t.Stop()
	}
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		if q.timers[ref] == t {
			delete(q.timers, ref)
			q.addLocked(ref)
		}
	})
	q.timers[ref] = t
}

// get blocks until a key is ready or the queue shuts down.
func (q *queue) get() (Ref, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.items) == 0 && !q.shutdown {
		q.cond.Wait()
	}
	if q.shutdown {
		return Ref{}, false
	}
	ref := q.items[0]
	q.items = q.items[1:]
	delete(q.queued, ref)
	q.active[ref] = true
	return ref, true
}

// done releases ref; if it was added while active, it is queued again.
func (q *queue) done(ref Ref) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.active, ref)
	if q.dirty[ref] {
		delete(q.dirty, ref)
		q.addLocked(ref)
	}
}

// close wakes every waiting get and stops the timers.
func (q *queue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.shutdown = true
	for ref, t := range q.timers {
		t.Stop()
		delete(q.timers, ref)
	}
	q.cond.Broadcast()
}

// len is the number of keys waiting.
func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}
