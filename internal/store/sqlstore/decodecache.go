package sqlstore

import (
	"encoding/json"
	"slices"
	"sync"

	"github.com/rayfleet/rayfleet"
)

// jsonCache remembers what JSON texts decoded to, keyed by the text itself.
//
// Decoding is most of the cost of reading a cluster: encoding/json takes
// tens of microseconds for a cluster's spec, running spec and instances,
// against a few for reading the row, and the reconciler and the API read
// the same clusters over and over. (Lists have their own cache, listcache.go.)
// Keyed by the text, a hit is by construction what decoding would give,
// whoever wrote the row and however long ago, so nothing needs invalidating
// (several processes may share the database). Values are cloned on the way
// out so no two callers share a slice or pointer.
type jsonCache[T any] struct {
	clone func(T) T
	// max bounds the bytes of JSON held; when full the cache starts over,
	// which costs one decode per entry and keeps the code obvious.
	max int

	mu    sync.RWMutex
	m     map[string]T
	bytes int
}

func newJSONCache[T any](maxBytes int, clone func(T) T) *jsonCache[T] {
	return &jsonCache[T]{clone: clone, max: maxBytes, m: map[string]T{}}
}

// decode returns what raw decodes to, a copy of its own.
func (c *jsonCache[T]) decode(raw []byte) (T, error) {
	c.mu.RLock()
	v, ok := c.m[string(raw)] // the conversion does not allocate in a lookup
	c.mu.RUnlock()
	if ok {
		return c.clone(v), nil
	}
	var fresh T
	if err := json.Unmarshal(raw, &fresh); err != nil {
		return fresh, err
	}
	if len(raw) > c.max/64 {
		return fresh, nil // too big to be worth the room
	}
	c.mu.Lock()
	if _, ok := c.m[string(raw)]; !ok {
		if c.bytes+len(raw) > c.max {
			clear(c.m)
			c.bytes = 0
		}
		c.m[string(raw)] = fresh
		c.bytes += len(raw)
	}
	c.mu.Unlock()
	return c.clone(fresh), nil
}

// cloneSpec deep-copies a spec. TestCloneSpecCoversEveryField fails when a
// field this does not copy deeply is added to the spec types.
func cloneSpec(s rayfleet.ClusterSpec) rayfleet.ClusterSpec {
	s.Workers = slices.Clone(s.Workers)
	s.VolumeIDs = slices.Clone(s.VolumeIDs)
	if s.Head.GFTEnabled != nil {
		v := *s.Head.GFTEnabled
		s.Head.GFTEnabled = &v
	}
	if s.Head.GFTConfig != nil {
		v := *s.Head.GFTConfig
		s.Head.GFTConfig = &v
	}
	return s
}

// cloneInstances deep-copies instances, which hold values only.
func cloneInstances(in []rayfleet.Instance) []rayfleet.Instance { return slices.Clone(in) }
