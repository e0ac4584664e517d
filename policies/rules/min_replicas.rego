# min-replicas: a replicated workload runs enough pods to survive a node loss.
package budgetgate.rules.min_replicas

import data.budgetgate.lib.config
import data.budgetgate.lib.k8s

minimum := config.parameter("min-replicas", "minimum")

# A manifest without spec.replicas leaves the count to an autoscaler, and 0
# parks a workload on purpose (an Argo Rollout's workloadRef Deployment):
# neither is judged.
findings contains k8s.finding("min-replicas", msg) if {
	k8s.gated
	k8s.is_replicated
	replicas := k8s.object.spec.replicas
	is_number(replicas)
	replicas > 0
	replicas < minimum
	msg := sprintf("spec.replicas is %d, below the minimum of %d: set spec.replicas to %d or more, or leave it to an autoscaler", [replicas, minimum, minimum])
}
