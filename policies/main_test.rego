package main_test

import data.main

# A compliant Deployment: every shipped rule passes it.
container := {
	"name": "app",
	"image": "registry.example.com/shop/checkout:1.4.2",
	"readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}},
	"livenessProbe": {"httpGet": {"path": "/live", "port": 8080}},
	"resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
}

deployment := {
	"apiVersion": "apps/v1",
	"kind": "Deployment",
	"metadata": {
		"name": "checkout",
		"namespace": "shop",
		"labels": {"app": "checkout", "owner": "payments", "budgetgate.dev/slo": "checkout"},
	},
	"spec": {
		"replicas": 3,
		"selector": {"matchLabels": {"app": "checkout"}},
		"template": {
			"metadata": {"labels": {"app": "checkout"}},
			"spec": {"containers": [container]},
		},
	},
}

review(operation, obj) := {
	"apiVersion": "admission.k8s.io/v1",
	"kind": "AdmissionReview",
	"request": {
		"uid": "x",
		"operation": operation,
		"namespace": "shop",
		"object": obj,
		"userInfo": {"username": "alice"},
	},
} if operation != "DELETE"

review("DELETE", obj) := {
	"apiVersion": "admission.k8s.io/v1",
	"kind": "AdmissionReview",
	"request": {
		"uid": "x",
		"operation": "DELETE",
		"namespace": "shop",
		"object": null,
		"oldObject": obj,
		"userInfo": {"username": "alice"},
	},
}

# controlled(obj, kind) is obj with a controller owner reference to a kind.
controlled(obj, kind) := json.patch(obj, [{
	"op": "add",
	"path": "/metadata/ownerReferences",
	"value": [{"apiVersion": "apps/v1", "kind": kind, "name": "checkout-7d9f", "uid": "u", "controller": true}],
}])

# pod and replica_set are what the Deployment's controllers create from it.
replica_set := json.patch(deployment, [{"op": "replace", "path": "/kind", "value": "ReplicaSet"}])

pod := {
	"apiVersion": "v1",
	"kind": "Pod",
	"metadata": {"name": "checkout-7d9f-x2x", "namespace": "shop", "labels": {"app": "checkout"}},
	"spec": {"containers": [json.remove(container, ["readinessProbe", "resources"])]},
}

# bad breaks four rules: two deny by default, one is canary, one warn.
bad := json.patch(deployment, [
	{"op": "remove", "path": "/metadata/labels/owner"},
	{"op": "remove", "path": "/metadata/labels/budgetgate.dev~1slo"},
	{"op": "replace", "path": "/spec/replicas", "value": 1},
	{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "app:latest"},
])

owner_msg := `Deployment shop/checkout: metadata.labels has no "owner" label: add metadata.labels.owner naming the owning team`

image_msg := `Deployment shop/checkout: container "app" image "app:latest" uses the tag latest: set spec.template.spec.containers[0].image to a fixed version`

slo_msg := `Deployment shop/checkout: metadata.labels has no "budgetgate.dev/slo" label: add it with the name of the workload's ServiceLevelObjective`

replicas_msg := "Deployment shop/checkout: spec.replicas is 1, below the minimum of 2: set spec.replicas to 2 or more (with a HorizontalPodAutoscaler, set it to the autoscaler's minReplicas)"

test_compliant_deployment_passes if {
	main.deny == set() with input as deployment
	main.warn == set() with input as deployment
	main.dryrun == set() with input as deployment
	main.deny == set() with input as review("CREATE", deployment) with data.budgetgate.budgets as {"shop/checkout": {"remaining": 0.9}}
	main.warn == set() with input as review("CREATE", deployment) with data.budgetgate.budgets as {"shop/checkout": {"remaining": 0.9}}
}

test_default_actions if {
	main.deny == {
		{"msg": owner_msg, "policy": "owner-label", "action": "deny"},
		{"msg": image_msg, "policy": "image-pinned", "action": "deny"},
	} with input as bad
	main.warn == {
		{"msg": slo_msg, "policy": "slo-declared", "action": "canary"},
		{"msg": replicas_msg, "policy": "min-replicas", "action": "warn"},
	} with input as bad
	main.dryrun == set() with input as bad
}

# In the cluster the mutating webhook applies the canary patch before the
# validating webhook runs; the verdict is then the one CI gives.
test_admission_review_gets_the_same_verdict if {
	ci_deny := main.deny with input as bad
	ci_warn := main.warn with input as bad
	count(ci_deny) == 2
	count(ci_warn) == 2
	every operation in ["CREATE", "UPDATE"] {
		ops := main.patch with input as review(operation, bad)
		mutated := json.patch(bad, [op | some op in ops])
		main.deny == ci_deny with input as review(operation, mutated)
		main.warn == ci_warn with input as review(operation, mutated)
		main.patch == set() with input as review(operation, mutated)
	}
}

# An object that reaches the validating webhook without the canary strategy
# bypassed the mutating webhook: it is refused, naming the rule that asked.
test_canary_bypass_is_refused if {
	denied := main.deny with input as review("CREATE", bad)
	some f in denied
	f.policy == "slo-declared"
	f.action == "canary"
	contains(f.msg, "must roll out as a canary (slo-declared)")
}

test_canary_patch_only_for_canary_actions if {
	count(main.patch) > 0 with input as bad
	main.patch == set() with input as bad with data.budgetgate.config.actions as {"slo-declared": "warn"}
	main.patch == set() with input as deployment
}

test_canary_reason_names_every_rule if {
	ops := main.patch with input as bad with data.budgetgate.config.actions as {"min-replicas": "canary"}
	some op in ops
	op.path == "/metadata/annotations"
	op.value == {"budgetgate.dev/canary": "min-replicas,slo-declared"}
}

test_delete_passes if {
	main.deny == set() with input as review("DELETE", bad)
	main.warn == set() with input as review("DELETE", bad)
	main.dryrun == set() with input as review("DELETE", bad)
}

test_controlled_children_pass if {
	main.deny == set() with input as review("CREATE", controlled(pod, "ReplicaSet"))
	main.warn == set() with input as review("CREATE", controlled(pod, "ReplicaSet"))
	rs := json.patch(replica_set, [{"op": "remove", "path": "/metadata/labels"}])
	main.deny == set() with input as controlled(rs, "Deployment")
	main.warn == set() with input as controlled(rs, "Deployment")
}

test_configured_actions if {
	cfg := {"actions": {"owner-label": "warn", "image-pinned": "canary", "slo-declared": "deny", "min-replicas": "dryrun"}}
	main.deny == {{"msg": slo_msg, "policy": "slo-declared", "action": "deny"}} with input as bad with data.budgetgate.config as cfg
	main.warn == {
		{"msg": owner_msg, "policy": "owner-label", "action": "warn"},
		{"msg": image_msg, "policy": "image-pinned", "action": "canary"},
	} with input as bad with data.budgetgate.config as cfg
	main.dryrun == {{"msg": replicas_msg, "policy": "min-replicas", "action": "dryrun"}} with input as bad with data.budgetgate.config as cfg
}

test_dryrun_only_records if {
	cfg := {"actions": {"owner-label": "dryrun", "image-pinned": "dryrun", "slo-declared": "dryrun", "min-replicas": "dryrun"}}
	main.deny == set() with input as bad with data.budgetgate.config as cfg
	main.warn == set() with input as bad with data.budgetgate.config as cfg
	{f.policy | some f in main.dryrun} == {"owner-label", "image-pinned", "slo-declared", "min-replicas"} with input as bad with data.budgetgate.config as cfg
}

test_invalid_action_is_a_config_denial_and_the_default_applies if {
	cfg := {"actions": {"min-replicas": "block"}}
	main.deny == {
		{"msg": owner_msg, "policy": "owner-label", "action": "deny"},
		{"msg": image_msg, "policy": "image-pinned", "action": "deny"},
		{"msg": `data.budgetgate.config.actions["min-replicas"] is block: use one of deny, canary, warn, dryrun`, "policy": "config"},
	} with input as bad with data.budgetgate.config as cfg
	{"msg": replicas_msg, "policy": "min-replicas", "action": "warn"} in main.warn with input as bad with data.budgetgate.config as cfg

	# a config mistake is reported on every object, compliant or not
	main.deny == {{"msg": `data.budgetgate.config.actions["min-replicas"] is block: use one of deny, canary, warn, dryrun`, "policy": "config"}} with input as deployment with data.budgetgate.config as cfg
}

test_invalid_parameter_is_a_config_denial_and_the_default_applies if {
	cfg := {"parameters": {"min-replicas": {"minimum": "3"}}}
	main.deny == {{
		"msg": `data.budgetgate.config.parameters["min-replicas"]["minimum"] is 3, a string: use a number like the default 2`,
		"policy": "config",
	}} with input as deployment with data.budgetgate.config as cfg
	main.warn == set() with input as deployment with data.budgetgate.config as cfg
}

test_configured_parameters_reach_the_verdict if {
	cfg := {"parameters": {"min-replicas": {"minimum": 5}, "probes": {"liveness": true}, "image-pinned": {"digest": true}}}
	obj := json.remove(deployment, ["spec/template/spec/containers/0/livenessProbe"])
	main.deny == {
		{"msg": `Deployment shop/checkout: container "app" has no livenessProbe: set spec.template.spec.containers[0].livenessProbe`, "policy": "probes", "action": "deny"},
		{"msg": `Deployment shop/checkout: container "app" image "registry.example.com/shop/checkout:1.4.2" is not pinned by digest (digest pinning is required): set spec.template.spec.containers[0].image to a fixed version`, "policy": "image-pinned", "action": "deny"},
	} with input as obj with data.budgetgate.config as cfg
	main.warn == {{
		"msg": "Deployment shop/checkout: spec.replicas is 3, below the minimum of 5: set spec.replicas to 5 or more (with a HorizontalPodAutoscaler, set it to the autoscaler's minReplicas)",
		"policy": "min-replicas",
		"action": "warn",
	}} with input as obj with data.budgetgate.config as cfg
}

test_unknown_slo_with_budgets_document if {
	main.warn == {{
		"msg": `Deployment shop/checkout: label budgetgate.dev/slo=checkout names no ServiceLevelObjective "checkout" in namespace "shop": create it or fix the label`,
		"policy": "slo-declared",
		"action": "canary",
	}} with input as deployment with data.budgetgate.budgets as {"shop/search": {"remaining": 0.9}}
}

test_findings_of_a_policy_authors_own_rule_get_an_action if {
	own := {{"msg": "Deployment shop/checkout: mine", "policy": "my-own-rule"}}
	main.deny == {{"msg": "Deployment shop/checkout: mine", "policy": "my-own-rule", "action": "deny"}} with input as deployment with data.budgetgate.rules.my_own_rule.findings as own
	main.warn == {{"msg": "Deployment shop/checkout: mine", "policy": "my-own-rule", "action": "warn"}} with input as deployment with data.budgetgate.rules.my_own_rule.findings as own with data.budgetgate.config as {"actions": {"my-own-rule": "warn"}}
}

test_non_workloads_pass if {
	svc := {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "checkout", "namespace": "shop"}, "spec": {}}
	main.deny == set() with input as svc
	main.warn == set() with input as svc
	main.deny == set() with input as review("CREATE", svc)
}

# Error budget rules in the verdict

update(obj, old, groups) := {
	"apiVersion": "admission.k8s.io/v1",
	"kind": "AdmissionReview",
	"request": {
		"uid": "x",
		"operation": "UPDATE",
		"namespace": "shop",
		"object": obj,
		"oldObject": old,
		"userInfo": {"username": "alice", "groups": groups},
	},
}

new_image := json.patch(deployment, [{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "registry.example.com/shop/checkout:1.5.0"}])

template_hash := crypto.sha256(json.marshal(deployment.spec.template))

frozen := {"shop/checkout": {"remaining": -0.05}}

low := {"shop/checkout": {"remaining": 0.18}}

glass := json.patch(new_image, [{"op": "add", "path": "/metadata/annotations", "value": {"budgetgate.dev/break-glass": "INC-1"}}])

test_frozen_budget_denies_the_rollout if {
	denied := main.deny with input as update(new_image, deployment, []) with data.budgetgate.budgets as frozen
	{[f.policy, f.action] | some f in denied} == {["budget-freeze", "deny"]}
	main.deny == set() with input as update(json.patch(deployment, [{"op": "replace", "path": "/spec/replicas", "value": 9}]), deployment, []) with data.budgetgate.budgets as frozen
}

test_break_glass_is_a_warning_with_its_audit_metadata if {
	main.deny == set() with input as update(glass, deployment, ["sre-oncall"])
		with data.budgetgate.budgets as frozen with data.budgetgate.config.breakGlassGroups as ["sre-oncall"]
	warned := main.warn with input as update(glass, deployment, ["sre-oncall"])
		with data.budgetgate.budgets as frozen with data.budgetgate.config.breakGlassGroups as ["sre-oncall"]
	[f] := [f | some f in warned]
	f.policy == "budget-freeze"
	f.action == "warn"
	f.breakGlass == {"user": "alice", "groups": ["sre-oncall"], "reason": "INC-1"}

	# refused: still a denial
	{f.policy | some f in main.deny} == {"budget-freeze"} with input as update(glass, deployment, ["dev"])
		with data.budgetgate.budgets as frozen with data.budgetgate.config.breakGlassGroups as ["sre-oncall"]

	# CI: a warning
	{[f.policy, f.action, f.breakGlass] | some f in main.warn} == {["budget-freeze", "warn", {"reason": "INC-1"}]} with input as glass with data.budgetgate.budgets as frozen
	main.deny == set() with input as glass with data.budgetgate.budgets as frozen
}

test_a_finding_can_only_soften_its_action_to_warn if {
	forced := {{"msg": "m", "policy": "my-own-rule", "action": "warn"}}
	{f.action | some f in main.findings} == {"warn"} with input as deployment with data.budgetgate.rules.mine.findings as forced
	{f.action | some f in main.findings} == {"warn"} with input as deployment with data.budgetgate.rules.mine.findings as forced
		with data.budgetgate.config.actions as {"my-own-rule": "canary"}
	{f.action | some f in main.findings} == {"dryrun"} with input as deployment with data.budgetgate.rules.mine.findings as forced
		with data.budgetgate.config.actions as {"my-own-rule": "dryrun"}

	# no other action can be forced
	other := {{"msg": "m", "policy": "my-own-rule", "action": "dryrun"}}
	{f.action | some f in main.findings} == {"deny"} with input as deployment with data.budgetgate.rules.mine.findings as other
	louder := {{"msg": "m", "policy": "min-replicas", "action": "deny"}}
	{f.action | some f in main.findings} == {"warn"} with input as deployment with data.budgetgate.rules.mine.findings as louder
}

test_break_glass_under_a_dryrun_freeze_stays_dryrun if {
	{[f.policy, f.action] | some f in main.dryrun} == {["budget-freeze", "dryrun"]} with input as glass
		with data.budgetgate.budgets as frozen with data.budgetgate.config.actions as {"budget-freeze": "dryrun"}
}

test_low_budget_forces_a_canary_with_the_previous_template_in_one_annotation_op if {
	r := update(new_image, deployment, [])
	ops := main.patch with input as r with data.budgetgate.budgets as low
	ops == {
		{"op": "add", "path": "/metadata/annotations", "value": {"budgetgate.dev/canary": "budget-canary", "budgetgate.dev/previous-template": template_hash}},
		{"op": "add", "path": "/spec/strategy", "value": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}},
		{"op": "add", "path": "/spec/minReadySeconds", "value": 30},
		{"op": "add", "path": "/spec/progressDeadlineSeconds", "value": 600},
	}
	mutated := json.patch(new_image, [op | some op in ops])
	main.patch == set() with input as update(mutated, deployment, []) with data.budgetgate.budgets as low
	main.deny == set() with input as update(mutated, deployment, []) with data.budgetgate.budgets as low
	{f.policy | some f in main.warn} == {"budget-canary"} with input as update(mutated, deployment, []) with data.budgetgate.budgets as low
}

test_previous_template_with_other_annotations_one_op_per_key if {
	annotated := json.patch(new_image, [{"op": "add", "path": "/metadata/annotations", "value": {"team": "payments"}}])
	main.patch == {
		{"op": "add", "path": "/metadata/annotations/budgetgate.dev~1canary", "value": "budget-canary"},
		{"op": "add", "path": "/metadata/annotations/budgetgate.dev~1previous-template", "value": template_hash},
		{"op": "add", "path": "/spec/strategy", "value": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}},
		{"op": "add", "path": "/spec/minReadySeconds", "value": 30},
		{"op": "add", "path": "/spec/progressDeadlineSeconds", "value": 600},
	} with input as update(annotated, deployment, []) with data.budgetgate.budgets as low

	# without a canary finding, only the previous template
	main.patch == {{"op": "add", "path": "/metadata/annotations/budgetgate.dev~1previous-template", "value": template_hash}} with input as update(annotated, deployment, [])
	main.patch == {{"op": "add", "path": "/metadata/annotations", "value": {"budgetgate.dev/previous-template": template_hash}}} with input as update(new_image, deployment, [])
}

test_rollback_passes_the_freeze_and_clears_the_previous_template if {
	# new_image is live, and replaced deployment's template
	stored := json.patch(new_image, [{"op": "add", "path": "/metadata/annotations", "value": {"budgetgate.dev/previous-template": template_hash}}])
	rollback := json.patch(deployment, [{"op": "add", "path": "/metadata/annotations", "value": {"budgetgate.dev/previous-template": template_hash}}])
	main.deny == set() with input as update(rollback, stored, []) with data.budgetgate.budgets as frozen
	main.warn == set() with input as update(rollback, stored, []) with data.budgetgate.budgets as frozen
	main.patch == {{"op": "remove", "path": "/metadata/annotations/budgetgate.dev~1previous-template"}} with input as update(rollback, stored, []) with data.budgetgate.budgets as frozen

	# rolling forward again to new_image is no rollback
	rolled_back := json.remove(rollback, ["metadata/annotations/budgetgate.dev~1previous-template"])
	{f.policy | some f in main.deny} == {"budget-freeze"} with input as update(new_image, rolled_back, []) with data.budgetgate.budgets as frozen
}

test_invalid_setting_is_a_config_denial if {
	main.deny == {{
		"msg": `data.budgetgate.config["canaryBelow"] is 25%, a string: use a number like the default 0.25`,
		"policy": "config",
	}} with input as deployment with data.budgetgate.config as {"canaryBelow": "25%"}
}

test_flagger_canary_with_low_budget_is_patched if {
	canary := {
		"apiVersion": "flagger.app/v1beta1",
		"kind": "Canary",
		"metadata": {"name": "podinfo", "namespace": "shop", "labels": {"budgetgate.dev/slo": "checkout"}},
		"spec": {"skipAnalysis": true, "analysis": {"maxWeight": 50, "stepWeight": 20}},
	}
	main.patch == {
		{"op": "add", "path": "/metadata/annotations", "value": {"budgetgate.dev/canary": "budget-canary"}},
		{"op": "add", "path": "/spec/skipAnalysis", "value": false},
		{"op": "add", "path": "/spec/analysis/stepWeight", "value": 10},
	} with input as canary with data.budgetgate.budgets as low
	{f.policy | some f in main.warn} == {"budget-canary"} with input as canary with data.budgetgate.budgets as low
	main.deny == set() with input as canary with data.budgetgate.budgets as low
}

test_custom_finding_without_policy_denies if {
	main.deny == {{"msg": "custom says no", "action": "deny"}} with input as deployment
		with data.budgetgate.rules.custom.findings as {{"msg": "custom says no"}}
}

tiered(tier) := {"shop": {"labels": {"budgetgate.dev/tier": tier}}}

test_staging_namespace_warns_where_production_denies if {
	main.deny == set() with input as review("CREATE", bad) with data.budgetgate.namespaces as tiered("staging")
	{f.policy | some f in main.warn} == {"owner-label", "image-pinned"} with input as review("CREATE", bad) with data.budgetgate.namespaces as tiered("staging")
	{f.policy | some f in main.dryrun} == {"slo-declared", "min-replicas"} with input as review("CREATE", bad) with data.budgetgate.namespaces as tiered("staging")
	main.patch == set() with input as review("CREATE", bad) with data.budgetgate.namespaces as tiered("staging")
}

test_tier_off_judges_nothing if {
	main.deny == set() with input as review("CREATE", bad) with data.budgetgate.namespaces as tiered("off")
	main.warn == set() with input as review("CREATE", bad) with data.budgetgate.namespaces as tiered("off")
	main.dryrun == set() with input as bad with data.budgetgate.config as {"tier": "off"}
}

test_ci_names_the_tier_in_config if {
	main.deny == set() with input as bad with data.budgetgate.config as {"tier": "staging"}
	count(main.deny) == 2 with input as bad with data.budgetgate.config as {"tier": "production"}
}

test_unknown_namespace_tier_warns_and_production_applies if {
	main.warn[{
		"msg": `namespace shop is labelled budgetgate.dev/tier="prod", which names no tier: production's actions apply; label it one of off, production, staging`,
		"policy": "config",
	}] with input as review("CREATE", bad) with data.budgetgate.namespaces as tiered("prod")
	{f.policy | some f in main.deny} == {"owner-label", "image-pinned", "slo-declared"} with input as review("CREATE", bad) with data.budgetgate.namespaces as tiered("prod")
}

test_unknown_configured_tier_is_a_config_denial if {
	main.deny == {{
		"msg": `data.budgetgate.config names the tier "dev": use one of off, production, staging`,
		"policy": "config",
	}} with input as deployment with data.budgetgate.config as {"tiers": {"dev": {"actions": {"probes": "warn"}}}}
}

test_invalid_tier_action_is_a_config_denial if {
	main.deny == {{
		"msg": `data.budgetgate.config.tiers["staging"].actions["probes"] is block: use one of deny, canary, warn, dryrun`,
		"policy": "config",
	}} with input as deployment with data.budgetgate.config as {"tiers": {"staging": {"actions": {"probes": "block"}}}}
}

test_unknown_namespace_tier_names_the_tier_that_applies if {
	manifest := json.remove(bad, ["metadata/namespace"])
	main.warn[{
		"msg": `namespace default is labelled budgetgate.dev/tier="prod", which names no tier: staging's actions apply; label it one of off, production, staging`,
		"policy": "config",
	}] with input as manifest with data.budgetgate.namespaces as {"default": {"labels": {"budgetgate.dev/tier": "prod"}}} with data.budgetgate.config as {"tier": "staging"}

	# conftest's null document (a file's comments before a leading "---") is in no namespace
	main.warn == set() with input as null with data.budgetgate.namespaces as {"default": {"labels": {"budgetgate.dev/tier": "prod"}}}
}
