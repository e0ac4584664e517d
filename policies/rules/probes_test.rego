package budgetgate.rules.probes_test

import data.budgetgate.rules.probes

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

liveness_required := {"parameters": {"probes": {"liveness": true}}}

no_readiness := json.remove(deployment, ["spec/template/spec/containers/0/readinessProbe"])

no_liveness := json.remove(deployment, ["spec/template/spec/containers/0/livenessProbe"])

missing_readiness := {{
	"msg": `Deployment shop/checkout: container "app" has no readinessProbe: set spec.template.spec.containers[0].readinessProbe`,
	"policy": "probes",
}}

missing_liveness := {{
	"msg": `Deployment shop/checkout: container "app" has no livenessProbe: set spec.template.spec.containers[0].livenessProbe`,
	"policy": "probes",
}}

test_compliant_deployment_has_no_finding if {
	probes.findings == set() with input as deployment
	probes.findings == set() with input as deployment with data.budgetgate.config as liveness_required
}

test_missing_readiness_probe if {
	probes.findings == missing_readiness with input as no_readiness
}

test_liveness_probe_is_optional_by_default if {
	probes.findings == set() with input as no_liveness
	probes.findings == set() with input as no_liveness with data.budgetgate.config as {"parameters": {"probes": {"liveness": false}}}
}

test_liveness_probe_when_config_requires_it if {
	probes.findings == missing_liveness with input as no_liveness with data.budgetgate.config as liveness_required
	no_probes := json.remove(no_readiness, ["spec/template/spec/containers/0/livenessProbe"])
	probes.findings == missing_readiness | missing_liveness with input as no_probes with data.budgetgate.config as liveness_required
}

test_init_containers_need_no_probes if {
	obj := json.patch(deployment, [{"op": "add", "path": "/spec/template/spec/initContainers", "value": [{"name": "migrate", "image": "migrate:2"}]}])
	probes.findings == set() with input as obj with data.budgetgate.config as liveness_required
}

test_every_serving_container_is_judged if {
	obj := json.patch(deployment, [{"op": "add", "path": "/spec/template/spec/containers/-", "value": {"name": "sidecar", "image": "envoy:1.30"}}])
	probes.findings == {{
		"msg": `Deployment shop/checkout: container "sidecar" has no readinessProbe: set spec.template.spec.containers[1].readinessProbe`,
		"policy": "probes",
	}} with input as obj
}

test_admission_review if {
	probes.findings == missing_readiness with input as review("CREATE", no_readiness)
	probes.findings == missing_readiness with input as review("UPDATE", no_readiness)
	probes.findings == set() with input as review("CREATE", deployment)
}

test_delete_has_no_finding if {
	probes.findings == set() with input as review("DELETE", no_readiness)
}

test_controlled_pod_and_replica_set_have_no_finding if {
	probes.findings == set() with input as controlled(pod, "ReplicaSet")
	probes.findings == set() with input as review("CREATE", controlled(pod, "ReplicaSet"))
	rs := json.remove(replica_set, ["spec/template/spec/containers/0/readinessProbe"])
	probes.findings == set() with input as controlled(rs, "Deployment")
}

test_bare_long_running_pod_is_judged if {
	probes.findings == {{
		"msg": `Pod shop/checkout-7d9f-x2x: container "app" has no readinessProbe: set spec.containers[0].readinessProbe`,
		"policy": "probes",
	}} with input as pod
	one_off := json.patch(pod, [{"op": "add", "path": "/spec/restartPolicy", "value": "Never"}])
	probes.findings == set() with input as one_off
}

test_jobs_and_cron_jobs_need_no_probes if {
	spec := {"restartPolicy": "Never", "containers": [{"name": "backup", "image": "backup:1"}]}
	job := {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "backup", "namespace": "shop"}, "spec": {"template": {"spec": spec}}}
	cron_job := {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "backup", "namespace": "shop"}, "spec": {"jobTemplate": {"spec": job.spec}}}
	probes.findings == set() with input as job with data.budgetgate.config as liveness_required
	probes.findings == set() with input as cron_job with data.budgetgate.config as liveness_required
}

test_stateful_set_daemon_set_and_rollout_are_judged if {
	every kind, api_version in {"StatefulSet": "apps/v1", "DaemonSet": "apps/v1", "Rollout": "argoproj.io/v1alpha1"} {
		obj := json.patch(no_readiness, [
			{"op": "replace", "path": "/kind", "value": kind},
			{"op": "replace", "path": "/apiVersion", "value": api_version},
		])
		probes.findings == {{
			"msg": sprintf(`%s shop/checkout: container "app" has no readinessProbe: set spec.template.spec.containers[0].readinessProbe`, [kind]),
			"policy": "probes",
		}} with input as obj
	}
}

test_rollout_with_workload_ref_is_skipped if {
	rollout := {
		"apiVersion": "argoproj.io/v1alpha1",
		"kind": "Rollout",
		"metadata": {"name": "checkout", "namespace": "shop"},
		"spec": {"replicas": 5, "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "checkout"}},
	}
	probes.findings == set() with input as rollout with data.budgetgate.config as liveness_required
}
