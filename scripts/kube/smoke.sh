#!/usr/bin/env bash
# smoke.sh proves the test stack works end to end: up.sh, a RayCluster with
# one worker created with kubectl, status.state=ready with its pods Running,
# spec.suspend=true removes every pod, delete removes the pods and the
# Services, down.sh. It exits non-zero on any failure, keeping the state
# directory (logs) for a look.
#
#   scripts/kube/smoke.sh
#
# The RAYFLEET_KUBE_* variables of up.sh and build.sh apply.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WAIT=${RAYFLEET_KUBE_WAIT:-60}
NAME=smoke
START=$SECONDS
log() { printf '[smoke.sh %3ds] %s\n' $((SECONDS - START)) "$*" >&2; }
die() {
	printf 'smoke.sh: FAIL: %s\n' "$*" >&2
	exit 1
}

STATE=$(mktemp -d "${TMPDIR:-/tmp}/rayfleet-kube-smoke.XXXXXX")
UP=0
on_exit() {
	local rc=$?
	trap - EXIT
	if [[ $rc != 0 ]]; then
		if [[ $UP == 1 ]]; then
			printf '\nsmoke.sh: last lines of ray-operator.log:\n' >&2
			tail -n 30 "$STATE/logs/ray-operator.log" 2>/dev/null | sed 's/^/    /' >&2 || true
			printf 'smoke.sh: RayCluster and pods at failure:\n' >&2
			"$KUBECTL" get raycluster,pods,svc -o wide 2>&1 | sed 's/^/    /' >&2 || true
			KEEP=1 "$SCRIPT_DIR/down.sh" "$STATE" || true
			log "FAILED; state and logs kept in $STATE (remove with: $SCRIPT_DIR/down.sh $STATE)"
		else
			[[ -f "$STATE/.rayfleet-kube" ]] || rmdir "$STATE" 2>/dev/null || true
			log "FAILED"
		fi
		exit "$rc"
	fi
}
trap on_exit EXIT
trap 'exit 130' INT TERM

# ---- up -------------------------------------------------------------------------

t=$SECONDS
out=$("$SCRIPT_DIR/up.sh" "$STATE") || die "up.sh failed"
eval "$out"
UP=1
[[ "$KUBECONFIG" == "$STATE/kubeconfig" ]] || die "up.sh printed KUBECONFIG=$KUBECONFIG, want $STATE/kubeconfig"
KUBE_DIR=${RAYFLEET_KUBE_DIR:-$("$SCRIPT_DIR/build.sh" 2>/dev/null | tail -n1)}
KUBECTL=$KUBE_DIR/bin/kubectl
kc() { "$KUBECTL" "$@"; }
log "up.sh took $((SECONDS - t))s"

server=$(kc version -o json | sed -n '/serverVersion/,$s/.*"gitVersion": "\([^"]*\)".*/\1/p' | head -n1)
log "server version $server"
[[ "$server" == v1.34.4 ]] || die "server reports version '$server', want v1.34.4"

# ---- create ---------------------------------------------------------------------

t=$SECONDS
kc apply -f - >/dev/null <<EOF
apiVersion: ray.io/v1
kind: RayCluster
metadata:
  name: $NAME
spec:
  rayVersion: "2.46.0"
  headGroupSpec:
    rayStartParams: {}
    template:
      spec:
        containers:
        - name: ray-head
          image: rayproject/ray:2.46.0
          resources:
            requests: {cpu: "1", memory: 2Gi}
            limits: {cpu: "1", memory: 2Gi}
  workerGroupSpecs:
  - groupName: workers
    replicas: 1
    minReplicas: 1
    maxReplicas: 2
    rayStartParams: {}
    template:
      spec:
        containers:
        - name: ray-worker
          image: rayproject/ray:2.46.0
          resources:
            requests: {cpu: "1", memory: 2Gi}
            limits: {cpu: "1", memory: 2Gi}
EOF
kc wait "raycluster/$NAME" --for=jsonpath='{.status.state}'=ready --timeout="${WAIT}s" >/dev/null ||
	die "RayCluster $NAME did not reach status.state=ready in ${WAIT}s"
log "RayCluster $NAME ready in $((SECONDS - t))s"

pods() { kc get pods -l "ray.io/cluster=$NAME" -o jsonpath='{range .items[*]}{.metadata.name} {.status.phase}{"\n"}{end}'; }
phases=$(pods)
printf '%s\n' "$phases" | sed 's/^/    /' >&2
[[ $(grep -c ' Running$' <<<"$phases") == 2 ]] || die "want 2 Running pods (head and 1 worker), have: $phases"
kc wait pods -l "ray.io/cluster=$NAME" --for=condition=Ready --timeout="${WAIT}s" >/dev/null ||
	die "pods of $NAME not Ready"
workers=$(kc get "raycluster/$NAME" -o jsonpath='{.status.readyWorkerReplicas}')
[[ "$workers" == 1 ]] || die "status.readyWorkerReplicas=$workers, want 1"

# ---- suspend ----------------------------------------------------------------------

t=$SECONDS
kc patch "raycluster/$NAME" --type=merge -p '{"spec":{"suspend":true}}' >/dev/null
kc wait "raycluster/$NAME" --for=jsonpath='{.status.state}'=suspended --timeout="${WAIT}s" >/dev/null ||
	die "RayCluster $NAME did not reach status.state=suspended"
until [[ -z "$(pods)" ]]; do
	((SECONDS - t < WAIT)) || die "pods of suspended $NAME still there after ${WAIT}s: $(pods)"
	sleep 0.2
done
log "suspended, no pods, in $((SECONDS - t))s"

# ---- delete -------------------------------------------------------------------------

t=$SECONDS
kc delete "raycluster/$NAME" --wait=true --timeout="${WAIT}s" >/dev/null || die "deleting RayCluster $NAME failed"
until [[ -z "$(kc get pods,services -l "ray.io/cluster=$NAME" -o name)" ]]; do
	((SECONDS - t < WAIT)) || die "objects of deleted $NAME still there: $(kc get pods,services -l "ray.io/cluster=$NAME" -o name)"
	sleep 0.2
done
log "deleted, pods and services gone, in $((SECONDS - t))s"

# ---- down ---------------------------------------------------------------------------

t=$SECONDS
"$SCRIPT_DIR/down.sh" "$STATE"
log "down.sh took $((SECONDS - t))s"
[[ ! -e "$STATE" ]] || die "down.sh left $STATE"
log "PASS in $((SECONDS - START))s"
