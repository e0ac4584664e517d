package budgetgate.rules.image_pinned_test

import data.budgetgate.rules.image_pinned

# A compliant Deployment: every shipped rule passes it.
container := {
	"name": "app",
	"image": "registry.example.com/shop/checkout:1.4.2",
	"readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}},
	"livenessProbe": {"httpGet": {"path": "/live", "port": 8080}},
	"resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
}

deployment := {
	"apiVersion": "apps/v1",
	"kind": "Deployment",
	"metadata": {
		"name": "checkout",
		"namespace": "shop",
		"labels": {"app": "checkout", "owner": "payments", "budgetgate.dev/slo": "checkout"},
	},
	"spec": {
		"replicas": 3,
		"selector": {"matchLabels": {"app": "checkout"}},
		"template": {
			"metadata": {"labels": {"app": "checkout"}},
			"spec": {"containers": [container]},
		},
	},
}

review(operation, obj) := {
	"apiVersion": "admission.k8s.io/v1",
	"kind": "AdmissionReview",
	"request": {
		"uid": "x",
		"operation": operation,
		"namespace": "shop",
		"object": obj,
		"userInfo": {"username": "alice"},
	},
} if operation != "DELETE"

review("DELETE", obj) := {
	"apiVersion": "admission.k8s.io/v1",
	"kind": "AdmissionReview",
	"request": {
		"uid": "x",
		"operation": "DELETE",
		"namespace": "shop",
		"object": null,
		"oldObject": obj,
		"userInfo": {"username": "alice"},
	},
}

# controlled(obj, kind) is obj with a controller owner reference to a kind.
controlled(obj, kind) := json.patch(obj, [{
	"op": "add",
	"path": "/metadata/ownerReferences",
	"value": [{"apiVersion": "apps/v1", "kind": kind, "name": "checkout-7d9f", "uid": "u", "controller": true}],
}])

# pod and replica_set are what the Deployment's controllers create from it.
replica_set := json.patch(deployment, [{"op": "replace", "path": "/kind", "value": "ReplicaSet"}])

pod := {
	"apiVersion": "v1",
	"kind": "Pod",
	"metadata": {"name": "checkout-7d9f-x2x", "namespace": "shop", "labels": {"app": "checkout"}},
	"spec": {"containers": [json.remove(container, ["readinessProbe", "resources"])]},
}

digest := "sha256:4b2d6bd8a9f1e6a5c2f4e7a9b0c3d6e1f2a5b8c7d0e3f6a9b2c5d8e1f4a7b0c3"

with_image(image) := json.patch(deployment, [{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": image}])

finding(image, problem) := {{
	"msg": sprintf(`Deployment shop/checkout: container "app" image %q %s: set spec.template.spec.containers[0].image to a fixed version`, [image, problem]),
	"policy": "image-pinned",
}}

digest_required := {"parameters": {"image-pinned": {"digest": true}}}

test_compliant_deployment_has_no_finding if {
	image_pinned.findings == set() with input as deployment
}

# image -> what a user is told about it (digest pinning off).
unpinned_images := {
	"app": "has no tag",
	"app:latest": "uses the tag latest",
	"docker.io/library/nginx": "has no tag",
	"ghcr.io/org/app:latest": "uses the tag latest",
	"registry:5000/app": "has no tag",
	"registry:5000/app:latest": "uses the tag latest",
	"localhost:5000/team/app": "has no tag",
}

pinned_images := {
	"app:1.2",
	"docker.io/library/nginx:1.27.3",
	"registry:5000/team/app:2.0.1",
	sprintf("app:1.2@%s", [digest]),
	sprintf("app@%s", [digest]),
	sprintf("registry:5000/app@%s", [digest]),
	sprintf("app:latest@%s", [digest]),
}

test_unpinned_images if {
	every image, problem in unpinned_images {
		image_pinned.findings == finding(image, problem) with input as with_image(image)
	}
}

test_pinned_images if {
	every image in pinned_images {
		image_pinned.findings == set() with input as with_image(image)
	}
}

test_tag_helper if {
	image_pinned.tag("app:1.2") == "1.2"
	image_pinned.tag("registry:5000/app:1.2") == "1.2"
	not image_pinned.tag("registry:5000/app")
	not image_pinned.tag("app")
	not image_pinned.tag(sprintf("app:1.2@%s", [digest]))
	image_pinned.has_digest(sprintf("app@%s", [digest]))
	not image_pinned.has_digest("app:1.2")
}

not_by_digest := "is not pinned by digest (digest pinning is required)"

test_digest_pinning_when_config_requires_it if {
	image_pinned.findings == finding("registry.example.com/shop/checkout:1.4.2", not_by_digest) with input as deployment with data.budgetgate.config as digest_required
	image_pinned.findings == finding("registry:5000/app:2.0", not_by_digest) with input as with_image("registry:5000/app:2.0") with data.budgetgate.config as digest_required

	# one finding per image, the most telling one
	image_pinned.findings == finding("app", "has no tag") with input as with_image("app") with data.budgetgate.config as digest_required
	image_pinned.findings == finding("app:latest", "uses the tag latest") with input as with_image("app:latest") with data.budgetgate.config as digest_required

	# pinned by digest, with or without a tag
	image_pinned.findings == set() with input as with_image(sprintf("app@%s", [digest])) with data.budgetgate.config as digest_required
	image_pinned.findings == set() with input as with_image(sprintf("app:1.2@%s", [digest])) with data.budgetgate.config as digest_required
}

test_init_containers_are_judged if {
	obj := json.patch(deployment, [{"op": "add", "path": "/spec/template/spec/initContainers", "value": [{"name": "migrate", "image": "migrate"}]}])
	image_pinned.findings == {{
		"msg": `Deployment shop/checkout: container "migrate" image "migrate" has no tag: set spec.template.spec.initContainers[0].image to a fixed version`,
		"policy": "image-pinned",
	}} with input as obj
}

test_admission_review if {
	image_pinned.findings == finding("app:latest", "uses the tag latest") with input as review("CREATE", with_image("app:latest"))
	image_pinned.findings == finding("app:latest", "uses the tag latest") with input as review("UPDATE", with_image("app:latest"))
	image_pinned.findings == set() with input as review("CREATE", deployment)
}

test_delete_has_no_finding if {
	image_pinned.findings == set() with input as review("DELETE", with_image("app:latest"))
}

test_controlled_pod_and_replica_set_have_no_finding if {
	unpinned_pod := json.patch(pod, [{"op": "replace", "path": "/spec/containers/0/image", "value": "app:latest"}])
	image_pinned.findings == set() with input as controlled(unpinned_pod, "ReplicaSet")
	image_pinned.findings == set() with input as review("CREATE", controlled(unpinned_pod, "ReplicaSet"))
	rs := json.patch(replica_set, [{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "app"}])
	image_pinned.findings == set() with input as controlled(rs, "Deployment")
}

test_cron_job_is_judged if {
	cron_job := {
		"apiVersion": "batch/v1",
		"kind": "CronJob",
		"metadata": {"name": "backup", "namespace": "shop"},
		"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "backup", "image": "backup:latest"}]}}}}},
	}
	image_pinned.findings == {{
		"msg": `CronJob shop/backup: container "backup" image "backup:latest" uses the tag latest: set spec.jobTemplate.spec.template.spec.containers[0].image to a fixed version`,
		"policy": "image-pinned",
	}} with input as cron_job
}

test_rollout_with_workload_ref_is_skipped if {
	rollout := {
		"apiVersion": "argoproj.io/v1alpha1",
		"kind": "Rollout",
		"metadata": {"name": "checkout", "namespace": "shop"},
		"spec": {"replicas": 5, "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "checkout"}},
	}
	image_pinned.findings == set() with input as rollout with data.budgetgate.config as digest_required
}

test_full_names if {
	every image, name in {
		"nginx": "docker.io/library/nginx",
		"nginx:1.27": "docker.io/library/nginx",
		"docker.io/nginx:1.27": "docker.io/library/nginx",
		"bitnami/redis:7.2": "docker.io/bitnami/redis",
		"ghcr.io/acme/app:1.0": "ghcr.io/acme/app",
		"registry:5000/app:1.0": "registry:5000/app",
		"localhost/app": "localhost/app",
		"gcr.io/google-samples/microservices-demo/frontend:v0.10.1": "gcr.io/google-samples/microservices-demo/frontend",
		"ghcr.io/acme/app@sha256:0123": "ghcr.io/acme/app",
	} {
		image_pinned.full_name(image) == name
	}
}

with_image(image) := json.patch(deployment, [{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": image}])

registries(list) := {"parameters": {"image-pinned": {"registries": list}}}

test_any_registry_by_default if {
	count(image_pinned.findings) == 0 with input as with_image("docker.io/library/nginx:1.27")
}

test_allowed_registries if {
	cfg := registries(["ghcr.io/acme/", "docker.io/library", "registry.example.com"])
	every image in ["ghcr.io/acme/app:1.0", "nginx:1.27", "registry.example.com/shop/checkout:1.4.2"] {
		count(image_pinned.findings) == 0 with input as with_image(image) with data.budgetgate.config as cfg
	}
	every image in ["ghcr.io/acme-corp/app:1.0", "bitnami/redis:7.2", "registry.example.com.evil.io/app:1"] {
		count(image_pinned.findings) == 1 with input as with_image(image) with data.budgetgate.config as cfg
	}
}

test_registry_finding_says_which_registries if {
	cfg := registries(["ghcr.io/acme"])
	some f in image_pinned.findings with input as review("CREATE", with_image("quay.io/acme/app:1.0")) with data.budgetgate.config as cfg
	f.policy == "image-pinned"
	f.msg == `Deployment shop/checkout: container "app" image "quay.io/acme/app:1.0" is not from an allowed registry (ghcr.io/acme): pull it from one of them`
}
