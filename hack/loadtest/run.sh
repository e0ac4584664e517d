#!/usr/bin/env bash
# The load benchmark: budgetgate serve beside OPA's server (the kube-mgmt
# set-up), same machine, same policies, data and AdmissionReviews, same run.
#
#   hack/loadtest/run.sh [loadtest flags]     e.g. -rates 500,1000 -duration 20s
#
# Builds what it needs, then runs the harness (hack/loadtest/*.go), which
# prints a Markdown report with the ratios to stdout (progress on stderr):
#   - budgetgate from this clone (always rebuilt: it is what is measured);
#   - opa at the version hack/loadtest/go.mod pins (the same OPA budgetgate
#     embeds), built once from the Go module proxy into
#     $BUDGETGATE_CACHE/bin/opa-<version> (default ~/.cache/budgetgate);
#   - the harness, with vegeta (pinned in the same go.mod) as a library.
# Not part of .ci/run: it takes about three minutes and its figures depend on
# the machine. docs/performance.md says how to read them.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
log() { printf 'loadtest: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
command -v go >/dev/null || die "go is not on PATH: install Go 1.26"

# GOWORK=off: no go.work above the clone may mix the modules; -mod=readonly:
# the committed go.sum decides what is built.
export GOWORK=off GOFLAGS="${GOFLAGS:-} -mod=readonly -trimpath"
cache="${BUDGETGATE_CACHE:-$HOME/.cache/budgetgate}"
bin="$cache/loadtest"
mkdir -p "$bin" "$cache/bin"

opa_version="$(go -C "$here" list -m -f '{{.Version}}' github.com/open-policy-agent/opa)"
[ -n "$opa_version" ] || die "hack/loadtest/go.mod requires no github.com/open-policy-agent/opa"
opa="$cache/bin/opa-$opa_version"
opa_ok() { [ -x "$opa" ] && [[ "$("$opa" version 2>/dev/null)" == *"Version: ${opa_version#v}"* ]]; }
if ! opa_ok; then
  log "building opa $opa_version from the Go module proxy (once; a few minutes on 2 cores)"
  CGO_ENABLED=0 go -C "$here" build -ldflags "-s -w" -o "$opa.tmp" github.com/open-policy-agent/opa
  mv "$opa.tmp" "$opa"
  opa_ok || die "$opa does not report version ${opa_version#v}"
fi

log "building budgetgate from $root"
go -C "$root" build -o "$bin/budgetgate" ./cmd/budgetgate
log "building the harness"
go -C "$here" build -o "$bin/loadtest" .

cd "$here" # the harness finds peer/ here
exec "$bin/loadtest" -budgetgate "$bin/budgetgate" -opa "$opa" -repo "$root" "$@"
