# min-replicas: a replicated workload runs enough pods to survive a node loss.
package budgetgate.rules.min_replicas

import data.budgetgate.lib.config
import data.budgetgate.lib.k8s

minimum := config.parameter("min-replicas", "minimum")

# An unset spec.replicas counts as 1, what the API server and Argo Rollouts
# store, so that CI and the cluster agree; 0 parks a workload on purpose (an
# Argo Rollout's workloadRef Deployment) and is not judged.
findings contains k8s.finding("min-replicas", msg) if {
	k8s.gated
	k8s.is_replicated
	replicas := object.get(k8s.object, ["spec", "replicas"], 1)
	is_number(replicas)
	replicas > 0
	replicas < minimum
	msg := sprintf("spec.replicas is %d%s, below the minimum of %d: set spec.replicas to %d or more (with a HorizontalPodAutoscaler, set it to the autoscaler's minReplicas)", [replicas, unset_note, minimum, minimum])
}

default unset_note := ""

unset_note := " (unset)" if not k8s.object.spec.replicas
