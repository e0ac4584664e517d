package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// A namespace's budgetgate.dev/tier label picks its actions from the
// namespace cache: staging warns where production refuses.
func TestNamespaceTierPicksTheActions(t *testing.T) {
	ns := namespace(t, "tiered", "budgetgate.dev/tier", "staging")
	doc := nonCompliant(ns, "checkout")
	eventually(t, "staging warns instead of refusing", func() string {
		r := kubectl(t, doc, "apply", "--dry-run=server", "-f", "-")
		if r.Err != nil {
			return "refused: " + r.Stderr
		}
		for _, rule := range everyFailure {
			if !strings.Contains(r.Stderr, "Warning: ") || !strings.Contains(r.Stderr, rule) {
				return fmt.Sprintf("no warning for %s: %s", rule, r.Stderr)
			}
		}
		return ""
	})

	mustKubectl(t, "", "label", "namespace", ns, "budgetgate.dev/tier=production", "--overwrite")
	eventually(t, "production refuses after the label changed", func() string {
		if r := kubectl(t, doc, "apply", "--dry-run=server", "-f", "-"); r.Err == nil {
			return "admitted: " + r.Stderr
		}
		return ""
	})
	assertDenied(t, kubectl(t, doc, "apply", "--dry-run=server", "-f", "-"))
}

// policyConfigMap holds one policy file under key in budgetgate's namespace.
func policyConfigMap(name, key, rego string) string {
	indented := "    " + strings.ReplaceAll(strings.TrimSpace(rego), "\n", "\n    ")
	return fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata:
  name: %s
  namespace: %s
  labels:
    budgetgate.dev/policy: "true"
data:
  %s: |
%s
`, name, policyNamespace, key, indented)
}

const noDebugRule = `
package budgetgate.rules.no_debug

import data.budgetgate.lib.k8s

findings contains k8s.finding("no-debug", "debug workloads do not go to this cluster: remove the label debug") if {
	k8s.gated
	k8s.labels.debug == "true"
}
`

// A team's own rule in a labelled ConfigMap is loaded without a restart,
// gets an action like the shipped rules, and a broken ConfigMap is refused
// with the reason on it while the previous set keeps serving.
func TestPolicyConfigMapsReloadWithoutRestart(t *testing.T) {
	namespace(t, policyNamespace)
	ns := namespace(t, "custom-rules")
	slo(t, ns, "checkout", 0.9)
	debug := deployment(ns, "checkout", replace("    owner: team-shop", "    owner: team-shop\n    debug: \"true\""))
	status := func(name string) string {
		return get(t, policyNamespace, "configmap", name, `{.metadata.annotations.budgetgate\.dev/policy-status}`)
	}
	t.Cleanup(func() {
		kubectl(t, "", "delete", "-n", policyNamespace, "configmap", "no-debug", "broken", "--ignore-not-found")
	})

	mustKubectl(t, policyConfigMap("no-debug", "no_debug.rego", noDebugRule), "apply", "-f", "-")
	eventually(t, "the ConfigMap's rule refuses", func() string {
		if r := kubectl(t, debug, "apply", "--dry-run=server", "-f", "-"); !deniedBy(r, "no-debug") {
			return "not refused by no-debug: " + r.Stderr
		}
		if got := status("no-debug"); got != "loaded" {
			return "status annotation: " + got
		}
		return ""
	})

	mustKubectl(t, policyConfigMap("broken", "broken.rego", "package budgetgate.rules.broken\n\nfindings contains x if {\n  x := \n}"), "apply", "-f", "-")
	eventually(t, "the broken ConfigMap is refused with its reason", func() string {
		got := status("broken")
		if !strings.HasPrefix(got, "refused: ") || !strings.Contains(got, "configmap/budgetgate-system/broken/broken.rego:5") {
			return "status annotation: " + got
		}
		return ""
	})
	if r := kubectl(t, debug, "apply", "--dry-run=server", "-f", "-"); !deniedBy(r, "no-debug") {
		t.Fatalf("the previous set stopped serving while the broken one was refused: %s", r.Stderr)
	}

	mustKubectl(t, "", "delete", "-n", policyNamespace, "configmap", "broken", "no-debug")
	eventually(t, "deleting the ConfigMap removes its rule", func() string {
		if r := kubectl(t, debug, "apply", "--dry-run=server", "-f", "-"); r.Err != nil {
			return "still refused: " + r.Stderr
		}
		return ""
	})
}
