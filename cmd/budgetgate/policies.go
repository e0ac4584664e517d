package main

import (
	"context"

	"github.com/budgetgate/budgetgate/policies"
	"github.com/budgetgate/budgetgate/rego"
)

// policyFlags are the flags every command that evaluates policies shares.
type policyFlags struct {
	dir  string
	data []string
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
	if f.dir == "" {
		files, err := rego.ReadFS(policies.FS, ".", "policies")
		return files, "the embedded library", err
	}
	files, err := rego.ReadDir(f.dir)
	return files, f.dir, err
}
