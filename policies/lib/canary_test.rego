package budgetgate.lib.canary_test

import data.budgetgate.lib.canary

deployment := {
	"apiVersion": "apps/v1",
	"kind": "Deployment",
	"metadata": {"name": "checkout", "namespace": "shop"},
	"spec": {
		"replicas": 3,
		"template": {"spec": {"containers": [{"name": "app", "image": "app:1"}]}},
	},
}

rollout(strategy) := {
	"apiVersion": "argoproj.io/v1alpha1",
	"kind": "Rollout",
	"metadata": {"name": "web", "namespace": "shop", "annotations": {"team": "web"}},
	"spec": {"strategy": strategy, "template": {"spec": {"containers": [{"name": "app", "image": "app:1"}]}}},
}

default_steps := [
	{"setWeight": 25}, {"pause": {"duration": "5m"}},
	{"setWeight": 50}, {"pause": {"duration": "5m"}},
	{"setWeight": 75}, {"pause": {"duration": "5m"}},
]

apply(obj, ops) := json.patch(obj, [op | some op in ops])

test_annotations_and_strategy_operations_make_the_patch if {
	canary.annotations("slo-declared") == {"budgetgate.dev/canary": "slo-declared"} with input as deployment
	count(canary.strategy_operations) == 3 with input as deployment
}

test_deployment_patch if {
	canary.operations("slo-declared") == {
		{"op": "add", "path": "/metadata/annotations", "value": {"budgetgate.dev/canary": "slo-declared"}},
		{"op": "add", "path": "/spec/strategy", "value": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}},
		{"op": "add", "path": "/spec/minReadySeconds", "value": 30},
		{"op": "add", "path": "/spec/progressDeadlineSeconds", "value": 600},
	} with input as deployment
}

test_deployment_patch_is_idempotent if {
	ops := canary.operations("slo-declared") with input as deployment
	patched := apply(deployment, ops)
	canary.operations("slo-declared") == set() with input as patched
	canary.in_place with input as patched
	not canary.in_place with input as deployment
}

test_deployment_keeps_what_is_already_safe if {
	obj := json.patch(deployment, [
		{"op": "add", "path": "/metadata/annotations", "value": {"a": "b"}},
		{"op": "add", "path": "/spec/strategy", "value": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "1", "maxUnavailable": "0%"}}},
		{"op": "add", "path": "/spec/minReadySeconds", "value": 60},
		{"op": "add", "path": "/spec/progressDeadlineSeconds", "value": 120},
	])
	canary.operations("budget-canary") == {{"op": "add", "path": "/metadata/annotations/budgetgate.dev~1canary", "value": "budget-canary"}} with input as obj
}

test_deployment_recreate_and_short_soak_are_replaced if {
	obj := json.patch(deployment, [
		{"op": "add", "path": "/spec/strategy", "value": {"type": "Recreate"}},
		{"op": "add", "path": "/spec/minReadySeconds", "value": 5},
		{"op": "add", "path": "/spec/progressDeadlineSeconds", "value": 600},
	])
	ops := canary.operations("x") with input as obj
	{op.path | some op in ops} == {"/metadata/annotations", "/spec/strategy", "/spec/minReadySeconds"}
}

test_changed_reason_updates_the_annotation if {
	obj := json.patch(deployment, [{"op": "add", "path": "/metadata/annotations", "value": {"budgetgate.dev/canary": "slo-declared"}}])
	ops := canary.operations("budget-canary,slo-declared") with input as obj
	{"op": "add", "path": "/metadata/annotations/budgetgate.dev~1canary", "value": "budget-canary,slo-declared"} in ops
}

test_parameters if {
	ops := canary.operations("x") with input as deployment
		with data.budgetgate.config.parameters.canary as {"minReadySeconds": 90, "progressDeadlineSeconds": 900}
	{"op": "add", "path": "/spec/minReadySeconds", "value": 90} in ops
	{"op": "add", "path": "/spec/progressDeadlineSeconds", "value": 900} in ops
}

test_rollout_blue_green_is_replaced if {
	obj := rollout({"blueGreen": {"activeService": "web", "previewService": "web-preview"}})
	ops := canary.operations("budget-canary") with input as obj
	{"op": "add", "path": "/spec/strategy", "value": {"canary": {"steps": default_steps}}} in ops
	patched := apply(obj, ops)
	canary.operations("budget-canary") == set() with input as patched
}

test_rollout_big_steps_are_replaced_keeping_other_settings if {
	obj := rollout({"canary": {"canaryService": "web-canary", "steps": [{"setWeight": 50}, {"pause": {}}]}})
	ops := canary.operations("budget-canary") with input as obj
	{"op": "add", "path": "/spec/strategy/canary/steps", "value": default_steps} in ops
	patched := apply(obj, ops)
	patched.spec.strategy.canary.canaryService == "web-canary"
	canary.in_place with input as patched
}

test_rollout_small_steps_with_pauses_are_kept if {
	obj := rollout({"canary": {"steps": [{"setWeight": 20}, {"pause": {}}, {"setWeight": 40}, {"pause": {"duration": "10m"}}]}})
	canary.operations("budget-canary") == {{"op": "add", "path": "/metadata/annotations/budgetgate.dev~1canary", "value": "budget-canary"}} with input as obj
}

test_rollout_without_pauses_or_weights_is_not_in_place if {
	not canary.in_place with input as rollout({"canary": {"steps": [{"setWeight": 10}, {"setWeight": 20}]}})
	not canary.in_place with input as rollout({"canary": {"steps": [{"pause": {}}]}})
	not canary.in_place with input as rollout({"canary": {}})
}

test_other_kinds_have_no_canary_strategy if {
	sts := json.patch(deployment, [{"op": "replace", "path": "/kind", "value": "StatefulSet"}])
	not canary.supported with input as sts
	canary.operations("x") == set() with input as sts
	canary.annotations("x") == {} with input as sts
	canary.strategy_operations == set() with input as sts
	not canary.supported with input as json.patch(deployment, [{"op": "replace", "path": "/apiVersion", "value": "example.com/v1"}])
}

test_rollout_analysis_and_experiment_steps_are_gates if {
	analysis := rollout({"canary": {"steps": [{"setWeight": 25}, {"analysis": {"templates": [{"templateName": "success-rate"}]}}]}})
	canary.in_place with input as analysis
	experiment := rollout({"canary": {"steps": [{"setWeight": 20}, {"experiment": {"duration": "5m"}}, {"setWeight": 40}]}})
	canary.in_place with input as experiment
}

# Flagger Canary, in the shapes of Flagger's own examples (corpus/flagger)

flagger_analysis := {
	"interval": "15s",
	"threshold": 10,
	"maxWeight": 50,
	"stepWeight": 5,
	"metrics": [
		{"name": "request-success-rate", "thresholdRange": {"min": 99}, "interval": "1m"},
		{"name": "request-duration", "thresholdRange": {"max": 500}, "interval": "30s"},
	],
	"webhooks": [{"name": "load-test", "type": "rollout", "url": "http://flagger-loadtester.test/", "timeout": "5s", "metadata": {"type": "cmd", "cmd": "hey -z 1m -q 10 -c 2 http://podinfo-canary.test/"}}],
}

# istio-canary.yaml / linkerd-canary.yaml: skipAnalysis false, stepWeight 5
istio_canary := {
	"apiVersion": "flagger.app/v1beta1",
	"kind": "Canary",
	"metadata": {"name": "podinfo", "namespace": "test"},
	"spec": {
		"provider": "istio",
		"progressDeadlineSeconds": 600,
		"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
		"autoscalerRef": {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "name": "podinfo"},
		"service": {"name": "podinfo", "port": 80, "targetPort": 9898, "portName": "http", "portDiscovery": true},
		"skipAnalysis": false,
		"analysis": flagger_analysis,
	},
}

# kuma-canary.yaml: annotations, no skipAnalysis, stepWeight 10
kuma_canary := json.patch(istio_canary, [
	{"op": "add", "path": "/metadata/annotations", "value": {"kuma.io/mesh": "default"}},
	{"op": "remove", "path": "/spec/provider"},
	{"op": "remove", "path": "/spec/skipAnalysis"},
	{"op": "replace", "path": "/spec/analysis/stepWeight", "value": 10},
])

# linkerd-canary-steps.yaml: stepWeights instead of maxWeight and stepWeight
steps_canary := json.patch(istio_canary, [
	{"op": "replace", "path": "/spec/provider", "value": "linkerd"},
	{"op": "remove", "path": "/spec/analysis/maxWeight"},
	{"op": "remove", "path": "/spec/analysis/stepWeight"},
	{"op": "add", "path": "/spec/analysis/stepWeights", "value": [5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55]},
])

test_flagger_examples_are_in_place if {
	every obj in [istio_canary, kuma_canary, steps_canary] {
		canary.supported with input as obj
		canary.in_place with input as obj
	}
	canary.operations("budget-canary") == {{"op": "add", "path": "/metadata/annotations", "value": {"budgetgate.dev/canary": "budget-canary"}}} with input as istio_canary
	canary.operations("budget-canary") == {{"op": "add", "path": "/metadata/annotations/budgetgate.dev~1canary", "value": "budget-canary"}} with input as kuma_canary
}

test_flagger_skip_analysis_and_big_step_are_patched if {
	obj := json.patch(istio_canary, [
		{"op": "replace", "path": "/spec/skipAnalysis", "value": true},
		{"op": "replace", "path": "/spec/analysis/stepWeight", "value": 25},
	])
	not canary.in_place with input as obj
	ops := canary.operations("budget-canary") with input as obj
	ops == {
		{"op": "add", "path": "/metadata/annotations", "value": {"budgetgate.dev/canary": "budget-canary"}},
		{"op": "add", "path": "/spec/skipAnalysis", "value": false},
		{"op": "add", "path": "/spec/analysis/stepWeight", "value": 10},
	}
	patched := apply(obj, ops)
	patched.spec.analysis.maxWeight == 50
	canary.operations("budget-canary") == set() with input as patched
	canary.in_place with input as patched
}

test_flagger_step_weight_cap_is_a_parameter if {
	ops := canary.operations("x") with input as istio_canary
		with data.budgetgate.config.parameters.canary as {"maxFlaggerStepWeight": 2}
	{"op": "add", "path": "/spec/analysis/stepWeight", "value": 2} in ops
}

test_flagger_big_step_weights_are_replaced if {
	cases := [
		[[10, 50, 100], [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]],
		[[5, 30, 55], [10, 20, 30, 40, 50, 55]],
		[[20], [10, 20]],
		[[30, 5], [5]],
	]
	every c in cases {
		obj := json.patch(steps_canary, [{"op": "replace", "path": "/spec/analysis/stepWeights", "value": c[0]}])
		ops := canary.operations("x") with input as obj
		{"op": "add", "path": "/spec/analysis/stepWeights", "value": c[1]} in ops
		canary.in_place with input as apply(obj, ops)
	}
}

test_flagger_small_step_weights_are_kept if {
	every weights in [[10, 20, 30], [2, 4, 8, 16], [], [10, 5, 15]] {
		obj := json.patch(steps_canary, [{"op": "replace", "path": "/spec/analysis/stepWeights", "value": weights}])
		canary.in_place with input as obj
	}
	not canary.in_place with input as json.patch(steps_canary, [{"op": "replace", "path": "/spec/analysis/stepWeights", "value": [50, 40, 60]}])
}

test_flagger_canary_only_on_create_and_update if {
	review := {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": "x", "operation": "DELETE", "oldObject": istio_canary}}
	not canary.supported with input as review
	not canary.supported with input as json.patch(istio_canary, [{"op": "replace", "path": "/apiVersion", "value": "example.com/v1"}])
}
