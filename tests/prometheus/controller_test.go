package prometheus_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/open-policy-agent/opa/v1/ast"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/budgetgate/budgetgate/policies"
	"github.com/budgetgate/budgetgate/rego"
	"github.com/budgetgate/budgetgate/slo"
	"github.com/budgetgate/budgetgate/slo/api/v1alpha1"
	"github.com/budgetgate/budgetgate/tests/prometheus/promtest"
)

// startControlPlane runs kube-apiserver and etcd with budgetgate's CRD
// installed from manifests/base/crds.
func startControlPlane(t *testing.T) client.Client {
	t.Helper()
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("KUBEBUILDER_ASSETS is not set: CI must run this test (hack/test.sh sets it)")
		}
		t.Skip("set KUBEBUILDER_ASSETS=$(hack/envtest-assets.sh | tail -1) to run the controller against a real kube-apiserver")
	}
	testEnv := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDInstallOptions: envtest.CRDInstallOptions{
			Paths:              []string{filepath.Join("..", "..", "manifests", "base", "crds")},
			ErrorIfPathMissing: true,
		},
		ControlPlaneStartTimeout: time.Minute,
		ControlPlaneStopTimeout:  30 * time.Second,
	}
	start := time.Now()
	cfg, err := testEnv.Start()
	if err != nil {
		t.Fatalf("starting the control plane: %v", err)
	}
	t.Cleanup(func() {
		if err := testEnv.Stop(); err != nil {
			t.Errorf("stopping the control plane: %v", err)
		}
	})
	t.Logf("control plane up in %s", time.Since(start).Round(time.Millisecond))
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, v1alpha1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// want is what the controller must write for one SLO at T.
type want struct {
	remaining      float64
	burn1h, burn6h *float64 // nil: a remaining indicator has none
	state          string
}

func ptr(v float64) *float64 { return &v }

func TestControllerAgainstPrometheus(t *testing.T) {
	ctx := context.Background()
	c := startControlPlane(t)
	// Its own Prometheus: this test stops it.
	prom, err := env.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prom.Stop)

	const ns = "shop"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	broken := promtest.RatioSpec("healthy", 99.9, "30d")
	broken.Indicator.Ratio.Errors = `sum(rate(http_requests_total{code=~"5.."}[{{.window}}]`
	specs := map[string]v1alpha1.ServiceLevelObjectiveSpec{
		"healthy":    promtest.RatioSpec("healthy", 99.9, "30d"),
		"burning":    promtest.RatioSpec("burning", 99.9, "30d"),
		"exhausted":  promtest.RatioSpec("exhausted", 99.9, "30d"),
		"old-errors": promtest.RatioSpec("old-errors", 99.9, "30d"),
		"sloth":      promtest.RemainingSpec(99.5, "28d"),
		"broken":     broken,
	}
	// burning has its own canaryBelow: 0.2 is canary by default, and stays
	// canary with 0.3; its freezeBelow of -1 keeps it out of the freeze.
	specs["burning"] = withThresholds(specs["burning"], 0.3, -1)
	names := []string{"broken", "burning", "exhausted", "healthy", "old-errors", "sloth"}
	for _, name := range names {
		s := &v1alpha1.ServiceLevelObjective{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: specs[name]}
		if err := c.Create(ctx, s); err != nil {
			t.Fatalf("creating SLO %s: %v", name, err)
		}
	}

	now := env.T
	staleAfter := 10 * time.Minute
	controller := &slo.Controller{
		Client:     c,
		Measurer:   evaluator(t, prom.URL),
		Interval:   time.Minute,
		StaleAfter: staleAfter,
		Thresholds: slo.DefaultThresholds(),
		Now:        func() time.Time { return now },
		Log:        logr.Discard(),
	}
	reconcileAll := func() {
		t.Helper()
		for _, name := range names {
			res, err := controller.Reconcile(ctx, ctrl.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}})
			if err != nil {
				t.Fatalf("reconciling %s: %v", name, err)
			}
			if res.RequeueAfter != controller.Interval {
				t.Errorf("%s: requeued after %s, want the interval %s", name, res.RequeueAfter, controller.Interval)
			}
		}
	}
	get := func(name string) *v1alpha1.ServiceLevelObjective {
		t.Helper()
		var s v1alpha1.ServiceLevelObjective
		if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &s); err != nil {
			t.Fatal(err)
		}
		return &s
	}

	engine := policyEngine(t)
	decide := func(name string) (failures, warnings []string) {
		t.Helper()
		var list v1alpha1.ServiceLevelObjectiveList
		if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		if err := engine.SetData(ctx, slo.BudgetsPath, slo.Budgets(list.Items, now, staleAfter)); err != nil {
			t.Fatal(err)
		}
		d, err := engine.Evaluate(ctx, deploymentFor(t, ns, name))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range d.Failures {
			failures = append(failures, f.Policy())
		}
		for _, f := range d.Warnings {
			warnings = append(warnings, f.Policy())
		}
		return failures, warnings
	}

	// 1. Prometheus answers: the status holds the measured budget.
	reconcileAll()
	fresh := map[string]want{
		"healthy":    {0.9, ptr(0.1), ptr(0.1), slo.StateOK},
		"burning":    {0.2, ptr(0.8), ptr(0.8), slo.StateCanary},
		"exhausted":  {-0.5, ptr(1.5), ptr(1.5), slo.StateFrozen},
		"old-errors": {1.0, ptr(0), ptr(0), slo.StateOK},
		"sloth":      {promtest.SlothRemaining, nil, nil, slo.StateOK},
	}
	for name, w := range fresh {
		s := get(name)
		st := s.Status
		if st.Remaining == nil || !near(*st.Remaining, w.remaining) {
			t.Errorf("%s: remaining %v, want %v", name, deref(st.Remaining), w.remaining)
			continue
		}
		t.Logf("%s: remaining %.6f (want %v), burn 1h %v, 6h %v, state %s", name, *st.Remaining, w.remaining, deref(st.BurnRate1h), deref(st.BurnRate6h), st.State)
		if st.Consumed == nil || !near(*st.Consumed, 1-w.remaining) {
			t.Errorf("%s: consumed %v, want %v", name, deref(st.Consumed), 1-w.remaining)
		}
		if st.RemainingPercent != slo.Percent(*st.Remaining) {
			t.Errorf("%s: remainingPercent %q", name, st.RemainingPercent)
		}
		for _, b := range []struct {
			what      string
			got, want *float64
		}{{"burnRate1h", st.BurnRate1h, w.burn1h}, {"burnRate6h", st.BurnRate6h, w.burn6h}} {
			if (b.got == nil) != (b.want == nil) || (b.got != nil && !near(*b.got, *b.want)) {
				t.Errorf("%s: %s %v, want %v", name, b.what, deref(b.got), deref(b.want))
			}
		}
		if st.State != w.state {
			t.Errorf("%s: state %q, want %q", name, st.State, w.state)
		}
		if st.EvaluatedAt == nil || !st.EvaluatedAt.Time.Equal(env.T) {
			t.Errorf("%s: evaluatedAt %v, want T=%s", name, st.EvaluatedAt, env.T)
		}
		if st.ObservedGeneration != s.Generation {
			t.Errorf("%s: observedGeneration %d, generation %d", name, st.ObservedGeneration, s.Generation)
		}
		expectCondition(t, s, slo.ConditionReady, metav1.ConditionTrue, "Measured", "budget remaining "+st.RemainingPercent)
		expectCondition(t, s, slo.ConditionQueryFailed, metav1.ConditionFalse, "QuerySucceeded", "")
		expectCondition(t, s, slo.ConditionStale, metav1.ConditionFalse, "Fresh", "")
	}
	// A query Prometheus refuses: never measured, with Prometheus' own words.
	b := get("broken")
	if b.Status.State != slo.StateError || b.Status.Remaining != nil || b.Status.EvaluatedAt != nil {
		t.Errorf("broken: state %q, remaining %v, evaluatedAt %v; want error and neither", b.Status.State, deref(b.Status.Remaining), b.Status.EvaluatedAt)
	}
	expectCondition(t, b, slo.ConditionQueryFailed, metav1.ConditionTrue, "QueryFailed", "bad_data: invalid parameter \"query\"", "parse error")
	expectCondition(t, b, slo.ConditionStale, metav1.ConditionTrue, "NeverMeasured", "")
	expectCondition(t, b, slo.ConditionReady, metav1.ConditionFalse, "NotMeasured", "")

	// The statuses, as BudgetSync hands them to the policies.
	for _, tc := range []struct {
		slo                string
		failures, warnings []string // budget rules only
	}{
		{"healthy", nil, nil},
		{"old-errors", nil, nil},
		{"sloth", nil, nil},
		{"burning", nil, []string{"budget-canary"}},
		{"exhausted", []string{"budget-freeze"}, nil},
		{"broken", nil, []string{"budget-stale"}},
	} {
		failures, warnings := decide(tc.slo)
		expectPolicies(t, "fresh "+tc.slo+" failures", failures, tc.failures)
		expectPolicies(t, "fresh "+tc.slo+" warnings", warnings, tc.warnings)
	}

	// 2. Prometheus goes away and time passes beyond StaleAfter.
	prom.Stop()
	now = env.T.Add(staleAfter + time.Minute)
	reconcileAll()
	for name, w := range fresh {
		s := get(name)
		st := s.Status
		if st.State != slo.StateStale {
			t.Errorf("%s: state %q after Prometheus stopped, want stale", name, st.State)
		}
		// The last known budget stays: fail-safe, a freeze is never lifted.
		if st.Remaining == nil || !near(*st.Remaining, w.remaining) {
			t.Errorf("%s: remaining %v after Prometheus stopped, want the last known %v", name, deref(st.Remaining), w.remaining)
		}
		if st.EvaluatedAt == nil || !st.EvaluatedAt.Time.Equal(env.T) {
			t.Errorf("%s: evaluatedAt %v, want the last success at T", name, st.EvaluatedAt)
		}
		c := expectCondition(t, s, slo.ConditionQueryFailed, metav1.ConditionTrue, "QueryFailed", strings.TrimPrefix(prom.URL, "http://"), "connection refused")
		if name == "healthy" && c != nil {
			t.Logf("QueryFailed: %s", c.Message)
		}
		expectCondition(t, s, slo.ConditionStale, metav1.ConditionTrue, "NoFreshData", "")
		expectCondition(t, s, slo.ConditionReady, metav1.ConditionFalse, "NotMeasured", "")
	}
	for _, tc := range []struct {
		slo                string
		failures, warnings []string
	}{
		{"healthy", nil, []string{"budget-stale"}},
		{"sloth", nil, []string{"budget-stale"}},
		{"burning", nil, []string{"budget-canary", "budget-stale"}},
		{"exhausted", []string{"budget-freeze"}, []string{"budget-stale"}},
		{"broken", nil, []string{"budget-stale"}},
	} {
		failures, warnings := decide(tc.slo)
		expectPolicies(t, "stale "+tc.slo+" failures", failures, tc.failures)
		expectPolicies(t, "stale "+tc.slo+" warnings", warnings, tc.warnings)
	}
}

func withThresholds(s v1alpha1.ServiceLevelObjectiveSpec, canary, freeze float64) v1alpha1.ServiceLevelObjectiveSpec {
	s.CanaryBelow, s.FreezeBelow = &canary, &freeze
	return s
}

// expectCondition checks a condition's status and reason, and that its
// message contains every one of parts.
func expectCondition(t *testing.T, s *v1alpha1.ServiceLevelObjective, typ string, status metav1.ConditionStatus, reason string, parts ...string) *metav1.Condition {
	t.Helper()
	c := meta.FindStatusCondition(s.Status.Conditions, typ)
	if c == nil {
		t.Errorf("%s: no %s condition in %+v", s.Name, typ, s.Status.Conditions)
		return nil
	}
	if c.Status != status || c.Reason != reason {
		t.Errorf("%s: %s is %s (%s: %s), want %s (%s)", s.Name, typ, c.Status, c.Reason, c.Message, status, reason)
	}
	for _, p := range parts {
		if !strings.Contains(c.Message, p) {
			t.Errorf("%s: %s message %q does not contain %q", s.Name, typ, c.Message, p)
		}
	}
	if c.ObservedGeneration != s.Generation {
		t.Errorf("%s: %s observedGeneration %d, generation %d", s.Name, typ, c.ObservedGeneration, s.Generation)
	}
	return c
}

// expectPolicies compares the budget-* rule ids among got with want.
func expectPolicies(t *testing.T, what string, got, want []string) {
	t.Helper()
	var budget []string
	for _, p := range got {
		if strings.HasPrefix(p, "budget-") {
			budget = append(budget, p)
		}
	}
	slices.Sort(budget)
	budget = slices.Compact(budget)
	if !slices.Equal(budget, want) {
		t.Errorf("%s: budget findings %v, want %v (all: %v)", what, budget, want, got)
	}
}

func policyEngine(t *testing.T) *rego.Engine {
	t.Helper()
	files, err := rego.ReadFS(policies.FS, ".", "policies")
	if err != nil {
		t.Fatal(err)
	}
	e := rego.NewEngine(nil)
	if _, err := e.Load(context.Background(), "the embedded library", files); err != nil {
		t.Fatal(err)
	}
	return e
}

// deploymentFor is a Deployment manifest (as CI checks it) tied to an SLO.
func deploymentFor(t *testing.T, ns, sloName string) ast.Value {
	t.Helper()
	v, err := ast.InterfaceToValue(map[string]any{
		"apiVersion": "apps/v1",
		"kind":       "Deployment",
		"metadata": map[string]any{
			"name": "app-" + sloName, "namespace": ns,
			"labels": map[string]any{"app": "app-" + sloName, "owner": "team-shop", "budgetgate.dev/slo": sloName},
		},
		"spec": map[string]any{
			"replicas": 3,
			"selector": map[string]any{"matchLabels": map[string]any{"app": "app-" + sloName}},
			"template": map[string]any{
				"metadata": map[string]any{"labels": map[string]any{"app": "app-" + sloName}},
				"spec": map[string]any{"containers": []any{map[string]any{
					"name": "app", "image": "registry.example/app:1.2.3",
				}}},
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}
