#!/usr/bin/env bash
# Runs every test budgetgate has: formatting, vet, and the Go tests with the
# race detector: engine, handlers, CLI, the Rego library through OPA's own
# test runner with its coverage floor, the end-to-end suite against a real
# kube-apiserver and etcd (built once from the Go module proxy by
# hack/envtest-assets.sh and cached outside the clone), and the parity suite
# against conftest (built the same way by hack/conftest.sh).
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

phase "generated code and CRDs are up to date (hack/generate.sh --check)"
hack/generate.sh --check

phase "control plane binaries (hack/envtest-assets.sh)"
KUBEBUILDER_ASSETS="$(hack/envtest-assets.sh | tail -n 1)"
export KUBEBUILDER_ASSETS
echo "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS"

phase "conftest (hack/conftest.sh)"
# tests/parity runs plain `conftest test` on the policy library and compares
# its verdicts with budgetgate check's and the webhook's.
CONFTEST_BIN="$(hack/conftest.sh | tail -n 1)"
export CONFTEST_BIN
echo "CONFTEST_BIN=$CONFTEST_BIN"

phase "prometheus and promtool (Debian's prometheus package)"
# tests/prometheus backfills history with promtool and queries a real
# Prometheus. Installed from the distribution when missing; the package's
# maintainer scripts would start a service, which a CI container has no init
# system for: a policy-rc.d that answers 101 ("not allowed") makes
# invoke-rc.d skip it. An existing policy-rc.d (Docker images ship one) is
# left alone; ours is removed afterwards.
if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo -n"
  own_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod 755 /usr/sbin/policy-rc.d
    own_policy=1
  fi
  apt_status=0
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null &&
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus </dev/null ||
    apt_status=$?
  [ -z "$own_policy" ] || $sudo rm -f /usr/sbin/policy-rc.d
  [ "$apt_status" = 0 ] || { echo "installing Debian's prometheus package failed ($apt_status)" >&2; exit 1; }
fi
PROMETHEUS_BIN="$(command -v prometheus)"
PROMTOOL_BIN="$(command -v promtool)"
export PROMETHEUS_BIN PROMTOOL_BIN
"$PROMETHEUS_BIN" --version 2>&1 | head -n 1
echo "PROMETHEUS_BIN=$PROMETHEUS_BIN PROMTOOL_BIN=$PROMTOOL_BIN"

phase "go test -race (unit, Rego, end-to-end)"
go test -race -count=1 $(go list ./... | grep -v '/tests/parity$')

phase "parity: conftest, budgetgate check and the webhooks (tests/parity)"
# On its own and verbose, so that its summary (files, pairs, findings
# compared) and the rule id x action table are printed; the per-subtest
# progress lines are filtered out, failures and their messages are kept.
# Without the race detector: it runs conftest, budgetgate and kubectl
# hundreds of times, and the webhook server is raced in tests/e2e.
go test -count=1 -v ./tests/parity/ 2>&1 | grep -vE '^(=== (RUN|PAUSE|CONT|NAME) |[[:space:]]+--- PASS)'

phase ""
