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
	// queries[v] reads the rules that Verdicts v selects: all of them
	// for check and the mutating webhook, all but patch for the validating
	// webhook (its answer never carries a patch).
	queries [verdictSets]opa.PreparedEvalQuery
}

// Verdicts selects the verdict rules an evaluation reads. A rule that is not
// read is not evaluated: OPA evaluates only what a query refers to, so the
// validating webhook does not pay for the patch (pod template hashes,
// annotation operations), which only the mutating webhook answers with.
type Verdicts int

const (
	// AllVerdicts reads every verdict rule: deny, violation, warn, dryrun
	// and patch (check, conftest-style reports).
	AllVerdicts Verdicts = iota
	// AdmissionVerdicts reads deny, violation, warn and dryrun: what the
	// validating webhook answers with. Decision.Patch stays empty.
	AdmissionVerdicts
	verdictSets
)

// selects says whether the rule set v reads rules of kind k.
func (v Verdicts) selects(k ruleKind) bool {
	return v != AdmissionVerdicts || k != patchKind
}

// Compile parses and compiles files against store, finds the verdict rules of
// every package and prepares the queries that read them (one per Verdicts,
// each reading its rules in one evaluation). Errors name the file and line.
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
	set := &PolicySet{Source: source, Files: files.names(), rules: rules}
	for v := range verdictSets {
		set.queries[v], err = opa.New(
			opa.ParsedQuery(verdictQuery(rules, v)),
			opa.Compiler(compiler),
			opa.Store(store),
		).PrepareForEval(ctx)
		if err != nil {
			return nil, fmt.Errorf("preparing policies from %s: %w", source, err)
		}
	}
	return set, nil
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

// verdictQuery reads the verdict rules v selects in one evaluation. A
// comprehension makes an undefined rule an empty list instead of failing the
// whole query. A query must have a body: a set without a rule v selects
// (only patch rules) reads an empty list.
func verdictQuery(rules []verdictRule, v Verdicts) ast.Body {
	body := make(ast.Body, 0, len(rules))
	x := ast.VarTerm("x")
	for _, r := range rules {
		if !v.selects(r.kind) {
			continue
		}
		elems := r.path.Append(ast.VarTerm(ast.WildcardPrefix + "0"))
		comp := ast.ArrayComprehensionTerm(x, ast.NewBody(ast.Assign.Expr(x, ast.NewTerm(elems))))
		body.Append(ast.Assign.Expr(ast.VarTerm(r.binding), comp))
	}
	if len(body) == 0 {
		body.Append(ast.Assign.Expr(ast.VarTerm("none"), ast.ArrayTerm()))
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
	return s.EvaluateVerdicts(ctx, AllVerdicts, input)
}

// EvaluateVerdicts runs the policy set on a parsed input, reading only the
// verdict rules v selects.
func (s *PolicySet) EvaluateVerdicts(ctx context.Context, v Verdicts, input ast.Value) (*Decision, error) {
	if v < 0 || v >= verdictSets {
		return nil, fmt.Errorf("evaluating policies from %s: unknown verdict set %d", s.Source, v)
	}
	rs, err := s.queries[v].Eval(ctx, opa.EvalParsedInput(input))
	if err != nil {
		return nil, fmt.Errorf("evaluating policies from %s: %w", s.Source, err)
	}
	if len(rs) != 1 {
		return nil, fmt.Errorf("evaluating policies from %s: the verdict query returned %d results, want 1", s.Source, len(rs))
	}
	d := &Decision{Successes: map[string]int{}}
	for _, r := range s.rules {
		if !v.selects(r.kind) {
			continue
		}
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
