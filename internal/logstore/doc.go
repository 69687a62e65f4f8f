// Package logstore keeps jobs' logs where they outlive their clusters: the
// Store contract (put an object whole, list keys with object-listing
// semantics, open, stat), Page, the one implementation of those semantics
// every Store lists with; Dir, the embedded default, a directory per
// bucket under the data directory (<data-dir>/logs/<bucket>/<key>); and S3,
// a bucket of an S3-compatible server, signed with Signature Version 4 by
// hand (the standard library has all it takes). One contract test runs
// against both, S3 on a real server (internal/s3test).
//
// The listing semantics are those of OSS ListObjects (and S3's, which it
// follows): keys in byte order, those after Marker that begin with Prefix;
// with a Delimiter, every key that holds it after the prefix is rolled up
// into one common prefix, listed once, in order among the keys, and counted
// against MaxKeys like a key; a truncated page names its last entry as the
// marker of the next.
//
// Keys are checked by rayfleet.ValidLogKey before they touch the file
// system, and Dir reaches its files through an os.Root, so neither a key
// nor a link planted in the directory leads outside the bucket.
//
// It imports the domain and the standard library only.
package logstore
