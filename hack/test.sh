#!/usr/bin/env bash
# Runs every test budgetgate has: formatting, vet, the Go tests with the race
# detector (engine, handlers, CLI, and the Rego library through OPA's own test
# runner with its coverage floor). Needs only Go (see go.mod for the version).
set -euo pipefail
cd "$(dirname "$0")/.."
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

phase() { printf '\n== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

phase "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change: $unformatted" >&2
  exit 1
fi

phase "go vet"
go vet ./...

phase "go test -race"
go test -race -count=1 ./...
