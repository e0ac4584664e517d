# image-pinned: an image names an exact version (a tag other than latest, or a
# digest when config asks for digests), so a rollout is reproducible, and
# comes from an allowed registry when config lists registries.
package budgetgate.rules.image_pinned

import data.budgetgate.lib.config
import data.budgetgate.lib.k8s

findings contains k8s.finding("image-pinned", msg) if {
	k8s.gated
	some entry in k8s.containers
	not plainly_pinned(entry.container.image)
	problem := unpinned(entry.container.image)
	msg := sprintf("container %q image %q %s: set %s.image to a fixed version", [entry.container.name, entry.container.image, problem, entry.path])
}

findings contains k8s.finding("image-pinned", msg) if {
	k8s.gated
	allowed := [r | some r in config.parameter("image-pinned", "registries"); is_string(r)]
	count(allowed) > 0
	some entry in k8s.containers
	not allowed_by(full_name(entry.container.image), allowed)
	msg := sprintf("container %q image %q is not from an allowed registry (%s): pull it from one of them", [entry.container.name, entry.container.image, concat(", ", allowed)])
}

# full_name is the image's repository with its registry host, the way a
# container runtime reads it: a first segment without "." or ":" (and not
# localhost) starts a Docker Hub path, and a one-segment Docker Hub name is
# in library/ ("nginx:1.27" is docker.io/library/nginx).
full_name(image) := name if {
	segments := split(split(image, "@")[0], "/")
	last := count(segments) - 1
	repo := concat("/", array.concat(array.slice(segments, 0, last), [split(segments[last], ":")[0]]))
	qualified := with_registry(repo, segments)
	name := regex.replace(qualified, `^docker\.io/([^/]+)$`, "docker.io/library/$1")
}

with_registry(repo, segments) := repo if {
	count(segments) > 1
	registry_host(segments[0])
} else := concat("/", ["docker.io", repo])

registry_host(host) if contains(host, ".")

registry_host(host) if contains(host, ":")

registry_host("localhost")

# allowed_by: the name equals an allowed prefix or continues it after a "/"
# ("ghcr.io/acme" allows ghcr.io/acme/app, not ghcr.io/acme-corp/app).
allowed_by(name, allowed) if {
	some prefix in allowed
	name == trim_suffix(prefix, "/")
}

allowed_by(name, allowed) if {
	some prefix in allowed
	startswith(name, concat("", [trim_suffix(prefix, "/"), "/"]))
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

# plainly_pinned: a tag other than latest where no digest is required, the
# usual case: checked in one step, so unpinned's reasons are only looked for
# when an image may have one.
plainly_pinned(image) if {
	tag(image) != "latest"
	not config.parameter("image-pinned", "digest") == true
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
