package budgetgate.rules.resources_test

import data.budgetgate.rules.resources

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

with_resources(value) := json.patch(deployment, [{
	"op": "replace",
	"path": "/spec/template/spec/containers/0/resources",
	"value": value,
}])

finding(missing) := {{
	"msg": sprintf(`Deployment shop/checkout: container "app" has no %s: set spec.template.spec.containers[0].resources`, [missing]),
	"policy": "resources",
}}

test_compliant_deployment_has_no_finding if {
	resources.findings == set() with input as deployment
}

test_cpu_limit_is_not_required if {
	obj := with_resources({"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "1Gi", "cpu": "2"}})
	resources.findings == set() with input as obj
}

test_each_missing_field if {
	resources.findings == finding("resources.requests.cpu") with input as with_resources({"requests": {"memory": "128Mi"}, "limits": {"memory": "256Mi"}})
	resources.findings == finding("resources.requests.memory") with input as with_resources({"requests": {"cpu": "100m"}, "limits": {"memory": "256Mi"}})
	resources.findings == finding("resources.limits.memory") with input as with_resources({"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1"}})
}

test_all_missing_in_one_finding if {
	all_missing := finding("resources.requests.cpu, resources.requests.memory, resources.limits.memory")
	resources.findings == all_missing with input as with_resources({})
	resources.findings == all_missing with input as with_resources(null)
	resources.findings == all_missing with input as json.remove(deployment, ["spec/template/spec/containers/0/resources"])
}

test_empty_or_null_values_are_missing if {
	obj := with_resources({"requests": {"cpu": "", "memory": null}, "limits": {"memory": "256Mi"}})
	resources.findings == finding("resources.requests.cpu, resources.requests.memory") with input as obj
}

test_every_container_and_init_container_is_judged if {
	obj := json.patch(deployment, [
		{"op": "add", "path": "/spec/template/spec/containers/-", "value": {"name": "sidecar", "image": "envoy:1.30"}},
		{"op": "add", "path": "/spec/template/spec/initContainers", "value": [{"name": "migrate", "image": "migrate:2"}]},
	])
	resources.findings == {
		{"msg": `Deployment shop/checkout: container "sidecar" has no resources.requests.cpu, resources.requests.memory, resources.limits.memory: set spec.template.spec.containers[1].resources`, "policy": "resources"},
		{"msg": `Deployment shop/checkout: container "migrate" has no resources.requests.cpu, resources.requests.memory, resources.limits.memory: set spec.template.spec.initContainers[0].resources`, "policy": "resources"},
	} with input as obj
}

test_admission_review if {
	resources.findings == finding("resources.limits.memory") with input as review("CREATE", with_resources({"requests": {"cpu": "1", "memory": "1Gi"}}))
	resources.findings == finding("resources.limits.memory") with input as review("UPDATE", with_resources({"requests": {"cpu": "1", "memory": "1Gi"}}))
	resources.findings == set() with input as review("CREATE", deployment)
}

test_delete_has_no_finding if {
	resources.findings == set() with input as review("DELETE", with_resources({}))
}

test_controlled_pod_and_replica_set_have_no_finding if {
	resources.findings == set() with input as controlled(pod, "ReplicaSet")
	resources.findings == set() with input as review("CREATE", controlled(pod, "ReplicaSet"))
	rs := json.remove(replica_set, ["spec/template/spec/containers/0/resources"])
	resources.findings == set() with input as controlled(rs, "Deployment")
}

test_bare_pod_and_cron_job_are_judged_at_their_own_path if {
	resources.findings == {{
		"msg": `Pod shop/checkout-7d9f-x2x: container "app" has no resources.requests.cpu, resources.requests.memory, resources.limits.memory: set spec.containers[0].resources`,
		"policy": "resources",
	}} with input as pod
	cron_job := {
		"apiVersion": "batch/v1",
		"kind": "CronJob",
		"metadata": {"name": "backup", "namespace": "shop"},
		"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "backup", "image": "backup:1"}]}}}}},
	}
	resources.findings == {{
		"msg": `CronJob shop/backup: container "backup" has no resources.requests.cpu, resources.requests.memory, resources.limits.memory: set spec.jobTemplate.spec.template.spec.containers[0].resources`,
		"policy": "resources",
	}} with input as cron_job
}

test_rollout_with_workload_ref_is_skipped if {
	rollout := {
		"apiVersion": "argoproj.io/v1alpha1",
		"kind": "Rollout",
		"metadata": {"name": "checkout", "namespace": "shop"},
		"spec": {"replicas": 5, "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "checkout"}},
	}
	resources.findings == set() with input as rollout
}
