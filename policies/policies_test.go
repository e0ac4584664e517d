package policies_test

import (
	"context"
	"io/fs"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/cover"
	"github.com/open-policy-agent/opa/v1/tester"

	"github.com/budgetgate/budgetgate/policies"
)

// minCoverage is the line coverage `opa test --coverage` must reach over the
// shipped library.
const minCoverage = 90.0

// TestRego runs the library's _test.rego files with OPA's own test runner (what
// `opa test --coverage policies/` does) and enforces the coverage floor.
func TestRego(t *testing.T) {
	ctx := context.Background()
	modules, store, err := tester.Load([]string{"."}, nil)
	if err != nil {
		t.Fatalf("loading policies: %v", err)
	}
	cov := cover.New()
	ch, err := tester.NewRunner().SetStore(store).SetCoverageQueryTracer(cov).Run(ctx, modules)
	if err != nil {
		t.Fatalf("running opa tests: %v", err)
	}
	passed := 0
	for r := range ch {
		if r.Error != nil {
			t.Errorf("%s.%s: error: %v", r.Package, r.Name, r.Error)
			continue
		}
		if r.Fail {
			t.Errorf("%s.%s (%s): FAIL", r.Package, r.Name, r.Location)
			continue
		}
		passed++
	}
	if passed == 0 {
		t.Fatal("no Rego test ran")
	}
	t.Logf("%d Rego tests passed", passed)

	nonTest := map[string]*ast.Module{}
	for name, m := range modules {
		if !strings.HasSuffix(name, "_test.rego") {
			nonTest[name] = m
		}
	}
	report := cov.Report(nonTest)
	t.Logf("line coverage %.1f%%", report.Coverage)
	if report.Coverage < minCoverage {
		for file, fr := range report.Files {
			for _, r := range fr.NotCovered {
				t.Logf("not covered: %s:%d-%d", file, r.Start.Row, r.End.Row)
			}
		}
		t.Errorf("line coverage %.1f%% is below %.0f%%: add tests for the lines listed", report.Coverage, minCoverage)
	}
}

// TestEveryRuleHasTests keeps the promise that each policy file has a test file.
func TestEveryRuleHasTests(t *testing.T) {
	err := fs.WalkDir(policies.FS, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(name, ".rego") || strings.HasSuffix(name, "_test.rego") {
			return err
		}
		if _, err := fs.Stat(policies.FS, strings.TrimSuffix(name, ".rego")+"_test.rego"); err != nil {
			t.Errorf("%s has no %s_test.rego beside it", name, strings.TrimSuffix(name, ".rego"))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
