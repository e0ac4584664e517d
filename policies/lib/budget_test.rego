package budgetgate.lib.budget_test

import data.budgetgate.lib.budget

pod_spec := {"containers": [{"name": "app", "image": "app:1"}]}

deployment := {
	"apiVersion": "apps/v1",
	"kind": "Deployment",
	"metadata": {"name": "checkout", "namespace": "shop", "labels": {"budgetgate.dev/slo": "checkout"}},
	"spec": {"replicas": 3, "template": {"metadata": {"labels": {"app": "checkout"}}, "spec": pod_spec}},
}

canary := {
	"apiVersion": "flagger.app/v1beta1",
	"kind": "Canary",
	"metadata": {"name": "podinfo", "namespace": "test", "labels": {"budgetgate.dev/slo": "podinfo"}},
	"spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"}, "analysis": {"stepWeight": 5}},
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

budgets := {"shop/checkout": {"remaining": 0.42, "stale": false, "evaluatedAt": "2026-11-26T04:00:00Z"}}

new_image := json.patch(deployment, [{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "app:2"}])

hash(template) := crypto.sha256(json.marshal(template))

# SLO and budget lookup

test_budget_of_the_labelled_slo if {
	budget.slo == "checkout" with input as deployment
	budget.key == "shop/checkout" with input as deployment
	budget.entry == budgets["shop/checkout"] with input as deployment with data.budgetgate.budgets as budgets
	budget.remaining == 0.42 with input as deployment with data.budgetgate.budgets as budgets
	not budget.stale with input as deployment with data.budgetgate.budgets as budgets
}

test_no_budget_without_label_or_entry if {
	no_label := json.remove(deployment, ["metadata/labels"])
	not budget.slo with input as no_label
	not budget.entry with input as no_label with data.budgetgate.budgets as budgets
	blank := json.patch(deployment, [{"op": "replace", "path": "/metadata/labels/budgetgate.dev~1slo", "value": " "}])
	not budget.slo with input as blank
	not budget.entry with input as deployment
	not budget.entry with input as deployment with data.budgetgate.budgets as {"shop/search": {"remaining": 1}}
	not budget.entry with input as deployment with data.budgetgate.budgets as {"shop/checkout": "oops"}
	not budget.remaining with input as deployment with data.budgetgate.budgets as {"shop/checkout": {"remaining": "0.4"}}
}

test_manifest_without_namespace_uses_default if {
	obj := json.remove(deployment, ["metadata/namespace"])
	budget.key == "default/checkout" with input as obj
	budget.remaining == 0.1 with input as obj with data.budgetgate.budgets as {"default/checkout": {"remaining": 0.1}}

	# in the webhook, the request's namespace
	budget.key == "shop/checkout" with input as review("CREATE", obj, null)
}

test_flagger_canary_is_judged_by_its_own_label if {
	budget.gated with input as canary
	budget.key == "test/podinfo" with input as canary
	budget.rolls_out with input as canary
	budget.gated with input as review("UPDATE", canary, canary)
	not budget.gated with input as review("DELETE", null, canary)
	not budget.gated with input as json.patch(canary, [{"op": "replace", "path": "/apiVersion", "value": "example.com/v1"}])
}

# Thresholds: the SLO's own, else config, else defaults

test_default_thresholds if {
	budget.canary_below == 0.25 with input as deployment with data.budgetgate.budgets as budgets
	budget.freeze_below == 0 with input as deployment with data.budgetgate.budgets as budgets
}

test_config_thresholds if {
	budget.canary_below == 0.5 with input as deployment with data.budgetgate.budgets as budgets
		with data.budgetgate.config as {"canaryBelow": 0.5, "freezeBelow": 0.05}
	budget.freeze_below == 0.05 with input as deployment with data.budgetgate.budgets as budgets
		with data.budgetgate.config as {"canaryBelow": 0.5, "freezeBelow": 0.05}
}

test_slo_thresholds_win if {
	own := {"shop/checkout": {"remaining": 0.42, "canaryBelow": 0.6, "freezeBelow": 0.1}}
	budget.canary_below == 0.6 with input as deployment with data.budgetgate.budgets as own
		with data.budgetgate.config as {"canaryBelow": 0.5, "freezeBelow": 0.05}
	budget.freeze_below == 0.1 with input as deployment with data.budgetgate.budgets as own
		with data.budgetgate.config as {"canaryBelow": 0.5, "freezeBelow": 0.05}

	# a threshold of the wrong type in the entry is ignored
	wrong := {"shop/checkout": {"remaining": 0.42, "canaryBelow": "0.6"}}
	budget.canary_below == 0.25 with input as deployment with data.budgetgate.budgets as wrong
}

test_frozen_low_and_healthy if {
	values := [0.42, 0.25, 0.249, 0.01, 0, -0.3]
	frozen := {r |
		some r in values
		budget.frozen with input as deployment with data.budgetgate.budgets as {"shop/checkout": {"remaining": r}}
	}
	frozen == {0, -0.3}
	low := {r |
		some r in values
		budget.low with input as deployment with data.budgetgate.budgets as {"shop/checkout": {"remaining": r}}
	}
	low == {0.249, 0.01}
}

test_stale if {
	budget.stale with input as deployment with data.budgetgate.budgets as {"shop/checkout": {"remaining": 0.4, "stale": true}}
	budget.stale with input as deployment with data.budgetgate.budgets as {"shop/checkout": {"stale": false}}
	not budget.stale with input as deployment with data.budgetgate.budgets as {"shop/checkout": {"remaining": 0.4, "stale": "yes"}}
	not budget.stale with input as deployment
}

test_percent if {
	budget.percent(0.425) == "42.5%"
	budget.percent(0.25) == "25%"
	budget.percent(0) == "0%"
	budget.percent(-0.12) == "-12%"
	budget.percent(1) == "100%"
}

# What rolls out

test_create_rolls_out if {
	budget.rolls_out with input as deployment
	budget.rolls_out with input as review("CREATE", deployment, null)
	not budget.is_rollback with input as deployment
}

test_template_update_rolls_out if {
	budget.rolls_out with input as review("UPDATE", new_image, deployment)
	budget.template_changed with input as review("UPDATE", new_image, deployment)
	not budget.is_rollback with input as review("UPDATE", new_image, deployment)
}

test_scale_metadata_and_delete_do_not_roll_out if {
	scaled := json.patch(deployment, [{"op": "replace", "path": "/spec/replicas", "value": 10}])
	not budget.rolls_out with input as review("UPDATE", scaled, deployment)
	labelled := json.patch(deployment, [
		{"op": "add", "path": "/metadata/labels/tier", "value": "web"},
		{"op": "add", "path": "/metadata/annotations", "value": {"note": "x"}},
	])
	not budget.rolls_out with input as review("UPDATE", labelled, deployment)
	not budget.rolls_out with input as review("DELETE", null, deployment)
}

test_update_without_old_object_rolls_out if {
	budget.rolls_out with input as review("UPDATE", new_image, null)
	budget.rolls_out with input as json.remove(review("UPDATE", new_image, null), ["request/oldObject"])
	budget.template_annotations == {"budgetgate.dev/previous-template": null} with input as json.remove(review("UPDATE", new_image, null), ["request/oldObject"])
}

test_pod_template_of_every_kind if {
	template := {"spec": pod_spec}
	budget.pod_template({"kind": "Deployment", "spec": {"template": template}}) == template
	budget.pod_template({"kind": "StatefulSet", "spec": {"template": template}}) == template
	budget.pod_template({"kind": "DaemonSet", "spec": {"template": template}}) == template
	budget.pod_template({"kind": "ReplicaSet", "spec": {"template": template}}) == template
	budget.pod_template({"kind": "Job", "spec": {"template": template}}) == template
	budget.pod_template({"kind": "Rollout", "spec": {"template": template}}) == template
	budget.pod_template({"kind": "Rollout", "spec": {"workloadRef": {"name": "w"}}}) == {"name": "w"}
	budget.pod_template({"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": template}}}}) == {"spec": {"template": template}}
	budget.pod_template({"kind": "Pod", "spec": pod_spec}) == pod_spec
	budget.pod_template({"kind": "Canary", "spec": {"analysis": {}}}) == {"analysis": {}}
	budget.pod_template({"kind": "Service", "spec": {}}) == null
}

test_cron_job_and_pod_updates if {
	cron := {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c", "namespace": "shop"}, "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": pod_spec}}}}}
	new_schedule := json.patch(cron, [{"op": "replace", "path": "/spec/schedule", "value": "0 * * * *"}])
	not budget.rolls_out with input as review("UPDATE", new_schedule, cron)
	new_job := json.patch(cron, [{"op": "replace", "path": "/spec/jobTemplate/spec/template/spec/containers/0/image", "value": "app:2"}])
	budget.rolls_out with input as review("UPDATE", new_job, cron)
	pod := {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "shop"}, "spec": pod_spec}
	budget.rolls_out with input as review("UPDATE", json.patch(pod, [{"op": "replace", "path": "/spec/containers/0/image", "value": "app:2"}]), pod)
	not budget.rolls_out with input as review("UPDATE", json.patch(pod, [{"op": "add", "path": "/metadata/labels", "value": {"a": "b"}}]), pod)
}

test_any_spec_change_of_a_canary_rolls_out if {
	changed := json.patch(canary, [{"op": "replace", "path": "/spec/analysis/stepWeight", "value": 2}])
	budget.rolls_out with input as review("UPDATE", changed, canary)
	relabelled := json.patch(canary, [{"op": "add", "path": "/metadata/labels/x", "value": "y"}])
	not budget.rolls_out with input as review("UPDATE", relabelled, canary)
}

# Rollback and the previous-template annotation

with_previous(obj, value) := json.patch(obj, [{"op": "add", "path": "/metadata/annotations", "value": {"budgetgate.dev/previous-template": value}}])

test_template_hash if {
	budget.template_hash(deployment) == hash(deployment.spec.template)
	budget.template_hash(deployment) != budget.template_hash(new_image)
}

test_rollback_goes_back_to_the_replaced_template if {
	# new_image replaced deployment's template: the webhook recorded its hash
	stored := with_previous(new_image, hash(deployment.spec.template))
	budget.is_rollback with input as review("UPDATE", deployment, stored)
	budget.rolls_out with input as review("UPDATE", deployment, stored)

	# another template is no rollback
	other := json.patch(deployment, [{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "app:3"}])
	not budget.is_rollback with input as review("UPDATE", other, stored)

	# a hash in the new object proves nothing: only the stored one counts
	not budget.is_rollback with input as review("UPDATE", with_previous(other, hash(other.spec.template)), new_image)
}

test_previous_template_annotation_wanted if {
	key := "budgetgate.dev/previous-template"

	# create: none
	budget.template_annotations == {key: null} with input as deployment

	# template change: the replaced template's hash
	budget.template_annotations == {key: hash(deployment.spec.template)} with input as review("UPDATE", new_image, deployment)

	# rollback: cleared, so the rollback cannot be rolled back as a "rollback"
	stored := with_previous(new_image, hash(deployment.spec.template))
	budget.template_annotations == {key: null} with input as review("UPDATE", deployment, stored)

	# other updates: the stored value, whatever the client sent
	scaled := json.patch(stored, [{"op": "replace", "path": "/spec/replicas", "value": 9}])
	budget.template_annotations == {key: hash(deployment.spec.template)} with input as review("UPDATE", with_previous(scaled, "forged"), stored)
	budget.template_annotations == {key: null} with input as review("UPDATE", with_previous(deployment, "forged"), deployment)

	# not gated: nothing
	budget.template_annotations == {} with input as review("DELETE", null, deployment)
	budget.template_annotations == {} with input as {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}}
}
