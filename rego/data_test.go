package rego_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/budgetgate/budgetgate/manifest"
	"github.com/budgetgate/budgetgate/rego"
)

func TestReadData(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	budgets := write("budgets.json", `{"budgetgate": {"budgets": {"shop/checkout": {"objective": 0.999, "remaining": 0.42}}}}`)
	config := write("config.yaml", "budgetgate:\n  config:\n    canaryBelow: 0.3\n    actions:\n      owner-label: dryrun\n")
	moreConfig := write("more-config.yaml", "budgetgate:\n  config:\n    actions:\n      probes: warn\n")
	sameValue := write("same.yaml", "budgetgate:\n  config:\n    canaryBelow: 0.3\n")
	conflict := write("conflict.yaml", "budgetgate:\n  config:\n    canaryBelow: 0.5\n")
	objectVsLeaf := write("object-vs-leaf.yaml", "budgetgate:\n  config: off\n")
	twoDocs := write("two-docs.yaml", "budgetgate: {}\n---\nother: {}\n")
	empty := write("empty.yaml", "# nothing\n")
	list := write("list.yaml", "- a\n- b\n")
	badYAML := write("bad.yaml", "budgetgate:\n  config: {a: 1\n")
	missing := filepath.Join(dir, "missing.json")

	tests := []struct {
		name  string
		paths []string
		check func(t *testing.T, data map[string]any)
		// errFiles must all appear in the error, a *manifest.Error; no errFiles:
		// error names them all.
		errFiles []string
	}{
		{
			name:  "no files",
			paths: nil,
			check: func(t *testing.T, data map[string]any) {
				if len(data) != 0 {
					t.Errorf("data = %v, want empty", data)
				}
			},
		},
		{
			name:  "two files merged",
			paths: []string{budgets, config},
			check: func(t *testing.T, data map[string]any) {
				if got := dataAt(data, "budgetgate", "budgets", "shop/checkout", "remaining"); got == nil || got.(interface{ String() string }).String() != "0.42" {
					t.Errorf("remaining = %v, want 0.42", got)
				}
				if got := dataAt(data, "budgetgate", "config", "actions", "owner-label"); got != "dryrun" {
					t.Errorf("owner-label action = %v, want dryrun", got)
				}
			},
		},
		{
			name:  "sibling keys below one object merged",
			paths: []string{config, moreConfig},
			check: func(t *testing.T, data map[string]any) {
				actions := dataAt(data, "budgetgate", "config", "actions")
				want := map[string]any{"owner-label": "dryrun", "probes": "warn"}
				if !reflect.DeepEqual(actions, want) {
					t.Errorf("actions = %v, want %v", actions, want)
				}
			},
		},
		{
			name:  "the same value in two files is no conflict",
			paths: []string{config, sameValue},
			check: func(t *testing.T, data map[string]any) {
				if got := dataAt(data, "budgetgate", "config", "canaryBelow"); got == nil || got.(interface{ String() string }).String() != "0.3" {
					t.Errorf("canaryBelow = %v, want 0.3", got)
				}
			},
		},
		{name: "conflicting leaf values name both files", paths: []string{config, conflict}, errFiles: []string{config, conflict}},
		{name: "conflict reported in the order read", paths: []string{conflict, budgets, config}, errFiles: []string{config, conflict}},
		{name: "object against leaf names both files", paths: []string{config, objectVsLeaf}, errFiles: []string{config, objectVsLeaf}},
		{name: "a data file with two documents", paths: []string{twoDocs}, errFiles: []string{twoDocs}},
		{name: "a data file with no document", paths: []string{empty}, errFiles: []string{empty}},
		{name: "a data file that is a list", paths: []string{list}, errFiles: []string{list}},
		{name: "invalid YAML", paths: []string{budgets, badYAML}, errFiles: []string{badYAML + ":2"}},
		{name: "missing file", paths: []string{budgets, missing}, errFiles: []string{missing}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := rego.ReadData(tt.paths)
			if len(tt.errFiles) > 0 {
				if err == nil {
					t.Fatalf("ReadData = %v, want an error", data)
				}
				var me *manifest.Error
				if !errors.As(err, &me) {
					t.Errorf("error %T is not a *manifest.Error", err)
				}
				for _, f := range tt.errFiles {
					if !strings.Contains(err.Error(), f) {
						t.Errorf("error %q does not name %s", err, f)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadData: %v", err)
			}
			tt.check(t, data)
		})
	}
}

// TestReadDataTwice checks that merging never writes into a document
// another file produced: reading the same files twice gives the same data.
func TestReadDataTwice(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.yaml")
	b := filepath.Join(dir, "b.yaml")
	if err := os.WriteFile(a, []byte("x:\n  a: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b, []byte("x:\n  b: 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	first, err := rego.ReadData([]string{a, b})
	if err != nil {
		t.Fatal(err)
	}
	second, err := rego.ReadData([]string{a, b})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(first, second) || len(dataAt(first, "x").(map[string]any)) != 2 {
		t.Errorf("first %v, second %v", first, second)
	}
}

func dataAt(v any, path ...string) any {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}
