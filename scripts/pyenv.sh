#!/usr/bin/env bash
# pyenv.sh makes the Python environment the tests use: a virtual environment
# with the pins of scripts/python/requirements.txt (real Ray, the product's
# Python SDK, pytest), in a cache directory outside the work tree, and prints
# that directory as the last line of stdout:
#
#   export RAYFLEET_TEST_PYENV="$(scripts/pyenv.sh | tail -n1)"
#   "$RAYFLEET_TEST_PYENV/bin/ray" --version
#
# The directory is named after a hash of the requirements and the Python
# version, so it is reused while the pins are unchanged and a new one is
# made when they change:
#   ${RAYFLEET_PY_CACHE:-$HOME/.cache/rayfleet}/pyenv-py<X.Y>-<hash>/
# A finished environment holds a .complete stamp; one without it (an
# interrupted install) is made again. Progress goes to stderr.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${RAYFLEET_PYTHON:-python3}
REQ=python/requirements.txt
CACHE_ROOT=${RAYFLEET_PY_CACHE:-${HOME:?HOME is not set; set RAYFLEET_PY_CACHE}/.cache/rayfleet}

log() { printf 'pyenv.sh: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

command -v "$PYTHON" >/dev/null || die "$PYTHON not found; install Python 3.9-3.12 or set RAYFLEET_PYTHON"
pyver=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
hash=$( (cat "$REQ"; echo "$pyver") | sha256sum | cut -c1-12)
OUT="$CACHE_ROOT/pyenv-py${pyver}-${hash}"

if [[ -f $OUT/.complete ]]; then
	log "reusing $OUT"
	echo "$OUT"
	exit 0
fi

mkdir -p "$CACHE_ROOT"
# One install at a time per cache directory; a second caller waits, then
# finds the environment made.
exec 9>"$OUT.lock"
flock 9
if [[ -f $OUT/.complete ]]; then
	log "reusing $OUT"
	echo "$OUT"
	exit 0
fi

rm -rf "$OUT"
log "making $OUT with Python $pyver (about a minute: Ray's wheel is about 80 MB)"
"$PYTHON" -m venv "$OUT" >&2 || die "python -m venv failed (Debian: apt-get install python3-venv)"
"$OUT/bin/pip" install --disable-pip-version-check --progress-bar off -q -r "$REQ" >&2 ||
	die "pip install -r $REQ failed"
"$OUT/bin/ray" --version >&2 || die "the ray installed in $OUT does not run"
date -u +%FT%TZ >"$OUT/.complete"
log "ready"
echo "$OUT"
