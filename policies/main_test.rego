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

replicas_msg := "Deployment shop/checkout: spec.replicas is 1, below the minimum of 2: set spec.replicas to 2 or more, or leave it to an autoscaler"

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

test_admission_review_gets_the_same_verdict if {
	ci_deny := main.deny with input as bad
	ci_warn := main.warn with input as bad
	count(ci_deny) == 2
	count(ci_warn) == 2
	every operation in ["CREATE", "UPDATE"] {
		main.deny == ci_deny with input as review(operation, bad)
		main.warn == ci_warn with input as review(operation, bad)
	}
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
		"msg": "Deployment shop/checkout: spec.replicas is 3, below the minimum of 5: set spec.replicas to 5 or more, or leave it to an autoscaler",
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
