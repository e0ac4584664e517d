package rego

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	opa "github.com/open-policy-agent/opa/v1/rego"

	"github.com/budgetgate/budgetgate/policies"
)

// benchEngine loads the shipped library, as `budgetgate serve` runs it.
func benchEngine(b *testing.B) *Engine {
	b.Helper()
	files, err := ReadFS(policies.FS, ".", "policies")
	if err != nil {
		b.Fatal(err)
	}
	e := NewEngine(nil)
	mustLoad(b, e, files)
	return e
}

func reviewBytes(b *testing.B) []byte {
	b.Helper()
	body, err := os.ReadFile("testdata/deployment-review.json")
	if err != nil {
		b.Fatal(err)
	}
	return body
}

// BenchmarkEvaluateDeploymentReview is one compliant Deployment CREATE
// AdmissionReview (testdata, about 5 KB) through the full shipped library,
// input already parsed: the engine's share of an admission.
func BenchmarkEvaluateDeploymentReview(b *testing.B) {
	e := benchEngine(b)
	v, err := ast.ValueFromReader(bytes.NewReader(reviewBytes(b)))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	d, err := e.Evaluate(ctx, v)
	if err != nil || !d.Allowed() || len(d.Warnings) != 0 {
		b.Fatalf("the benchmark review must pass cleanly: %+v %v", d, err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := e.Evaluate(ctx, v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseAndEvaluateDeploymentReview adds parsing the request body
// into policy input, as the webhook does for every request.
func BenchmarkParseAndEvaluateDeploymentReview(b *testing.B) {
	e := benchEngine(b)
	body := reviewBytes(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for b.Loop() {
		v, err := ast.ValueFromReader(bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := e.Evaluate(ctx, v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkConftestStyleDeploymentReview is the peer, measured in the same
// run: the same library and input evaluated the way conftest evaluates
// (one unprepared query per verdict rule, input converted per query), on an
// already compiled policy set.
func BenchmarkConftestStyleDeploymentReview(b *testing.B) {
	files, err := ReadFS(policies.FS, ".", "policies")
	if err != nil {
		b.Fatal(err)
	}
	modules := map[string]string{}
	for name, text := range files {
		modules[name] = string(text)
	}
	compiler, err := ast.CompileModulesWithOpt(modules, ast.CompileOpts{ParserOptions: ast.ParserOptions{RegoVersion: ast.RegoV1}})
	if err != nil {
		b.Fatal(err)
	}
	var input any
	if err := json.Unmarshal(reviewBytes(b), &input); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	queries := []string{"data.main.deny", "data.main.warn"}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, q := range queries {
			if _, err := opa.New(opa.Query(q), opa.Compiler(compiler), opa.Input(input)).Eval(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkEvaluateWithBudgets is the same review with budgets for n SLOs in
// data, the workload's own among them: budget lookups must not grow with n.
func BenchmarkEvaluateWithBudgets(b *testing.B) {
	v, err := ast.ValueFromReader(bytes.NewReader(reviewBytes(b)))
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprintf("slos=%d", n), func(b *testing.B) {
			e := benchEngine(b)
			ctx := context.Background()
			if err := e.SetData(ctx, []string{"budgetgate", "budgets"}, budgetsFor(n)); err != nil {
				b.Fatal(err)
			}
			d, err := e.Evaluate(ctx, v)
			if err != nil || !d.Allowed() || len(d.Warnings) != 0 {
				b.Fatalf("the benchmark review must pass cleanly with its SLO known: %+v %v", d, err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := e.Evaluate(ctx, v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEvaluateLatency times every evaluation of the Deployment review
// (full library, budgets for 1,000 SLOs in data) and reports the median and
// the 99th percentile next to the mean: a webhook's users wait for the tail,
// which a mean hides (a GC pause or a cache miss lands on a few requests).
// verdicts=all is what check and the mutating webhook evaluate,
// verdicts=admission what the validating webhook does (no patch).
func BenchmarkEvaluateLatency(b *testing.B) {
	v, err := ast.ValueFromReader(bytes.NewReader(reviewBytes(b)))
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name     string
		verdicts Verdicts
	}{{"all", AllVerdicts}, {"admission", AdmissionVerdicts}} {
		b.Run("verdicts="+c.name, func(b *testing.B) {
			e := benchEngine(b)
			ctx := context.Background()
			if err := e.SetData(ctx, []string{"budgetgate", "budgets"}, budgetsFor(1000)); err != nil {
				b.Fatal(err)
			}
			durations := make([]time.Duration, 0, 1<<16)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				start := time.Now()
				if _, err := e.EvaluateVerdicts(ctx, c.verdicts, v); err != nil {
					b.Fatal(err)
				}
				durations = append(durations, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(durations)
			b.ReportMetric(float64(percentile(durations, 0.50).Nanoseconds())/1e3, "p50-µs")
			b.ReportMetric(float64(percentile(durations, 0.99).Nanoseconds())/1e3, "p99-µs")
		})
	}
}

// percentile reads the q-quantile of sorted durations (nearest rank).
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}

// budgetsFor is a budgets document for n SLOs, the benchmark review's own
// (shop/frontend, with budget to spare) among them.
func budgetsFor(n int) map[string]any {
	budgets := make(map[string]any, n)
	for i := range n - 1 {
		budgets[fmt.Sprintf("team-%d/service-%d", i%100, i)] = map[string]any{"objective": 0.999, "window": "30d", "remaining": 0.5, "stale": false}
	}
	budgets["shop/frontend"] = map[string]any{"objective": 0.999, "window": "30d", "remaining": 0.5, "stale": false}
	return budgets
}
