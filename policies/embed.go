// Package policies holds budgetgate's shipped Rego library: the helpers that
// hide where a policy runs (lib/), one package per rule id (rules/), and the
// verdict in package main that conftest and the webhook both read.
package policies

import "embed"

// FS is the shipped library, the default policy set of every command. The
// engine skips the _test.rego files; policies_test.go runs them with OPA's
// tester.
//
//go:embed *.rego lib/*.rego rules/*.rego
var FS embed.FS
