//go:build tools

// Package tools pins controller-gen, which generates the CRD and deepcopy
// code of slo/api (see hack/generate.sh).
package tools

import _ "sigs.k8s.io/controller-tools/cmd/controller-gen"
