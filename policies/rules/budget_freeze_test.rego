package budgetgate.rules.budget_freeze_test

import data.budgetgate.rules.budget_freeze

deployment := {
	"apiVersion": "apps/v1",
	"kind": "Deployment",
	"metadata": {"name": "checkout", "namespace": "shop", "labels": {"budgetgate.dev/slo": "checkout"}},
	"spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "app", "image": "app:1"}]}}},
}

new_image := json.patch(deployment, [{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "app:2"}])

review(operation, obj, old, groups) := {
	"apiVersion": "admission.k8s.io/v1",
	"kind": "AdmissionReview",
	"request": {
		"uid": "x",
		"operation": operation,
		"namespace": "shop",
		"object": obj,
		"oldObject": old,
		"userInfo": {"username": "alice", "groups": groups},
	},
}

frozen := {"shop/checkout": {"remaining": -0.05}}

break_glass(obj, reason) := json.patch(obj, [{"op": "add", "path": "/metadata/annotations", "value": {"budgetgate.dev/break-glass": reason}}])

state := `Deployment shop/checkout: SLO "checkout" has -5% of its error budget left, at or below the freeze threshold of 0%`

denied(who_may) := {{
	"msg": sprintf(`%s: new pods are frozen: roll back to the previous pod template, change only replicas or metadata, wait for the budget to recover, or break the glass with the annotation budgetgate.dev/break-glass: "<reason>"%s`, [state, who_may]),
	"policy": "budget-freeze",
}}

nobody := " (no group may: data.budgetgate.config.breakGlassGroups is empty)"

oncall := {"breakGlassGroups": ["sre-oncall", "platform"]}

test_frozen_rollout_is_denied if {
	budget_freeze.findings == denied(nobody) with input as deployment with data.budgetgate.budgets as frozen
	budget_freeze.findings == denied(nobody) with input as review("CREATE", deployment, null, []) with data.budgetgate.budgets as frozen
	budget_freeze.findings == denied(nobody) with input as review("UPDATE", new_image, deployment, []) with data.budgetgate.budgets as frozen
	budget_freeze.findings == denied(" (allowed for members of sre-oncall, platform)") with input as deployment
		with data.budgetgate.budgets as frozen with data.budgetgate.config as oncall
}

test_remaining_exactly_at_the_threshold_is_frozen if {
	count(budget_freeze.findings) == 1 with input as deployment with data.budgetgate.budgets as {"shop/checkout": {"remaining": 0}}
	count(budget_freeze.findings) == 1 with input as deployment
		with data.budgetgate.budgets as {"shop/checkout": {"remaining": 0.1, "freezeBelow": 0.1}}
	budget_freeze.findings == set() with input as deployment with data.budgetgate.budgets as {"shop/checkout": {"remaining": 0.01}}
}

test_threshold_from_config_in_the_message if {
	some f in budget_freeze.findings with input as deployment
		with data.budgetgate.budgets as {"shop/checkout": {"remaining": 0.04}}
		with data.budgetgate.config as {"freezeBelow": 0.05}
	startswith(f.msg, `Deployment shop/checkout: SLO "checkout" has 4% of its error budget left, at or below the freeze threshold of 5%: `)
}

test_what_still_passes_a_freeze if {
	scaled := json.patch(deployment, [{"op": "replace", "path": "/spec/replicas", "value": 10}])
	budget_freeze.findings == set() with input as review("UPDATE", scaled, deployment, []) with data.budgetgate.budgets as frozen
	relabelled := json.patch(deployment, [{"op": "add", "path": "/metadata/labels/tier", "value": "web"}])
	budget_freeze.findings == set() with input as review("UPDATE", relabelled, deployment, []) with data.budgetgate.budgets as frozen
	budget_freeze.findings == set() with input as review("DELETE", null, deployment, []) with data.budgetgate.budgets as frozen

	# rollback: back to the template new_image replaced
	stored := json.patch(new_image, [{"op": "add", "path": "/metadata/annotations", "value": {"budgetgate.dev/previous-template": crypto.sha256(json.marshal(deployment.spec.template))}}])
	budget_freeze.findings == set() with input as review("UPDATE", deployment, stored, []) with data.budgetgate.budgets as frozen
}

test_healthy_unknown_or_unlabelled_is_no_freeze if {
	budget_freeze.findings == set() with input as deployment with data.budgetgate.budgets as {"shop/checkout": {"remaining": 0.5}}
	budget_freeze.findings == set() with input as deployment
	budget_freeze.findings == set() with input as json.remove(deployment, ["metadata/labels"]) with data.budgetgate.budgets as frozen
}

test_stale_budget_still_freezes if {
	budget_freeze.findings == denied(nobody) with input as deployment with data.budgetgate.budgets as {"shop/checkout": {"remaining": -0.05, "stale": true}}
}

test_break_glass_by_a_member_passes_audited if {
	obj := break_glass(new_image, " INC-4711 payment outage hotfix ")
	budget_freeze.findings == {{
		"msg": sprintf(`%s: the freeze was broken by "alice" (group sre-oncall) for "INC-4711 payment outage hotfix": admitted, and recorded`, [state]),
		"policy": "budget-freeze",
		"action": "warn",
		"breakGlass": {"user": "alice", "groups": ["sre-oncall"], "reason": "INC-4711 payment outage hotfix"},
	}} with input as review("UPDATE", obj, deployment, ["dev", "sre-oncall"])
		with data.budgetgate.budgets as frozen with data.budgetgate.config as oncall
}

test_break_glass_names_every_matching_group if {
	obj := break_glass(new_image, "hotfix")
	some f in budget_freeze.findings with input as review("UPDATE", obj, deployment, ["sre-oncall", "platform"])
		with data.budgetgate.budgets as frozen with data.budgetgate.config as oncall
	f.breakGlass.groups == ["platform", "sre-oncall"]
	contains(f.msg, `broken by "alice" (group platform, sre-oncall) for "hotfix"`)
}

test_break_glass_by_anybody_else_is_refused if {
	obj := break_glass(new_image, "hotfix")
	budget_freeze.findings == {{
		"msg": sprintf(`%s: new pods are frozen, and the break-glass by "alice" ("hotfix") was refused: only members of sre-oncall, platform may break the glass; roll back, change only replicas or metadata, or ask one of them`, [state]),
		"policy": "budget-freeze",
	}} with input as review("UPDATE", obj, deployment, ["dev"])
		with data.budgetgate.budgets as frozen with data.budgetgate.config as oncall
	budget_freeze.findings == {{
		"msg": sprintf(`%s: new pods are frozen, and the break-glass by "alice" ("hotfix") was refused: no group may break the glass (data.budgetgate.config.breakGlassGroups is empty); roll back, change only replicas or metadata, or wait for the budget to recover`, [state]),
		"policy": "budget-freeze",
	}} with input as review("UPDATE", obj, deployment, ["sre-oncall"])
		with data.budgetgate.budgets as frozen
}

test_break_glass_without_user_info_is_refused if {
	obj := break_glass(new_image, "hotfix")
	r := json.remove(review("UPDATE", obj, deployment, []), ["request/userInfo"])
	some f in budget_freeze.findings with input as r with data.budgetgate.budgets as frozen with data.budgetgate.config as oncall
	contains(f.msg, `the break-glass by "<unknown user>" ("hotfix") was refused`)
	not f.action
}

test_blank_break_glass_is_none if {
	budget_freeze.findings == denied(nobody) with input as break_glass(deployment, "  ") with data.budgetgate.budgets as frozen
	budget_freeze.findings == denied(nobody) with input as break_glass(deployment, true) with data.budgetgate.budgets as frozen
}

test_break_glass_in_ci_warns if {
	budget_freeze.findings == {{
		"msg": sprintf(`%s: the freeze is broken with budgetgate.dev/break-glass for "hotfix": only a warning here; in the cluster only members of sre-oncall, platform may break the glass`, [state]),
		"policy": "budget-freeze",
		"action": "warn",
		"breakGlass": {"reason": "hotfix"},
	}} with input as break_glass(deployment, "hotfix") with data.budgetgate.budgets as frozen with data.budgetgate.config as oncall
	budget_freeze.findings == {{
		"msg": sprintf(`%s: the freeze is broken with budgetgate.dev/break-glass for "hotfix": only a warning here; in the cluster no group may break the glass (data.budgetgate.config.breakGlassGroups is empty)`, [state]),
		"policy": "budget-freeze",
		"action": "warn",
		"breakGlass": {"reason": "hotfix"},
	}} with input as break_glass(deployment, "hotfix") with data.budgetgate.budgets as frozen
}

test_flagger_canary_is_frozen_by_its_own_slo if {
	canary := {
		"apiVersion": "flagger.app/v1beta1",
		"kind": "Canary",
		"metadata": {"name": "podinfo", "namespace": "test", "labels": {"budgetgate.dev/slo": "podinfo"}},
		"spec": {"analysis": {"stepWeight": 5}},
	}
	some f in budget_freeze.findings with input as canary with data.budgetgate.budgets as {"test/podinfo": {"remaining": 0}}
	startswith(f.msg, `Canary test/podinfo: SLO "podinfo" has 0% of its error budget left`)
}
