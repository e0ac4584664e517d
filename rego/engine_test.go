package rego

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/budgetgate/budgetgate/policies"
)

func mustLoad(t testing.TB, e *Engine, files Files) *PolicySet {
	t.Helper()
	set, err := e.Load(context.Background(), "test", files)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return set
}

func input(t testing.TB, text string) ast.Value {
	t.Helper()
	v, err := ast.ParseTerm(text)
	if err != nil {
		t.Fatalf("parsing input: %v", err)
	}
	return v.Value
}

func msgs(fs []Finding) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.String()
	}
	return out
}

func TestEvaluateConftestSemantics(t *testing.T) {
	files := Files{
		"p/main.rego": []byte(`package main
deny contains "plain string" if input.bad
deny contains {"msg": "with metadata", "policy": "my-rule", "severity": 3} if input.bad
violation_ports contains {"msg": "violation with suffix"} if input.bad
warn contains "a warning" if input.bad
deny_unused contains "never" if false
dryrun contains {"msg": "only logged", "policy": "dry"} if input.bad
ignored contains "not a verdict rule" if true
`),
		"p/other.rego": []byte(`package team.extra
deny contains "from another package" if input.bad
warn_style contains "style" if input.bad
`),
	}
	e := NewEngine(nil)
	set := mustLoad(t, e, files)
	if got, want := set.Namespaces(), []string{"main", "team.extra"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Namespaces() = %v, want %v", got, want)
	}

	d, err := e.Evaluate(context.Background(), input(t, `{"bad": true}`))
	if err != nil {
		t.Fatal(err)
	}
	wantFailures := []string{"from another package", "plain string", "violation with suffix", "[my-rule] with metadata"}
	if got := msgs(d.Failures); fmt.Sprint(got) != fmt.Sprint(wantFailures) {
		t.Errorf("failures = %q, want %q", got, wantFailures)
	}
	if got, want := msgs(d.Warnings), []string{"a warning", "style"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("warnings = %q, want %q", got, want)
	}
	if got, want := msgs(d.DryRun), []string{"[dry] only logged"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("dryrun = %q, want %q", got, want)
	}
	for _, f := range d.Failures {
		if f.Msg == "with metadata" && (f.Metadata["severity"] == nil || f.Namespace != "main" || f.Rule != "deny") {
			t.Errorf("finding lost its metadata or origin: %+v", f)
		}
	}
	// deny has 2 bodies in main, deny_unused 1: only deny_unused found nothing.
	if d.Successes["main"] != 1 || d.Successes["team.extra"] != 0 {
		t.Errorf("successes = %v, want main:1 team.extra:0", d.Successes)
	}

	clean, err := e.Evaluate(context.Background(), input(t, `{}`))
	if err != nil {
		t.Fatal(err)
	}
	if !clean.Allowed() || len(clean.Warnings) != 0 || clean.Successes["main"] != 5 || clean.Successes["team.extra"] != 2 {
		t.Errorf("clean input: %+v", clean)
	}
}

func TestEvaluateErrors(t *testing.T) {
	cases := []struct {
		name, policy, want string
	}{
		{"object without msg", `package main
deny contains {"message": "oops"} if input.x`, `data.main.deny returned {"message":"oops"} without a string "msg"`},
		{"patch without op", `package main
patch contains {"path": "/a", "value": 1} if input.x`, `a patch is an RFC 6902 operation`},
		{"patch path not a pointer", `package main
patch contains {"op": "add", "path": "a", "value": 1} if input.x`, `a patch is an RFC 6902 operation`},
		{"add without value", `package main
patch contains {"op": "add", "path": "/a"} if input.x`, `add needs a "value"`},
		{"move without from", `package main
patch contains {"op": "move", "path": "/a"} if input.x`, `move needs a "from" path`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := NewEngine(nil)
			mustLoad(t, e, Files{"p.rego": []byte(tc.policy)})
			_, err := e.Evaluate(context.Background(), input(t, `{"x": true}`))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestPatchOrderAndNullValue(t *testing.T) {
	e := NewEngine(nil)
	mustLoad(t, e, Files{"p.rego": []byte(`package main
patch := [
	{"op": "add", "path": "/metadata/annotations", "value": {}},
	{"op": "add", "path": "/metadata/annotations/x", "value": null},
	{"op": "remove", "path": "/spec/paused"},
]`)})
	d, err := e.Evaluate(context.Background(), input(t, `{}`))
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprintf("%s", mustJSON(t, d.Patch))
	want := `[{"op":"add","path":"/metadata/annotations","value":{}},{"op":"add","path":"/metadata/annotations/x","value":null},{"op":"remove","path":"/spec/paused"}]`
	if got != want {
		t.Errorf("patch = %s\nwant   %s", got, want)
	}
}

func TestLoadRefusesBrokenSetsAndKeepsTheOld(t *testing.T) {
	good := Files{"good.rego": []byte("package main\ndeny contains \"old set\" if true\n")}
	cases := []struct {
		name  string
		files Files
		want  []string
	}{
		{"parse error", Files{"broken/a.rego": []byte("package main\n\ndeny contains msg if {\n  msg := \n}\n")}, []string{"broken/a.rego:5", "rego_parse_error"}},
		{"compile error", Files{"broken/b.rego": []byte("package main\n\ndeny contains msg if {\n  msg := undefined_fn(1)\n}\n")}, []string{"broken/b.rego:4", "rego_type_error", "undefined function undefined_fn"}},
		{"unsafe variable", Files{"broken/c.rego": []byte("package main\n\ndeny contains msg if {\n  x > 1\n}\n")}, []string{"broken/c.rego:3", "rego_unsafe_var_error"}},
		{"conflicting rule values", Files{"broken/d.rego": []byte("package main\n\nlevel := 1 if true\nlevel := 2 if true\ndeny contains \"x\" if level > 0\n")}, []string{"fail on an empty input", "eval_conflict_error", "broken/d.rego:3"}},
		{"no verdict rules", Files{"broken/e.rego": []byte("package main\n\nallow := true\n")}, []string{"define no deny, violation, warn, dryrun or patch rule"}},
		{"rule over a data document", Files{"broken/f.rego": []byte("package budgetgate.config\n\ncanaryBelow := 0.1\n\ndeny contains \"x\" if false\n")}, []string{"broken/f.rego:3", "conflict"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := NewEngine(map[string]any{"budgetgate": map[string]any{"config": map[string]any{"canaryBelow": 0.5}}})
			old := mustLoad(t, e, good)
			_, err := e.Load(context.Background(), "update", tc.files)
			if err == nil {
				t.Fatal("broken set was accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if e.Current() != old {
				t.Error("the broken set replaced the old one")
			}
			d, err := e.Evaluate(context.Background(), input(t, `{}`))
			if err != nil || len(d.Failures) != 1 || d.Failures[0].Msg != "old set" {
				t.Errorf("old set stopped serving: %+v %v", d, err)
			}
		})
	}
}

func TestEvaluateBeforeLoad(t *testing.T) {
	if _, err := NewEngine(nil).Evaluate(context.Background(), input(t, `{}`)); err != ErrNoPolicies {
		t.Fatalf("error = %v, want ErrNoPolicies", err)
	}
}

// TestHotSwapUnderConcurrentEvaluation swaps policy sets while goroutines
// evaluate: every evaluation sees exactly one whole set, never a mix or an error.
// Run with -race.
func TestHotSwapUnderConcurrentEvaluation(t *testing.T) {
	setA := Files{"a.rego": []byte("package main\ndeny contains \"A1\" if true\ndeny contains \"A2\" if true\n")}
	setB := Files{"b.rego": []byte("package main\ndeny contains \"B1\" if true\ndeny contains \"B2\" if true\n")}
	e := NewEngine(nil)
	mustLoad(t, e, setA)
	in := input(t, `{}`)

	var wg sync.WaitGroup
	errs := make(chan error, 64)
	stop := make(chan struct{})
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				d, err := e.Evaluate(context.Background(), in)
				if err != nil {
					errs <- err
					return
				}
				got := strings.Join([]string{d.Failures[0].Msg, d.Failures[1].Msg}, ",")
				if got != "A1,A2" && got != "B1,B2" {
					errs <- fmt.Errorf("mixed decision %q", got)
					return
				}
			}
		}()
	}
	for i := 0; i < 20; i++ {
		files := setA
		if i%2 == 0 {
			files = setB
		}
		mustLoad(t, e, files)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestEvaluateHonoursContext(t *testing.T) {
	e := NewEngine(nil)
	mustLoad(t, e, Files{"slow.rego": []byte(`package main
deny contains "slow" if {
	input.slow
	count([x | some x in numbers.range(1, 100000000)]) > 0
}`)})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.Evaluate(ctx, input(t, `{"slow": true}`)); err == nil || !strings.Contains(err.Error(), "cancel") {
		t.Fatalf("error = %v, want a cancellation", err)
	}
}

func TestShippedLibraryLoads(t *testing.T) {
	files, err := ReadFS(policies.FS, ".", "policies")
	if err != nil {
		t.Fatal(err)
	}
	for name := range files {
		if strings.HasSuffix(name, "_test.rego") {
			t.Errorf("test file %s was loaded into the engine", name)
		}
	}
	set := mustLoad(t, NewEngine(nil), files)
	if got := set.Namespaces(); len(got) != 1 || got[0] != "main" {
		t.Errorf("the shipped library's verdict rules must live in package main only (conftest's default), got %v", got)
	}
}

func TestReadDirErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadDir(dir); err == nil || !strings.Contains(err.Error(), "no .rego files") {
		t.Errorf("empty folder: %v", err)
	}
	if _, err := ReadDir(dir + "/missing"); err == nil {
		t.Error("missing folder accepted")
	}
}

func TestSetDataReachesDecisionsWithoutReload(t *testing.T) {
	e := NewEngine(nil)
	set := mustLoad(t, e, Files{"p.rego": []byte(`package main
deny contains sprintf("%s is frozen", [k]) if {
	some k, b in data.budgetgate.budgets
	b.remaining <= 0
}`)})
	ctx := context.Background()
	in := input(t, `{}`)
	if d, _ := e.Evaluate(ctx, in); len(d.Failures) != 0 {
		t.Fatalf("no budgets yet, got %v", msgs(d.Failures))
	}
	if err := e.SetData(ctx, []string{"budgetgate", "budgets"}, map[string]any{"shop/cart": map[string]any{"remaining": -0.2}}); err != nil {
		t.Fatal(err)
	}
	d, err := e.Evaluate(ctx, in)
	if err != nil || len(d.Failures) != 1 || d.Failures[0].Msg != "shop/cart is frozen" {
		t.Fatalf("after SetData: %v %v", msgs(d.Failures), err)
	}
	if e.Current() != set {
		t.Error("SetData recompiled the policy set")
	}
	if err := e.SetData(ctx, []string{"budgetgate", "budgets"}, map[string]any{}); err != nil {
		t.Fatal(err)
	}
	if d, _ := e.Evaluate(ctx, in); len(d.Failures) != 0 {
		t.Fatalf("budgets replaced by an empty map, still %v", msgs(d.Failures))
	}
}

// Reload swaps policies and data documents together, keeps what SetData
// synced from the cluster, and changes nothing when the pair is refused.
func TestReloadReplacesDataKeepsSyncedPaths(t *testing.T) {
	ctx := context.Background()
	config := func(v string) map[string]any {
		return map[string]any{"budgetgate": map[string]any{"config": map[string]any{"greeting": v}}}
	}
	policy := Files{"p.rego": []byte(`package main

deny contains sprintf("%s, %d budgets", [data.budgetgate.config.greeting, count(data.budgetgate.budgets)]) if true
`)}
	e := NewEngine(config("hello"))
	mustLoad(t, e, policy)
	if err := e.SetData(ctx, []string{"budgetgate", "budgets"}, map[string]any{"shop/checkout": map[string]any{"remaining": 0.5}}); err != nil {
		t.Fatal(err)
	}
	verdict := func() string {
		t.Helper()
		d, err := e.Evaluate(ctx, input(t, `{}`))
		if err != nil || len(d.Failures) != 1 {
			t.Fatalf("Evaluate: %+v %v", d, err)
		}
		return d.Failures[0].Msg
	}
	if got := verdict(); got != "hello, 1 budgets" {
		t.Fatalf("before reload: %q", got)
	}

	if _, err := e.Reload(ctx, "v2", policy, config("bonjour")); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if got := verdict(); got != "bonjour, 1 budgets" {
		t.Errorf("after reload: %q, want the new config and the synced budgets", got)
	}

	// A data document that collides with a rule is refused with the policy.
	clash := Files{"clash.rego": []byte("package budgetgate.config\n\ngreeting := \"rule\"\n\ndeny contains \"x\" if false\n")}
	if _, err := e.Reload(ctx, "v3", clash, config("hola")); err == nil || !strings.Contains(err.Error(), "conflict") {
		t.Fatalf("a set that conflicts with its data was accepted: %v", err)
	}
	if got := verdict(); got != "bonjour, 1 budgets" || e.Current().Source != "v2" {
		t.Errorf("a refused reload changed the serving set or data: %q from %s", got, e.Current().Source)
	}
}
