package budgetgate.rules.owner_label_test

import data.budgetgate.rules.owner_label

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

no_owner := json.remove(deployment, ["metadata/labels/owner"])

missing_owner := {{
	"msg": `Deployment shop/checkout: metadata.labels has no "owner" label: add metadata.labels.owner naming the owning team`,
	"policy": "owner-label",
}}

test_compliant_deployment_has_no_finding if {
	owner_label.findings == set() with input as deployment
}

test_missing_owner_label if {
	owner_label.findings == missing_owner with input as no_owner
}

test_no_labels_at_all if {
	owner_label.findings == missing_owner with input as json.remove(deployment, ["metadata/labels"])
}

test_blank_owner_label if {
	obj := json.patch(deployment, [{"op": "replace", "path": "/metadata/labels/owner", "value": "  "}])
	owner_label.findings == missing_owner with input as obj
}

test_admission_review_create_and_update if {
	owner_label.findings == missing_owner with input as review("CREATE", no_owner)
	owner_label.findings == missing_owner with input as review("UPDATE", no_owner)
	owner_label.findings == set() with input as review("CREATE", deployment)
}

test_admission_review_namespace_from_the_request if {
	obj := json.remove(no_owner, ["metadata/namespace"])
	owner_label.findings == missing_owner with input as review("CREATE", obj)
}

test_delete_has_no_finding if {
	owner_label.findings == set() with input as review("DELETE", no_owner)
}

test_controlled_pod_and_replica_set_have_no_finding if {
	owner_label.findings == set() with input as controlled(pod, "ReplicaSet")
	owner_label.findings == set() with input as review("CREATE", controlled(pod, "ReplicaSet"))
	owner_label.findings == set() with input as controlled(json.remove(replica_set, ["metadata/labels/owner"]), "Deployment")
}

test_bare_pod_and_cron_job_are_judged if {
	owner_label.findings == {{
		"msg": `Pod shop/checkout-7d9f-x2x: metadata.labels has no "owner" label: add metadata.labels.owner naming the owning team`,
		"policy": "owner-label",
	}} with input as pod
	cron_job := {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "backup", "namespace": "shop"}, "spec": {}}
	owner_label.findings == {{
		"msg": `CronJob shop/backup: metadata.labels has no "owner" label: add metadata.labels.owner naming the owning team`,
		"policy": "owner-label",
	}} with input as cron_job
}

test_non_workloads_are_not_judged if {
	owner_label.findings == set() with input as {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "checkout"}}
	owner_label.findings == set() with input as {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "checkout"}}
}

test_configured_label_key if {
	cfg := {"parameters": {"owner-label": {"key": "team.example.com/owner"}}}
	owner_label.findings == {{
		"msg": `Deployment shop/checkout: metadata.labels has no "team.example.com/owner" label: add metadata.labels.team.example.com/owner naming the owning team`,
		"policy": "owner-label",
	}} with input as deployment with data.budgetgate.config as cfg
	obj := json.patch(no_owner, [{"op": "add", "path": "/metadata/labels/team.example.com~1owner", "value": "payments"}])
	owner_label.findings == set() with input as obj with data.budgetgate.config as cfg
}
