#!/usr/bin/env bash
# Runs every test budgetgate has: formatting, vet, and the Go tests with the
# race detector: engine, handlers, CLI, the Rego library through OPA's own
# test runner with its coverage floor, and the end-to-end suite against a real
# kube-apiserver and etcd (built once from the Go module proxy by
# hack/envtest-assets.sh and cached outside the clone).
set -euo pipefail
cd "$(dirname "$0")/.."
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

phase_start=$(date +%s)
phase() {
  local now; now=$(date +%s)
  [ -n "${phase_name:-}" ] && printf '== %s took %ss\n' "$phase_name" $((now - phase_start))
  phase_name="$1"; phase_start=$now
  [ -n "$1" ] && printf '\n== %s\n' "$1"
  return 0
}

phase "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './hack/tools/*'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change: $unformatted" >&2
  exit 1
fi

phase "go vet"
go vet ./...

phase "control plane binaries (hack/envtest-assets.sh)"
KUBEBUILDER_ASSETS="$(hack/envtest-assets.sh | tail -n 1)"
export KUBEBUILDER_ASSETS
echo "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS"

phase "go test -race (unit, Rego, end-to-end)"
go test -race -count=1 ./...

phase ""
