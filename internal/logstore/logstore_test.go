package logstore

import (
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/rayfleet/rayfleet"
)

func objs(keys ...string) []rayfleet.LogObject {
	out := make([]rayfleet.LogObject, len(keys))
	for i, k := range keys {
		out[i] = rayfleet.LogObject{Key: k, Size: int64(len(k))}
	}
	slices.SortFunc(out, func(a, b rayfleet.LogObject) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// names renders a page as its keys, a common prefix marked with a star.
func names(l rayfleet.LogListing) []string {
	out := []string{}
	for _, e := range l.Entries {
		if e.IsPrefix {
			out = append(out, e.Key+"*")
		} else {
			out = append(out, e.Key)
		}
	}
	return out
}

// TestPage: the listing semantics of OSS ListObjects, case by case.
func TestPage(t *testing.T) {
	job := "w-1/ray/logs/rj-1_default/"
	all := objs(job+"driver/rj-1_driver.log", job+"head-n1/raylet.out", job+"head-n1/raylet.err",
		job+"head-n1/gcs_server.out", job+"worker-n2/raylet.out", "w-1/ray/logs/rj-2_default/driver/rj-2_driver.log", "w-2/x", "w-1a")
	for _, c := range []struct {
		name      string
		o         rayfleet.LogListOptions
		want      []string
		truncated bool
		next      string
	}{
		{"a prefix alone lists every key under it", rayfleet.LogListOptions{Prefix: job},
			[]string{job + "driver/rj-1_driver.log", job + "head-n1/gcs_server.out", job + "head-n1/raylet.err", job + "head-n1/raylet.out", job + "worker-n2/raylet.out"}, false, ""},
		{"a delimiter rolls up the directories", rayfleet.LogListOptions{Prefix: job, Delimiter: "/"},
			[]string{job + "driver/*", job + "head-n1/*", job + "worker-n2/*"}, false, ""},
		{"keys right under the prefix stay keys", rayfleet.LogListOptions{Prefix: job + "head-n1/", Delimiter: "/"},
			[]string{job + "head-n1/gcs_server.out", job + "head-n1/raylet.err", job + "head-n1/raylet.out"}, false, ""},
		{"a prefix that ends mid-segment", rayfleet.LogListOptions{Prefix: "w-1", Delimiter: "/"},
			[]string{"w-1/*", "w-1a"}, false, ""},
		{"maxKeys counts common prefixes", rayfleet.LogListOptions{Prefix: job, Delimiter: "/", MaxKeys: 2},
			[]string{job + "driver/*", job + "head-n1/*"}, true, job + "head-n1/"},
		{"a common prefix as the marker skips the keys under it", rayfleet.LogListOptions{Prefix: job, Delimiter: "/", Marker: job + "head-n1/"},
			[]string{job + "worker-n2/*"}, false, ""},
		{"a key as the marker lists the keys after it", rayfleet.LogListOptions{Prefix: job, Marker: job + "head-n1/raylet.err", MaxKeys: 1},
			[]string{job + "head-n1/raylet.out"}, true, job + "head-n1/raylet.out"},
		{"a marker inside a common prefix does not list it again", rayfleet.LogListOptions{Prefix: job, Delimiter: "/", Marker: job + "head-n1/gcs_server.out"},
			[]string{job + "worker-n2/*"}, false, ""},
		{"a full page that is the last is not truncated", rayfleet.LogListOptions{Prefix: job + "head-n1/", MaxKeys: 3},
			[]string{job + "head-n1/gcs_server.out", job + "head-n1/raylet.err", job + "head-n1/raylet.out"}, false, ""},
		{"a delimiter other than a slash", rayfleet.LogListOptions{Prefix: job + "head-n1/", Delimiter: "."},
			[]string{job + "head-n1/gcs_server.*", job + "head-n1/raylet.*"}, false, ""},
		{"nothing under the prefix", rayfleet.LogListOptions{Prefix: "w-3/"}, []string{}, false, ""},
		{"maxKeys 0 is the default", rayfleet.LogListOptions{Prefix: job + "driver/"}, []string{job + "driver/rj-1_driver.log"}, false, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := Page(all, c.o)
			if !slices.Equal(names(got), c.want) || got.IsTruncated != c.truncated || got.NextMarker != c.next {
				t.Fatalf("got %v truncated=%v next=%q\nwant %v truncated=%v next=%q", names(got), got.IsTruncated, got.NextMarker, c.want, c.truncated, c.next)
			}
			for _, e := range got.Entries {
				if e.IsPrefix && (e.Size != 0 || !e.Modified.IsZero()) {
					t.Fatalf("a common prefix carries a size or time: %+v", e)
				}
			}
		})
	}
}

// naive lists the way the semantics are stated: every key under the
// prefix, or its common prefix, once each, sorted, after the marker.
func naive(objects []rayfleet.LogObject, prefix, marker, delim string) []string {
	set := map[string]bool{}
	for _, o := range objects {
		if !strings.HasPrefix(o.Key, prefix) {
			continue
		}
		e := o.Key
		if i := strings.Index(o.Key[len(prefix):], delim); delim != "" && i >= 0 {
			e = o.Key[:len(prefix)+i+len(delim)] + "*"
		}
		set[e] = true
	}
	var out []string
	for e := range set {
		if strings.TrimSuffix(e, "*") > marker {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b string) int { return strings.Compare(strings.TrimSuffix(a, "*"), strings.TrimSuffix(b, "*")) })
	return out
}

// TestPageProperties: for any keys, prefix, delimiter, marker and page
// size, a page is the start of the naive listing, and following NextMarker
// from page to page lists all of it exactly once.
func TestPageProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		seg := rapid.SampledFrom([]string{"a", "b", "a-", "ab", "a/", "/", "-", "b/c"})
		key := rapid.Custom(func(t *rapid.T) string {
			return strings.Join(rapid.SliceOfN(seg, 1, 5).Draw(t, "segs"), "")
		})
		keys := rapid.SliceOfDistinct(key, func(k string) string { return k }).Draw(t, "keys")
		objects := objs(keys...)
		prefix := rapid.SampledFrom([]string{"", "a", "a/", "a-", "b", "ab/"}).Draw(t, "prefix")
		delim := rapid.SampledFrom([]string{"", "/", "-", "b"}).Draw(t, "delimiter")
		marker := rapid.SampledFrom(append([]string{"", "a", "a/", "b/c"}, keys...)).Draw(t, "marker")
		maxKeys := rapid.IntRange(1, 4).Draw(t, "maxKeys")

		want := naive(objects, prefix, marker, delim)
		first := Page(objects, rayfleet.LogListOptions{Prefix: prefix, Marker: marker, Delimiter: delim, MaxKeys: maxKeys})
		if n := min(maxKeys, len(want)); !slices.Equal(names(first), want[:n]) || first.IsTruncated != (len(want) > maxKeys) {
			t.Fatalf("page %v truncated=%v, want the start of %v", names(first), first.IsTruncated, want)
		}
		var walked []string
		m := marker
		for range len(want) + 2 {
			p := Page(objects, rayfleet.LogListOptions{Prefix: prefix, Marker: m, Delimiter: delim, MaxKeys: maxKeys})
			walked = append(walked, names(p)...)
			if !p.IsTruncated {
				if p.NextMarker != "" {
					t.Fatalf("last page names a next marker %q", p.NextMarker)
				}
				break
			}
			m = p.NextMarker
		}
		if !slices.Equal(walked, want) {
			t.Fatalf("pages walked %v, want %v", walked, want)
		}
	})
}
