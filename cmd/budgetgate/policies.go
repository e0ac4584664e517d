package main

import (
	"context"
	"strings"

	"github.com/spf13/cobra"

	"github.com/budgetgate/budgetgate/policies"
	"github.com/budgetgate/budgetgate/rego"
)

// policyFlags are the flags every command that evaluates policies shares.
type policyFlags struct {
	dirs []string
	data []string
}

// addPoliciesFlag defines --policies; like conftest's -p it may repeat, and
// the folders together are the set (the embedded library when none is named).
func (f *policyFlags) addPoliciesFlag(cmd *cobra.Command) {
	cmd.Flags().StringArrayVarP(&f.dirs, "policies", "p", nil, "folder of .rego policies, repeatable (default: the embedded library)")
}

// engine builds an engine on the --data documents with the --policies set
// (the embedded library by default) loaded.
func (f *policyFlags) engine(ctx context.Context) (*rego.Engine, error) {
	data, err := rego.ReadData(f.data)
	if err != nil {
		return nil, err
	}
	return f.engineWith(ctx, data)
}

// engineWith builds an engine on data with the --policies set loaded.
func (f *policyFlags) engineWith(ctx context.Context, data map[string]any) (*rego.Engine, error) {
	files, source, err := f.files()
	if err != nil {
		return nil, err
	}
	e := rego.NewEngine(data)
	if _, err := e.Load(ctx, source, files); err != nil {
		return nil, err
	}
	return e, nil
}

func (f *policyFlags) files() (rego.Files, string, error) {
	if len(f.dirs) == 0 {
		files, err := rego.ReadFS(policies.FS, ".", "policies")
		return files, "the embedded library", err
	}
	all := rego.Files{}
	for _, dir := range f.dirs {
		files, err := rego.ReadDir(dir)
		if err != nil {
			return nil, "", err
		}
		for name, text := range files {
			all[name] = text
		}
	}
	return all, strings.Join(f.dirs, ", "), nil
}
