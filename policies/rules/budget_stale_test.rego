package budgetgate.rules.budget_stale_test

import data.budgetgate.rules.budget_stale

deployment := {
	"apiVersion": "apps/v1",
	"kind": "Deployment",
	"metadata": {"name": "checkout", "namespace": "shop", "labels": {"budgetgate.dev/slo": "checkout"}},
	"spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "app", "image": "app:1"}]}}},
}

review(operation, obj, old) := {
	"apiVersion": "admission.k8s.io/v1",
	"kind": "AdmissionReview",
	"request": {"uid": "x", "operation": operation, "namespace": "shop", "object": obj, "oldObject": old, "userInfo": {"username": "alice"}},
}

test_stale_budget_warns_since_when if {
	budget_stale.findings == {{
		"msg": `Deployment shop/checkout: the error budget of SLO "checkout" is stale (last evaluated at 2026-11-26T04:00:00Z): freeze and canary decisions use the last known value, 42% remaining; check budgetgate's SLO controller and Prometheus`,
		"policy": "budget-stale",
	}} with input as deployment
		with data.budgetgate.budgets as {"shop/checkout": {"remaining": 0.42, "stale": true, "evaluatedAt": "2026-11-26T04:00:00Z"}}
}

test_stale_without_time_or_value if {
	budget_stale.findings == {{
		"msg": `Deployment shop/checkout: the error budget of SLO "checkout" is stale (no evaluation time): freeze and canary decisions use the last known value, 0% remaining; check budgetgate's SLO controller and Prometheus`,
		"policy": "budget-stale",
	}} with input as deployment with data.budgetgate.budgets as {"shop/checkout": {"remaining": 0, "stale": true}}
	budget_stale.findings == {{
		"msg": `Deployment shop/checkout: the error budget of SLO "checkout" is stale (no evaluation time): no freeze or canary decision can be made; check budgetgate's SLO controller and Prometheus`,
		"policy": "budget-stale",
	}} with input as deployment with data.budgetgate.budgets as {"shop/checkout": {"objective": 0.999}}
}

test_fresh_or_unknown_budget_is_no_finding if {
	budget_stale.findings == set() with input as deployment with data.budgetgate.budgets as {"shop/checkout": {"remaining": 0.42, "stale": false}}
	budget_stale.findings == set() with input as deployment with data.budgetgate.budgets as {"shop/checkout": {"remaining": 0.42}}
	budget_stale.findings == set() with input as deployment
	budget_stale.findings == set() with input as review("DELETE", null, deployment) with data.budgetgate.budgets as {"shop/checkout": {"stale": true}}
}

test_any_change_of_a_gated_object_warns if {
	scaled := json.patch(deployment, [{"op": "replace", "path": "/spec/replicas", "value": 10}])
	count(budget_stale.findings) == 1 with input as review("UPDATE", scaled, deployment) with data.budgetgate.budgets as {"shop/checkout": {"remaining": 0.42, "stale": true}}
}
