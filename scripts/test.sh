#!/usr/bin/env bash
# test.sh sets up what the test suite needs and runs all of it: `make test`.
#
#   1. PostgreSQL 15 (scripts/postgres.sh): the store tests on PostgreSQL
#   2. the test Kubernetes stack (scripts/kube/build.sh): kube-apiserver,
#      etcd, the scheduler, the controller-manager, kwok and the KubeRay
#      operator, built from the Go module proxy (17-30 min the first time)
#   3. Chromium from Debian's packages: the browser tests
#   4. the Python environment (scripts/pyenv.sh): real Ray, the product's
#      Python SDK, pytest
#   5. Prometheus (scripts/prometheus.sh), built from the Go module proxy:
#      the browser test's dashboards query it (4-5 min the first time)
#   6. an S3-compatible server (scripts/s3.sh, versitygw), built from the Go
#      module proxy: the log store's S3 tests run against it
#   7. every Go test, with the race detector, then the Python SDK suite
#
# Each step is skipped when what it makes is already there. With every step
# done nothing skips: RAYFLEET_TEST_REQUIRE_KUBE, RAYFLEET_TEST_REQUIRE_RAY,
# RAYFLEET_TEST_REQUIRE_PROMETHEUS, RAYFLEET_TEST_REQUIRE_S3 and (as root)
# RAYFLEET_TEST_REQUIRE_ROOT make a missing stack, Ray, Chromium, Prometheus,
# S3 server or root's tmpfs mount a failure; PostgreSQL's tests fail without their DSN
# once RAYFLEET_TEST_POSTGRES is set. Steps 1 and 3 need root (they start
# a system service and install a package); without root they are skipped with
# a message and the tests that need them skip (or fail where required).
#
# `make test-fast` is the edit-test loop: Go tests only, no setup, no -race.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOFLAGS=${GOFLAGS:--buildvcs=false}

step() { printf '\n== %s\n' "$*" >&2; }
started=$SECONDS

step "1/7 PostgreSQL"
if [[ -n ${RAYFLEET_TEST_POSTGRES:-} ]]; then
	echo "   using RAYFLEET_TEST_POSTGRES" >&2
	export RAYFLEET_TEST_REQUIRE_POSTGRES=1
elif [[ $(id -u) -eq 0 ]]; then
	RAYFLEET_TEST_POSTGRES="$(scripts/postgres.sh | tail -n 1)"
	export RAYFLEET_TEST_POSTGRES
	# From here a missing database fails the store's tests, not skips them.
	export RAYFLEET_TEST_REQUIRE_POSTGRES=1
else
	echo "   not root: PostgreSQL is not started and its tests skip (set RAYFLEET_TEST_POSTGRES to a DSN to run them)" >&2
fi

step "2/7 the test Kubernetes stack (about a second when built, 17-30 min from empty caches; progress below)"
scripts/kube/build.sh >/dev/null
export RAYFLEET_TEST_REQUIRE_KUBE=1

step "3/7 Chromium"
if command -v chromium >/dev/null || [[ -n ${RAYFLEET_TEST_BROWSER:-} ]]; then
	echo "   $(command -v chromium || echo "$RAYFLEET_TEST_BROWSER")" >&2
elif [[ $(id -u) -eq 0 ]]; then
	echo "   installing Debian's chromium (a minute or two)" >&2
	# A fresh machine may have no package lists yet: update once and retry.
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 ||
		{ apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }
else
	echo "   not root and no chromium: the browser tests fail; apt-get install chromium" >&2
fi

step "4/7 the Python environment (real Ray, the product's SDK, pytest; about a minute the first time)"
RAYFLEET_TEST_PYENV="$(scripts/pyenv.sh | tail -n 1)"
export RAYFLEET_TEST_PYENV RAYFLEET_TEST_REQUIRE_RAY=1
echo "   $RAYFLEET_TEST_PYENV ($("$RAYFLEET_TEST_PYENV/bin/ray" --version))" >&2

step "5/7 Prometheus (4-5 minutes the first time, from the Go module proxy)"
RAYFLEET_TEST_PROMETHEUS="$(scripts/prometheus.sh | tail -n 1)"
export RAYFLEET_TEST_PROMETHEUS RAYFLEET_TEST_REQUIRE_PROMETHEUS=1
echo "   $RAYFLEET_TEST_PROMETHEUS" >&2

# As root (CI is) the tests that mount a small tmpfs (a full disk) must run.
if [[ $(id -u) -eq 0 ]]; then
	export RAYFLEET_TEST_REQUIRE_ROOT=1
fi

step "6/7 an S3-compatible server (4-5 minutes the first time, from the Go module proxy)"
RAYFLEET_TEST_S3_SERVER="$(scripts/s3.sh | tail -n 1)"
export RAYFLEET_TEST_S3_SERVER RAYFLEET_TEST_REQUIRE_S3=1
echo "   $RAYFLEET_TEST_S3_SERVER" >&2

step "7/7 the tests (setup took $((SECONDS - started)) s)"
# The Go packages run one at a time (-p 1): the end-to-end tests start real
# Ray clusters, each several processes and about 2 GB, and two packages'
# clusters at once on a small machine make both slow enough to time out.
go test -race -count=1 -p 1 -timeout 45m ./...
if [[ -d test/sdk ]]; then
	"$RAYFLEET_TEST_PYENV/bin/pytest" -q test/sdk
fi
echo "== all tests passed in $((SECONDS - started)) s" >&2
