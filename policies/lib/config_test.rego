package budgetgate.lib.config_test

import data.budgetgate.lib.config

test_default_actions_of_design_md if {
	every policy, action in {
		"budget-freeze": "deny",
		"budget-canary": "canary",
		"budget-stale": "warn",
		"slo-declared": "canary",
		"owner-label": "deny",
		"resources": "deny",
		"probes": "deny",
		"image-pinned": "deny",
		"min-replicas": "warn",
	} {
		config.action(policy) == action
	}
}

test_rule_id_without_default_denies if {
	config.action("my-own-rule") == "deny"
}

test_configured_actions_override_defaults if {
	cfg := {"actions": {"owner-label": "warn", "min-replicas": "dryrun", "probes": "canary", "my-own-rule": "warn"}}
	config.action("owner-label") == "warn" with data.budgetgate.config as cfg
	config.action("min-replicas") == "dryrun" with data.budgetgate.config as cfg
	config.action("probes") == "canary" with data.budgetgate.config as cfg
	config.action("my-own-rule") == "warn" with data.budgetgate.config as cfg
	config.action("resources") == "deny" with data.budgetgate.config as cfg
	config.invalid_actions == set() with data.budgetgate.config as cfg
}

test_invalid_action_falls_back_to_the_default_and_is_named if {
	cfg := {"actions": {"owner-label": "block", "min-replicas": true, "my-own-rule": "ignore"}}
	config.action("owner-label") == "deny" with data.budgetgate.config as cfg
	config.action("min-replicas") == "warn" with data.budgetgate.config as cfg
	config.action("my-own-rule") == "deny" with data.budgetgate.config as cfg
	config.invalid_actions == {
		["actions[\"owner-label\"]", "block"],
		["actions[\"min-replicas\"]", true],
		["actions[\"my-own-rule\"]", "ignore"],
	} with data.budgetgate.config as cfg
}

test_config_that_is_not_an_object_is_empty if {
	config.config == {} with data.budgetgate.config as "oops"
	config.action("min-replicas") == "warn" with data.budgetgate.config as "oops"
	config.parameter("min-replicas", "minimum") == 2 with data.budgetgate.config as "oops"
}

test_default_parameters if {
	config.parameter("owner-label", "key") == "owner"
	config.parameter("probes", "liveness") == false
	config.parameter("image-pinned", "digest") == false
	config.parameter("min-replicas", "minimum") == 2
	not config.parameter("min-replicas", "maximum")
	config.invalid_parameters == set()
}

test_configured_parameters_override_defaults_key_by_key if {
	cfg := {"parameters": {
		"owner-label": {"key": "team.example.com/owner"},
		"probes": {"liveness": true},
		"min-replicas": {"minimum": 3},
		"my-own-rule": {"anything": ["goes"]},
	}}
	config.parameter("owner-label", "key") == "team.example.com/owner" with data.budgetgate.config as cfg
	config.parameter("probes", "liveness") == true with data.budgetgate.config as cfg
	config.parameter("image-pinned", "digest") == false with data.budgetgate.config as cfg
	config.parameter("min-replicas", "minimum") == 3 with data.budgetgate.config as cfg
	config.parameter("my-own-rule", "anything") == ["goes"] with data.budgetgate.config as cfg
	config.invalid_parameters == set() with data.budgetgate.config as cfg
}

test_null_parameter_gives_the_default if {
	cfg := {"parameters": {"probes": {"liveness": null}}}
	config.parameter("probes", "liveness") == false with data.budgetgate.config as cfg
	config.invalid_parameters == set() with data.budgetgate.config as cfg
}

test_parameter_of_the_wrong_type_gives_the_default_and_is_named if {
	cfg := {"parameters": {"min-replicas": {"minimum": "3"}, "probes": {"liveness": "true"}}}
	config.parameter("min-replicas", "minimum") == 2 with data.budgetgate.config as cfg
	config.parameter("probes", "liveness") == false with data.budgetgate.config as cfg
	config.invalid_parameters == {["min-replicas", "minimum"], ["probes", "liveness"]} with data.budgetgate.config as cfg
}

test_default_settings if {
	config.setting("canaryBelow") == 0.25
	config.setting("freezeBelow") == 0
	config.setting("breakGlassGroups") == []
	config.invalid_settings == set()
}

test_configured_settings if {
	cfg := {"canaryBelow": 0.5, "freezeBelow": 0.1, "breakGlassGroups": ["sre-oncall"]}
	config.setting("canaryBelow") == 0.5 with data.budgetgate.config as cfg
	config.setting("freezeBelow") == 0.1 with data.budgetgate.config as cfg
	config.setting("breakGlassGroups") == ["sre-oncall"] with data.budgetgate.config as cfg
	config.invalid_settings == set() with data.budgetgate.config as cfg
}

test_setting_of_the_wrong_type_gives_the_default_and_is_named if {
	cfg := {"canaryBelow": "25%", "freezeBelow": null, "breakGlassGroups": "sre-oncall"}
	config.setting("canaryBelow") == 0.25 with data.budgetgate.config as cfg
	config.setting("freezeBelow") == 0 with data.budgetgate.config as cfg
	config.setting("breakGlassGroups") == [] with data.budgetgate.config as cfg
	config.invalid_settings == {"canaryBelow", "breakGlassGroups"} with data.budgetgate.config as cfg
}

test_flagger_step_weight_default if {
	config.parameter("canary", "maxFlaggerStepWeight") == 10
}

# A Deployment in namespace shop, as CI sees it and as the webhook does.
shop_manifest := {"kind": "Deployment", "metadata": {"name": "checkout", "namespace": "shop"}}

shop_review := {"kind": "AdmissionReview", "request": {"operation": "CREATE", "namespace": "shop", "object": shop_manifest}}

labelled(tier) := {"shop": {"labels": {"budgetgate.dev/tier": tier}}}

test_without_a_tier_production_applies if {
	config.tier == "production" with input as shop_manifest
	config.action("owner-label") == "deny" with input as shop_review
	config.invalid_tiers == set()
}

test_namespace_label_picks_the_tier if {
	config.tier == "staging" with input as shop_review with data.budgetgate.namespaces as labelled("staging")
	config.action("owner-label") == "warn" with input as shop_review with data.budgetgate.namespaces as labelled("staging")
	config.action("min-replicas") == "dryrun" with input as shop_review with data.budgetgate.namespaces as labelled("staging")
	config.off with input as shop_review with data.budgetgate.namespaces as labelled("off")
	not config.off with input as shop_review with data.budgetgate.namespaces as labelled("production")
}

test_other_namespaces_labels_do_not_apply if {
	config.tier == "production" with input as shop_review with data.budgetgate.namespaces as {"web": {"labels": {"budgetgate.dev/tier": "off"}}}
}

test_config_tier_applies_where_no_namespace_label_does if {
	cfg := {"tier": "staging"}
	config.tier == "staging" with input as shop_manifest with data.budgetgate.config as cfg
	config.action("probes") == "warn" with input as shop_manifest with data.budgetgate.config as cfg
	config.tier == "production" with input as shop_review with data.budgetgate.config as cfg with data.budgetgate.namespaces as labelled("production")
}

test_unknown_tiers_fall_back_to_production if {
	config.tier == "production" with input as shop_review with data.budgetgate.namespaces as labelled("prod")
	config.tier == "production" with input as shop_manifest with data.budgetgate.config as {"tier": "prod"}
	config.invalid_tiers == {"prod"} with data.budgetgate.config as {"tier": "prod"}
	config.invalid_tiers == {"dev"} with data.budgetgate.config as {"tiers": {"dev": {"actions": {}}}}
	config.invalid_tiers == set() with input as shop_review with data.budgetgate.namespaces as labelled("prod")
}

test_action_precedence if {
	cfg := {
		"actions": {"probes": "dryrun", "resources": "canary"},
		"tiers": {"staging": {"actions": {"probes": "deny", "resources": "nope"}}},
	}
	ns := labelled("staging")

	# tiers[tier].actions first, then actions, then the tier's default
	config.action("probes") == "deny" with input as shop_review with data.budgetgate.config as cfg with data.budgetgate.namespaces as ns
	config.action("resources") == "canary" with input as shop_review with data.budgetgate.config as cfg with data.budgetgate.namespaces as ns
	config.action("owner-label") == "warn" with input as shop_review with data.budgetgate.config as cfg with data.budgetgate.namespaces as ns
	config.action("probes") == "dryrun" with input as shop_manifest with data.budgetgate.config as cfg
	config.invalid_actions == {["tiers[\"staging\"].actions[\"resources\"]", "nope"]} with data.budgetgate.config as cfg
}

test_tiers_of_the_wrong_type_are_invalid_settings if {
	config.invalid_settings == {"tiers", "tier"} with data.budgetgate.config as {"tiers": ["staging"], "tier": 1}
	config.tier == "production" with input as shop_manifest with data.budgetgate.config as {"tiers": ["staging"], "tier": 1}
}

# A manifest without a namespace is read with the label of "default", where
# kubectl applies it and where the webhook then reads the label (parity).
test_manifest_without_namespace_reads_the_default_namespace_label if {
	manifest := {"kind": "Deployment", "metadata": {"name": "checkout"}}
	review := {"kind": "AdmissionReview", "request": {"operation": "CREATE", "namespace": "default", "object": manifest}}
	ns := {"default": {"labels": {"budgetgate.dev/tier": "staging"}}}
	config.tier_namespace == "default" with input as manifest
	config.tier == "staging" with input as manifest with data.budgetgate.namespaces as ns
	config.tier == "staging" with input as review with data.budgetgate.namespaces as ns
	not config.tier_namespace with input as null
	config.tier == "production" with input as null with data.budgetgate.namespaces as ns
}
