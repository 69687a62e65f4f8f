#!/usr/bin/env bash
# up.sh starts a real Kubernetes control plane with the KubeRay operator and a
# kwok fake node on 127.0.0.1, keeping all of its state in STATE_DIR:
#
#   eval "$(scripts/kube/up.sh [STATE_DIR])"     # sets KUBECONFIG
#   ...
#   scripts/kube/down.sh STATE_DIR
#
# STATE_DIR must not exist or be empty; without it a new directory is made
# with mktemp. The binaries come from scripts/kube/build.sh (run here; it
# returns at once when its cache is complete), or from RAYFLEET_KUBE_DIR when
# that is set.
#
# Order: keys and token, etcd, kube-apiserver, KubeRay CRDs (server-side
# apply, wait Established), kube-scheduler, kube-controller-manager, kwok and a
# fake Node (wait Ready, not-ready taint gone, ServiceAccount default), then
# ray-operator (wait /readyz). Started processes go to STATE_DIR/pids
# ("name pid binary" per line, in start order), logs to STATE_DIR/logs/.
# If a step fails, everything started is stopped, the tail of the failing
# process's log is shown, and STATE_DIR is kept for a look (down.sh removes
# it).
#
# Progress goes to stderr. Stdout is two lines, for eval; the last one is
#   export KUBECONFIG=STATE_DIR/kubeconfig
#
# Ports (all on 127.0.0.1; each can be overridden; up.sh refuses to start
# when one is taken):
#   RAYFLEET_KUBE_ETCD_PORT=2379  RAYFLEET_KUBE_ETCD_PEER_PORT=2380
#   RAYFLEET_KUBE_APISERVER_PORT=6443
#   RAYFLEET_KUBE_SCHEDULER_PORT=10259  RAYFLEET_KUBE_CONTROLLER_MANAGER_PORT=10257
#   RAYFLEET_KUBE_OPERATOR_METRICS_PORT=18080  RAYFLEET_KUBE_OPERATOR_PROBE_PORT=18082
# RAYFLEET_KUBE_WAIT (seconds, default 60) bounds each wait.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

ETCD_PORT=${RAYFLEET_KUBE_ETCD_PORT:-2379}
ETCD_PEER_PORT=${RAYFLEET_KUBE_ETCD_PEER_PORT:-2380}
APISERVER_PORT=${RAYFLEET_KUBE_APISERVER_PORT:-6443}
SCHEDULER_PORT=${RAYFLEET_KUBE_SCHEDULER_PORT:-10259}
CM_PORT=${RAYFLEET_KUBE_CONTROLLER_MANAGER_PORT:-10257}
OPERATOR_METRICS_PORT=${RAYFLEET_KUBE_OPERATOR_METRICS_PORT:-18080}
OPERATOR_PROBE_PORT=${RAYFLEET_KUBE_OPERATOR_PROBE_PORT:-18082}
WAIT=${RAYFLEET_KUBE_WAIT:-60}
NODE_NAME=kwok-node-0
HOST=127.0.0.1

# fd 4 keeps our stderr: a trap can fire while a function runs with its
# stderr sent elsewhere (wait_for's checks go to /dev/null), and the cleanup
# must still be seen. Long-running children get it closed (see start).
exec 4>&2

START=$SECONDS
log() { printf '[up.sh %3ds] %s\n' $((SECONDS - START)) "$*" >&2; }
die() {
	printf 'up.sh: error: %s\n' "$*" >&2
	exit 1
}

# ---- arguments and checks that need no cleanup ------------------------------

[[ $# -le 1 ]] || die "usage: $0 [STATE_DIR]"
for p in "$ETCD_PORT" "$ETCD_PEER_PORT" "$APISERVER_PORT" "$SCHEDULER_PORT" "$CM_PORT" \
	"$OPERATOR_METRICS_PORT" "$OPERATOR_PROBE_PORT" "$WAIT"; do
	[[ "$p" =~ ^[0-9]+$ ]] || die "not a number: '$p' (check the RAYFLEET_KUBE_* variables)"
done
command -v openssl >/dev/null ||
	die "openssl not found; it makes the service-account keys and the token (Debian: apt-get install openssl)"

if [[ -n "${RAYFLEET_KUBE_DIR:-}" ]]; then
	KUBE_DIR=$RAYFLEET_KUBE_DIR
else
	KUBE_DIR=$("$SCRIPT_DIR/build.sh" | tail -n1) || die "scripts/kube/build.sh failed"
fi
BIN=$KUBE_DIR/bin
for b in etcd kube-apiserver kube-scheduler kube-controller-manager kubectl kwok ray-operator; do
	[[ -x "$BIN/$b" ]] || die "$BIN/$b missing; run scripts/kube/build.sh"
done
compgen -G "$KUBE_DIR/crds/*.yaml" >/dev/null || die "no CRDs in $KUBE_DIR/crds; run scripts/kube/build.sh"
[[ -s "$KUBE_DIR/kwok/stages.yaml" ]] || die "$KUBE_DIR/kwok/stages.yaml missing; run scripts/kube/build.sh"

# port_taken PORT succeeds when something listens on 127.0.0.1:PORT or on
# every address.
port_taken() {
	if command -v ss >/dev/null; then
		ss -Htln "sport = :$1" 2>/dev/null | grep -q .
	else
		(exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
	fi
}
PORTS=(
	"$ETCD_PORT:etcd client (RAYFLEET_KUBE_ETCD_PORT)"
	"$ETCD_PEER_PORT:etcd peer (RAYFLEET_KUBE_ETCD_PEER_PORT)"
	"$APISERVER_PORT:kube-apiserver (RAYFLEET_KUBE_APISERVER_PORT)"
	"$SCHEDULER_PORT:kube-scheduler (RAYFLEET_KUBE_SCHEDULER_PORT)"
	"$CM_PORT:kube-controller-manager (RAYFLEET_KUBE_CONTROLLER_MANAGER_PORT)"
	"$OPERATOR_METRICS_PORT:ray-operator metrics (RAYFLEET_KUBE_OPERATOR_METRICS_PORT)"
	"$OPERATOR_PROBE_PORT:ray-operator probes (RAYFLEET_KUBE_OPERATOR_PROBE_PORT)"
)
[[ $(printf '%s\n' "${PORTS[@]%%:*}" | sort -u | wc -l) -eq ${#PORTS[@]} ]] ||
	die "two of the RAYFLEET_KUBE_*_PORT settings are the same port"
taken=()
for entry in "${PORTS[@]}"; do
	if port_taken "${entry%%:*}"; then taken+=("$HOST:${entry%%:*} for ${entry#*:}"); fi
done
if [[ ${#taken[@]} -gt 0 ]]; then
	printf 'up.sh: error: port already in use: %s\n' "${taken[@]}" >&2
	die "another stack (or something else) is running; stop it (scripts/kube/down.sh STATE_DIR) or choose other ports"
fi

if [[ $# -eq 1 ]]; then
	STATE=$1
	if [[ -e "$STATE" ]]; then
		[[ -d "$STATE" ]] || die "$STATE exists and is not a directory"
		[[ -z "$(ls -A "$STATE")" ]] || die "$STATE is not empty; give a new or empty directory"
	fi
	mkdir -p "$STATE"
else
	STATE=$(mktemp -d "${TMPDIR:-/tmp}/rayfleet-kube.XXXXXX")
fi
STATE=$(cd "$STATE" && pwd)
# down.sh removes only directories holding this marker.
printf 'rayfleet kube test stack state; stop with scripts/kube/down.sh %s\n' "$STATE" >"$STATE/.rayfleet-kube"
mkdir -p "$STATE/logs" "$STATE/pki" "$STATE/etcd"
: >"$STATE/pids"
chmod 700 "$STATE"

# ---- cleanup on failure -------------------------------------------------------

CURRENT=""  # name of the process the running step depends on
OK=0
on_exit() {
	local rc=$?
	[[ $OK == 1 ]] && return
	trap - EXIT INT TERM
	exec 2>&4 1>&2
	[[ $rc == 0 ]] && rc=1
	if [[ -n "$CURRENT" && -f "$STATE/logs/$CURRENT.log" ]]; then
		printf '\nup.sh: last lines of %s:\n' "$STATE/logs/$CURRENT.log" >&2
		tail -n 40 "$STATE/logs/$CURRENT.log" | sed 's/^/    /' >&2
	fi
	log "failed; stopping what was started"
	KEEP=1 "$SCRIPT_DIR/down.sh" "$STATE" >&2 || true
	printf 'up.sh: state and logs kept in %s (remove with: %s/down.sh %s)\n' "$STATE" "$SCRIPT_DIR" "$STATE" >&2
	exit "$rc"
}
trap on_exit EXIT
trap 'exec 2>&4; log "interrupted"; CURRENT=""; exit 130' INT TERM

# ---- helpers ------------------------------------------------------------------

# start NAME BINARY ARGS... runs BINARY in its own session with its output in
# logs/NAME.log and no file descriptor shared with us (so a caller reading our
# stdout sees EOF when we exit), and records it in pids.
start() {
	local name=$1 bin=$2
	shift 2
	CURRENT=$name
	log "starting $name"
	setsid "$bin" "$@" </dev/null >"$STATE/logs/$name.log" 2>&1 4>&- &
	local pid=$!
	printf '%s %s %s\n' "$name" "$pid" "$bin" >>"$STATE/pids"
	eval "PID_${name//-/_}=$pid"
}

alive() {
	local v="PID_${1//-/_}"
	kill -0 "${!v}" 2>/dev/null
}

# wait_for WHAT CHECK... retries CHECK every 0.2 s for up to $WAIT seconds and
# fails early when the current process has exited.
wait_for() {
	local what=$1 t=$SECONDS
	shift
	while ! "$@" >/dev/null 2>&1; do
		if [[ -n "$CURRENT" ]] && ! alive "$CURRENT"; then
			die "$CURRENT exited while waiting for $what"
		fi
		if ((SECONDS - t >= WAIT)); then
			die "timed out after ${WAIT}s waiting for $what"
		fi
		sleep 0.2
	done
	log "$what ($((SECONDS - t))s)"
}

KCFG=$STATE/kubeconfig
kc() { "$BIN/kubectl" --kubeconfig "$KCFG" "$@"; }

# http_ok PORT PATH: a plain-HTTP GET on 127.0.0.1 answered with 200.
http_ok() (
	exec 3<>"/dev/tcp/$HOST/$1" || exit 1
	printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$2" "$HOST" >&3
	IFS= read -r -t 2 line <&3 || exit 1
	[[ "$line" == "HTTP/1."?" 200"* ]]
)

# secure_ok PORT PATH: an HTTPS GET with the admin token (kube components
# delegate authentication to the apiserver).
secure_ok() { kc --server "https://$HOST:$1" --request-timeout=2s get --raw "$2"; }

node_untainted() {
	[[ -z "$(kc get node "$NODE_NAME" -o jsonpath='{.spec.taints}')" ]]
}

# ---- keys, token, kubeconfig ----------------------------------------------------

log "state in $STATE; binaries from $KUBE_DIR"
openssl genrsa -out "$STATE/pki/sa.key" 2048 2>/dev/null || die "openssl genrsa failed"
openssl rsa -in "$STATE/pki/sa.key" -pubout -out "$STATE/pki/sa.pub" 2>/dev/null || die "openssl rsa -pubout failed"
TOKEN=$(openssl rand -hex 32)
printf '%s,admin,admin-uid,"system:masters"\n' "$TOKEN" >"$STATE/pki/tokens.csv"
chmod 600 "$STATE/pki/"*
cat >"$KCFG" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: rayfleet-test
  cluster:
    server: https://$HOST:$APISERVER_PORT
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    token: $TOKEN
contexts:
- name: rayfleet-test
  context:
    cluster: rayfleet-test
    user: admin
    namespace: default
current-context: rayfleet-test
EOF
chmod 600 "$KCFG"

# ---- etcd ---------------------------------------------------------------------

start etcd "$BIN/etcd" \
	--name=node0 --data-dir="$STATE/etcd" \
	--listen-client-urls="http://$HOST:$ETCD_PORT" --advertise-client-urls="http://$HOST:$ETCD_PORT" \
	--listen-peer-urls="http://$HOST:$ETCD_PEER_PORT" --initial-advertise-peer-urls="http://$HOST:$ETCD_PEER_PORT" \
	--initial-cluster="node0=http://$HOST:$ETCD_PEER_PORT" \
	--unsafe-no-fsync --auto-compaction-retention=1 --quota-backend-bytes=2147483648
wait_for "etcd healthy" http_ok "$ETCD_PORT" /health

# ---- kube-apiserver -------------------------------------------------------------

start kube-apiserver "$BIN/kube-apiserver" \
	--etcd-servers="http://$HOST:$ETCD_PORT" \
	--bind-address=$HOST --secure-port="$APISERVER_PORT" --advertise-address=$HOST \
	--endpoint-reconciler-type=none \
	--cert-dir="$STATE/pki/apiserver" \
	--token-auth-file="$STATE/pki/tokens.csv" \
	--authorization-mode=RBAC \
	--service-account-issuer=https://kubernetes.default.svc.cluster.local \
	--service-account-key-file="$STATE/pki/sa.pub" \
	--service-account-signing-key-file="$STATE/pki/sa.key" \
	--service-cluster-ip-range=10.96.0.0/16 \
	--allow-privileged=true \
	--enable-priority-and-fairness=false
wait_for "kube-apiserver /readyz" kc --request-timeout=2s get --raw /readyz

# ---- CRDs (before the controller-manager, whose garbage collector would
# otherwise ignore RayCluster dependents for its first 30 s) -------------------

log "applying KubeRay CRDs"
kc apply --server-side -f "$KUBE_DIR/crds/" >"$STATE/logs/crds.log" 2>&1 || {
	CURRENT=crds
	die "kubectl apply --server-side of the CRDs failed"
}
log "CRDs applied"
kc wait --for=condition=Established --timeout="${WAIT}s" -f "$KUBE_DIR/crds/" >>"$STATE/logs/crds.log" 2>&1 || {
	CURRENT=crds
	die "the KubeRay CRDs did not become Established"
}
log "CRDs Established"

# ---- scheduler, controller-manager ------------------------------------------------

start kube-scheduler "$BIN/kube-scheduler" \
	--kubeconfig="$KCFG" --authentication-kubeconfig="$KCFG" --authorization-kubeconfig="$KCFG" \
	--authentication-skip-lookup=true \
	--bind-address=$HOST --secure-port="$SCHEDULER_PORT" --leader-elect=false
start kube-controller-manager "$BIN/kube-controller-manager" \
	--kubeconfig="$KCFG" --authentication-kubeconfig="$KCFG" --authorization-kubeconfig="$KCFG" \
	--authentication-skip-lookup=true \
	--bind-address=$HOST --secure-port="$CM_PORT" --leader-elect=false \
	--service-account-private-key-file="$STATE/pki/sa.key" \
	--root-ca-file="$STATE/pki/apiserver/apiserver.crt" \
	--controllers='*'
CURRENT=kube-scheduler
wait_for "kube-scheduler /healthz" secure_ok "$SCHEDULER_PORT" /healthz
CURRENT=kube-controller-manager
wait_for "kube-controller-manager /healthz" secure_ok "$CM_PORT" /healthz

# ---- kwok and its node ----------------------------------------------------------

start kwok "$BIN/kwok" \
	--kubeconfig="$KCFG" --config="$KUBE_DIR/kwok/stages.yaml" \
	--manage-all-nodes=true --node-ip=$HOST --cidr=10.244.0.1/24 \
	--node-lease-duration-seconds=40
kc apply -f - >"$STATE/logs/node.log" 2>&1 <<EOF || die "creating Node $NODE_NAME failed: $(cat "$STATE/logs/node.log")"
apiVersion: v1
kind: Node
metadata:
  name: $NODE_NAME
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    kubernetes.io/hostname: $NODE_NAME
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    kubernetes.io/role: agent
    node-role.kubernetes.io/agent: ""
    type: kwok
spec: {}
status:
  allocatable:
    cpu: "32"
    memory: 256Gi
    pods: "110"
  capacity:
    cpu: "32"
    memory: 256Gi
    pods: "110"
EOF
wait_for "node $NODE_NAME Ready" kc wait --for=condition=Ready --timeout=2s "node/$NODE_NAME"
CURRENT=kube-controller-manager
wait_for "node not-ready taint removed" node_untainted
wait_for "serviceaccount default/default" kc get serviceaccount default -n default

# ---- ray-operator -----------------------------------------------------------------

KUBECONFIG=$KCFG start ray-operator "$BIN/ray-operator" \
	--metrics-addr="$HOST:$OPERATOR_METRICS_PORT" \
	--health-probe-bind-address="$HOST:$OPERATOR_PROBE_PORT" \
	--enable-leader-election=false
wait_for "ray-operator /readyz" http_ok "$OPERATOR_PROBE_PORT" /readyz

OK=1
log "stack up in $((SECONDS - START))s; stop with: $SCRIPT_DIR/down.sh $STATE"
printf '# rayfleet kube test stack in %q; stop with: %q %q\n' "$STATE" "$SCRIPT_DIR/down.sh" "$STATE"
printf 'export KUBECONFIG=%q\n' "$KCFG"
