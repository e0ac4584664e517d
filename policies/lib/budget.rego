# The error budget of the workload being admitted, and what its change does:
# whether it rolls out new pods, and whether it is a rollback.
package budgetgate.lib.budget

import data.budgetgate.lib.config
import data.budgetgate.lib.k8s

label := "budgetgate.dev/slo"

# The annotation budgetgate's mutating webhook keeps on every gated object:
# the hash of the pod template that the last rollout replaced.
previous_template_annotation := "budgetgate.dev/previous-template"

# gated holds for changes the budget rules judge: those of k8s.gated, and
# creates and updates of Flagger Canaries (judged by their own SLO label).
gated if k8s.gated

gated if {
	k8s.operation in {"CREATE", "UPDATE"}
	k8s.is_flagger_canary
}

# slo is the name in the budgetgate.dev/slo label (a blank one names none).
slo := value if {
	value := k8s.labels[label]
	is_string(value)
	trim_space(value) != ""
}

# A manifest without a namespace is applied into "default".
default namespace := "default"

namespace := k8s.namespace

key := sprintf("%s/%s", [namespace, slo])

# entry is the SLO's budget from data.budgetgate.budgets (undefined when the
# SLO is unknown: slo-declared reports that).
entry := data.budgetgate.budgets[key] if is_object(data.budgetgate.budgets[key])

# remaining is the budget left, a fraction (negative when overspent).
remaining := entry.remaining if is_number(entry.remaining)

# The thresholds: the SLO's own (the controller copies spec.canaryBelow and
# spec.freezeBelow into the budget entry), else the config's, else defaults.
# A value of the wrong type in the entry is ignored.
canary_below := threshold("canaryBelow")

freeze_below := threshold("freezeBelow")

threshold(name) := entry[name] if {
	own_threshold(name)
} else := config.setting(name)

own_threshold(name) if is_number(entry[name])

# frozen: the budget is exhausted; low: it is running out, but not frozen.
# Stale budget data still counts (fail-safe): the last known remaining value
# decides, and budget-stale warns that it may be out of date.
frozen if remaining <= freeze_below

low if {
	not frozen
	remaining < canary_below
}

# stale: the SLO's budget is not fresh, or was never evaluated.
stale if entry.stale == true

stale if {
	entry
	not remaining
}

# pod_template(obj) is what decides the pods of a workload: the pod template
# (the job template of a CronJob, the spec of a Pod); for a Rollout with a
# workloadRef, the reference; for a Flagger Canary, its whole spec.
default pod_template(_) := null

pod_template(obj) := obj.spec.template if {
	obj.kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
}

pod_template(obj) := obj.spec.template if {
	obj.kind == "Rollout"
	obj.spec.template
}

pod_template(obj) := obj.spec.workloadRef if {
	obj.kind == "Rollout"
	not obj.spec.template
}

pod_template(obj) := obj.spec.jobTemplate if obj.kind == "CronJob"

pod_template(obj) := obj.spec if obj.kind in {"Pod", "Canary"}

# template_hash(obj) identifies a pod template: the previous-template
# annotation holds one, and a rollback is recognised by it.
template_hash(obj) := crypto.sha256(json.marshal(pod_template(obj)))

template_changed if {
	k8s.operation == "UPDATE"
	pod_template(k8s.object) != pod_template(k8s.old_object)
}

# The API server always sends the old object of an UPDATE; one without it
# (a hand-made review) counts as a change of the template (fail-safe).
template_changed if {
	k8s.operation == "UPDATE"
	not k8s.old_object
}

# rolls_out holds when the change starts new pods: a create, or an update of
# the pod template. Scale-only and metadata-only updates, and deletes, do not.
rolls_out if {
	gated
	k8s.operation == "CREATE"
}

rolls_out if {
	gated
	template_changed
}

# Rollback recognition. On every update that changes the pod template, the
# mutating webhook records in the previous-template annotation the hash of
# the template being replaced (see template_annotations). An update is a
# rollback when its new template is exactly that one: the template goes back
# to the one the last rollout replaced (kubectl rollout undo, a revert in Git).
# Only one step back is recognised, and a rollback clears the annotation, so
# a rollback cannot itself be "rolled back" to re-release the template that
# was just taken out. The annotation is budgetgate's: the patch puts back
# whatever a client wrote there, so it cannot be forged to pass a freeze.
is_rollback if {
	template_changed
	template_hash(k8s.object) == k8s.old_object.metadata.annotations[previous_template_annotation]
}

# template_annotations is what package main's patch keeps in the annotation
# (null: absent): nothing on create, the replaced template's hash on an update
# that changes the template (nothing after a rollback), the stored value on
# other updates.
default template_annotations := {}

template_annotations := {previous_template_annotation: wanted_previous_template} if gated

default wanted_previous_template := null

wanted_previous_template := template_hash(k8s.old_object) if {
	template_changed
	not is_rollback
}

wanted_previous_template := value if {
	k8s.operation == "UPDATE"
	not template_changed
	value := k8s.old_object.metadata.annotations[previous_template_annotation]
}

# percent formats a fraction of the budget for messages: 0.425 -> "42.5%".
percent(fraction) := sprintf("%v%%", [round(fraction * 1000) / 10])
