#!/usr/bin/env bash
# Builds conftest from source through the Go module proxy, at the version
# hack/tools/conftest/go.mod pins, and caches it outside the clone. The CI
# parity suite (tests/parity) runs plain `conftest test` on the policy
# library with it, exactly as a user of conftest would.
#
#   export CONFTEST_BIN="$(hack/conftest.sh | tail -n 1)"
#
# The binary's absolute path is the LAST line of stdout; all progress goes to
# stderr. With a valid cache this returns at once (no Go needed); a cold
# build takes about 4 minutes on 2 cores with the modules downloaded (see
# README, "CI parity").
#
# To bump: edit the conftest requirement in hack/tools/conftest/go.mod, run
# `go mod tidy` there, and commit go.mod and go.sum.
#
# Environment:
#   BUDGETGATE_CACHE   cache root (default: $HOME/.cache/budgetgate)
#   CONFTEST_REBUILD=1 ignore an existing cache and rebuild
set -euo pipefail

# Keep stdout for the final path only: whatever any tool prints goes to stderr.
exec 3>&1 1>&2

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mod="$root/hack/tools/conftest"

log() { printf 'conftest: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Read with awk rather than `go list -m` so that a cache hit needs no Go at all.
version="$(awk '
  $1 == "require" && $2 == "github.com/open-policy-agent/conftest" { print $3; exit }
  $1 == "github.com/open-policy-agent/conftest" && $2 ~ /^v/       { print $2; exit }
' "$mod/go.mod")"
[ -n "$version" ] || die "no github.com/open-policy-agent/conftest requirement in $mod/go.mod"

cache_root="${BUDGETGATE_CACHE:-$HOME/.cache/budgetgate}/conftest"
dest="$cache_root/$version/conftest"

# valid BIN: BIN runs and reports the version we pin (a stale, truncated or
# unstamped binary fails this). Output is captured first: `cmd | grep -q`
# would fail under pipefail whenever grep exits early and cmd gets SIGPIPE.
valid() {
  local out
  [ -x "$1" ] || return 1
  out="$("$1" --version 2>&1)" || { log "$1 --version failed: $out"; return 1; }
  [[ "$out" == *"Conftest: ${version#v}"* ]] || { log "$1 --version: expected 'Conftest: ${version#v}', got: $out"; return 1; }
}

if [ "${CONFTEST_REBUILD:-0}" != 1 ] && valid "$dest"; then
  log "cache hit: $dest"
  printf '%s\n' "$dest" >&3
  exit 0
fi

command -v go >/dev/null || die "go is not on PATH (needed to build conftest $version)"

# Build next to the destination (same filesystem, so the final rename is
# atomic): an interrupted build leaves only a .tmp-* file, which the trap
# removes, never a half-written binary at $dest.
mkdir -p "$(dirname "$dest")"
tmp="$(mktemp "$(dirname "$dest")/.tmp-conftest.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# Leftovers of runs killed with SIGKILL (no trap runs): old enough that no
# live build can still own them.
find "$(dirname "$dest")" -maxdepth 1 -name '.tmp-*' -mmin +1440 -exec rm -f {} + 2>/dev/null || true

# Static, stripped, path-independent binary, stamped with its version the way
# conftest's own release build does (else it reports "Conftest: dev").
# GOWORK=off so a go.work above the clone cannot pull the tools module into
# another build graph; -mod=readonly so the committed go.sum is what is used.
export CGO_ENABLED=0 GOWORK=off GOFLAGS="${GOFLAGS:-} -mod=readonly -trimpath -buildvcs=false"
log "building conftest $version into $dest ..."
start=$SECONDS
go -C "$mod" build \
  -ldflags "-s -w -X github.com/open-policy-agent/conftest/internal/version.Version=${version#v}" \
  -o "$tmp" github.com/open-policy-agent/conftest
chmod 755 "$tmp"
valid "$tmp" || die "the freshly built binary does not report conftest $version"
mv -f "$tmp" "$dest"
log "built conftest $version in $((SECONDS - start))s ($(du -h "$dest" | cut -f1)): $dest"
printf '%s\n' "$dest" >&3
