package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/spf13/cobra"

	"github.com/budgetgate/budgetgate/manifest"
	"github.com/budgetgate/budgetgate/report"
)

func newCheckCommand(stdin io.Reader) *cobra.Command {
	var (
		pf          policyFlags
		output      string
		showPatches bool
	)
	cmd := &cobra.Command{
		Use:   "check [flags] PATH...",
		Short: "Check manifests against the policies, as the cluster would",
		Long: `check evaluates every document of the given YAML and JSON files and folders
("-" reads standard input) with the policies the webhook runs, and reports
failures and warnings with conftest's semantics.

Exit codes: 0 no failure, 1 a policy failed, 2 bad input (unreadable file,
invalid YAML, broken policies), with the file and line named.`,
		Example: `  budgetgate check examples/
  budgetgate check --data budgets.json -o json deploy/
  kubectl kustomize overlays/prod | budgetgate check -`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !validFormat(output) {
				return badInput(fmt.Errorf("unknown output format %q: use one of %s", output, strings.Join(report.Formats, ", ")))
			}
			engine, err := pf.engine(cmd.Context())
			if err != nil {
				return badInput(err)
			}
			docs, err := manifest.Read(args, stdin)
			if err != nil {
				return badInput(err)
			}
			r := &report.Report{Namespaces: engine.Current().Namespaces(), ShowPatches: showPatches}
			for _, doc := range docs {
				input, err := ast.InterfaceToValue(doc.Object)
				if err != nil {
					return badInput(fmt.Errorf("%s:%d: %w", doc.File, doc.Line, err))
				}
				d, err := engine.Evaluate(cmd.Context(), input)
				if err != nil {
					return badInput(fmt.Errorf("%s:%d: %s: %w", doc.File, doc.Line, doc.Name(), err))
				}
				r.Results = append(r.Results, report.Result{Document: doc, Decision: d})
			}
			if err := report.Write(cmd.OutOrStdout(), output, r); err != nil {
				return badInput(err)
			}
			if r.Failed() {
				return &exitError{code: exitFailure}
			}
			return nil
		},
	}
	pf.addPoliciesFlag(cmd)
	cmd.Flags().StringArrayVarP(&pf.data, "data", "d", nil, "data document (YAML or JSON), e.g. budgets and config; repeatable")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: "+strings.Join(report.Formats, "|"))
	cmd.Flags().BoolVar(&showPatches, "show-patches", false, "show the JSON Patch the mutating webhook would apply to each document")
	return cmd
}

func validFormat(f string) bool {
	for _, known := range report.Formats {
		if f == known {
			return true
		}
	}
	return false
}
