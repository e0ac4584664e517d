# resources: every container requests cpu and memory and caps its memory, so
# the scheduler can place it and a leak cannot take the node down.
package budgetgate.rules.resources

import data.budgetgate.lib.k8s

required := ["requests.cpu", "requests.memory", "limits.memory"]

findings contains k8s.finding("resources", msg) if {
	k8s.gated
	some entry in k8s.containers
	not complete(entry.container) # the container, not its resources: those may be absent
	missing := [field | some field in required; not has(entry.container, field)]
	count(missing) > 0
	msg := sprintf("container %q has no resources.%s: set %s.resources", [entry.container.name, concat(", resources.", missing), entry.path])
}

# complete: every required field is set, the usual case, checked in one step
# before the fields are listed one by one.
complete(container) if {
	container.resources.requests.cpu != null
	container.resources.requests.cpu != ""
	container.resources.requests.memory != null
	container.resources.requests.memory != ""
	container.resources.limits.memory != null
	container.resources.limits.memory != ""
}

has(container, field) if {
	[section, resource] := split(field, ".")
	value := container.resources[section][resource]
	value != null
	value != ""
}
