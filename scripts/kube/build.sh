#!/usr/bin/env bash
# build.sh builds the test Kubernetes stack from the Go module proxy into a
# cache directory outside the work tree and prints that directory as the last
# line of stdout:
#
#   KUBE_DIR="$(scripts/kube/build.sh | tail -n1)"
#
# The directory is keyed by the pinned versions:
#
#   ${RAYFLEET_KUBE_CACHE:-$HOME/.cache/rayfleet}/kube-v1.34.4-kwok-v0.8.0-kuberay-v1.5.0/
#     bin/{kube-apiserver,kube-scheduler,kube-controller-manager,kubectl,etcd,kwok,ray-operator}
#     crds/*.yaml          KubeRay CRDs (ray-operator module: config/crd/bases)
#     kwok/stages.yaml     kwok stage config (kwok module: kustomize/stage/...)
#     VERSIONS             what was built, with which Go
#     .complete            stamp, written last
#
# When the stamp is there and matches, nothing is built (about a second). A
# cold build takes about 17 minutes on 2 cores and fills about 4.5 GB of
# GOCACHE; warm Go caches make it well under a minute. Progress goes to
# stderr. Go runs under `nice -n ${RAYFLEET_KUBE_NICE:-19}`.
#
# Set RAYFLEET_KUBE_REBUILD=1 to rebuild even when the stamp is there.
set -euo pipefail

# The pinned versions. internal/kubetest/kubetest.go reads the three
# NAME=value lines below to find the cache directory: keep them literal.
K8S_VERSION=v1.34.4
K8S_STAGING_VERSION=v0.34.4
KWOK_VERSION=v0.8.0
KUBERAY_VERSION=v1.5.0

KWOK_MODULE=sigs.k8s.io/kwok
KUBERAY_MODULE=github.com/ray-project/kuberay/ray-operator
# kwok's stage definitions, relative to its module root, concatenated into the
# file given to kwok --config.
KWOK_STAGES=(
	kustomize/stage/node/fast/node-initialize.yaml
	kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml
	kustomize/stage/pod/fast/pod-ready.yaml
	kustomize/stage/pod/fast/pod-complete.yaml
	kustomize/stage/pod/fast/pod-delete.yaml
)
K8S_MAINS=(kube-apiserver kube-scheduler kube-controller-manager kubectl)
BINARIES=("${K8S_MAINS[@]}" etcd kwok ray-operator)

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WRAPPER=$(cd "$SCRIPT_DIR/../../test/kubestack" && pwd)
CACHE_ROOT=${RAYFLEET_KUBE_CACHE:-${HOME:?HOME is not set; set RAYFLEET_KUBE_CACHE}/.cache/rayfleet}
OUT="$CACHE_ROOT/kube-${K8S_VERSION}-kwok-${KWOK_VERSION}-kuberay-${KUBERAY_VERSION}"
STAMP="$OUT/.complete"
NICE=${RAYFLEET_KUBE_NICE:-19}

START=$SECONDS
log() { printf '[build.sh %3dm%02ds] %s\n' $(((SECONDS - START) / 60)) $(((SECONDS - START) % 60)) "$*" >&2; }
die() {
	printf 'build.sh: error: %s\n' "$*" >&2
	exit 1
}

command -v go >/dev/null || die "go not found in PATH (Go 1.24 or newer is needed; the project uses Go 1.26)"
[[ -f "$WRAPPER/go.mod" ]] || die "wrapper module not found at $WRAPPER/go.mod"

# Keep the wrapper build independent of the caller's Go settings, but leave
# CGO_ENABLED and -trimpath alone: the project's own tests should share the
# Go build cache with these builds.
export GOWORK=off GOFLAGS=-buildvcs=false
unset GOOS GOARCH

# in_wrapper CMD... runs CMD in the wrapper module's directory.
in_wrapper() { (cd "$WRAPPER" && "$@"); }

# The stamp records everything that decides what is in the directory; a
# changed wrapper go.sum (for example a different etcd) also rebuilds.
want_stamp() {
	local sum
	sum=$(cat "$WRAPPER/go.mod" "$WRAPPER/go.sum" | sha256sum | cut -d' ' -f1)
	printf 'kubernetes=%s\nstaging=%s\nkwok=%s\nkuberay=%s\nwrapper=%s\n' \
		"$K8S_VERSION" "$K8S_STAGING_VERSION" "$KWOK_VERSION" "$KUBERAY_VERSION" "$sum"
}

complete() {
	[[ -f "$STAMP" ]] || return 1
	[[ "$(cat "$STAMP")" == "$(want_stamp)" ]] || return 1
	local b
	for b in "${BINARIES[@]}"; do [[ -x "$OUT/bin/$b" ]] || return 1; done
	compgen -G "$OUT/crds/*.yaml" >/dev/null || return 1
	[[ -s "$OUT/kwok/stages.yaml" ]]
}

if [[ "${RAYFLEET_KUBE_REBUILD:-0}" != 1 ]] && complete; then
	log "up to date: $OUT"
	printf '%s\n' "$OUT"
	exit 0
fi

mkdir -p "$CACHE_ROOT"
# One build at a time per cache directory; a second caller waits, then finds
# the stamp.
if command -v flock >/dev/null; then
	exec 9>"$OUT.lock"
	if ! flock -n 9; then
		log "another build.sh is building $OUT; waiting for it"
		flock 9
	fi
	if [[ "${RAYFLEET_KUBE_REBUILD:-0}" != 1 ]] && complete; then
		log "up to date: $OUT"
		printf '%s\n' "$OUT"
		exit 0
	fi
fi

log "building into $OUT ($(go version | cut -d' ' -f3-), GOCACHE=$(go env GOCACHE))"
rm -f "$STAMP"
mkdir -p "$OUT/bin" "$OUT/crds" "$OUT/kwok"

step() {
	local name=$1 t=$SECONDS
	shift
	log "$name ..."
	if ! "$@"; then
		die "$name failed after $((SECONDS - t))s"
	fi
	log "$name done in $((SECONDS - t))s"
}

# moddir MODULE@VERSION prints the module's extracted directory in GOMODCACHE.
moddir() {
	local dir
	dir=$(in_wrapper go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
	[[ -n "$dir" && -d "$dir" ]] || die "go mod download $1 gave no directory"
	printf '%s\n' "$dir"
}

step "go mod download (wrapper module)" in_wrapper go mod download
pinned=$(in_wrapper go list -m -f '{{.Version}}' k8s.io/kubernetes)
[[ "$pinned" == "$K8S_VERSION" ]] ||
	die "test/kubestack/go.mod requires k8s.io/kubernetes $pinned but build.sh pins $K8S_VERSION; change both (and the staging replaces)"

major=${K8S_VERSION#v}
major=${major%%.*}
minor=${K8S_VERSION#v*.}
minor=${minor%%.*}
LDFLAGS=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	LDFLAGS+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done

k8s_pkgs=()
for m in "${K8S_MAINS[@]}"; do k8s_pkgs+=("k8s.io/kubernetes/cmd/$m"); done
step "go build ${K8S_MAINS[*]} (cold: ~11 min, 2 GB peak)" \
	in_wrapper nice -n "$NICE" go build -ldflags "$LDFLAGS" -o "$OUT/bin/" "${k8s_pkgs[@]}"

step "go build etcd" in_wrapper nice -n "$NICE" go build -o "$OUT/bin/etcd" go.etcd.io/etcd/server/v3

step "go install kwok@$KWOK_VERSION (cold: ~3 min)" \
	env GOBIN="$OUT/bin" nice -n "$NICE" go install "$KWOK_MODULE/cmd/kwok@$KWOK_VERSION"

step "go install ray-operator@$KUBERAY_VERSION (cold: ~3 min)" \
	env GOBIN="$OUT/bin" nice -n "$NICE" go install "$KUBERAY_MODULE@$KUBERAY_VERSION"

log "copying KubeRay CRDs"
kuberay_dir=$(moddir "$KUBERAY_MODULE@$KUBERAY_VERSION")
compgen -G "$kuberay_dir/config/crd/bases/*.yaml" >/dev/null ||
	die "no CRDs under $kuberay_dir/config/crd/bases"
rm -f "$OUT"/crds/*.yaml
cp "$kuberay_dir"/config/crd/bases/*.yaml "$OUT/crds/"
chmod u+w "$OUT"/crds/*.yaml

log "writing kwok stages"
kwok_dir=$(moddir "$KWOK_MODULE@$KWOK_VERSION")
{
	for f in "${KWOK_STAGES[@]}"; do
		[[ -f "$kwok_dir/$f" ]] || die "kwok stage file $f missing from $kwok_dir"
		printf -- '---\n# %s\n' "$f"
		cat "$kwok_dir/$f"
	done
} >"$OUT/kwok/stages.yaml.tmp"
mv "$OUT/kwok/stages.yaml.tmp" "$OUT/kwok/stages.yaml"

for b in "${BINARIES[@]}"; do
	[[ -x "$OUT/bin/$b" ]] || die "$OUT/bin/$b was not built"
done
got=$("$OUT/bin/kubectl" version --client -o json 2>/dev/null | sed -n 's/.*"gitVersion": "\([^"]*\)".*/\1/p' | head -n1)
[[ "$got" == "$K8S_VERSION" ]] || die "kubectl reports version '$got', want $K8S_VERSION (ldflags not applied?)"

{
	want_stamp
	printf 'etcd=%s\n' "$(in_wrapper go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)"
	printf 'go=%s\n' "$(go env GOVERSION)"
	printf 'built=%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
} >"$OUT/VERSIONS"
want_stamp >"$STAMP.tmp"
mv "$STAMP.tmp" "$STAMP"

log "done in $((SECONDS - START))s: $(du -sh "$OUT" | cut -f1) in $OUT"
printf '%s\n' "$OUT"
