# The strategy a canary action forces, per kind, as JSON Patch operations.
# A patch is only the difference from the object, so a second pass yields
# none: the mutation is idempotent, and "no patch left" is exactly "the
# canary strategy is in place", which the validating webhook checks again.
package budgetgate.lib.canary

import data.budgetgate.lib.config
import data.budgetgate.lib.k8s

annotation := "budgetgate.dev/canary"

param(key) := config.parameter("canary", key)

# supported holds for kinds that have a progressive strategy to force;
# other kinds with a canary finding are only warned.
supported if {
	k8s.gated
	k8s.group == "apps"
	k8s.kind == "Deployment"
}

supported if {
	k8s.gated
	k8s.group == "argoproj.io"
	k8s.kind == "Rollout"
}

# A Flagger Canary is no workload (its target Deployment is), but it holds the
# progressive strategy of that Deployment's rollouts.
supported if {
	k8s.operation in {"CREATE", "UPDATE"}
	k8s.is_flagger_canary
}

# operations(reason) is the patch forcing a canary strategy; reason (the rule ids
# that asked for it) goes into the budgetgate.dev/canary annotation. Package
# main merges annotations(reason) with the other annotations budgetgate sets
# (k8s.annotation_patch) and adds strategy_operations.
operations(reason) := strategy_operations | k8s.annotation_patch(annotations(reason))

annotations(reason) := {annotation: reason} if supported

annotations(_) := {} if not supported

default strategy_operations := set()

strategy_operations := strategy_patch if supported

# in_place holds when the object already has the canary strategy.
in_place if {
	supported
	count(strategy_patch) == 0
}

# Deployment: one new pod at a time, never one fewer ready, each pod ready for
# minReadySeconds before the next, and a deadline that marks a stuck rollout.
deployment_strategy := {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}

strategy_patch contains {"op": "add", "path": "/spec/strategy", "value": deployment_strategy} if {
	k8s.kind == "Deployment"
	not deployment_strategy_in_place
}

deployment_strategy_in_place if {
	s := k8s.object.spec.strategy
	s.type == "RollingUpdate"
	s.rollingUpdate.maxSurge in {1, "1"}
	s.rollingUpdate.maxUnavailable in {0, "0", "0%"}
}

strategy_patch contains {"op": "add", "path": "/spec/minReadySeconds", "value": param("minReadySeconds")} if {
	k8s.kind == "Deployment"
	not object.get(k8s.object.spec, "minReadySeconds", 0) >= param("minReadySeconds")
}

strategy_patch contains {"op": "add", "path": "/spec/progressDeadlineSeconds", "value": param("progressDeadlineSeconds")} if {
	k8s.kind == "Deployment"
	not k8s.object.spec.progressDeadlineSeconds
}

# Rollout: canary steps that raise the weight by at most maxStepWeight and
# hold at a gate (pause, analysis or experiment step). Steps that do are kept
# as they are; others are replaced with default steps; a blueGreen strategy is
# replaced. Other canary settings (traffic routing, background analysis) stay.
rollout_steps := [step |
	some weight in numbers.range_step(param("maxStepWeight"), 99, param("maxStepWeight"))
	some step in [{"setWeight": weight}, {"pause": {"duration": param("pause")}}]
]

strategy_patch contains {"op": "add", "path": "/spec/strategy", "value": {"canary": {"steps": rollout_steps}}} if {
	k8s.kind == "Rollout"
	not k8s.object.spec.strategy.canary
}

strategy_patch contains {"op": "add", "path": "/spec/strategy/canary/steps", "value": rollout_steps} if {
	k8s.kind == "Rollout"
	k8s.object.spec.strategy.canary
	not rollout_steps_in_place
}

rollout_steps_in_place if {
	steps := k8s.object.spec.strategy.canary.steps
	weights := [w | some step in steps; w := step.setWeight]
	count(weights) > 0
	some step in steps
	is_gate(step)
	every i, w in weights {
		w - previous_weight(weights, i) <= param("maxStepWeight")
	}
}

# A pause, an analysis or an experiment step holds the rollout until it passes.
is_gate(step) if step.pause

is_gate(step) if step.analysis

is_gate(step) if step.experiment

previous_weight(_, 0) := 0

previous_weight(weights, i) := weights[i - 1] if i > 0

# Flagger Canary: analysis cannot be skipped, and traffic moves in small steps.
# Flagger's field is spec.skipAnalysis (not analysis.skipAnalysis: Flagger's
# API has it on the spec, beside spec.analysis); absent means false.
strategy_patch contains {"op": "add", "path": "/spec/skipAnalysis", "value": false} if {
	k8s.is_flagger_canary
	k8s.object.spec.skipAnalysis == true
}

strategy_patch contains {"op": "add", "path": "/spec/analysis/stepWeight", "value": param("maxFlaggerStepWeight")} if {
	k8s.is_flagger_canary
	k8s.object.spec.analysis.stepWeight > param("maxFlaggerStepWeight")
}

# stepWeights (a list of weights instead of one step) is kept when no step
# raises the weight (from 0) by more than the cap; otherwise it is replaced
# by steps of the cap up to the list's last weight.
strategy_patch contains {"op": "add", "path": "/spec/analysis/stepWeights", "value": flagger_step_weights(weights)} if {
	k8s.is_flagger_canary
	weights := k8s.object.spec.analysis.stepWeights
	is_array(weights)
	some i, w in weights
	w - previous_weight(weights, i) > param("maxFlaggerStepWeight")
}

flagger_step_weights(weights) := array.concat(steps, rest) if {
	cap := param("maxFlaggerStepWeight")
	top := weights[count(weights) - 1]
	top > cap
	steps := numbers.range_step(cap, top, cap)
	rest := [top | top % cap != 0]
}

flagger_step_weights(weights) := [top] if {
	top := weights[count(weights) - 1]
	top <= param("maxFlaggerStepWeight")
}
