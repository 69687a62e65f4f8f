package rayfleet

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Jobs' logs are objects in one bucket of a log store, addressed as the
// hosted product addresses its OSS bucket: a key per file, listed with
// object-listing semantics (prefix, marker, delimiter, maxKeys). A job's
// files sit under its log path (JobLogPath):
//
//	<workspaceId>/ray/logs/<submissionId>_default/driver/<submissionId>_driver.log
//	<workspaceId>/ray/logs/<submissionId>_default/head-<nodeId>/raylet.out
//	<workspaceId>/ray/logs/<submissionId>_default/worker-<nodeId>/raylet.out
//
// The workspace id comes first, and a workspace belongs to one account, so
// a key names its account's objects only.

// DefaultLogBucket is the log store's bucket when none is configured.
const DefaultLogBucket = "rayfleet-logs"

// Limits of a listing (ListRayLogs' maxKeys: more than 0, less than 1000).
const (
	DefaultLogKeys = 100
	MaxLogKeys     = 999
	// MaxLogKeyLen is the longest key, as OSS allows.
	MaxLogKeyLen = 1023
)

// LogObject is an object of the log store, or in a listing with a
// delimiter a common prefix (IsPrefix: Key ends with the delimiter, Size
// and Modified are zero).
type LogObject struct {
	Key      string
	Size     int64
	Modified time.Time
	IsPrefix bool
}

// LogListOptions select a page of keys: those that begin with Prefix and
// sort after Marker, in byte order. With a Delimiter, the keys that hold
// it after the prefix are rolled up into one common prefix each (the key up
// to and including the delimiter's first occurrence after Prefix), which
// counts as one entry. MaxKeys bounds the entries of a page.
type LogListOptions struct {
	Prefix    string
	Marker    string
	Delimiter string
	MaxKeys   int
}

// LogListing is a page of a listing: objects and common prefixes in one
// list, in key order. IsTruncated says more follow; NextMarker, then the
// last entry's key, is the Marker that lists them.
type LogListing struct {
	Entries     []LogObject
	IsTruncated bool
	NextMarker  string
}

// ValidLogBucket checks a bucket name as object stores name buckets: 3 to 63
// lowercase letters, digits and hyphens, beginning and ending with a letter
// or digit.
func ValidLogBucket(name string) error {
	if len(name) < 3 || len(name) > 63 {
		return fmt.Errorf("bucket name %q must be 3 to 63 characters", name)
	}
	for i, r := range name {
		alnum := r >= 'a' && r <= 'z' || r >= '0' && r <= '9'
		if !alnum && (r != '-' || i == 0 || i == len(name)-1) {
			return fmt.Errorf("bucket name %q may hold lowercase letters, digits and inner hyphens only", name)
		}
	}
	return nil
}

// ValidLogKey checks a key of the log store: 1 to MaxLogKeyLen bytes of
// UTF-8 without control characters or backslashes, segments between
// slashes neither empty nor beginning with a dot (so never "." or ".."),
// and no leading slash. Every key is thus a relative path that stays
// inside the directory it is taken relative to.
func ValidLogKey(key string) error {
	if key == "" {
		return Errorf(EINVALID, "the log path is empty")
	}
	if len(key) > MaxLogKeyLen {
		return Errorf(EINVALID, "the log path is %d bytes; at most %d are allowed", len(key), MaxLogKeyLen)
	}
	if !utf8.ValidString(key) {
		return Errorf(EINVALID, "the log path is not valid UTF-8")
	}
	for _, r := range key {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return Errorf(EINVALID, "the log path %q holds a control character or a backslash", key)
		}
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "" || seg[0] == '.' {
			return Errorf(EINVALID, "the log path %q has an empty segment or one beginning with a dot", key)
		}
	}
	return nil
}

// JobDriverLogKey is the key of a job's driver log.
func JobDriverLogKey(j *Job) string {
	return j.LogPrefix() + "driver/" + j.ID + "_driver.log"
}

// JobNodeLogKey is the key of a file of a node's Ray log directory, as
// collected for job j. head tells the head node from the workers.
func JobNodeLogKey(j *Job, nodeID string, head bool, file string) string {
	role := "worker-"
	if head {
		role = "head-"
	}
	return j.LogPrefix() + role + nodeID + "/" + file
}

// LogPrefix is where the job's logs are kept in the log bucket: LogPath as
// stored, or JobLogPath for a job stored without one.
func (j *Job) LogPrefix() string {
	if j.LogPath != "" {
		return j.LogPath
	}
	return JobLogPath(j.WorkspaceID, j.ID)
}
