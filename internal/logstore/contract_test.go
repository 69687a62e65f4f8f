package logstore

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rayfleet/rayfleet"
)

// testContract is what every Store does, run against each: objects put,
// replaced, read, stated and listed with the semantics of Page; missing
// keys not found; keys that are no valid log keys refused before anything
// is asked of the store. The store must be empty.
func testContract(t *testing.T, s Store) {
	ctx := context.Background()
	if s.Bucket() != "rayfleet-logs" {
		t.Fatalf("bucket %q", s.Bucket())
	}
	before := time.Now().Add(-2 * time.Second)
	const p = "w-1/ray/logs/rj-1_default/"
	put(t, s, p+"driver/rj-1_driver.log", "hello\n")
	put(t, s, p+"head-n1/raylet.out", "raylet")
	put(t, s, p+"head-n1/raylet.out", "raylet, again") // replaces
	put(t, s, p+"head-n1/gcs_server.out", "gcs")
	put(t, s, p+"empty.log", "")
	put(t, s, "w-1/ray/logs/rj-2_default/driver/rj-2_driver.log", "another job")
	put(t, s, "w-1a/x", "another workspace")

	got, obj := read(t, s, p+"head-n1/raylet.out")
	if got != "raylet, again" || obj.Size != int64(len(got)) || obj.Modified.Before(before) || obj.Modified.After(time.Now().Add(2*time.Second)) || obj.IsPrefix {
		t.Fatalf("read %q %+v", got, obj)
	}
	st, err := s.Stat(ctx, p+"empty.log")
	if err != nil || st.Size != 0 || st.Key != p+"empty.log" {
		t.Fatalf("stat: %+v %v", st, err)
	}
	if got, _ := read(t, s, p+"empty.log"); got != "" {
		t.Fatalf("empty object reads %q", got)
	}
	for _, missing := range []string{"w-1/none", p + "driver", p + "driver/rj-1_driver.log/x"} {
		if _, err := s.Stat(ctx, missing); rayfleet.ErrorCode(err) != rayfleet.ENOTFOUND {
			t.Fatalf("stat %s: %v, want not found", missing, err)
		}
		if _, _, err := s.Open(ctx, missing); rayfleet.ErrorCode(err) != rayfleet.ENOTFOUND {
			t.Fatalf("open %s: %v, want not found", missing, err)
		}
	}
	for _, key := range []string{"", "/etc/passwd", "../secret", "a//b", "a/", ".tmp/x", "a\x00b"} {
		if err := s.Put(ctx, key, strings.NewReader("x")); rayfleet.ErrorCode(err) != rayfleet.EINVALID {
			t.Errorf("put %q: %v, want InvalidParameter", key, err)
		}
		if _, err := s.Stat(ctx, key); rayfleet.ErrorCode(err) != rayfleet.EINVALID {
			t.Errorf("stat %q: %v, want InvalidParameter", key, err)
		}
	}

	for _, c := range []struct {
		o    rayfleet.LogListOptions
		want []string
		next string
	}{
		{rayfleet.LogListOptions{Prefix: p, Delimiter: "/"}, []string{p + "driver/*", p + "empty.log", p + "head-n1/*"}, ""},
		{rayfleet.LogListOptions{Prefix: p}, []string{p + "driver/rj-1_driver.log", p + "empty.log", p + "head-n1/gcs_server.out", p + "head-n1/raylet.out"}, ""},
		{rayfleet.LogListOptions{Prefix: p, Delimiter: "/", MaxKeys: 2}, []string{p + "driver/*", p + "empty.log"}, p + "empty.log"},
		{rayfleet.LogListOptions{Prefix: p, Delimiter: "/", Marker: p + "driver/"}, []string{p + "empty.log", p + "head-n1/*"}, ""},
		{rayfleet.LogListOptions{Prefix: "w-1", Delimiter: "/"}, []string{"w-1/*", "w-1a/*"}, ""},
		{rayfleet.LogListOptions{Prefix: "w-9/"}, []string{}, ""},
		{rayfleet.LogListOptions{Prefix: "../"}, []string{}, ""},
	} {
		l, err := s.List(ctx, c.o)
		if err != nil {
			t.Fatalf("list %+v: %v", c.o, err)
		}
		if !slices.Equal(names(l), c.want) || l.NextMarker != c.next || l.IsTruncated != (c.next != "") {
			t.Fatalf("list %+v: %v next %q, want %v next %q", c.o, names(l), l.NextMarker, c.want, c.next)
		}
		for _, e := range l.Entries {
			if !e.IsPrefix && (e.Modified.IsZero() || e.Modified != e.Modified.Truncate(time.Millisecond)) {
				t.Fatalf("entry %+v: no time, or one finer than milliseconds", e)
			}
		}
	}
}
