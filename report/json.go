package report

import (
	"encoding/json"
	"io"

	"github.com/budgetgate/budgetgate/rego"
)

// checkResult is conftest's JSON shape: one entry per file and namespace,
// the results of all the file's documents together.
type checkResult struct {
	Filename  string         `json:"filename"`
	Namespace string         `json:"namespace"`
	Successes int            `json:"successes"`
	Warnings  []rego.Finding `json:"warnings,omitempty"`
	Failures  []rego.Finding `json:"failures,omitempty"`
	// Patches is budgetgate's own, with --show-patches only.
	Patches []documentPatch `json:"patches,omitempty"`
}

type documentPatch struct {
	Object string                `json:"object"`
	Line   int                   `json:"line"`
	Patch  []rego.PatchOperation `json:"patch"`
}

func writeJSON(w io.Writer, r *Report) error {
	out := []checkResult{}
	for _, file := range files(r) {
		for _, ns := range r.Namespaces {
			cr := checkResult{Filename: file, Namespace: ns}
			if file == "-" {
				cr.Filename = "" // conftest's name for standard input
			}
			for _, res := range r.Results {
				if res.Document.File != file {
					continue
				}
				cr.Successes += res.Decision.Successes[ns]
				cr.Failures = append(cr.Failures, inNamespace(res.Decision.Failures, ns)...)
				cr.Warnings = append(cr.Warnings, inNamespace(res.Decision.Warnings, ns)...)
				if r.ShowPatches && len(res.Decision.Patch) > 0 && ns == r.Namespaces[0] {
					cr.Patches = append(cr.Patches, documentPatch{Object: res.Document.Name(), Line: res.Document.Line, Patch: res.Decision.Patch})
				}
			}
			out = append(out, cr)
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "\t")
	return enc.Encode(out)
}

func inNamespace(fs []rego.Finding, ns string) []rego.Finding {
	var out []rego.Finding
	for _, f := range fs {
		if f.Namespace == ns {
			out = append(out, f)
		}
	}
	return out
}
