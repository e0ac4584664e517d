// Package examples bundles the example workloads and data document that the
// README and `budgetgate demo` use.
package examples

import "embed"

// FS holds workloads/*.yaml and data.yaml.
//
//go:embed workloads/*.yaml data.yaml
var FS embed.FS
