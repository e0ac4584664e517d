# slo-declared: a long-running workload names the ServiceLevelObjective whose
# error budget gates its rollouts, and that SLO exists.
package budgetgate.rules.slo_declared

import data.budgetgate.lib.budget
import data.budgetgate.lib.k8s

# A blank label names no SLO: budget.slo is undefined and it counts as missing.
findings contains k8s.finding("slo-declared", msg) if {
	k8s.gated
	k8s.is_long_running
	not budget.slo
	msg := sprintf("metadata.labels has no %q label: add it with the name of the workload's ServiceLevelObjective", [budget.label])
}

# The SLO must be known only where budgets are loaded: in CI without a
# budgets document, the label is all that can be checked.
findings contains k8s.finding("slo-declared", msg) if {
	k8s.gated
	k8s.is_long_running
	slo := budget.slo
	is_object(data.budgetgate.budgets)
	not data.budgetgate.budgets[budget.key]
	msg := sprintf("label %s=%s names no ServiceLevelObjective %q in namespace %q: create it or fix the label", [budget.label, slo, slo, budget.namespace])
}
