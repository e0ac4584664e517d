# slo-declared: a long-running workload names the ServiceLevelObjective whose
# error budget gates its rollouts, and that SLO exists.
package budgetgate.rules.slo_declared

import data.budgetgate.lib.k8s

label := "budgetgate.dev/slo"

findings contains k8s.finding("slo-declared", msg) if {
	k8s.gated
	k8s.is_long_running
	not has_label
	msg := sprintf("metadata.labels has no %q label: add it with the name of the workload's ServiceLevelObjective", [label])
}

# The SLO must be known only where budgets are loaded: in CI without a
# budgets document, the label is all that can be checked.
findings contains k8s.finding("slo-declared", msg) if {
	k8s.gated
	k8s.is_long_running
	has_label
	slo := k8s.labels[label]
	is_object(data.budgetgate.budgets)
	not data.budgetgate.budgets[sprintf("%s/%s", [budget_namespace, slo])]
	msg := sprintf("label %s=%s names no ServiceLevelObjective %q in namespace %q: create it or fix the label", [label, slo, slo, budget_namespace])
}

# An empty label names no SLO: it counts as missing.
has_label if {
	value := k8s.labels[label]
	is_string(value)
	trim_space(value) != ""
}

# A manifest without a namespace is applied into "default" unless told otherwise.
default budget_namespace := "default"

budget_namespace := k8s.namespace
