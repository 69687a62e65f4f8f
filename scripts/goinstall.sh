#!/usr/bin/env bash
# goinstall.sh builds one pinned Go command from the Go module proxy into a
# cache directory outside the work tree, once, and prints the binary's path
# as the last line of stdout. The scripts that build the test suite's
# servers call it:
#
#   scripts/goinstall.sh NAME VERSION PACKAGE [go install flags...]
#
# builds PACKAGE@VERSION into $GOINSTALL_CACHE/NAME-VERSION/ (default
# $HOME/.cache/rayfleet), where the binary is the last element of PACKAGE.
# A finished build holds a .complete stamp; one without it (an interrupted
# build) is made again, and a second caller waits for the first. Go runs
# under `nice -n ${GOINSTALL_NICE:-19}`. Progress goes to stderr, prefixed
# with $GOINSTALL_LOG (the caller's name).
set -euo pipefail

NAME=${1:?usage: goinstall.sh NAME VERSION PACKAGE [go install flags...]}
VERSION=${2:?usage: goinstall.sh NAME VERSION PACKAGE [go install flags...]}
PACKAGE=${3:?usage: goinstall.sh NAME VERSION PACKAGE [go install flags...]}
shift 3
CACHE_ROOT=${GOINSTALL_CACHE:-${HOME:?HOME is not set; set GOINSTALL_CACHE}/.cache/rayfleet}
OUT="$CACHE_ROOT/$NAME-$VERSION"
BIN="$OUT/${PACKAGE##*/}"

log() { printf '%s: %s\n' "${GOINSTALL_LOG:-goinstall.sh}" "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

if [[ -f $OUT/.complete && -x $BIN ]]; then
	log "reusing $OUT"
	echo "$BIN"
	exit 0
fi

command -v go >/dev/null || die "go not found in PATH (the project uses Go 1.26)"
mkdir -p "$CACHE_ROOT"
exec 9>"$OUT.lock"
flock 9
if [[ -f $OUT/.complete && -x $BIN ]]; then
	log "reusing $OUT"
	echo "$BIN"
	exit 0
fi

rm -rf "$OUT"
mkdir -p "$OUT"
log "building $PACKAGE@$VERSION into $OUT ($(go env GOVERSION))"
started=$SECONDS
# `go install pkg@version` builds the module on its own go.mod, and the
# caller's Go settings must not get in its way: a GOFLAGS with -mod=vendor
# makes it fail ("cannot query module due to -mod=vendor").
GOWORK=off GOFLAGS=-buildvcs=false GOBIN="$OUT" nice -n "${GOINSTALL_NICE:-19}" \
	go install "$@" "$PACKAGE@$VERSION" >&2 || die "go install $PACKAGE@$VERSION failed"
"$BIN" --version >&2 || die "the ${PACKAGE##*/} built in $OUT does not run"
date -u +%FT%TZ >"$OUT/.complete"
log "ready in $((SECONDS - started)) s"
echo "$BIN"
