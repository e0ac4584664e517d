// Package report prints `budgetgate check` results in the formats CI systems
// read: a table for people, conftest's JSON, JUnit, SARIF and GitHub Actions
// annotations.
package report

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/budgetgate/budgetgate/manifest"
	"github.com/budgetgate/budgetgate/rego"
)

// Result is the decision on one document.
type Result struct {
	Document manifest.Document
	Decision *rego.Decision
}

// Report is everything one check run found.
type Report struct {
	Results []Result
	// Namespaces are the Rego packages with verdict rules; conftest's JSON
	// has an entry for each file and namespace.
	Namespaces []string
	// ShowPatches adds the JSON Patch the mutating webhook would apply.
	ShowPatches bool
}

// Failed is true when any document has a failure: check exits 1.
func (r *Report) Failed() bool {
	for _, res := range r.Results {
		if !res.Decision.Allowed() {
			return true
		}
	}
	return false
}

// Formats are the values of -o.
var Formats = []string{"table", "json", "junit", "sarif", "github"}

// Write prints r in format.
func Write(w io.Writer, format string, r *Report) error {
	switch format {
	case "table":
		return writeTable(w, r)
	case "json":
		return writeJSON(w, r)
	case "junit":
		return writeJUnit(w, r)
	case "sarif":
		return writeSARIF(w, r)
	case "github":
		return writeGitHub(w, r)
	}
	return fmt.Errorf("unknown output format %q: use one of %s", format, strings.Join(Formats, ", "))
}

// verdict is one line of a report: a finding with where it was found.
type verdict struct {
	level   string // failure, warning, dryrun
	result  Result
	finding rego.Finding
}

func verdicts(r *Report) []verdict {
	var out []verdict
	for _, res := range r.Results {
		for _, f := range res.Decision.Failures {
			out = append(out, verdict{"failure", res, f})
		}
		for _, f := range res.Decision.Warnings {
			out = append(out, verdict{"warning", res, f})
		}
		for _, f := range res.Decision.DryRun {
			out = append(out, verdict{"dryrun", res, f})
		}
	}
	return out
}

// files lists the files in the order they were read, each once.
func files(r *Report) []string {
	var out []string
	seen := map[string]bool{}
	for _, res := range r.Results {
		if !seen[res.Document.File] {
			seen[res.Document.File] = true
			out = append(out, res.Document.File)
		}
	}
	return out
}

type counts struct{ documents, failures, warnings, dryrun, patched int }

func count(r *Report) counts {
	c := counts{documents: len(r.Results)}
	for _, res := range r.Results {
		c.failures += len(res.Decision.Failures)
		c.warnings += len(res.Decision.Warnings)
		c.dryrun += len(res.Decision.DryRun)
		if len(res.Decision.Patch) > 0 {
			c.patched++
		}
	}
	return c
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// rulesSeen lists the rule ids of all findings, sorted, for SARIF's rule table.
func rulesSeen(vs []verdict) []string {
	set := map[string]bool{}
	for _, v := range vs {
		set[ruleID(v.finding)] = true
	}
	out := make([]string, 0, len(set))
	for id := range set {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// ruleID is the finding's rule id, or its Rego rule for plain string results.
func ruleID(f rego.Finding) string {
	if p := f.Policy(); p != "" {
		return p
	}
	return f.Namespace + "." + f.Rule
}
