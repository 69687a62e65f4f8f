#!/usr/bin/env bash
# prometheus.sh builds the Prometheus server the tests scrape Ray nodes with
# (the browser test points the dashboards at it), from the Go module proxy,
# into a cache directory outside the work tree, and prints the binary's path
# as the last line of stdout:
#
#   export RAYFLEET_TEST_PROMETHEUS="$(scripts/prometheus.sh | tail -n1)"
#   "$RAYFLEET_TEST_PROMETHEUS" --version
#
# The directory is named after the pinned version, so it is reused while
# the pin is unchanged:
#   ${RAYFLEET_PROMETHEUS_CACHE:-$HOME/.cache/rayfleet}/prometheus-<version>/prometheus
# A finished build holds a .complete stamp; one without it (an interrupted
# build) is made again. 4-5 minutes on 2 cores from empty Go caches
# (a few hundred modules to download), seconds with warm ones. The binary
# has no web UI assets built in (those need npm); its HTTP API, which is
# all the tests use, is complete. Go runs under
# `nice -n ${RAYFLEET_PROMETHEUS_NICE:-19}`. Progress goes to stderr.
set -euo pipefail
cd "$(dirname "$0")"

VERSION=v0.316.0 # github.com/prometheus/prometheus: Prometheus 3.16.0
MODULE=github.com/prometheus/prometheus
CACHE_ROOT=${RAYFLEET_PROMETHEUS_CACHE:-${HOME:?HOME is not set; set RAYFLEET_PROMETHEUS_CACHE}/.cache/rayfleet}
OUT="$CACHE_ROOT/prometheus-$VERSION"

log() { printf 'prometheus.sh: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

if [[ -f $OUT/.complete && -x $OUT/prometheus ]]; then
	log "reusing $OUT"
	echo "$OUT/prometheus"
	exit 0
fi

command -v go >/dev/null || die "go not found in PATH (the project uses Go 1.26)"
mkdir -p "$CACHE_ROOT"
# One build at a time per cache directory; a second caller waits, then
# finds the binary built.
exec 9>"$OUT.lock"
flock 9
if [[ -f $OUT/.complete && -x $OUT/prometheus ]]; then
	log "reusing $OUT"
	echo "$OUT/prometheus"
	exit 0
fi

rm -rf "$OUT"
mkdir -p "$OUT"
log "building $MODULE/cmd/prometheus@$VERSION into $OUT ($(go env GOVERSION); 4-5 minutes from empty Go caches)"
started=$SECONDS
# `go install pkg@version` builds the module on its own go.mod, and the
# caller's Go settings must not get in its way: a GOFLAGS with -mod=vendor
# makes it fail ("cannot query module due to -mod=vendor").
GOWORK=off GOFLAGS=-buildvcs=false GOBIN="$OUT" nice -n "${RAYFLEET_PROMETHEUS_NICE:-19}" \
	go install -ldflags "-X github.com/prometheus/common/version.Version=$VERSION" "$MODULE/cmd/prometheus@$VERSION" >&2 ||
	die "go install $MODULE/cmd/prometheus@$VERSION failed"
"$OUT/prometheus" --version >&2 || die "the prometheus built in $OUT does not run"
date -u +%FT%TZ >"$OUT/.complete"
log "ready in $((SECONDS - started)) s"
echo "$OUT/prometheus"
