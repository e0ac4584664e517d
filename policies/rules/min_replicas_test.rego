package budgetgate.rules.min_replicas_test

import data.budgetgate.rules.min_replicas

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

with_replicas(obj, n) := json.patch(obj, [{"op": "replace", "path": "/spec/replicas", "value": n}])

one_replica := with_replicas(deployment, 1)

too_few(kind, replicas, minimum) := {{
	"msg": sprintf("%s shop/checkout: spec.replicas is %d, below the minimum of %d: set spec.replicas to %d or more (with a HorizontalPodAutoscaler, set it to the autoscaler's minReplicas)", [kind, replicas, minimum, minimum]),
	"policy": "min-replicas",
}}

test_compliant_deployment_has_no_finding if {
	min_replicas.findings == set() with input as deployment
	min_replicas.findings == set() with input as with_replicas(deployment, 2)
}

test_too_few_replicas if {
	min_replicas.findings == too_few("Deployment", 1, 2) with input as one_replica
	min_replicas.findings == {{
		"msg": "Deployment shop/checkout: spec.replicas is 1, below the minimum of 2: set spec.replicas to 2 or more (with a HorizontalPodAutoscaler, set it to the autoscaler's minReplicas)",
		"policy": "min-replicas",
	}} with input as one_replica
}

# The API server stores an unset spec.replicas as 1: CI judges it the same.
test_unset_replicas_count_as_one if {
	min_replicas.findings == {{
		"msg": "Deployment shop/checkout: spec.replicas is 1 (unset), below the minimum of 2: set spec.replicas to 2 or more (with a HorizontalPodAutoscaler, set it to the autoscaler's minReplicas)",
		"policy": "min-replicas",
	}} with input as json.remove(deployment, ["spec/replicas"])
}

test_parked_and_malformed_replicas_are_not_judged if {
	min_replicas.findings == set() with input as with_replicas(deployment, 0)
	min_replicas.findings == set() with input as with_replicas(deployment, null)
	min_replicas.findings == set() with input as with_replicas(deployment, "1")
}

test_configured_minimum if {
	cfg := {"parameters": {"min-replicas": {"minimum": 3}}}
	min_replicas.findings == too_few("Deployment", 2, 3) with input as with_replicas(deployment, 2) with data.budgetgate.config as cfg
	min_replicas.findings == set() with input as with_replicas(deployment, 3) with data.budgetgate.config as cfg
	min_replicas.findings == set() with input as one_replica with data.budgetgate.config as {"parameters": {"min-replicas": {"minimum": 1}}}
}

test_minimum_of_the_wrong_type_keeps_the_default if {
	cfg := {"parameters": {"min-replicas": {"minimum": "5"}}}
	min_replicas.findings == set() with input as with_replicas(deployment, 3) with data.budgetgate.config as cfg
	min_replicas.findings == too_few("Deployment", 1, 2) with input as one_replica with data.budgetgate.config as cfg
}

test_replicated_kinds_are_judged if {
	every kind, api_version in {"StatefulSet": "apps/v1", "ReplicaSet": "apps/v1", "Rollout": "argoproj.io/v1alpha1"} {
		obj := json.patch(one_replica, [
			{"op": "replace", "path": "/kind", "value": kind},
			{"op": "replace", "path": "/apiVersion", "value": api_version},
		])
		min_replicas.findings == too_few(kind, 1, 2) with input as obj
	}
}

test_rollout_with_workload_ref_is_judged_on_its_own_replicas if {
	rollout := {
		"apiVersion": "argoproj.io/v1alpha1",
		"kind": "Rollout",
		"metadata": {"name": "checkout", "namespace": "shop"},
		"spec": {"replicas": 1, "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "checkout"}},
	}
	min_replicas.findings == too_few("Rollout", 1, 2) with input as rollout
	min_replicas.findings == set() with input as with_replicas(rollout, 5)
}

test_kinds_without_replica_count_are_not_judged if {
	daemon_set := json.patch(one_replica, [{"op": "replace", "path": "/kind", "value": "DaemonSet"}])
	min_replicas.findings == set() with input as daemon_set
	job := {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate", "namespace": "shop"}, "spec": {"parallelism": 1, "template": {"spec": {"containers": [container]}}}}
	min_replicas.findings == set() with input as job
	min_replicas.findings == set() with input as pod
	min_replicas.findings == set() with input as {"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "checkout"}, "spec": {"replicas": 1}}
}

test_admission_review if {
	min_replicas.findings == too_few("Deployment", 1, 2) with input as review("CREATE", one_replica)
	min_replicas.findings == too_few("Deployment", 1, 2) with input as review("UPDATE", one_replica)
	min_replicas.findings == set() with input as review("CREATE", deployment)
}

test_delete_has_no_finding if {
	min_replicas.findings == set() with input as review("DELETE", one_replica)
}

test_controlled_replica_set_has_no_finding if {
	min_replicas.findings == set() with input as controlled(with_replicas(replica_set, 1), "Deployment")
	min_replicas.findings == set() with input as review("CREATE", controlled(with_replicas(replica_set, 1), "Rollout"))
	min_replicas.findings == set() with input as controlled(pod, "ReplicaSet")
}
