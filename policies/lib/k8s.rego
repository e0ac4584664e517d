# Helpers that hide where a policy runs: input is the raw object in CI and
# conftest, and an AdmissionReview in the webhook. Rules read only these.
package budgetgate.lib.k8s

# is_review holds in the webhook, where input is an AdmissionReview.
is_review if {
	input.kind == "AdmissionReview"
	is_object(input.request)
}

# operation is CREATE, UPDATE, DELETE or CONNECT; a raw manifest is a CREATE.
default operation := "CREATE"

operation := input.request.operation if is_review

# object is what is being admitted; on DELETE, the object being deleted.
# (An else chain stops at the first match: cheaper than separate definitions,
# which OPA must all evaluate to rule out a conflict.)
object := input.request.object if {
	is_review
	operation != "DELETE"
} else := input.request.oldObject if {
	is_review
} else := input

# old_object is the stored object on UPDATE (undefined on CREATE and in CI).
old_object := input.request.oldObject if {
	is_review
	operation == "UPDATE"
}

# user is the requester's userInfo (undefined in CI: there is nobody).
user := input.request.userInfo if is_review

kind := object.kind

# group is the API group of the object ("" for the core group).
group := g if {
	[g, _] := split(object.apiVersion, "/")
} else := ""

# name is metadata.name; an object still to be named by the API server shows
# its generateName, and one with neither name is still named in messages
# (an undefined name would make every finding, and so every rule, vanish).
default name := "<unnamed>"

name := object.metadata.name if has_name

name := sprintf("%s<generated>", [object.metadata.generateName]) if {
	not has_name
	object.metadata.generateName
}

has_name if {
	is_string(object.metadata.name)
	object.metadata.name != ""
}

# namespace is the object's namespace; a manifest without one is named as it is.
namespace := object.metadata.namespace if {
	object.metadata.namespace
} else := input.request.namespace if {
	is_review
}

labels := object.metadata.labels if is_object(object.metadata.labels)

default labels := {}

annotations := object.metadata.annotations if is_object(object.metadata.annotations)

default annotations := {}

# ref names the object in messages: "Deployment shop/checkout" or "Deployment checkout".
ref := sprintf("%s %s/%s", [kind, namespace, name]) if namespace

ref := sprintf("%s %s", [kind, name]) if not namespace

# Kinds whose pod template the library understands, by API group.
workload_kinds := {
	"": {"Pod"},
	"apps": {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"},
	"batch": {"Job", "CronJob"},
	"argoproj.io": {"Rollout"},
}

is_workload if kind in workload_kinds[group]

# A Flagger Canary (flagger.app) drives the progressive rollout of the
# Deployment it targets; it is no workload, but the budget rules judge it.
is_flagger_canary if {
	group == "flagger.app"
	kind == "Canary"
}

# Long-running workloads serve traffic: they need readiness probes and SLOs.
# A bare Pod is long-running unless it is meant to run to completion.
is_long_running if {
	is_workload
	kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Rollout"}
}

is_long_running if {
	is_workload
	kind == "Pod"
	object.spec.restartPolicy in {"Always", null}
}

is_long_running if {
	is_workload
	kind == "Pod"
	not object.spec.restartPolicy
}

# Workloads with a replica count of their own (DaemonSets, Jobs and Pods have none).
is_replicated if {
	is_workload
	kind in {"Deployment", "StatefulSet", "ReplicaSet", "Rollout"}
}

# pod_spec is the pod template's spec of any workload kind. A Rollout with a
# workloadRef has none: the referenced Deployment carries it and is judged itself.
pod_spec := object.spec.template.spec if {
	is_workload
	kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "Rollout"}
} else := object.spec if {
	is_workload
	kind == "Pod"
} else := object.spec.jobTemplate.spec.template.spec if {
	is_workload
	kind == "CronJob"
}

# pod_spec_path is where pod_spec sits in the object, for messages.
pod_spec_path := "spec.template.spec" if {
	kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "Rollout"}
} else := "spec" if {
	kind == "Pod"
} else := "spec.jobTemplate.spec.template.spec" if {
	kind == "CronJob"
}

# containers lists every container of the pod spec with the path of its field.
containers contains {"container": c, "path": sprintf("%s.%s[%d]", [pod_spec_path, field, i]), "init": field == "initContainers"} if {
	some field in ["containers", "initContainers"]
	some i, c in pod_spec[field]
}

# Objects that a controller creates from a gated parent: the parent was judged,
# so judging the child again would block its own rollout. Only the expected
# owner kinds count, so a made-up owner reference bypasses nothing.
controlled_by := {
	"Pod": {"ReplicaSet", "StatefulSet", "DaemonSet", "Job"},
	"ReplicaSet": {"Deployment", "Rollout"},
	"Job": {"CronJob"},
}

is_controlled if {
	some owner in object.metadata.ownerReferences
	owner.controller == true
	owner.kind in controlled_by[kind]
}

# gated holds for changes the library judges: creates and updates of
# workloads that no gated parent controls.
gated if {
	operation in {"CREATE", "UPDATE"}
	is_workload
	not is_controlled
}

# finding builds the result object every shipped rule returns.
finding(policy, msg) := {"msg": sprintf("%s: %s", [ref, msg]), "policy": policy}

# annotation_patch(wanted) is the JSON Patch that gives the object the
# annotations in wanted (key -> value; a null value means "absent"). Every
# feature that marks objects (the canary annotation, the previous template)
# merges its keys into one wanted object, so their operations never conflict:
# an object without annotations gets ONE op adding the whole annotations
# object, one with annotations gets one op per key ("/" escaped as "~1").
# Keys already as wanted give no op: the patch is idempotent.
annotation_patch(wanted) := {{"op": "add", "path": "/metadata/annotations", "value": present}} if {
	not has_annotations
	present := {key: value | some key, value in wanted; value != null}
	count(present) > 0
}

annotation_patch(wanted) := set() if {
	not has_annotations
	every value in wanted {
		value == null
	}
}

annotation_patch(wanted) := ops if {
	has_annotations
	ops := {op |
		some key, value in wanted
		op := annotation_op(key, value)
	}
}

annotation_op(key, value) := {"op": "add", "path": annotation_path(key), "value": value} if {
	value != null
	not annotations[key] == value
}

annotation_op(key, null) := {"op": "remove", "path": annotation_path(key)} if {
	some key2, _ in annotations
	key2 == key
}

# has_annotations holds when metadata.annotations is an object to add keys to
# (a helper rule: "not is_object(<undefined>)" is undefined, not true).
has_annotations if is_object(object.metadata.annotations)

# annotation_path is the JSON Pointer of an annotation (RFC 6901 escaping).
annotation_path(key) := concat("/", ["/metadata/annotations", replace(replace(key, "~", "~0"), "/", "~1")])
