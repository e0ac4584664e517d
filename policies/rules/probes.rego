# probes: a long-running container has a readiness probe, so a bad rollout stops
# before it takes traffic; a liveness probe too when config asks for it.
package budgetgate.rules.probes

import data.budgetgate.lib.config
import data.budgetgate.lib.k8s

findings contains k8s.finding("probes", msg) if {
	some entry in serving_containers
	not entry.container.readinessProbe
	msg := sprintf("container %q has no readinessProbe: set %s.readinessProbe", [entry.container.name, entry.path])
}

findings contains k8s.finding("probes", msg) if {
	config.parameter("probes", "liveness") == true
	some entry in serving_containers
	not entry.container.livenessProbe
	msg := sprintf("container %q has no livenessProbe: set %s.livenessProbe", [entry.container.name, entry.path])
}

# Init containers run to completion and take no traffic; Jobs and CronJobs
# are not long-running, so none of their containers is asked for probes.
serving_containers contains entry if {
	k8s.gated
	k8s.is_long_running
	some entry in k8s.containers
	not entry.init
}
