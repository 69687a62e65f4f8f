package logstore

import (
	"context"
	"io"
	"strings"

	"github.com/rayfleet/rayfleet"
)

// Store is a bucket of log objects. Keys are rayfleet.ValidLogKey keys;
// an invalid one is an EINVALID error, a missing object an ENOTFOUND one.
type Store interface {
	// Bucket is the bucket's name.
	Bucket() string
	// Put stores r's bytes under key, replacing what was there. Readers
	// see the old object or the new one, never a part of it.
	Put(ctx context.Context, key string, r io.Reader) error
	// List returns a page of the bucket's keys (see Page).
	List(ctx context.Context, o rayfleet.LogListOptions) (rayfleet.LogListing, error)
	// Open returns the object's bytes and what Stat says of it. The caller
	// closes the reader.
	Open(ctx context.Context, key string) (io.ReadCloser, rayfleet.LogObject, error)
	// Stat returns an object's size and time of modification.
	Stat(ctx context.Context, key string) (rayfleet.LogObject, error)
}

// Page cuts one page of a listing out of objects, which must be sorted by
// key: the entries after o.Marker that begin with o.Prefix, each key that
// holds o.Delimiter after the prefix rolled up into its common prefix (the
// key up to and including the delimiter), at most o.MaxKeys of them
// (rayfleet.DefaultLogKeys when 0 or less). A common prefix is listed where
// its first key sorts, and only when it sorts after the marker itself: a
// marker that is a common prefix, as a truncated page's NextMarker may be,
// continues after every key under it.
func Page(objects []rayfleet.LogObject, o rayfleet.LogListOptions) rayfleet.LogListing {
	maxKeys := o.MaxKeys
	if maxKeys <= 0 {
		maxKeys = rayfleet.DefaultLogKeys
	}
	out := rayfleet.LogListing{Entries: []rayfleet.LogObject{}}
	add := func(e rayfleet.LogObject) bool {
		if len(out.Entries) == maxKeys {
			out.IsTruncated = true
			return false
		}
		out.Entries = append(out.Entries, e)
		return true
	}
	for _, obj := range objects {
		if !strings.HasPrefix(obj.Key, o.Prefix) || obj.Key <= o.Marker {
			continue
		}
		if o.Delimiter != "" {
			if i := strings.Index(obj.Key[len(o.Prefix):], o.Delimiter); i >= 0 {
				cp := obj.Key[:len(o.Prefix)+i+len(o.Delimiter)]
				if cp <= o.Marker || len(out.Entries) > 0 && out.Entries[len(out.Entries)-1].Key == cp {
					continue
				}
				if !add(rayfleet.LogObject{Key: cp, IsPrefix: true}) {
					break
				}
				continue
			}
		}
		if !add(obj) {
			break
		}
	}
	if out.IsTruncated {
		out.NextMarker = out.Entries[len(out.Entries)-1].Key
	}
	return out
}
