# budget-stale: the SLO's budget data is not fresh (the controller marks it
# stale when Prometheus has not answered for too long) or was never evaluated.
# Fail-safe: budget-freeze and budget-canary still decide on the last known
# remaining value, so an outage of Prometheus never lifts a freeze.
package budgetgate.rules.budget_stale

import data.budgetgate.lib.budget
import data.budgetgate.lib.k8s

findings contains k8s.finding("budget-stale", msg) if {
	budget.gated
	budget.stale
	msg := sprintf("the error budget of SLO %q is stale (%s): %s; check budgetgate's SLO controller and Prometheus", [budget.slo, since, effect])
}

default since := "no evaluation time"

since := sprintf("last evaluated at %s", [budget.entry.evaluatedAt]) if is_string(budget.entry.evaluatedAt)

effect := sprintf("freeze and canary decisions use the last known value, %s remaining", [budget.percent(budget.remaining)]) if budget.remaining

effect := "no freeze or canary decision can be made" if not budget.remaining
