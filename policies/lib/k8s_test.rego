package budgetgate.lib.k8s_test

import data.budgetgate.lib.k8s

container := {
	"name": "app",
	"image": "registry.example.com/shop/checkout:1.4.2",
}

pod_spec := {"containers": [container]}

deployment := {
	"apiVersion": "apps/v1",
	"kind": "Deployment",
	"metadata": {"name": "checkout", "namespace": "shop", "labels": {"owner": "payments"}},
	"spec": {"replicas": 3, "template": {"spec": pod_spec}},
}

review(operation, obj, old) := {
	"apiVersion": "admission.k8s.io/v1",
	"kind": "AdmissionReview",
	"request": {
		"uid": "x",
		"operation": operation,
		"namespace": "shop",
		"object": obj,
		"oldObject": old,
		"userInfo": {"username": "alice", "groups": ["dev"]},
	},
}

# Raw manifest (CI, conftest)

test_raw_manifest_is_a_create_without_user_or_old_object if {
	not k8s.is_review with input as deployment
	k8s.operation == "CREATE" with input as deployment
	k8s.object == deployment with input as deployment
	not k8s.old_object with input as deployment
	not k8s.user with input as deployment
}

test_raw_manifest_identity if {
	k8s.kind == "Deployment" with input as deployment
	k8s.group == "apps" with input as deployment
	k8s.name == "checkout" with input as deployment
	k8s.namespace == "shop" with input as deployment
	k8s.labels == {"owner": "payments"} with input as deployment
	k8s.annotations == {} with input as deployment
	k8s.ref == "Deployment shop/checkout" with input as deployment
}

test_manifest_without_namespace_is_named_as_it_is if {
	obj := json.remove(deployment, ["metadata/namespace"])
	not k8s.namespace with input as obj
	k8s.ref == "Deployment checkout" with input as obj
}

test_core_group_is_empty if {
	pod := {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": pod_spec}
	k8s.group == "" with input as pod
	k8s.is_workload with input as pod
}

test_generate_name if {
	obj := json.patch(deployment, [
		{"op": "remove", "path": "/metadata/name"},
		{"op": "add", "path": "/metadata/generateName", "value": "checkout-"},
	])
	k8s.ref == "Deployment shop/checkout-<generated>" with input as obj
	obj_empty := json.patch(obj, [{"op": "add", "path": "/metadata/name", "value": ""}])
	k8s.ref == "Deployment shop/checkout-<generated>" with input as obj_empty
}

test_object_without_any_name_is_still_named if {
	obj := json.remove(deployment, ["metadata/name"])
	k8s.ref == "Deployment shop/<unnamed>" with input as obj
	k8s.finding("p", "m") == {"msg": "Deployment shop/<unnamed>: m", "policy": "p"} with input as obj
}

test_labels_and_annotations_that_are_not_objects_are_empty if {
	obj := json.patch(deployment, [
		{"op": "add", "path": "/metadata/labels", "value": null},
		{"op": "add", "path": "/metadata/annotations", "value": "x"},
	])
	k8s.labels == {} with input as obj
	k8s.annotations == {} with input as obj
}

test_annotations if {
	obj := json.patch(deployment, [{"op": "add", "path": "/metadata/annotations", "value": {"a": "b"}}])
	k8s.annotations == {"a": "b"} with input as obj
}

# AdmissionReview (webhook)

test_review_create if {
	r := review("CREATE", deployment, null)
	k8s.is_review with input as r
	k8s.operation == "CREATE" with input as r
	k8s.object == deployment with input as r
	not k8s.old_object with input as r
	k8s.user == {"username": "alice", "groups": ["dev"]} with input as r
	k8s.ref == "Deployment shop/checkout" with input as r
	k8s.gated with input as r
}

test_review_update_has_old_object if {
	old := json.patch(deployment, [{"op": "replace", "path": "/spec/replicas", "value": 1}])
	r := review("UPDATE", deployment, old)
	k8s.operation == "UPDATE" with input as r
	k8s.object == deployment with input as r
	k8s.old_object == old with input as r
	k8s.gated with input as r
}

test_review_delete_object_is_the_old_object_and_not_gated if {
	r := review("DELETE", null, deployment)
	k8s.operation == "DELETE" with input as r
	k8s.object == deployment with input as r
	not k8s.old_object with input as r
	k8s.ref == "Deployment shop/checkout" with input as r
	not k8s.gated with input as r
}

test_review_connect_is_not_gated if {
	not k8s.gated with input as review("CONNECT", deployment, null)
}

test_review_namespace_comes_from_the_request_when_the_object_has_none if {
	obj := json.remove(deployment, ["metadata/namespace"])
	r := review("CREATE", obj, null)
	k8s.namespace == "shop" with input as r
	k8s.ref == "Deployment shop/checkout" with input as r
}

test_kind_admission_review_without_request_is_a_raw_object if {
	obj := {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}
	not k8s.is_review with input as obj
	k8s.object == obj with input as obj
	not k8s.gated with input as obj
}

# pod_spec, paths and containers of every workload kind

workloads := {
	"Pod": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "w"}, "spec": pod_spec},
	"Deployment": {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "w"}, "spec": {"template": {"spec": pod_spec}}},
	"StatefulSet": {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "w"}, "spec": {"template": {"spec": pod_spec}}},
	"DaemonSet": {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "w"}, "spec": {"template": {"spec": pod_spec}}},
	"ReplicaSet": {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "w"}, "spec": {"template": {"spec": pod_spec}}},
	"Job": {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "w"}, "spec": {"template": {"spec": pod_spec}}},
	"CronJob": {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "w"}, "spec": {"jobTemplate": {"spec": {"template": {"spec": pod_spec}}}}},
	"Rollout": {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "w"}, "spec": {"template": {"spec": pod_spec}}},
}

expected_paths := {
	"Pod": "spec",
	"Deployment": "spec.template.spec",
	"StatefulSet": "spec.template.spec",
	"DaemonSet": "spec.template.spec",
	"ReplicaSet": "spec.template.spec",
	"Job": "spec.template.spec",
	"CronJob": "spec.jobTemplate.spec.template.spec",
	"Rollout": "spec.template.spec",
}

test_pod_spec_of_every_workload_kind if {
	every kind, obj in workloads {
		k8s.is_workload with input as obj
		k8s.pod_spec == pod_spec with input as obj
		k8s.pod_spec_path == expected_paths[kind] with input as obj
		k8s.containers == {{"container": container, "path": sprintf("%s.containers[0]", [expected_paths[kind]]), "init": false}} with input as obj
	}
}

test_long_running_and_replicated_kinds if {
	long_running := {kind | some kind, obj in workloads; k8s.is_long_running with input as obj}
	long_running == {"Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Rollout"}
	replicated := {kind | some kind, obj in workloads; k8s.is_replicated with input as obj}
	replicated == {"Deployment", "StatefulSet", "ReplicaSet", "Rollout"}
}

test_pod_restart_policy_decides_long_running if {
	pod := workloads.Pod
	k8s.is_long_running with input as json.patch(pod, [{"op": "add", "path": "/spec/restartPolicy", "value": "Always"}])
	k8s.is_long_running with input as json.patch(pod, [{"op": "add", "path": "/spec/restartPolicy", "value": null}])
	not k8s.is_long_running with input as json.patch(pod, [{"op": "add", "path": "/spec/restartPolicy", "value": "Never"}])
	not k8s.is_long_running with input as json.patch(pod, [{"op": "add", "path": "/spec/restartPolicy", "value": "OnFailure"}])
}

test_containers_include_init_containers_with_their_path if {
	spec := {"initContainers": [{"name": "migrate"}], "containers": [{"name": "a"}, {"name": "b"}]}
	obj := json.patch(deployment, [{"op": "replace", "path": "/spec/template/spec", "value": spec}])
	k8s.containers == {
		{"container": {"name": "a"}, "path": "spec.template.spec.containers[0]", "init": false},
		{"container": {"name": "b"}, "path": "spec.template.spec.containers[1]", "init": false},
		{"container": {"name": "migrate"}, "path": "spec.template.spec.initContainers[0]", "init": true},
	} with input as obj
}

test_rollout_with_workload_ref_has_no_pod_spec if {
	rollout := {
		"apiVersion": "argoproj.io/v1alpha1",
		"kind": "Rollout",
		"metadata": {"name": "r"},
		"spec": {"replicas": 5, "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "r"}},
	}
	k8s.is_workload with input as rollout
	not k8s.pod_spec with input as rollout
	k8s.containers == set() with input as rollout
	k8s.gated with input as rollout
}

test_kind_in_the_wrong_group_is_no_workload if {
	not k8s.is_workload with input as {"apiVersion": "example.com/v1", "kind": "Deployment", "metadata": {"name": "x"}}
	not k8s.is_workload with input as {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}}
	not k8s.gated with input as {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}}
	k8s.containers == set() with input as {"apiVersion": "example.com/v1", "kind": "Deployment", "spec": {"template": {"spec": pod_spec}}}
}

# gated: controlled children are judged through their parent

owned(obj, owner_kind, controller) := json.patch(obj, [{
	"op": "add",
	"path": "/metadata/ownerReferences",
	"value": [{"apiVersion": "apps/v1", "kind": owner_kind, "name": "parent", "uid": "u", "controller": controller}],
}])

test_controlled_children_are_not_gated if {
	not k8s.gated with input as owned(workloads.Pod, "ReplicaSet", true)
	not k8s.gated with input as owned(workloads.Pod, "StatefulSet", true)
	not k8s.gated with input as owned(workloads.Pod, "DaemonSet", true)
	not k8s.gated with input as owned(workloads.Pod, "Job", true)
	not k8s.gated with input as owned(workloads.ReplicaSet, "Deployment", true)
	not k8s.gated with input as owned(workloads.ReplicaSet, "Rollout", true)
	not k8s.gated with input as owned(workloads.Job, "CronJob", true)
	not k8s.gated with input as review("CREATE", owned(workloads.Pod, "ReplicaSet", true), null)
}

test_unexpected_or_non_controller_owners_bypass_nothing if {
	k8s.gated with input as owned(workloads.Pod, "ReplicaSet", false)
	k8s.gated with input as owned(workloads.Pod, "Deployment", true)
	k8s.gated with input as owned(workloads.Deployment, "Deployment", true)
	k8s.gated with input as owned(workloads.ReplicaSet, "ReplicaSet", true)
	k8s.gated with input as owned(workloads.Job, "Deployment", true)
}

test_finding_names_the_object if {
	k8s.finding("owner-label", "fix it") == {"msg": "Deployment shop/checkout: fix it", "policy": "owner-label"} with input as deployment
}

# annotation_patch: every annotation budgetgate keeps, merged into one patch

test_annotation_patch_without_annotations_adds_one_object if {
	wanted := {"budgetgate.dev/canary": "budget-canary", "budgetgate.dev/previous-template": "abc", "gone": null}
	k8s.annotation_patch(wanted) == {{
		"op": "add",
		"path": "/metadata/annotations",
		"value": {"budgetgate.dev/canary": "budget-canary", "budgetgate.dev/previous-template": "abc"},
	}} with input as deployment
	k8s.annotation_patch({"gone": null}) == set() with input as deployment
	k8s.annotation_patch({}) == set() with input as deployment

	# annotations that are no object are replaced whole
	obj := json.patch(deployment, [{"op": "add", "path": "/metadata/annotations", "value": "x"}])
	k8s.annotation_patch({"a/b": "c"}) == {{"op": "add", "path": "/metadata/annotations", "value": {"a/b": "c"}}} with input as obj
}

test_annotation_patch_with_annotations_one_op_per_key if {
	obj := json.patch(deployment, [{"op": "add", "path": "/metadata/annotations", "value": {"team": "x", "budgetgate.dev/previous-template": "old", "same": "v", "a~b": "1"}}])
	k8s.annotation_patch({
		"budgetgate.dev/canary": "budget-canary",
		"budgetgate.dev/previous-template": null,
		"same": "v",
		"absent": null,
		"a~b": "2",
	}) == {
		{"op": "add", "path": "/metadata/annotations/budgetgate.dev~1canary", "value": "budget-canary"},
		{"op": "remove", "path": "/metadata/annotations/budgetgate.dev~1previous-template"},
		{"op": "add", "path": "/metadata/annotations/a~0b", "value": "2"},
	} with input as obj
}

test_annotation_patch_is_idempotent if {
	wanted := {"budgetgate.dev/canary": "x", "budgetgate.dev/previous-template": "h", "drop": null}
	obj := json.patch(deployment, [{"op": "add", "path": "/metadata/annotations", "value": {"drop": "me"}}])
	every o in [deployment, obj] {
		ops := k8s.annotation_patch(wanted) with input as o
		patched := json.patch(o, [op | some op in ops])
		k8s.annotation_patch(wanted) == set() with input as patched
		object.get(patched.metadata.annotations, "drop", "none") == "none"
	}
}
