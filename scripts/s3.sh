#!/usr/bin/env bash
# s3.sh builds the S3-compatible server the log store's S3 tests run
# against (versitygw, a gateway that serves S3 over a directory), from the
# Go module proxy, into a cache directory outside the work tree, and prints
# the binary's path as the last line of stdout:
#
#   export RAYFLEET_TEST_S3_SERVER="$(scripts/s3.sh | tail -n1)"
#
# The directory is named after the pinned version, so it is reused while
# the pin is unchanged:
#   ${RAYFLEET_S3_CACHE:-$HOME/.cache/rayfleet}/versitygw-<version>/versitygw
# A finished build holds a .complete stamp; one without it (an interrupted
# build) is made again. Go runs under `nice -n ${RAYFLEET_S3_NICE:-19}`.
# Progress goes to stderr.
set -euo pipefail
cd "$(dirname "$0")"

VERSION=v1.8.0
MODULE=github.com/versity/versitygw
CACHE_ROOT=${RAYFLEET_S3_CACHE:-${HOME:?HOME is not set; set RAYFLEET_S3_CACHE}/.cache/rayfleet}
OUT="$CACHE_ROOT/versitygw-$VERSION"

log() { printf 's3.sh: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

if [[ -f $OUT/.complete && -x $OUT/versitygw ]]; then
	log "reusing $OUT"
	echo "$OUT/versitygw"
	exit 0
fi

command -v go >/dev/null || die "go not found in PATH (the project uses Go 1.26)"
mkdir -p "$CACHE_ROOT"
# One build at a time per cache directory; a second caller waits, then
# finds the binary built.
exec 9>"$OUT.lock"
flock 9
if [[ -f $OUT/.complete && -x $OUT/versitygw ]]; then
	log "reusing $OUT"
	echo "$OUT/versitygw"
	exit 0
fi

rm -rf "$OUT"
mkdir -p "$OUT"
log "building $MODULE/cmd/versitygw@$VERSION into $OUT ($(go env GOVERSION))"
started=$SECONDS
# `go install pkg@version` builds the module on its own go.mod; the
# caller's Go settings must not get in its way.
GOWORK=off GOFLAGS=-buildvcs=false GOBIN="$OUT" nice -n "${RAYFLEET_S3_NICE:-19}" \
	go install "$MODULE/cmd/versitygw@$VERSION" >&2 ||
	die "go install $MODULE/cmd/versitygw@$VERSION failed"
"$OUT/versitygw" --version >&2 || die "the versitygw built in $OUT does not run"
date -u +%FT%TZ >"$OUT/.complete"
log "ready in $((SECONDS - started)) s"
echo "$OUT/versitygw"
