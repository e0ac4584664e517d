#!/usr/bin/env bash
# Builds the control-plane binaries controller-runtime's envtest needs
# (kube-apiserver, etcd, kubectl) from source through the Go module proxy, and
# caches them outside the clone. Release tarballs are not an option here: the
# only network we can count on is the Go module proxy.
#
#   export KUBEBUILDER_ASSETS="$(hack/envtest-assets.sh)"
#
# The cache folder's absolute path is the LAST line of stdout; all progress
# goes to stderr. With a valid cache this returns in about a second; a cold
# build takes roughly 10 minutes on 2 cores (kube-apiserver dominates).
#
# Versions come from the tools modules, whose go.mod/go.sum are committed:
#   hack/tools/envtest/go.mod  k8s.io/kubernetes      -> kube-apiserver, kubectl
#   hack/tools/etcd/go.mod     go.etcd.io/etcd/server -> etcd
# To bump, edit those go.mod files (for Kubernetes, also every staging
# replace, see the comment there) and run `go mod tidy` in each.
#
# Environment:
#   BUDGETGATE_CACHE  cache root (default: $HOME/.cache/budgetgate)
#   ENVTEST_REBUILD=1 ignore an existing cache and rebuild
set -euo pipefail

# Keep stdout for the final path only: whatever any tool prints goes to stderr.
exec 3>&1 1>&2

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
k8s_mod="$root/hack/tools/envtest"
etcd_mod="$root/hack/tools/etcd"

log() { printf 'envtest-assets: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# required_version FILE MODULE: the version FILE's go.mod requires MODULE at.
# Read with awk rather than `go list -m` so that a cache hit needs no Go at all.
required_version() {
  awk -v m="$2" '
    $1 == "require" && $2 == m { print $3; exit }   # single-line form
    $1 == m && $2 ~ /^v/       { print $2; exit }   # inside a require block
  ' "$1"
}

k8s_version="$(required_version "$k8s_mod/go.mod" k8s.io/kubernetes)"
etcd_version="$(required_version "$etcd_mod/go.mod" go.etcd.io/etcd/server/v3)"
[ -n "$k8s_version" ] || die "no k8s.io/kubernetes requirement in $k8s_mod/go.mod"
[ -n "$etcd_version" ] || die "no go.etcd.io/etcd/server/v3 requirement in $etcd_mod/go.mod"

cache_root="${BUDGETGATE_CACHE:-$HOME/.cache/budgetgate}/envtest"
dest="$cache_root/k8s-${k8s_version#v}-etcd-${etcd_version#v}"

# reports DIR BIN WANT ARGS...: `DIR/BIN ARGS...` runs and its output contains
# WANT. The output is captured first: `cmd | grep -q` would fail under
# pipefail whenever grep exits early and cmd gets SIGPIPE.
reports() {
  local d="$1" bin="$2" want="$3" out
  shift 3
  [ -x "$d/$bin" ] || { log "$d/$bin: missing"; return 1; }
  out="$("$d/$bin" "$@" 2>&1)" || { log "$d/$bin $*: failed: $out"; return 1; }
  [[ "$out" == *"$want"* ]] || { log "$d/$bin $*: expected '$want', got: $out"; return 1; }
}

# valid DIR: the three binaries are there, run, and report the versions we
# expect (a stale or truncated binary fails one of these).
valid() {
  reports "$1" kube-apiserver "Kubernetes $k8s_version" --version &&
    reports "$1" etcd "etcd Version: ${etcd_version#v}" --version &&
    reports "$1" kubectl "Client Version: $k8s_version" version --client
}

if [ "${ENVTEST_REBUILD:-0}" != 1 ] && [ -d "$dest" ] && valid "$dest"; then
  log "cache hit: $dest"
  printf '%s\n' "$dest" >&3
  exit 0
fi

command -v go >/dev/null || die "go is not on PATH (needed to build the envtest binaries)"

# Build into a temporary directory next to the destination (same filesystem,
# so the final rename is atomic): an interrupted build leaves only a .tmp-*
# directory, which the trap removes, never a half-filled cache.
mkdir -p "$cache_root"
tmp="$(mktemp -d "$cache_root/.tmp-$(basename "$dest").XXXXXX")"
chmod 755 "$tmp" # mktemp makes it 0700; the cache is meant to be shared
trap 'rm -rf "$tmp"' EXIT
# Turn Ctrl-C/TERM into a normal exit so the EXIT trap above runs (bash waits
# for the running `go build` to finish or die first).
trap 'exit 130' INT
trap 'exit 143' TERM
# Leftovers of runs killed with SIGKILL (no trap runs): old enough that no
# live build can still own them.
find "$cache_root" -maxdepth 1 -name '.tmp-*' -mmin +1440 -exec rm -rf {} + 2>/dev/null || true

# Static, stripped, path-independent binaries. GOWORK=off so a go.work above
# the clone cannot pull the tools modules into some other build graph;
# -mod=readonly so the committed go.sum is what gets used.
export CGO_ENABLED=0 GOWORK=off GOFLAGS="${GOFLAGS:-} -mod=readonly -trimpath"

# timed NAME CMD...: run CMD and report how long it took.
timed() {
  local name="$1" start=$SECONDS
  shift
  log "building $name ..."
  "$@"
  log "built $name in $((SECONDS - start))s ($(du -h "$tmp/$name" | cut -f1))"
}

# Binaries built with `go build` do not get the version stamping Kubernetes'
# own build scripts (hack/lib/version.sh) inject, so they would claim to be
# v0.0.0-master. Stamp them the same way; kubectl and controller-runtime read
# the server version. The module's publication time stands in for buildDate
# (reproducible); the commit is not known from the module proxy.
k8s_minor="${k8s_version#v*.}"
k8s_minor="${k8s_minor%%.*}"
k8s_major="${k8s_version#v}"
k8s_major="${k8s_major%%.*}"
build_date="$(go -C "$k8s_mod" list -m -f '{{if .Time}}{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}{{end}}' k8s.io/kubernetes)"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$k8s_version"
  ldflags+=" -X $pkg.gitMajor=$k8s_major -X $pkg.gitMinor=$k8s_minor"
  ldflags+=" -X $pkg.gitCommit= -X $pkg.gitTreeState=clean"
  ldflags+=" -X $pkg.buildDate=${build_date:-1970-01-01T00:00:00Z}"
done

log "building envtest assets (kubernetes $k8s_version, etcd $etcd_version) into $dest"
total_start=$SECONDS
timed etcd go -C "$etcd_mod" build -ldflags "-s -w" -o "$tmp/etcd" .
timed kube-apiserver go -C "$k8s_mod" build -ldflags "$ldflags" -o "$tmp/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
timed kubectl go -C "$k8s_mod" build -ldflags "$ldflags" -o "$tmp/kubectl" k8s.io/kubernetes/cmd/kubectl

valid "$tmp" || die "freshly built binaries do not report the expected versions"

# Swap into place. A broken old cache is moved aside first (rename, then
# delete) so $dest is never a half-deleted directory. If a concurrent run won
# the race and already installed a valid cache, keep theirs.
if [ -e "$dest" ]; then
  old="$(mktemp -d "$cache_root/.tmp-old-$(basename "$dest").XXXXXX")"
  mv -T "$dest" "$old/d" 2>/dev/null || true
  rm -rf "$old"
fi
if ! mv -T "$tmp" "$dest" 2>/dev/null; then
  valid "$dest" || die "could not move $tmp to $dest"
  log "another run installed $dest meanwhile; using it"
fi
log "done in $((SECONDS - total_start))s: $dest"
printf '%s\n' "$dest" >&3
