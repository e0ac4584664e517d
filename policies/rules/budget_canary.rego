# budget-canary: the SLO's error budget is running low (freezeBelow < remaining
# < canaryBelow), so changes that roll out new pods go out as a canary: the
# action canary makes package main patch in the canary strategy. An exhausted
# budget is budget-freeze's, not both. A rollback is no canary either: it
# brings back the pods that ran before, and slowing it only burns more budget.
package budgetgate.rules.budget_canary

import data.budgetgate.lib.budget
import data.budgetgate.lib.k8s

findings contains k8s.finding("budget-canary", msg) if {
	budget.low # first: undefined for most workloads, so the rest is skipped
	budget.rolls_out
	not budget.is_rollback
	msg := sprintf("SLO %q has %s of its error budget left, below the canary threshold of %s: new pods roll out as a canary, a small step at a time; roll back instead, or wait for the budget to recover above %s to roll out at full speed", [
		budget.slo,
		budget.percent(budget.remaining),
		budget.percent(budget.canary_below),
		budget.percent(budget.canary_below),
	])
}
