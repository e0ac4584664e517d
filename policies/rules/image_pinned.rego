# image-pinned: an image names an exact version (a tag other than latest, or a
# digest when config asks for digests), so a rollout is reproducible.
package budgetgate.rules.image_pinned

import data.budgetgate.lib.config
import data.budgetgate.lib.k8s

findings contains k8s.finding("image-pinned", msg) if {
	k8s.gated
	some entry in k8s.containers
	problem := unpinned(entry.container.image)
	msg := sprintf("container %q image %q %s: set %s.image to a fixed version", [entry.container.name, entry.container.image, problem, entry.path])
}

has_digest(image) if contains(image, "@sha256:")

# tag is what follows the last ":" of the name, unless that ":" belongs to a
# registry host with a port (registry:5000/app has no tag).
tag(image) := t if {
	not has_digest(image)
	parts := split(image, ":")
	count(parts) > 1
	t := parts[count(parts) - 1]
	not contains(t, "/")
}

unpinned(image) := "has no tag" if {
	not has_digest(image)
	not tag(image)
}

unpinned(image) := "uses the tag latest" if tag(image) == "latest"

unpinned(image) := "is not pinned by digest (digest pinning is required)" if {
	config.parameter("image-pinned", "digest") == true
	not has_digest(image)
	tag(image) != "latest"
}
