package budgetgate.rules.slo_declared_test

import data.budgetgate.rules.slo_declared

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

budgets := {"shop/checkout": {"objective": 0.999, "window": "30d", "remaining": 0.42, "stale": false}}

no_slo := json.remove(deployment, ["metadata/labels/budgetgate.dev~1slo"])

missing_label := {{
	"msg": `Deployment shop/checkout: metadata.labels has no "budgetgate.dev/slo" label: add it with the name of the workload's ServiceLevelObjective`,
	"policy": "slo-declared",
}}

unknown_slo := {{
	"msg": `Deployment shop/checkout: label budgetgate.dev/slo=checkout names no ServiceLevelObjective "checkout" in namespace "shop": create it or fix the label`,
	"policy": "slo-declared",
}}

test_compliant_deployment_without_budgets_document if {
	slo_declared.findings == set() with input as deployment
}

test_compliant_deployment_whose_slo_is_known if {
	slo_declared.findings == set() with input as deployment with data.budgetgate.budgets as budgets
}

test_missing_label if {
	slo_declared.findings == missing_label with input as no_slo
	slo_declared.findings == missing_label with input as no_slo with data.budgetgate.budgets as budgets
}

test_blank_label_counts_as_missing if {
	obj := json.patch(deployment, [{"op": "replace", "path": "/metadata/labels/budgetgate.dev~1slo", "value": ""}])
	slo_declared.findings == missing_label with input as obj
	slo_declared.findings == missing_label with input as obj with data.budgetgate.budgets as budgets
}

test_label_naming_no_known_slo if {
	slo_declared.findings == unknown_slo with input as deployment with data.budgetgate.budgets as {"shop/search": {"remaining": 1}}
	slo_declared.findings == unknown_slo with input as deployment with data.budgetgate.budgets as {}
}

test_slo_of_another_namespace_does_not_count if {
	other := json.patch(deployment, [{"op": "replace", "path": "/metadata/namespace", "value": "staging"}])
	slo_declared.findings == {{
		"msg": `Deployment staging/checkout: label budgetgate.dev/slo=checkout names no ServiceLevelObjective "checkout" in namespace "staging": create it or fix the label`,
		"policy": "slo-declared",
	}} with input as other with data.budgetgate.budgets as budgets
}

test_manifest_without_namespace_looks_in_default if {
	obj := json.remove(deployment, ["metadata/namespace"])
	slo_declared.findings == {{
		"msg": `Deployment checkout: label budgetgate.dev/slo=checkout names no ServiceLevelObjective "checkout" in namespace "default": create it or fix the label`,
		"policy": "slo-declared",
	}} with input as obj with data.budgetgate.budgets as budgets
	slo_declared.findings == set() with input as obj with data.budgetgate.budgets as {"default/checkout": {"remaining": 1}}
}

test_admission_review if {
	slo_declared.findings == missing_label with input as review("CREATE", no_slo)
	slo_declared.findings == unknown_slo with input as review("UPDATE", deployment) with data.budgetgate.budgets as {}
	slo_declared.findings == set() with input as review("CREATE", deployment) with data.budgetgate.budgets as budgets

	# the request's namespace is the SLO's namespace when the object has none
	obj := json.remove(deployment, ["metadata/namespace"])
	slo_declared.findings == set() with input as review("CREATE", obj) with data.budgetgate.budgets as budgets
}

test_delete_has_no_finding if {
	slo_declared.findings == set() with input as review("DELETE", no_slo)
	slo_declared.findings == set() with input as review("DELETE", deployment) with data.budgetgate.budgets as {}
}

test_controlled_pod_and_replica_set_have_no_finding if {
	slo_declared.findings == set() with input as controlled(pod, "ReplicaSet")
	slo_declared.findings == set() with input as controlled(json.remove(replica_set, ["metadata/labels"]), "Deployment")
	slo_declared.findings == set() with input as controlled(json.remove(replica_set, ["metadata/labels"]), "Rollout")
}

test_run_to_completion_workloads_need_no_slo if {
	job := {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate", "namespace": "shop"}, "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [container]}}}}
	cron_job := {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "backup", "namespace": "shop"}, "spec": {"jobTemplate": {"spec": job.spec}}}
	one_off := json.patch(pod, [{"op": "add", "path": "/spec/restartPolicy", "value": "Never"}])
	slo_declared.findings == set() with input as job
	slo_declared.findings == set() with input as cron_job
	slo_declared.findings == set() with input as one_off
}

test_long_running_kinds_need_an_slo if {
	every kind in ["StatefulSet", "DaemonSet"] {
		obj := json.patch(no_slo, [{"op": "replace", "path": "/kind", "value": kind}])
		slo_declared.findings == {{
			"msg": sprintf(`%s shop/checkout: metadata.labels has no "budgetgate.dev/slo" label: add it with the name of the workload's ServiceLevelObjective`, [kind]),
			"policy": "slo-declared",
		}} with input as obj
	}
}
