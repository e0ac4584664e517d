package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/budgetgate/budgetgate/localcluster"
)

// slo creates a ServiceLevelObjective and sets its status as the SLO
// controller would after measuring remaining in Prometheus.
func slo(t *testing.T, ns, name string, remaining float64) {
	t.Helper()
	mustKubectl(t, fmt.Sprintf(`apiVersion: budgetgate.dev/v1alpha1
kind: ServiceLevelObjective
metadata:
  name: %s
  namespace: %s
spec:
  objective: 99.9
  window: 30d
  indicator:
    ratio:
      errors: sum(rate(http_requests_total{service="%[1]s",code=~"5.."}[{{.window}}]))
      total: sum(rate(http_requests_total{service="%[1]s"}[{{.window}}]))
`, name, ns), "apply", "-f", "-")
	setRemaining(t, ns, name, remaining)
}

func setRemaining(t *testing.T, ns, name string, remaining float64) {
	t.Helper()
	status := fmt.Sprintf(`{"status":{"remaining":%g,"remainingPercent":"%g%%","evaluatedAt":%q}}`,
		remaining, remaining*100, time.Now().UTC().Format(time.RFC3339))
	mustKubectl(t, "", "patch", "-n", ns, "servicelevelobjective", name, "--subresource=status", "--type=merge", "-p", status)
}

// eventually retries f until it returns "" or the budget sync's deadline
// (a status change must reach decisions within a second) has long passed.
func eventually(t *testing.T, what string, f func() string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	start := time.Now()
	for {
		msg := f()
		if msg == "" {
			t.Logf("%s after %s", what, time.Since(start).Round(time.Millisecond))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s", what, msg)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func image(tag string) func(string) string { return replace(":1.2.3", ":"+tag) }

func deniedBy(r localcluster.Result, rule string) bool {
	return r.Err != nil && strings.Contains(r.Stderr, "denied the request") && strings.Contains(r.Stderr, "["+rule+"]")
}

func TestBudgetFreeze(t *testing.T) {
	ns := namespace(t, "frozen")
	slo(t, ns, "checkout", 0.9)
	eventually(t, "a healthy budget admits a release", func() string {
		if r := kubectl(t, deployment(ns, "checkout"), "apply", "-f", "-"); r.Err != nil {
			return r.Stderr
		}
		return ""
	})
	mustKubectl(t, deployment(ns, "checkout", image("1.3.0")), "apply", "-f", "-")

	setRemaining(t, ns, "checkout", -0.1)
	eventually(t, "an exhausted budget freezes a release", func() string {
		r := kubectl(t, deployment(ns, "checkout", image("1.4.0")), "apply", "--dry-run=server", "-f", "-")
		if !deniedBy(r, "budget-freeze") {
			return "not frozen yet: " + r.Stdout + r.Stderr
		}
		return ""
	})
	r := kubectl(t, deployment(ns, "checkout", image("1.4.0")), "apply", "-f", "-")
	if !deniedBy(r, "budget-freeze") || !strings.Contains(r.Stderr, `SLO "checkout"`) {
		t.Fatalf("want a budget-freeze denial naming the SLO, got:\n%s", r.Stderr)
	}

	t.Run("scale passes", func(t *testing.T) {
		mustKubectl(t, "", "scale", "-n", ns, "deployment/checkout", "--replicas=4")
		r := mustKubectl(t, deployment(ns, "checkout", image("1.3.0"), replace("replicas: 3", "replicas: 5")), "apply", "-f", "-")
		if strings.Contains(r.Stderr, "budget-freeze") {
			t.Errorf("a replicas-only change drew a freeze finding: %s", r.Stderr)
		}
	})
	t.Run("metadata-only change passes", func(t *testing.T) {
		mustKubectl(t, "", "label", "-n", ns, "deployment/checkout", "tier=gold")
	})
	t.Run("rollback to the previous template passes", func(t *testing.T) {
		r := mustKubectl(t, deployment(ns, "checkout"), "apply", "-f", "-")
		if strings.Contains(r.Stderr, "budget-freeze") {
			t.Errorf("the rollback drew a freeze finding: %s", r.Stderr)
		}
		if got := get(t, ns, "deployment", "checkout", "{.spec.template.spec.containers[0].image}"); got != "ghcr.io/example/checkout:1.2.3" {
			t.Errorf("image after rollback = %s", got)
		}
		// Rolling forward again is a release, not a rollback.
		if r := kubectl(t, deployment(ns, "checkout", image("1.3.0")), "apply", "-f", "-"); !deniedBy(r, "budget-freeze") {
			t.Errorf("rolling forward after the rollback was not frozen:\n%s", r.Stderr)
		}
	})
	t.Run("delete passes", func(t *testing.T) {
		mustKubectl(t, "", "delete", "-n", ns, "deployment/checkout")
		if exists(t, ns, "deployment", "checkout") {
			t.Error("the Deployment survived its delete")
		}
	})
}

func TestBreakGlass(t *testing.T) {
	ns := namespace(t, "glass")
	slo(t, ns, "payments", -0.3)
	// Impersonated users need the right to write Deployments at all.
	for _, group := range []string{"sre-oncall", "developers"} {
		mustKubectl(t, "", "create", "clusterrolebinding", "glass-"+group, "--clusterrole=cluster-admin", "--group="+group)
	}
	release := deployment(ns, "payments", replace("  labels:\n", "  annotations:\n    budgetgate.dev/break-glass: \"INC-4711 hotfix for card declines\"\n  labels:\n"))
	eventually(t, "the frozen budget reaches the webhook", func() string {
		r := kubectl(t, release, "apply", "--as=bob", "--as-group=developers", "-f", "-")
		if !deniedBy(r, "budget-freeze") {
			return "bob's break-glass was not refused: " + r.Stderr
		}
		if !strings.Contains(r.Stderr, "sre-oncall") {
			return "the refusal does not name the allowed group: " + r.Stderr
		}
		return ""
	})

	r := mustKubectl(t, release, "apply", "--as=alice", "--as-group=sre-oncall", "-f", "-")
	if !strings.Contains(r.Stderr, "Warning: [budget-freeze]") || !strings.Contains(r.Stderr, "alice") {
		t.Errorf("alice's break-glass should pass with a warning naming her:\n%s", r.Stderr)
	}
	eventually(t, "a BreakGlass event is recorded", func() string {
		ev := kubectl(t, "", "get", "events", "-n", ns, "--field-selector", "reason=BreakGlass", "-o", "jsonpath={.items[*].message}")
		if !strings.Contains(ev.Stdout, "INC-4711") {
			return "no BreakGlass event: " + ev.Stdout + ev.Stderr
		}
		return ""
	})
}

func TestLowBudgetForcesCanary(t *testing.T) {
	ns := namespace(t, "lowbudget")
	slo(t, ns, "search", 0.9)
	eventually(t, "a healthy budget admits a release", func() string {
		if r := kubectl(t, deployment(ns, "search"), "apply", "-f", "-"); r.Err != nil {
			return r.Stderr
		}
		return ""
	})
	if got := get(t, ns, "deployment", "search", `{.metadata.annotations.budgetgate\.dev/canary}`); got != "" {
		t.Fatalf("a healthy release was canaried: %s", got)
	}
	setRemaining(t, ns, "search", 0.1)
	eventually(t, "a low budget forces the next release into canary", func() string {
		r := kubectl(t, deployment(ns, "search", image("1.3.0")), "apply", "--dry-run=server", "-o", `jsonpath={.metadata.annotations.budgetgate\.dev/canary}`, "-f", "-")
		if r.Err != nil || r.Stdout != "budget-canary" {
			return fmt.Sprintf("dry run gave %q %s", r.Stdout, r.Stderr)
		}
		return ""
	})
	r := mustKubectl(t, deployment(ns, "search", image("1.3.0")), "apply", "-f", "-")
	if !strings.Contains(r.Stderr, "Warning: [budget-canary]") {
		t.Errorf("no budget-canary warning:\n%s", r.Stderr)
	}
	for path, want := range map[string]string{
		`{.metadata.annotations.budgetgate\.dev/canary}`: "budget-canary",
		`{.spec.strategy.rollingUpdate.maxSurge}`:        "1",
		`{.spec.strategy.rollingUpdate.maxUnavailable}`:  "0",
		`{.spec.minReadySeconds}`:                        "30",
	} {
		if got := get(t, ns, "deployment", "search", path); got != want {
			t.Errorf("stored %s = %q, want %q", path, got, want)
		}
	}
}

func TestGetSLOShowsTheBudget(t *testing.T) {
	ns := namespace(t, "slos")
	slo(t, ns, "api", 0.42)
	r := mustKubectl(t, "", "get", "slo", "-n", ns)
	for _, want := range []string{"OBJECTIVE", "WINDOW", "REMAINING", "api", "99.9", "30d", "42%"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("kubectl get slo lacks %q:\n%s", want, r.Stdout)
		}
	}
}
