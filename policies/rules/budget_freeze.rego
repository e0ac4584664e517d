# budget-freeze: the SLO's error budget is exhausted (remaining <= freezeBelow),
# so changes that roll out new pods are frozen. What still passes: scale-only
# and metadata-only updates, deletes, rollbacks (lib/budget.rego says how one
# is recognised) and audited break-glass changes.
#
# Break-glass: the annotation budgetgate.dev/break-glass: "<reason>" on the
# new object. In the webhook, a user in one of data.budgetgate.config
# .breakGlassGroups breaks the glass: the finding's action is forced to warn
# (package main lets a finding force warn) and its "breakGlass" metadata,
# {"user": <username>, "groups": [<the matching groups>], "reason": <reason>},
# is what budgetgate audits; anybody else is denied, naming the groups that
# may. In CI and conftest there is no user: the annotation turns the denial
# into the same warning, with "breakGlass": {"reason": <reason>}.
package budgetgate.rules.budget_freeze

import data.budgetgate.lib.budget
import data.budgetgate.lib.config
import data.budgetgate.lib.k8s

policy := "budget-freeze"

break_glass_annotation := "budgetgate.dev/break-glass"

groups := config.setting("breakGlassGroups")

frozen_change if {
	budget.frozen # first: undefined for most workloads, so the rest is skipped
	budget.rolls_out
	not budget.is_rollback
}

state := sprintf("SLO %q has %s of its error budget left, at or below the freeze threshold of %s", [
	budget.slo,
	budget.percent(budget.remaining),
	budget.percent(budget.freeze_below),
])

remedies := sprintf("roll back to the previous pod template, change only replicas or metadata, wait for the budget to recover, or break the glass with the annotation %s: \"<reason>\"%s", [break_glass_annotation, who_may])

who_may := sprintf(" (allowed for members of %s)", [concat(", ", groups)]) if count(groups) > 0

who_may := " (no group may: data.budgetgate.config.breakGlassGroups is empty)" if count(groups) == 0

# reason is the break-glass annotation's text (a blank one asks for nothing).
reason := trim_space(k8s.annotations[break_glass_annotation]) if {
	is_string(k8s.annotations[break_glass_annotation])
	trim_space(k8s.annotations[break_glass_annotation]) != ""
}

username := k8s.user.username if is_string(k8s.user.username)

default username := "<unknown user>"

user_groups := {g | some g in k8s.user.groups}

matching_groups := sort({g | some g in groups; g in user_groups})

findings contains k8s.finding(policy, msg) if {
	frozen_change
	not reason
	msg := sprintf("%s: new pods are frozen: %s", [state, remedies])
}

# Webhook: a member of a break-glass group passes, audited.
findings contains object.union(k8s.finding(policy, msg), {
	"action": "warn",
	"breakGlass": {"user": username, "groups": matching_groups, "reason": reason},
}) if {
	frozen_change
	k8s.is_review
	reason
	count(matching_groups) > 0
	msg := sprintf("%s: the freeze was broken by %q (group %s) for %q: admitted, and recorded", [state, username, concat(", ", matching_groups), reason])
}

# Webhook: anybody else is refused.
findings contains k8s.finding(policy, msg) if {
	frozen_change
	k8s.is_review
	reason
	count(matching_groups) == 0
	msg := sprintf("%s: new pods are frozen, and the break-glass by %q (%q) was refused: %s", [state, username, reason, refusal])
}

refusal := sprintf("only members of %s may break the glass; roll back, change only replicas or metadata, or ask one of them", [concat(", ", groups)]) if count(groups) > 0

refusal := "no group may break the glass (data.budgetgate.config.breakGlassGroups is empty); roll back, change only replicas or metadata, or wait for the budget to recover" if count(groups) == 0

# CI and conftest: nobody to check, the annotation turns the denial into a warning.
findings contains object.union(k8s.finding(policy, msg), {"action": "warn", "breakGlass": {"reason": reason}}) if {
	frozen_change
	not k8s.is_review
	reason
	msg := sprintf("%s: the freeze is broken with %s for %q: only a warning here; in the cluster %s", [state, break_glass_annotation, reason, cluster_rule])
}

cluster_rule := sprintf("only members of %s may break the glass", [concat(", ", groups)]) if count(groups) > 0

cluster_rule := "no group may break the glass (data.budgetgate.config.breakGlassGroups is empty)" if count(groups) == 0
