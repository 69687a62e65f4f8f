#!/usr/bin/env bash
# prometheus.sh builds the Prometheus server the tests scrape Ray nodes with
# (the browser test points the dashboards at it), from the Go module proxy
# through goinstall.sh, into a cache directory outside the work tree, and
# prints the binary's path as the last line of stdout:
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
GOINSTALL_LOG=prometheus.sh GOINSTALL_NICE=${RAYFLEET_PROMETHEUS_NICE:-19} \
	GOINSTALL_CACHE=${RAYFLEET_PROMETHEUS_CACHE:-${HOME:?HOME is not set; set RAYFLEET_PROMETHEUS_CACHE}/.cache/rayfleet} \
	exec ./goinstall.sh prometheus "$VERSION" github.com/prometheus/prometheus/cmd/prometheus \
	-ldflags "-X github.com/prometheus/common/version.Version=$VERSION"
