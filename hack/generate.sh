#!/usr/bin/env bash
# Regenerates the code and manifests derived from slo/api/v1alpha1: the
# deepcopy methods and the ServiceLevelObjective CRD. controller-gen is built
# at the version hack/tools/controller-gen/go.mod pins, cached outside the clone.
#
#   hack/generate.sh           regenerate
#   hack/generate.sh --check   regenerate, then fail if that changed a committed file
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

tools="$root/hack/tools/controller-gen"
version=$(awk '$1 == "require" && $2 == "sigs.k8s.io/controller-tools" { print $3 }' "$tools/go.mod")
bin="${BUDGETGATE_CACHE:-$HOME/.cache/budgetgate}/bin/controller-gen-$version"
if [ ! -x "$bin" ]; then
  echo "building controller-gen $version..." >&2
  mkdir -p "$(dirname "$bin")"
  (cd "$tools" && GOFLAGS=-buildvcs=false go build -o "$bin.tmp" sigs.k8s.io/controller-tools/cmd/controller-gen)
  mv "$bin.tmp" "$bin"
fi

# Objective is a float (a YAML number in percent, as users write 99.9).
"$bin" object paths=./slo/api/...
"$bin" crd:allowDangerousTypes=true paths=./slo/api/... output:crd:dir=./manifests/base/crds

if [ "${1:-}" = "--check" ]; then
  if ! git diff --exit-code -- slo/api manifests/base/crds || [ -n "$(git status --porcelain -- slo/api manifests/base/crds)" ]; then
    echo "generated files are out of date: run hack/generate.sh and commit the result" >&2
    exit 1
  fi
fi
