# The verdict: every finding of every package under data.budgetgate.rules gets
# its action from config, and lands where conftest looks by default (package
# main): deny -> deny, canary and warn -> warn, dryrun -> only recorded.
package main

import data.budgetgate.lib.config

findings contains object.union(f, {"action": config.action(f.policy)}) if {
	some f in data.budgetgate.rules[_].findings
}

deny contains f if {
	some f in findings
	f.action == "deny"
}

deny contains {"msg": msg, "policy": "config"} if {
	some policy in config.invalid_actions
	msg := sprintf("data.budgetgate.config.actions[%q] is %v: use one of deny, canary, warn, dryrun", [policy, config.config.actions[policy]])
}

deny contains {"msg": msg, "policy": "config"} if {
	some [policy, key] in config.invalid_parameters
	value := config.config.parameters[policy][key]
	default_value := config.default_parameters[policy][key]
	msg := sprintf("data.budgetgate.config.parameters[%q][%q] is %v, a %s: use a %s like the default %v", [policy, key, value, type_name(value), type_name(default_value), default_value])
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
