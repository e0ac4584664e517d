# resources: every container requests cpu and memory and caps its memory, so
# the scheduler can place it and a leak cannot take the node down.
package budgetgate.rules.resources

import data.budgetgate.lib.k8s

required := ["requests.cpu", "requests.memory", "limits.memory"]

findings contains k8s.finding("resources", msg) if {
	k8s.gated
	some entry in k8s.containers
	missing := [field | some field in required; not has(entry.container, field)]
	count(missing) > 0
	msg := sprintf("container %q has no resources.%s: set %s.resources", [entry.container.name, concat(", resources.", missing), entry.path])
}

has(container, field) if {
	[section, resource] := split(field, ".")
	value := container.resources[section][resource]
	value != null
	value != ""
}
