# Configuration with defaults: an empty data document gives the defaults of
# DESIGN.md, and data.budgetgate.config overrides them key by key.
package budgetgate.lib.config

default config := {}

config := data.budgetgate.config if is_object(data.budgetgate.config)

valid_actions := {"deny", "canary", "warn", "dryrun"}

default_actions := {
	"budget-freeze": "deny",
	"budget-canary": "canary",
	"budget-stale": "warn",
	"slo-declared": "canary",
	"owner-label": "deny",
	"resources": "deny",
	"probes": "deny",
	"image-pinned": "deny",
	"min-replicas": "warn",
}

# action is the configured action of a rule id; an unknown or invalid one
# falls back to the default, and a rule id without default denies.
action(policy) := a if {
	a := config.actions[policy]
	a in valid_actions
} else := d if {
	d := default_actions[policy]
} else := "deny"

# invalid_actions names configured actions that are not one of valid_actions.
invalid_actions contains policy if {
	some policy, a in config.actions
	not a in valid_actions
}

default_parameters := {
	"owner-label": {"key": "owner"},
	"probes": {"liveness": false},
	"image-pinned": {"digest": false},
	"min-replicas": {"minimum": 2},
	# The strategy a canary action forces (not a rule id: every rule whose
	# action is canary uses it).
	"canary": {
		"minReadySeconds": 30,
		"progressDeadlineSeconds": 600,
		"maxStepWeight": 25,
		"pause": "5m",
		# Flagger Canary: the largest analysis step weight (percent of traffic).
		"maxFlaggerStepWeight": 10,
	},
}

# parameter(policy, key) is config.parameters[policy][key], else its default.
# A null value, or one of another type than the default, gives the default
# (and invalid_parameters names it, so the verdict reports the mistake).
parameter(policy, key) := config.parameters[policy][key] if has_parameter(policy, key)

parameter(policy, key) := default_parameters[policy][key] if not has_parameter(policy, key)

has_parameter(policy, key) if {
	value := config.parameters[policy][key]
	value != null
	not wrong_type(policy, key, value)
}

wrong_type(policy, key, value) if type_name(value) != type_name(default_parameters[policy][key])

# invalid_parameters holds [rule id, key] of configured parameters whose type
# differs from the default's (a "3" where a number is expected is not 3).
invalid_parameters contains [policy, key] if {
	some policy, parameters in config.parameters
	some key, value in parameters
	value != null
	wrong_type(policy, key, value)
}

# Top-level settings of data.budgetgate.config (DESIGN.md, data documents):
# the error budget thresholds (fractions of the budget, the same scale as a
# budget's remaining) and the groups whose members may break the glass.
default_settings := {
	"canaryBelow": 0.25,
	"freezeBelow": 0.0,
	"breakGlassGroups": [],
}

# setting(key) is config[key], else its default; as with parameters, a null
# value or one of another type than the default gives the default (and
# invalid_settings names it).
setting(key) := config[key] if has_setting(key)

setting(key) := default_settings[key] if not has_setting(key)

has_setting(key) if {
	value := config[key]
	value != null
	type_name(value) == type_name(default_settings[key])
}

invalid_settings contains key if {
	some key, default_value in default_settings
	value := config[key]
	value != null
	type_name(value) != type_name(default_value)
}
