package prometheus_test

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/budgetgate/budgetgate/slo"
	"github.com/budgetgate/budgetgate/slo/api/v1alpha1"
	"github.com/budgetgate/budgetgate/tests/prometheus/promtest"
)

// tolerance is how far PromQL may be from the hand-computed budget.
const tolerance = 0.005

func evaluator(t *testing.T, url string) *slo.Evaluator {
	t.Helper()
	api, err := slo.NewPrometheusAPI(slo.PrometheusOptions{URL: url, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return &slo.Evaluator{API: api}
}

func near(a, b float64) bool { return math.Abs(a-b) <= tolerance }

// expected is the budget the history implies for service at T.
func expected(service string, objective float64, window time.Duration) (remaining, burn1h, burn6h float64) {
	s := promtest.Lookup(service)
	o := objective / 100
	return slo.Remaining(s.ErrorRatio(env.T, window), o),
		slo.BurnRate(s.ErrorRatio(env.T, time.Hour), o),
		slo.BurnRate(s.ErrorRatio(env.T, 6*time.Hour), o)
}

func TestEvaluateAgainstPrometheus(t *testing.T) {
	ev := evaluator(t, shared.URL)
	cases := []struct {
		service        string
		window         string
		remaining      float64 // by hand, from the rates of the history
		burn1h, burn6h float64
		state          string
	}{
		{"healthy", "30d", 0.9, 0.1, 0.1, slo.StateOK},
		{"burning", "30d", 0.2, 0.8, 0.8, slo.StateCanary},
		{"exhausted", "30d", -0.5, 1.5, 1.5, slo.StateFrozen},
		// The bad week was 35-40 days ago: a 30d window must not see it...
		{"old-errors", "30d", 1.0, 0, 0, slo.StateOK},
		// ...and a 45d one does: 5 of 40 days at 2% errors is 0.25%, 2.5
		// budgets' worth of a 99.9% objective.
		{"old-errors", "45d", -1.5, 0, 0, slo.StateFrozen},
		{"burning", "7d", 0.2, 0.8, 0.8, slo.StateCanary},
	}
	for _, tc := range cases {
		t.Run(tc.service+"/"+tc.window, func(t *testing.T) {
			window, err := slo.ParseWindow(tc.window)
			if err != nil {
				t.Fatal(err)
			}
			// The hand-computed numbers and the history agree...
			r, b1, b6 := expected(tc.service, 99.9, window)
			if !near(r, tc.remaining) || !near(b1, tc.burn1h) || !near(b6, tc.burn6h) {
				t.Fatalf("the history implies remaining %v, burn 1h %v, 6h %v; the test expects %v, %v, %v", r, b1, b6, tc.remaining, tc.burn1h, tc.burn6h)
			}
			// ...and so does Prometheus.
			got, err := ev.Evaluate(context.Background(), promtest.RatioSpec(tc.service, 99.9, tc.window), env.T)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("remaining %.6f (want %.4f), burn 1h %.6f (want %.4f), 6h %.6f (want %.4f)", got.Remaining, tc.remaining, *got.BurnRate1h, tc.burn1h, *got.BurnRate6h, tc.burn6h)
			if !near(got.Remaining, tc.remaining) {
				t.Errorf("remaining = %v, want %v ± %v", got.Remaining, tc.remaining, tolerance)
			}
			if got.BurnRate1h == nil || !near(*got.BurnRate1h, tc.burn1h) {
				t.Errorf("burn rate 1h = %v, want %v", deref(got.BurnRate1h), tc.burn1h)
			}
			if got.BurnRate6h == nil || !near(*got.BurnRate6h, tc.burn6h) {
				t.Errorf("burn rate 6h = %v, want %v", deref(got.BurnRate6h), tc.burn6h)
			}
			if !got.At.Equal(env.T) {
				t.Errorf("evaluated at %s, want %s", got.At, env.T)
			}
			if s := slo.State(got.Remaining, slo.DefaultThresholds()); s != tc.state {
				t.Errorf("state = %s, want %s", s, tc.state)
			}
		})
	}
}

func TestEvaluateRemainingIndicator(t *testing.T) {
	got, err := evaluator(t, shared.URL).Evaluate(context.Background(), promtest.RemainingSpec(99.5, "28d"), env.T)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("remaining %.6f (want %v)", got.Remaining, promtest.SlothRemaining)
	if !near(got.Remaining, promtest.SlothRemaining) {
		t.Errorf("remaining = %v, want %v", got.Remaining, promtest.SlothRemaining)
	}
	if got.BurnRate1h != nil || got.BurnRate6h != nil {
		t.Errorf("a remaining indicator has no burn rates, got %v and %v", got.BurnRate1h, got.BurnRate6h)
	}
}

func TestEvaluateErrors(t *testing.T) {
	ev := evaluator(t, shared.URL)
	cases := []struct {
		name string
		spec v1alpha1.ServiceLevelObjectiveSpec
		want string
	}{
		{"unknown service", promtest.RatioSpec("nobody", 99.9, "30d"), "returned no traffic"},
		{"PromQL syntax", func() v1alpha1.ServiceLevelObjectiveSpec {
			s := promtest.RatioSpec("healthy", 99.9, "30d")
			s.Indicator.Ratio.Total = "sum(rate(http_requests_total[{{.window}}]"
			return s
		}(), "bad_data"},
		{"several series", func() v1alpha1.ServiceLevelObjectiveSpec {
			s := promtest.RatioSpec("healthy", 99.9, "30d")
			s.Indicator.Ratio.Total = "sum by (service) (rate(http_requests_total[{{.window}}]))"
			return s
		}(), "returned 4 series"},
		{"no gauge", v1alpha1.ServiceLevelObjectiveSpec{Objective: 99, Window: "30d", Indicator: v1alpha1.Indicator{Remaining: `slo:period_error_budget_remaining:ratio{sloth_service="none"}`}}, "returned no sample"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ev.Evaluate(context.Background(), tc.spec, env.T)
			if err == nil || !contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			t.Log(err)
		})
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
