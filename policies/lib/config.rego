# Configuration with defaults: an empty data document gives the defaults of
# DESIGN.md, and data.budgetgate.config overrides them key by key.
package budgetgate.lib.config

import data.budgetgate.lib.k8s

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

# Tiers: a namespace labelled budgetgate.dev/tier gets that tier's default
# actions. "production" is DESIGN.md's table; "staging" warns where
# production denies or canaries, and only records what matters little
# before production; "off" judges nothing (the webhooks also skip such
# namespaces). Where nothing names a tier (CI, conftest, an unlabelled
# namespace), config.tier applies, by default "production".
tier_label := "budgetgate.dev/tier"

tier_actions := {
	"production": default_actions,
	"staging": {
		"budget-freeze": "warn",
		"budget-canary": "warn",
		"budget-stale": "dryrun",
		"slo-declared": "dryrun",
		"owner-label": "warn",
		"resources": "warn",
		"probes": "warn",
		"image-pinned": "warn",
		"min-replicas": "dryrun",
	},
	"off": {},
}

# namespace_tier is the tier label of the object's namespace, as the webhook
# syncs namespaces into data.budgetgate.namespaces (a CI data document may
# carry them too).
namespace_tier := t if {
	t := data.budgetgate.namespaces[tier_namespace].labels[tier_label]
	is_string(t)
}

# tier_namespace is the namespace whose label counts: a manifest without one
# (CI, conftest) is applied into "default", as lib/budget keys its budget, so
# CI reads the label the webhook reads (there the request names "default").
# Input that is no object (conftest passes the empty document before a
# leading "---" as null) is in no namespace.
tier_namespace := ns if {
	ns := k8s.namespace
} else := "default" if {
	is_object(k8s.object)
}

# tier is the namespace's tier, else config.tier; a tier that is not one of
# tier_actions falls back to production (the strictest), and is reported.
tier := t if {
	t := namespace_tier
	is_object(tier_actions[t]) # t names a tier (cheaper than building object.keys)
} else := t if {
	t := setting("tier")
	is_object(tier_actions[t])
} else := "production"

off if tier == "off"

# action is a rule id's action in the object's tier, the first of:
# config.tiers[tier].actions, config.actions (every tier), the tier's
# default, DESIGN.md's default; a rule id none of them names denies.
# Invalid configured actions are skipped (and reported by invalid_actions).
action(policy) := a if {
	a := setting("tiers")[tier].actions[policy]
	a in valid_actions
} else := a if {
	a := config.actions[policy]
	a in valid_actions
} else := a if {
	a := tier_actions[tier][policy]
} else := a if {
	a := default_actions[policy]
} else := "deny"

# invalid_actions holds [field, value] of configured actions that are not
# one of valid_actions, field named as the user wrote it.
invalid_actions contains [sprintf("actions[%q]", [policy]), a] if {
	some policy, a in config.actions
	not a in valid_actions
}

invalid_actions contains [sprintf("tiers[%q].actions[%q]", [t, policy]), a] if {
	some t, tier_config in setting("tiers")
	some policy, a in tier_config.actions
	not a in valid_actions
}

# invalid_tiers names configured tiers that no namespace label can select.
invalid_tiers contains t if {
	some t, _ in setting("tiers")
	not t in object.keys(tier_actions)
}

invalid_tiers contains t if {
	t := setting("tier")
	not t in object.keys(tier_actions)
}

default_parameters := {
	"owner-label": {"key": "owner"},
	"probes": {"liveness": false},
	# registries: image name prefixes allowed (empty: any registry), e.g.
	# "ghcr.io/acme" allows ghcr.io/acme/app:1.0; Docker Hub short names are
	# read as docker.io/library/NAME.
	"image-pinned": {"digest": false, "registries": []},
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
parameter(policy, key) := config.parameters[policy][key] if {
	has_parameter(policy, key)
} else := default_parameters[policy][key]

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
	"tier": "production",
	"tiers": {},
}

# setting(key) is config[key], else its default; as with parameters, a null
# value or one of another type than the default gives the default (and
# invalid_settings names it).
setting(key) := config[key] if {
	has_setting(key)
} else := default_settings[key]

has_setting(key) if {
	value := config[key]
	value != null
	type_name(value) == type_name(default_settings[key])
}

invalid_settings contains key if {
	some key, value in config # not default_settings: an empty config costs nothing
	default_value := default_settings[key]
	value != null
	type_name(value) != type_name(default_value)
}
