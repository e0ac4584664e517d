package rego

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	opa "github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
)

// The verdict rules, named as conftest names them, plus patch and dryrun,
// which conftest ignores and budgetgate reads.
var (
	failureRule = regexp.MustCompile(`^(deny|violation)(_[a-zA-Z0-9]+)*$`)
	warningRule = regexp.MustCompile(`^warn(_[a-zA-Z0-9]+)*$`)
)

type ruleKind int

const (
	failureKind ruleKind = iota
	warningKind
	dryRunKind
	patchKind
)

func kindOf(name string) (ruleKind, bool) {
	switch {
	case failureRule.MatchString(name):
		return failureKind, true
	case warningRule.MatchString(name):
		return warningKind, true
	case name == "dryrun":
		return dryRunKind, true
	case name == "patch":
		return patchKind, true
	}
	return 0, false
}

// verdictRule is one rule name in one package that the engine reads.
type verdictRule struct {
	ref         string // data.main.deny, for messages
	path        ast.Ref
	namespace   string // main
	name        string // deny
	kind        ruleKind
	definitions int // how many rule bodies define it: conftest counts successes this way
	binding     string
}

// PolicySet is a compiled policy set with its prepared query. It is immutable
// and safe for concurrent use.
type PolicySet struct {
	// Source says where the set came from, for logs and /readyz.
	Source string
	// Files lists the policy files of the set.
	Files []string
	rules []verdictRule
	query opa.PreparedEvalQuery
}

// Compile parses and compiles files against store, finds the verdict rules of
// every package and prepares one query that reads them all. Errors name the
// file and line.
func Compile(ctx context.Context, source string, files Files, store storage.Store) (*PolicySet, error) {
	modules := make(map[string]*ast.Module, len(files))
	var parseErrs ast.Errors
	for _, name := range files.names() {
		m, err := ast.ParseModuleWithOpts(name, string(files[name]), ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			var errs ast.Errors
			if errors.As(err, &errs) {
				parseErrs = append(parseErrs, errs...)
				continue
			}
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		modules[name] = m
	}
	if len(parseErrs) > 0 {
		return nil, policyError(source, parseErrs)
	}

	compiler, err := compile(ctx, modules, store)
	if err != nil {
		return nil, err
	}
	if compiler.Failed() {
		return nil, policyError(source, compiler.Errors)
	}

	rules := findVerdictRules(modules)
	if len(rules) == 0 {
		return nil, fmt.Errorf("policies from %s define no deny, violation, warn, dryrun or patch rule: nothing would ever be enforced", source)
	}
	query, err := opa.New(
		opa.ParsedQuery(verdictQuery(rules)),
		opa.Compiler(compiler),
		opa.Store(store),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("preparing policies from %s: %w", source, err)
	}
	return &PolicySet{Source: source, Files: files.names(), rules: rules, query: query}, nil
}

// compile holds a read transaction only while compiling: preparing the query
// opens its own, and a data write (the budget sync) queued between two read
// transactions would otherwise block both.
func compile(ctx context.Context, modules map[string]*ast.Module, store storage.Store) (*ast.Compiler, error) {
	txn, err := store.NewTransaction(ctx)
	if err != nil {
		return nil, fmt.Errorf("opening the data store: %w", err)
	}
	defer store.Abort(ctx, txn)
	compiler := ast.NewCompiler().
		WithDefaultRegoVersion(ast.RegoV1).
		WithPathConflictsCheck(storage.NonEmpty(ctx, store, txn))
	compiler.Compile(modules)
	return compiler, nil
}

func policyError(source string, errs ast.Errors) error {
	errs.Sort()
	lines := make([]string, len(errs))
	for i, e := range errs {
		lines[i] = "  " + e.Error()
	}
	return fmt.Errorf("policies from %s do not compile:\n%s", source, strings.Join(lines, "\n"))
}

func findVerdictRules(modules map[string]*ast.Module) []verdictRule {
	byRef := map[string]*verdictRule{}
	for _, m := range modules {
		for _, r := range m.Rules {
			ref := r.Head.Ref()
			if len(ref) != 1 || len(r.Head.Args) > 0 {
				continue // functions and nested refs are helpers, not verdicts
			}
			name := ref[0].Value.(ast.Var).String()
			kind, ok := kindOf(name)
			if !ok {
				continue
			}
			full := m.Package.Path.Append(ast.StringTerm(name))
			key := full.String()
			if vr, seen := byRef[key]; seen {
				vr.definitions++
				continue
			}
			byRef[key] = &verdictRule{
				ref:         key,
				path:        full,
				namespace:   strings.TrimPrefix(m.Package.Path.String(), "data."),
				name:        name,
				kind:        kind,
				definitions: 1,
			}
		}
	}
	rules := make([]verdictRule, 0, len(byRef))
	for _, vr := range byRef {
		rules = append(rules, *vr)
	}
	sort.Slice(rules, func(i, j int) bool { return rules[i].ref < rules[j].ref })
	for i := range rules {
		rules[i].binding = fmt.Sprintf("r%d", i)
	}
	return rules
}

// verdictQuery reads every verdict rule in one evaluation. A comprehension
// makes an undefined rule an empty list instead of failing the whole query.
func verdictQuery(rules []verdictRule) ast.Body {
	body := make(ast.Body, 0, len(rules))
	x := ast.VarTerm("x")
	for _, r := range rules {
		elems := r.path.Append(ast.VarTerm(ast.WildcardPrefix + "0"))
		comp := ast.ArrayComprehensionTerm(x, ast.NewBody(ast.Assign.Expr(x, ast.NewTerm(elems))))
		body.Append(ast.Assign.Expr(ast.VarTerm(r.binding), comp))
	}
	return body
}

// Namespaces lists, sorted, the Rego packages that hold verdict rules: the
// namespaces conftest-style reports have an entry for.
func (s *PolicySet) Namespaces() []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range s.rules {
		if !seen[r.namespace] {
			seen[r.namespace] = true
			out = append(out, r.namespace)
		}
	}
	sort.Strings(out)
	return out
}

// Evaluate runs the policy set on a parsed input.
func (s *PolicySet) Evaluate(ctx context.Context, input ast.Value) (*Decision, error) {
	rs, err := s.query.Eval(ctx, opa.EvalParsedInput(input))
	if err != nil {
		return nil, fmt.Errorf("evaluating policies from %s: %w", s.Source, err)
	}
	if len(rs) != 1 {
		return nil, fmt.Errorf("evaluating policies from %s: the verdict query returned %d results, want 1", s.Source, len(rs))
	}
	d := &Decision{Successes: map[string]int{}}
	for _, r := range s.rules {
		values, _ := rs[0].Bindings[r.binding].([]any)
		if r.kind == patchKind {
			ops, err := toPatch(r, values)
			if err != nil {
				return nil, err
			}
			d.Patch = append(d.Patch, ops...)
			continue
		}
		found, err := toFindings(r, values)
		if err != nil {
			return nil, err
		}
		switch r.kind {
		case failureKind:
			d.Failures = append(d.Failures, found...)
		case warningKind:
			d.Warnings = append(d.Warnings, found...)
		case dryRunKind:
			d.DryRun = append(d.DryRun, found...)
		}
		if r.kind != dryRunKind && len(found) < r.definitions {
			d.Successes[r.namespace] += r.definitions - len(found)
		}
	}
	sortFindings(d.Failures)
	sortFindings(d.Warnings)
	sortFindings(d.DryRun)
	return d, nil
}
