#!/usr/bin/env bash
# s3.sh builds the S3-compatible server the log store's S3 tests run
# against (versitygw, a gateway that serves S3 over a directory) from the
# Go module proxy, through goinstall.sh, and prints the binary's path as the
# last line of stdout:
#
#   export RAYFLEET_TEST_S3_SERVER="$(scripts/s3.sh | tail -n1)"
#
# into ${RAYFLEET_S3_CACHE:-$HOME/.cache/rayfleet}/versitygw-<version>/
# (reused while the pin is unchanged; 4-5 minutes on 2 cores the first
# time). Go runs under `nice -n ${RAYFLEET_S3_NICE:-19}`.
set -euo pipefail
cd "$(dirname "$0")"
GOINSTALL_LOG=s3.sh GOINSTALL_NICE=${RAYFLEET_S3_NICE:-19} GOINSTALL_CACHE=${RAYFLEET_S3_CACHE:-${HOME:?HOME is not set; set RAYFLEET_S3_CACHE}/.cache/rayfleet} \
	exec ./goinstall.sh versitygw v1.8.0 github.com/versity/versitygw/cmd/versitygw
