# owner-label: every workload names the team that answers for it.
package budgetgate.rules.owner_label

import data.budgetgate.lib.config
import data.budgetgate.lib.k8s

key := config.parameter("owner-label", "key")

findings contains k8s.finding("owner-label", msg) if {
	k8s.gated
	not has_owner
	msg := sprintf("metadata.labels has no %q label: add metadata.labels.%s naming the owning team", [key, key])
}

has_owner if {
	value := k8s.labels[key]
	is_string(value)
	trim_space(value) != ""
}
