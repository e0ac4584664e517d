// Package examples bundles the example workloads and data document that the
// README and `budgetgate demo` use.
package examples

import "embed"

// FS holds workloads/*.yaml, slos.yaml and data.yaml.
//
//go:embed workloads/*.yaml data.yaml slos.yaml
var FS embed.FS
