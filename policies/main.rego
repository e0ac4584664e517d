# The verdict: every finding of every package under data.budgetgate.rules gets
# its action from config, and lands where conftest looks by default (package
# main): deny -> deny, canary and warn -> warn, dryrun -> only recorded.
package main

import data.budgetgate.lib.budget
import data.budgetgate.lib.canary
import data.budgetgate.lib.config
import data.budgetgate.lib.k8s

# A namespace of tier "off" is not judged at all.
findings contains object.union(f, {"action": action(f)}) if {
	not config.off
	some f in data.budgetgate.rules[_].findings
}

# action is the configured action of the finding's rule id. A finding may
# force "warn" (budget-freeze does for a break-glass) by carrying
# "action": "warn": that softens deny and canary to warn, never makes a
# warn or dryrun louder, and no other action can be forced this way (any
# other "action" a finding carries is replaced by the configured one).
action(f) := "warn" if forces_warn(f)

action(f) := config.action(policy_of(f)) if not forces_warn(f)

forces_warn(f) if {
	f.action == "warn"
	config.action(policy_of(f)) in {"deny", "canary"}
}

# A finding without a rule id (a custom rule's) is not lost: it denies.
policy_of(f) := object.get(f, "policy", "")

deny contains f if {
	some f in findings
	f.action == "deny"
}

deny contains {"msg": msg, "policy": "config"} if {
	some [field, value] in config.invalid_actions
	msg := sprintf("data.budgetgate.config.%s is %v: use one of deny, canary, warn, dryrun", [field, value])
}

deny contains {"msg": msg, "policy": "config"} if {
	some t in config.invalid_tiers
	msg := sprintf("data.budgetgate.config names the tier %q: use one of %s", [t, concat(", ", sort(object.keys(config.tier_actions)))])
}

# A namespace label naming no tier is a typo to fix, not a reason to block
# every workload of the namespace: config.tier's actions (by default
# production's) apply meanwhile.
warn contains {"msg": msg, "policy": "config"} if {
	t := config.namespace_tier
	not t in object.keys(config.tier_actions)
	msg := sprintf("namespace %s is labelled %s=%q, which names no tier: %s's actions apply; label it one of %s", [config.tier_namespace, config.tier_label, t, config.tier, concat(", ", sort(object.keys(config.tier_actions)))])
}

deny contains {"msg": msg, "policy": "config"} if {
	some [policy, key] in config.invalid_parameters
	value := config.config.parameters[policy][key]
	default_value := config.default_parameters[policy][key]
	msg := sprintf("data.budgetgate.config.parameters[%q][%q] is %v, a %s: use a %s like the default %v", [policy, key, value, type_name(value), type_name(default_value), default_value])
}

deny contains {"msg": msg, "policy": "config"} if {
	some key in config.invalid_settings
	value := config.config[key]
	default_value := config.default_settings[key]
	msg := sprintf("data.budgetgate.config[%q] is %v, a %s: use a %s like the default %v", [key, value, type_name(value), type_name(default_value), default_value])
}

warn contains f if {
	some f in findings
	f.action in {"canary", "warn"}
}

# dryrun findings are ignored by conftest; budgetgate logs and counts them.
dryrun contains f if {
	some f in findings
	f.action == "dryrun"
}

# canary findings force a progressive strategy: the mutating webhook applies
# this patch, and budgetgate check --show-patches prints it.
canary_findings contains f if {
	some f in findings
	f.action == "canary"
}

canary_reason := concat(",", sort({f.policy | some f in canary_findings}))

# The patch: the canary strategy, and every annotation budgetgate keeps
# (budgetgate.dev/canary, budgetgate.dev/previous-template) merged into one
# annotation patch, so that the two never add /metadata/annotations twice.
patch contains op if {
	count(canary_findings) > 0
	some op in canary.strategy_operations
}

patch contains op if {
	some op in k8s.annotation_patch(object.union(canary_annotations, budget.template_annotations))
}

default canary_annotations := {}

canary_annotations := canary.annotations(canary_reason) if count(canary_findings) > 0

# The validating webhook runs after every mutation: an object still without
# the canary strategy there bypassed the mutating webhook, and is refused so
# the mutation cannot be skipped. Raw manifests (CI, conftest) only warn.
deny contains {"msg": msg, "policy": f.policy, "action": "canary"} if {
	k8s.is_review
	some f in canary_findings
	canary.supported
	not canary.in_place
	msg := sprintf("%s must roll out as a canary (%s), but its strategy is not the canary strategy: is budgetgate's mutating webhook installed and called before this one?", [k8s.ref, f.policy])
}
