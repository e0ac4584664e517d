package budgetgate.rules.budget_canary_test

import data.budgetgate.rules.budget_canary

deployment := {
	"apiVersion": "apps/v1",
	"kind": "Deployment",
	"metadata": {"name": "checkout", "namespace": "shop", "labels": {"budgetgate.dev/slo": "checkout"}},
	"spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "app", "image": "app:1"}]}}},
}

new_image := json.patch(deployment, [{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "app:2"}])

review(operation, obj, old) := {
	"apiVersion": "admission.k8s.io/v1",
	"kind": "AdmissionReview",
	"request": {"uid": "x", "operation": operation, "namespace": "shop", "object": obj, "oldObject": old, "userInfo": {"username": "alice"}},
}

low := {"shop/checkout": {"remaining": 0.18}}

canary := {{
	"msg": `Deployment shop/checkout: SLO "checkout" has 18% of its error budget left, below the canary threshold of 25%: new pods roll out as a canary, a small step at a time; roll back instead, or wait for the budget to recover above 25% to roll out at full speed`,
	"policy": "budget-canary",
}}

test_low_budget_rollout_is_a_canary if {
	budget_canary.findings == canary with input as deployment with data.budgetgate.budgets as low
	budget_canary.findings == canary with input as review("UPDATE", new_image, deployment) with data.budgetgate.budgets as low
}

test_thresholds_of_the_slo_and_config if {
	budget_canary.findings == set() with input as deployment with data.budgetgate.budgets as {"shop/checkout": {"remaining": 0.3}}
	some f in budget_canary.findings with input as deployment
		with data.budgetgate.budgets as {"shop/checkout": {"remaining": 0.3}}
		with data.budgetgate.config as {"canaryBelow": 0.5}
	contains(f.msg, "has 30% of its error budget left, below the canary threshold of 50%")
	some g in budget_canary.findings with input as deployment
		with data.budgetgate.budgets as {"shop/checkout": {"remaining": 0.3, "canaryBelow": 0.4}}
		with data.budgetgate.config as {"canaryBelow": 0.5}
	contains(g.msg, "below the canary threshold of 40%")
}

test_frozen_is_budget_freeze_not_canary if {
	budget_canary.findings == set() with input as deployment with data.budgetgate.budgets as {"shop/checkout": {"remaining": 0}}
	budget_canary.findings == set() with input as deployment
		with data.budgetgate.budgets as {"shop/checkout": {"remaining": 0.1}}
		with data.budgetgate.config as {"freezeBelow": 0.1}
}

test_no_rollout_no_canary if {
	scaled := json.patch(deployment, [{"op": "replace", "path": "/spec/replicas", "value": 10}])
	budget_canary.findings == set() with input as review("UPDATE", scaled, deployment) with data.budgetgate.budgets as low
	budget_canary.findings == set() with input as review("DELETE", null, deployment) with data.budgetgate.budgets as low
}

test_rollback_is_no_canary if {
	stored := json.patch(new_image, [{"op": "add", "path": "/metadata/annotations", "value": {"budgetgate.dev/previous-template": crypto.sha256(json.marshal(deployment.spec.template))}}])
	budget_canary.findings == set() with input as review("UPDATE", deployment, stored) with data.budgetgate.budgets as low
}

test_stale_budget_still_canaries if {
	budget_canary.findings == canary with input as deployment with data.budgetgate.budgets as {"shop/checkout": {"remaining": 0.18, "stale": true}}
}
