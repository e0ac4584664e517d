package reload

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/budgetgate/budgetgate/rego"
)

// A folder of policies and a data file, edited the way a user (or the
// kubelet updating a mounted ConfigMap) edits them, one check at a time.
func TestCheckReloadsOnChangeAndRefusesBrokenSets(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	policies := filepath.Join(dir, "policies")
	if err := os.Mkdir(policies, 0o755); err != nil {
		t.Fatal(err)
	}
	dataFile := filepath.Join(dir, "data.yaml")
	write := func(path, text string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rule := func(word string) string {
		return "package main\n\ndeny contains sprintf(\"" + word + " %v\", [data.budgetgate.config.minimum]) if true\n"
	}
	write(filepath.Join(policies, "main.rego"), rule("first"))
	write(dataFile, "budgetgate:\n  config:\n    minimum: 2\n")

	engine := rego.NewEngine(nil)
	reg := prometheus.NewRegistry()
	r := &Reloader{
		Engine: engine, DataFiles: []string{dataFile}, Metrics: NewMetrics(reg), Log: logr.Discard(),
		Base: func() (rego.Files, string, error) {
			files, err := rego.ReadDir(policies)
			return files, policies, err
		},
	}
	verdict := func() string {
		t.Helper()
		d, err := engine.Evaluate(ctx, ast.NewObject())
		if err != nil || len(d.Failures) != 1 {
			t.Fatalf("Evaluate: %+v %v", d, err)
		}
		return d.Failures[0].Msg
	}
	reloads := func(result string) float64 {
		return testutil.ToFloat64(r.Metrics.reloads.WithLabelValues(result))
	}

	steps := []struct {
		name        string
		edit        func()
		wantVerdict string
		wantErr     string
		loaded      float64
		refused     float64
	}{
		{"first read loads", func() {}, "first 2", "", 1, 0},
		{"nothing changed: no reload", func() {}, "first 2", "", 1, 0},
		{"policy edited", func() { write(filepath.Join(policies, "main.rego"), rule("second")) }, "second 2", "", 2, 0},
		{"data edited", func() { write(dataFile, "budgetgate:\n  config:\n    minimum: 3\n") }, "second 3", "", 3, 0},
		{"broken policy is refused, the old set serves", func() {
			write(filepath.Join(policies, "broken.rego"), "package main\n\ndeny contains msg if {\n  msg := \n}\n")
		}, "second 3", "broken.rego:5", 3, 1},
		{"a refused set is not retried while nothing changes", func() {}, "second 3", "broken.rego:5", 3, 1},
		{"broken data is refused", func() {
			_ = os.Remove(filepath.Join(policies, "broken.rego"))
			write(dataFile, "budgetgate: [unclosed\n")
		}, "second 3", "data.yaml", 3, 2},
		{"fixed: loads again", func() { write(dataFile, "budgetgate:\n  config:\n    minimum: 4\n") }, "second 4", "", 4, 2},
	}
	for _, step := range steps {
		step.edit()
		r.Check(ctx)
		status := r.Status()
		if got := verdict(); got != step.wantVerdict {
			t.Errorf("%s: verdict %q, want %q", step.name, got, step.wantVerdict)
		}
		if step.wantErr == "" && status.Err != nil {
			t.Errorf("%s: status error %v", step.name, status.Err)
		}
		if step.wantErr != "" && (status.Err == nil || !strings.Contains(status.Err.Error(), step.wantErr)) {
			t.Errorf("%s: status error %v, want one naming %q", step.name, status.Err, step.wantErr)
		}
		if step.wantErr != "" && !strings.Contains(status.Describe(), "refused") {
			t.Errorf("%s: /readyz detail does not say the change was refused: %s", step.name, status.Describe())
		}
		if reloads("loaded") != step.loaded || reloads("refused") != step.refused {
			t.Errorf("%s: reloads loaded=%v refused=%v, want %v and %v", step.name, reloads("loaded"), reloads("refused"), step.loaded, step.refused)
		}
	}
	if got := testutil.ToFloat64(r.Metrics.failing); got != 0 {
		t.Errorf("budgetgate_policy_reload_failing = %v after a good load", got)
	}
}
