// Package rego is budgetgate's policy engine: it compiles a policy set once,
// evaluates it with a prepared query on pre-parsed input, and swaps in a new
// set atomically, refusing one that does not compile or fails on sample input.
package rego

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
)

// ErrNoPolicies is returned by Evaluate before a policy set was loaded.
var ErrNoPolicies = errors.New("no policy set is loaded yet")

// Engine evaluates the current policy set. It is safe for concurrent use:
// Load may run while requests are evaluated, and each evaluation sees one set.
type Engine struct {
	store   storage.Store
	current atomic.Pointer[PolicySet]

	// synced holds the paths SetData wrote (budgets, namespaces): ReplaceData
	// keeps them, because they come from the cluster, not the documents.
	mu     sync.Mutex
	synced map[string][]string
}

// NewEngine returns an engine over the data document data (nil for none).
func NewEngine(data map[string]any) *Engine {
	if data == nil {
		data = map[string]any{}
	}
	return &Engine{
		store:  inmem.NewFromObjectWithOpts(data, inmem.OptRoundTripOnWrite(false)),
		synced: map[string][]string{},
	}
}

// Load compiles files and, if the set compiles and evaluates cleanly on
// sample inputs, makes it the current set. On error the old set keeps serving.
func (e *Engine) Load(ctx context.Context, source string, files Files) (*PolicySet, error) {
	set, err := Compile(ctx, source, files, e.store)
	if err != nil {
		return nil, err
	}
	if err := smokeTest(ctx, set); err != nil {
		return nil, err
	}
	e.current.Store(set)
	return set, nil
}

// Reload makes files the current set over the data documents doc (what
// --data files hold; ReplaceData keeps what SetData wrote). Both are checked
// together first, on a scratch store: when the set does not compile against
// doc or fails its smoke test, nothing changes and the old set and data keep
// serving. A nil doc leaves the data as it is.
func (e *Engine) Reload(ctx context.Context, source string, files Files, doc map[string]any) (*PolicySet, error) {
	if doc == nil {
		return e.Load(ctx, source, files)
	}
	scratch := inmem.NewFromObjectWithOpts(doc, inmem.OptRoundTripOnWrite(true))
	set, err := Compile(ctx, source, files, scratch)
	if err != nil {
		return nil, err
	}
	if err := smokeTest(ctx, set); err != nil {
		return nil, err
	}
	if err := e.ReplaceData(ctx, doc); err != nil {
		return nil, fmt.Errorf("replacing the data documents: %w", err)
	}
	return e.Load(ctx, source, files)
}

// SetData replaces the data document at path (for example
// ["budgetgate", "budgets"]) in one transaction: evaluations that start after
// it returns see the new value, running ones the old. The policy set stays
// compiled: no recompilation per update. value must be JSON-compatible.
func (e *Engine) SetData(ctx context.Context, path []string, value any) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.synced[strings.Join(path, "/")] = path
	return storage.Txn(ctx, e.store, storage.WriteParams, func(txn storage.Transaction) error {
		return e.write(ctx, txn, path, value)
	})
}

// ReplaceData replaces the data documents (what --data files hold) in one
// transaction, keeping the values SetData wrote: a reloaded config never
// drops the budgets synced from the cluster. A path both define keeps
// SetData's value. doc must be JSON-compatible.
func (e *Engine) ReplaceData(ctx context.Context, doc map[string]any) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return storage.Txn(ctx, e.store, storage.WriteParams, func(txn storage.Transaction) error {
		kept := make(map[string]any, len(e.synced))
		for key, path := range e.synced {
			v, err := e.store.Read(ctx, txn, storage.Path(path))
			if err != nil && !storage.IsNotFound(err) {
				return err
			}
			if err == nil {
				kept[key] = v
			}
		}
		if err := e.store.Write(ctx, txn, storage.AddOp, storage.Path{}, doc); err != nil {
			return err
		}
		for key, v := range kept {
			if err := e.write(ctx, txn, e.synced[key], v); err != nil {
				return err
			}
		}
		return nil
	})
}

func (e *Engine) write(ctx context.Context, txn storage.Transaction, path []string, value any) error {
	if err := storage.MakeDir(ctx, e.store, txn, storage.Path(path[:len(path)-1])); err != nil {
		return fmt.Errorf("creating data path %v: %w", path[:len(path)-1], err)
	}
	return e.store.Write(ctx, txn, storage.AddOp, storage.Path(path), value)
}

// Data reads the data document at path; nil when there is none.
func (e *Engine) Data(ctx context.Context, path []string) (any, error) {
	v, err := storage.ReadOne(ctx, e.store, storage.Path(path))
	if storage.IsNotFound(err) {
		return nil, nil
	}
	return v, err
}

// Current is the policy set in use, or nil before the first Load.
func (e *Engine) Current() *PolicySet { return e.current.Load() }

// Evaluate runs the current policy set on input.
func (e *Engine) Evaluate(ctx context.Context, input ast.Value) (*Decision, error) {
	set := e.current.Load()
	if set == nil {
		return nil, ErrNoPolicies
	}
	return set.Evaluate(ctx, input)
}

// smokeTest catches what compiling cannot: rules whose values conflict at
// run time (two values for one complete rule) or builtins that fail, on
// inputs every set must handle.
func smokeTest(ctx context.Context, set *PolicySet) error {
	for _, sample := range smokeInputs {
		if _, err := set.Evaluate(ctx, sample.value); err != nil {
			return fmt.Errorf("policies from %s fail on %s: %w", set.Source, sample.name, err)
		}
	}
	return nil
}

var smokeInputs = func() []struct {
	name  string
	value ast.Value
} {
	deployment := `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"smoke","namespace":"default","labels":{"app":"smoke"}},
	 "spec":{"replicas":1,"selector":{"matchLabels":{"app":"smoke"}},"template":{"metadata":{"labels":{"app":"smoke"}},
	 "spec":{"containers":[{"name":"app","image":"registry.example/app:1.0"}]}}}}`
	review := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"smoke","operation":"CREATE",
	 "kind":{"group":"apps","version":"v1","kind":"Deployment"},"namespace":"default","userInfo":{"username":"smoke"},"object":` + deployment + `}}`
	samples := []struct{ name, text string }{
		{"an empty input", `{}`},
		{"a Deployment manifest", deployment},
		{"a Deployment AdmissionReview", review},
	}
	out := make([]struct {
		name  string
		value ast.Value
	}, len(samples))
	for i, s := range samples {
		out[i].name = s.name
		out[i].value = ast.MustParseTerm(s.text).Value
	}
	return out
}()
