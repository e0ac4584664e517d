// Package e2e drives budgetgate through a real kube-apiserver and etcd: the
// API server calls the webhooks over TLS, and the tests act as a user with
// kubectl. KUBEBUILDER_ASSETS names the binaries (hack/envtest-assets.sh).
package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/budgetgate/budgetgate/localcluster"
	"github.com/budgetgate/budgetgate/policies"
	"github.com/budgetgate/budgetgate/rego"
	"github.com/budgetgate/budgetgate/server"
	"github.com/budgetgate/budgetgate/webhook"
)

var cluster *localcluster.Cluster

// policyNamespace is where the tests put policy ConfigMaps, as an install
// does in budgetgate's own namespace.
const policyNamespace = "budgetgate-system"

func TestMain(m *testing.M) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		if os.Getenv("CI") != "" {
			fmt.Fprintln(os.Stderr, "KUBEBUILDER_ASSETS is not set: CI must run the end-to-end suite (hack/test.sh sets it)")
			os.Exit(1)
		}
		fmt.Fprintln(os.Stderr, "skipping the end-to-end suite: set KUBEBUILDER_ASSETS=$(hack/envtest-assets.sh)")
		os.Exit(0)
	}
	os.Exit(run(m, assets))
}

func run(m *testing.M, assets string) int {
	files, err := rego.ReadFS(policies.FS, ".", "policies")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// Budgets come from the ServiceLevelObjectives' status (the budget sync);
	// this data document only configures who may break the glass.
	engine := rego.NewEngine(map[string]any{"budgetgate": map[string]any{"config": map[string]any{
		"breakGlassGroups": []any{"sre-oncall"},
	}}})
	if _, err := engine.Load(context.Background(), "the embedded library", files); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	start := time.Now()
	c, err := localcluster.Start(context.Background(), localcluster.Options{
		AssetsDir: assets, Engine: engine, Webhook: webhook.DefaultOptions(), Log: logr.Discard(),
		// As serve runs in a cluster: policy ConfigMaps in budgetgate's
		// namespace are added to the embedded library and reloaded.
		Policies: &server.PolicySources{
			Base: func() (rego.Files, string, error) {
				return files, "the embedded library", nil
			},
			ConfigMapNamespace: policyNamespace, Interval: time.Second,
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "control plane and webhooks up in %s\n", time.Since(start).Round(time.Millisecond))
	cluster = c
	code := m.Run()
	if err := c.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// kubectl runs kubectl as a user would, failing the test on a timeout.
func kubectl(t *testing.T, stdin string, args ...string) localcluster.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var in []byte
	if stdin != "" {
		in = []byte(stdin)
	}
	return cluster.Kubectl(ctx, in, args...)
}

func mustKubectl(t *testing.T, stdin string, args ...string) localcluster.Result {
	t.Helper()
	r := kubectl(t, stdin, args...)
	if r.Err != nil {
		t.Fatalf("kubectl %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.Err, r.Stdout, r.Stderr)
	}
	return r
}

// namespace creates a fresh namespace with the given labels.
func namespace(t *testing.T, name string, labels ...string) string {
	t.Helper()
	doc := fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n", name)
	if len(labels) > 0 {
		doc += "  labels:\n"
		for i := 0; i+1 < len(labels); i += 2 {
			doc += fmt.Sprintf("    %s: %q\n", labels[i], labels[i+1])
		}
	}
	mustKubectl(t, doc, "apply", "-f", "-")
	return name
}

// deployment renders a Deployment; each option edits the YAML text.
func deployment(ns, name string, opts ...func(string) string) string {
	doc := fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[2]s
  namespace: %[1]s
  labels:
    app: %[2]s
    owner: team-shop
    budgetgate.dev/slo: %[2]s
spec:
  replicas: 3
  selector:
    matchLabels:
      app: %[2]s
  template:
    metadata:
      labels:
        app: %[2]s
    spec:
      containers:
        - name: app
          image: ghcr.io/example/%[2]s:1.2.3
          readinessProbe:
            httpGet:
              path: /readyz
              port: 8080
          resources:
            requests:
              cpu: 100m
              memory: 64Mi
            limits:
              memory: 128Mi
`, ns, name)
	for _, o := range opts {
		doc = o(doc)
	}
	return doc
}

func without(line string) func(string) string {
	return func(doc string) string { return strings.Replace(doc, line+"\n", "", 1) }
}

func replace(old, new string) func(string) string {
	return func(doc string) string { return strings.Replace(doc, old, new, 1) }
}

// nonCompliant misses an owner, probes, resources and a pinned image.
func nonCompliant(ns, name string) string {
	return deployment(ns, name,
		without("    owner: team-shop"),
		replace(":1.2.3", ":latest"),
		func(doc string) string { return doc[:strings.Index(doc, "          readinessProbe:")] },
	)
}

var everyFailure = []string{"[image-pinned]", "[owner-label]", "[probes]", "[resources]"}

func assertDenied(t *testing.T, r localcluster.Result) {
	t.Helper()
	if r.Err == nil {
		t.Fatalf("kubectl succeeded, want a denial:\n%s%s", r.Stdout, r.Stderr)
	}
	// Only budgetgate writes this: the webhook was called and refused.
	if !strings.Contains(r.Stderr, `admission webhook "validate.budgetgate.dev" denied the request: budgetgate: 4 policies failed:`) {
		t.Fatalf("not budgetgate's denial:\n%s", r.Stderr)
	}
	for _, rule := range everyFailure {
		if !strings.Contains(r.Stderr, rule) {
			t.Errorf("the denial does not list %s:\n%s", rule, r.Stderr)
		}
	}
}

func get(t *testing.T, ns, kind, name, jsonpath string) string {
	t.Helper()
	return mustKubectl(t, "", "get", "-n", ns, kind, name, "-o", "jsonpath="+jsonpath).Stdout
}

func exists(t *testing.T, ns, kind, name string) bool {
	t.Helper()
	r := kubectl(t, "", "get", "-n", ns, kind, name)
	return r.Err == nil
}

func TestCompliantDeploymentIsCreated(t *testing.T) {
	ns := namespace(t, "compliant")
	slo(t, ns, "checkout", 0.9)
	var r localcluster.Result
	eventually(t, "the SLO reaches the webhook", func() string {
		if r = kubectl(t, deployment(ns, "checkout"), "apply", "--dry-run=server", "-f", "-"); strings.Contains(r.Stderr, "slo-declared") {
			return r.Stderr
		}
		return ""
	})
	r = mustKubectl(t, deployment(ns, "checkout"), "apply", "-f", "-")
	if !strings.Contains(r.Stdout, "deployment.apps/checkout created") || strings.Contains(r.Stderr, "Warning") {
		t.Fatalf("want a silent create, got:\n%s%s", r.Stdout, r.Stderr)
	}
	if got := get(t, ns, "deployment", "checkout", `{.metadata.annotations.budgetgate\.dev/canary}`); got != "" {
		t.Errorf("a compliant Deployment was canaried: %q", got)
	}
}

func TestNonCompliantDeploymentIsRefusedWithEveryReason(t *testing.T) {
	ns := namespace(t, "refused")
	assertDenied(t, kubectl(t, nonCompliant(ns, "cart"), "apply", "-f", "-"))
	if exists(t, ns, "deployment", "cart") {
		t.Error("the refused Deployment was stored")
	}
}

func TestWarnedDeploymentPrintsWarning(t *testing.T) {
	ns := namespace(t, "warned")
	r := mustKubectl(t, deployment(ns, "single", replace("replicas: 3", "replicas: 1")), "apply", "-f", "-")
	want := "Warning: [min-replicas] Deployment warned/single: spec.replicas is 1, below the minimum of 2"
	if !strings.Contains(r.Stderr, want) {
		t.Fatalf("stderr lacks %q:\n%s", want, r.Stderr)
	}
	if !exists(t, ns, "deployment", "single") {
		t.Error("the warned Deployment was not stored")
	}
}

func TestCanariedDeploymentIsStoredPatched(t *testing.T) {
	ns := namespace(t, "canaried")
	r := mustKubectl(t, deployment(ns, "web", without("    budgetgate.dev/slo: web")), "apply", "-f", "-")
	if !strings.Contains(r.Stderr, "Warning: [slo-declared]") {
		t.Errorf("no slo-declared warning:\n%s", r.Stderr)
	}
	checks := map[string]string{
		`{.metadata.annotations.budgetgate\.dev/canary}`: "slo-declared",
		`{.spec.strategy.type}`:                          "RollingUpdate",
		`{.spec.strategy.rollingUpdate.maxSurge}`:        "1",
		`{.spec.strategy.rollingUpdate.maxUnavailable}`:  "0",
		`{.spec.minReadySeconds}`:                        "30",
	}
	for path, want := range checks {
		if got := get(t, ns, "deployment", "web", path); got != want {
			t.Errorf("stored %s = %q, want %q", path, got, want)
		}
	}
	// Applying the same manifest again changes nothing: the mutation is idempotent.
	r = mustKubectl(t, deployment(ns, "web", without("    budgetgate.dev/slo: web")), "apply", "-f", "-")
	if !strings.Contains(r.Stdout, "deployment.apps/web unchanged") && !strings.Contains(r.Stdout, "deployment.apps/web configured") {
		t.Errorf("second apply: %s", r.Stdout)
	}
	if got := get(t, ns, "deployment", "web", `{.metadata.generation}`); got != "1" {
		t.Errorf("the second apply changed the spec: generation %s", got)
	}
}

func TestUpdateScaleAndDelete(t *testing.T) {
	ns := namespace(t, "lifecycle")
	mustKubectl(t, deployment(ns, "api"), "apply", "-f", "-")

	// An update that breaks a requirement is refused and the stored object kept.
	assertDenied(t, kubectl(t, nonCompliant(ns, "api"), "apply", "-f", "-"))
	if got := get(t, ns, "deployment", "api", "{.spec.template.spec.containers[0].image}"); got != "ghcr.io/example/api:1.2.3" {
		t.Errorf("the refused update changed the image to %q", got)
	}

	// Scaling goes through the scale subresource, which budgetgate does not gate.
	mustKubectl(t, "", "scale", "-n", ns, "deployment/api", "--replicas=5")
	if got := get(t, ns, "deployment", "api", "{.spec.replicas}"); got != "5" {
		t.Errorf("replicas after scale = %s, want 5", got)
	}

	mustKubectl(t, "", "delete", "-n", ns, "deployment/api")
	if exists(t, ns, "deployment", "api") {
		t.Error("the Deployment survived its delete")
	}
}

func TestServerSideApply(t *testing.T) {
	ns := namespace(t, "ssa")
	assertDenied(t, kubectl(t, nonCompliant(ns, "bad"), "apply", "--server-side", "-f", "-"))
	r := mustKubectl(t, deployment(ns, "good"), "apply", "--server-side", "-f", "-")
	if !strings.Contains(r.Stdout, "deployment.apps/good serverside-applied") {
		t.Errorf("server-side apply: %s", r.Stdout)
	}
}

func TestServerDryRun(t *testing.T) {
	ns := namespace(t, "dryrun")
	assertDenied(t, kubectl(t, nonCompliant(ns, "bad"), "apply", "--dry-run=server", "-f", "-"))
	r := mustKubectl(t, deployment(ns, "good"), "apply", "--dry-run=server", "-f", "-")
	if !strings.Contains(r.Stdout, "created (server dry run)") {
		t.Errorf("dry run: %s", r.Stdout)
	}
	if exists(t, ns, "deployment", "good") {
		t.Error("a server dry run stored the Deployment")
	}
}

// Namespaces the webhook configurations exclude are never gated: a
// non-compliant Deployment is created there without a word from budgetgate.
func TestExcludedNamespacesAreNotGated(t *testing.T) {
	for _, ns := range []string{
		"kube-system",
		namespace(t, "budgetgate-system"),
		namespace(t, "opted-out", "budgetgate.dev/tier", "off"),
	} {
		t.Run(ns, func(t *testing.T) {
			// Without an SLO label too: gated, it would also be canaried.
			doc := without("    budgetgate.dev/slo: ungated")(nonCompliant(ns, "ungated"))
			r := mustKubectl(t, doc, "apply", "-f", "-")
			if strings.Contains(r.Stderr, "Warning") {
				t.Errorf("budgetgate judged a Deployment in %s: %s", ns, r.Stderr)
			}
			if got := get(t, ns, "deployment", "ungated", `{.metadata.annotations.budgetgate\.dev/canary}`); got != "" {
				t.Errorf("budgetgate mutated a Deployment in %s", ns)
			}
		})
	}
}
