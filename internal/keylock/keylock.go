// Package keylock is a set of mutexes by key, made when a key is first
// locked and dropped once nobody holds or waits for it, so a set keyed by
// unbounded names (workspaces, client tokens, jobs) stays as small as what
// is locked now. It imports the standard library only.
package keylock

import "sync"

// Set is a set of mutexes by key. The zero Set is ready to use; a Set
// must not be copied after first use.
type Set struct {
	mu sync.Mutex
	m  map[string]*entry
}

type entry struct {
	mu   sync.Mutex
	refs int // holders and waiters
}

// Lock takes key's mutex, waiting while another holds it, and returns the
// function that releases it.
func (s *Set) Lock(key string) (unlock func()) {
	s.mu.Lock()
	if s.m == nil {
		s.m = map[string]*entry{}
	}
	e := s.m[key]
	if e == nil {
		e = &entry{}
		s.m[key] = e
	}
	e.refs++
	s.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		s.mu.Lock()
		e.refs--
		if e.refs == 0 {
			delete(s.m, key)
		}
		s.mu.Unlock()
	}
}

// Len is how many keys are locked or waited for now.
func (s *Set) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
