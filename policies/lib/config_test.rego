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
	config.invalid_actions == {"owner-label", "min-replicas", "my-own-rule"} with data.budgetgate.config as cfg
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
