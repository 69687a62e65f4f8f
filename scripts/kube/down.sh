#!/usr/bin/env bash
# down.sh stops a stack started by up.sh and removes its state directory:
#
#   scripts/kube/down.sh STATE_DIR
#
# Processes are stopped in the reverse of their start order (ray-operator,
# kwok, kube-controller-manager, kube-scheduler, kube-apiserver, etcd): TERM,
# then KILL after RAYFLEET_KUBE_GRACE seconds (default 10). A pid is signalled
# only while it still runs the binary up.sh recorded for it, so a stale pids
# file never hits an unrelated process. With KEEP=1 the directory (logs, etcd
# data) is kept. Safe to run twice, and after up.sh failed halfway; it removes
# only directories that up.sh made (they hold a .rayfleet-kube marker).
set -euo pipefail

GRACE=${RAYFLEET_KUBE_GRACE:-10}
log() { printf 'down.sh: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

[[ $# -eq 1 && -n "$1" ]] || die "usage: $0 STATE_DIR"
[[ "$GRACE" =~ ^[0-9]+$ ]] || die "RAYFLEET_KUBE_GRACE is not a number of seconds: '$GRACE'"
STATE=$1
if [[ ! -e "$STATE" ]]; then
	log "$STATE does not exist; nothing to stop"
	exit 0
fi
[[ -d "$STATE" ]] || die "$STATE is not a directory"
[[ -f "$STATE/.rayfleet-kube" ]] || die "$STATE was not made by scripts/kube/up.sh (no .rayfleet-kube); not touching it"

# ours PID BINARY succeeds while PID is alive and runs BINARY.
ours() {
	local exe stat want
	kill -0 "$1" 2>/dev/null || return 1
	# An exited child of a still-running up.sh is a zombie until up.sh exits.
	if stat=$(cat "/proc/$1/stat" 2>/dev/null); then
		[[ "${stat##*) }" != Z* ]] || return 1
	fi
	exe=$(readlink "/proc/$1/exe" 2>/dev/null) || return 0 # no /proc: trust kill -0
	want=$(readlink -f "$2" 2>/dev/null) || want=$2
	[[ "$exe" == "$want" || "$exe" == "$want (deleted)" || "$exe" == "$2" || "$exe" == "$2 (deleted)" ]]
}

stop() {
	local name=$1 pid=$2 bin=$3 t
	if ! ours "$pid" "$bin"; then
		return 0
	fi
	kill -TERM "$pid" 2>/dev/null || return 0
	t=0 # tenths of a second
	while ours "$pid" "$bin"; do
		if ((t++ >= GRACE * 10)); then
			log "$name (pid $pid) still running after ${GRACE}s; KILL"
			kill -KILL "$pid" 2>/dev/null || true
			sleep 0.2
			break
		fi
		sleep 0.1
	done
	log "stopped $name (pid $pid)"
}

if [[ -f "$STATE/pids" ]]; then
	mapfile -t lines <"$STATE/pids"
	for ((i = ${#lines[@]} - 1; i >= 0; i--)); do
		read -r name pid bin <<<"${lines[i]}"
		[[ -n "${pid:-}" && "$pid" =~ ^[0-9]+$ ]] || continue
		stop "$name" "$pid" "$bin"
	done
	: >"$STATE/pids"
fi

if [[ "${KEEP:-0}" == 1 ]]; then
	log "kept $STATE"
else
	rm -rf -- "$STATE"
	log "removed $STATE"
fi
