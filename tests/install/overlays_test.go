package install

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/budgetgate/budgetgate/manifest"
)

// rendered is one kustomization's output, by kind.
type rendered struct {
	name string
	docs []manifest.Document
}

// variants renders every way the manifests are meant to be installed.
func variants(t *testing.T) []rendered {
	t.Helper()
	dir := manifestsDir(t)
	// The fail-open component, as a user adds it: an overlay of their own
	// beside a copy of manifests/ (kustomize loads only below its root).
	own := t.TempDir()
	if err := os.CopyFS(filepath.Join(own, "manifests"), os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	failOpen := filepath.Join(own, "fail-open")
	if err := os.MkdirAll(failOpen, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(failOpen, "kustomization.yaml"), []byte(
		"resources: [../manifests/overlays/self-managed]\ncomponents: [../manifests/components/fail-open]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out []rendered
	for _, v := range []struct{ name, dir string }{
		{"base", filepath.Join(dir, "base")},
		{"cert-manager", filepath.Join(dir, "overlays/cert-manager")},
		{"self-managed", filepath.Join(dir, "overlays/self-managed")},
		{"self-managed+fail-open", failOpen},
	} {
		y, err := kubectl(t, "", "kustomize", v.dir)
		if err != nil {
			t.Fatalf("kubectl kustomize %s: %v\n%s", v.dir, err, y)
		}
		docs, err := manifest.Decode(v.name, []byte(y))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rendered{name: v.name, docs: docs})
	}
	return out
}

// objects decodes every document of kind into T, strictly: a field the Go
// type does not know is an error, not silently dropped.
func objects[T any](t *testing.T, r rendered, kind string) []*T {
	t.Helper()
	var out []*T
	for _, d := range r.docs {
		if d.Object["kind"] != kind {
			continue
		}
		raw, err := yaml.Marshal(d.Object)
		if err != nil {
			t.Fatal(err)
		}
		obj := new(T)
		if err := yaml.UnmarshalStrict(raw, obj); err != nil {
			t.Fatalf("%s: %s %s: %v", r.name, kind, d.Name(), err)
		}
		out = append(out, obj)
	}
	return out
}

// webhook is what the checks need of a mutating or validating webhook.
type webhook struct {
	config, name           string
	selector               *metav1.LabelSelector
	objectSelector         *metav1.LabelSelector
	failurePolicy          *admissionv1.FailurePolicyType
	sideEffects            *admissionv1.SideEffectClass
	timeout                *int32
	versions               []string
	rules                  []admissionv1.RuleWithOperations
	service                *admissionv1.ServiceReference
	reinvocation           *admissionv1.ReinvocationPolicyType
	mutating               bool
	injectCAFrom, caBundle string
}

func webhooks(t *testing.T, r rendered) []webhook {
	t.Helper()
	var out []webhook
	for _, c := range objects[admissionv1.MutatingWebhookConfiguration](t, r, "MutatingWebhookConfiguration") {
		for _, w := range c.Webhooks {
			out = append(out, webhook{config: "MutatingWebhookConfiguration/" + c.Name, name: w.Name, selector: w.NamespaceSelector, objectSelector: w.ObjectSelector,
				failurePolicy: w.FailurePolicy, sideEffects: w.SideEffects, timeout: w.TimeoutSeconds, versions: w.AdmissionReviewVersions,
				rules: w.Rules, service: w.ClientConfig.Service, reinvocation: w.ReinvocationPolicy, mutating: true,
				injectCAFrom: c.Annotations["cert-manager.io/inject-ca-from"], caBundle: string(w.ClientConfig.CABundle)})
		}
	}
	for _, c := range objects[admissionv1.ValidatingWebhookConfiguration](t, r, "ValidatingWebhookConfiguration") {
		for _, w := range c.Webhooks {
			out = append(out, webhook{config: "ValidatingWebhookConfiguration/" + c.Name, name: w.Name, selector: w.NamespaceSelector, objectSelector: w.ObjectSelector,
				failurePolicy: w.FailurePolicy, sideEffects: w.SideEffects, timeout: w.TimeoutSeconds, versions: w.AdmissionReviewVersions,
				rules: w.Rules, service: w.ClientConfig.Service,
				injectCAFrom: c.Annotations["cert-manager.io/inject-ca-from"], caBundle: string(w.ClientConfig.CABundle)})
		}
	}
	if len(out) != 2 {
		t.Fatalf("%s: want one mutating and one validating webhook, got %d", r.name, len(out))
	}
	return out
}

// gates reports whether a webhook with this namespaceSelector is called for
// requests in ns. A nil selector matches every namespace.
func gates(selector *metav1.LabelSelector, ns *corev1.Namespace) (bool, error) {
	if selector == nil {
		return true, nil
	}
	s, err := metav1.LabelSelectorAsSelector(selector)
	if err != nil {
		return false, err
	}
	return s.Matches(labelSet(ns.Labels)), nil
}

type labelSet map[string]string

func (l labelSet) Has(k string) bool              { _, ok := l[k]; return ok }
func (l labelSet) Get(k string) string            { return l[k] }
func (l labelSet) Lookup(k string) (string, bool) { v, ok := l[k]; return v, ok }

// gatingProblems lists the namespaces w would gate but must not, and those
// it must gate but would not.
func gatingProblems(w webhook, mustNot []*corev1.Namespace, must *corev1.Namespace) []string {
	var problems []string
	for _, ns := range mustNot {
		if g, err := gates(w.selector, ns); err != nil || g {
			problems = append(problems, fmt.Sprintf("%s %s gates namespace %s (labels %v) (err %v)", w.config, w.name, ns.Name, ns.Labels, err))
		}
	}
	if g, err := gates(w.selector, must); err != nil || !g {
		problems = append(problems, fmt.Sprintf("%s %s does not gate an ordinary namespace %s (labels %v)", w.config, w.name, must.Name, must.Labels))
	}
	if w.objectSelector != nil {
		problems = append(problems, fmt.Sprintf("%s %s has an objectSelector: a workload could opt itself out", w.config, w.name))
	}
	return problems
}

// wantRules: exactly the kinds the policy library judges.
var wantRules = []string{
	"/v1/pods", "apps/v1/daemonsets", "apps/v1/deployments", "apps/v1/replicasets", "apps/v1/statefulsets",
	"argoproj.io/v1alpha1/rollouts", "batch/v1/cronjobs", "batch/v1/jobs", "flagger.app/v1beta1/canaries",
}

// TestOverlays renders every install variant and checks its webhooks, then
// server-side applies the cert-manager overlay (with cert-manager's own
// CRDs) and, as a server-side dry run, the self-managed one, and uninstalls.
func TestOverlays(t *testing.T) {
	all := variants(t)
	cp := startControlPlane(t)
	ctx := context.Background()
	cs, err := kubernetes.NewForConfig(cp.cfg)
	if err != nil {
		t.Fatal(err)
	}
	kubeSystem, err := cs.CoreV1().Namespaces().Get(ctx, "kube-system", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if kubeSystem.Labels[corev1.LabelMetadataName] != "kube-system" {
		t.Fatalf("the API server did not label kube-system with %s: %v", corev1.LabelMetadataName, kubeSystem.Labels)
	}
	mustNot := []*corev1.Namespace{
		kubeSystem,
		{ObjectMeta: metav1.ObjectMeta{Name: "budgetgate-system", Labels: map[string]string{corev1.LabelMetadataName: "budgetgate-system"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "legacy", Labels: map[string]string{corev1.LabelMetadataName: "legacy", "budgetgate.dev/tier": "off"}}},
	}
	ordinary := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{corev1.LabelMetadataName: "shop", "team": "shop"}}}

	t.Run("the gating check catches a selector that matches kube-system", func(t *testing.T) {
		w := webhooks(t, all[0])[0]
		w.selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "budgetgate.dev/tier", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"off"}}}}
		if p := gatingProblems(w, mustNot, ordinary); len(p) == 0 || !strings.Contains(p[0], "kube-system") {
			t.Fatalf("a selector without the kube-system exclusion passed: %v", p)
		}
		w.selector = nil
		if p := gatingProblems(w, mustNot, ordinary); len(p) != len(mustNot) {
			t.Fatalf("a webhook without namespaceSelector passed: %v", p)
		}
	})

	for _, r := range all {
		t.Run(r.name+": webhooks", func(t *testing.T) {
			services := objects[corev1.Service](t, r, "Service")
			for _, w := range webhooks(t, r) {
				for _, p := range gatingProblems(w, mustNot, ordinary) {
					t.Error(p)
				}
				if !slices.Equal(w.versions, []string{"v1"}) {
					t.Errorf("%s: admissionReviewVersions %v, want [v1]", w.name, w.versions)
				}
				if w.failurePolicy == nil {
					t.Errorf("%s: failurePolicy is not explicit", w.name)
				} else if want := map[bool]admissionv1.FailurePolicyType{true: admissionv1.Ignore, false: admissionv1.Fail}[strings.Contains(r.name, "fail-open")]; *w.failurePolicy != want {
					t.Errorf("%s: failurePolicy %s, want %s", w.name, *w.failurePolicy, want)
				}
				if w.timeout == nil || *w.timeout > 10 || *w.timeout < 1 {
					t.Errorf("%s: timeoutSeconds %v, want 1 to 10", w.name, w.timeout)
				}
				// The validating webhook records break-glass Events: NoneOnDryRun
				// (README: departures from DESIGN.md); the mutating one has none.
				wantSE := map[bool]admissionv1.SideEffectClass{true: admissionv1.SideEffectClassNone, false: admissionv1.SideEffectClassNoneOnDryRun}[w.mutating]
				if w.sideEffects == nil || *w.sideEffects != wantSE {
					t.Errorf("%s: sideEffects %v, want %s", w.name, w.sideEffects, wantSE)
				}
				if w.mutating && (w.reinvocation == nil || *w.reinvocation != admissionv1.IfNeededReinvocationPolicy) {
					t.Errorf("%s: reinvocationPolicy %v, want IfNeeded (a later mutation must not drop the canary)", w.name, w.reinvocation)
				}
				var got []string
				for _, rule := range w.rules {
					if !slices.Equal(rule.Operations, []admissionv1.OperationType{admissionv1.Create, admissionv1.Update}) {
						t.Errorf("%s: operations %v, want CREATE and UPDATE", w.name, rule.Operations)
					}
					for _, g := range rule.APIGroups {
						for _, v := range rule.APIVersions {
							for _, res := range rule.Resources {
								got = append(got, g+"/"+v+"/"+res)
							}
						}
					}
				}
				slices.Sort(got)
				if !slices.Equal(got, wantRules) {
					t.Errorf("%s: rules cover %v, want %v", w.name, got, wantRules)
				}
				if w.service == nil || !slices.ContainsFunc(services, func(s *corev1.Service) bool {
					return s.Name == w.service.Name && s.Namespace == w.service.Namespace &&
						slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return w.service.Port != nil && p.Port == *w.service.Port })
				}) {
					t.Errorf("%s: clientConfig.service %+v names no Service port of the install", w.name, w.service)
				}
				if w.caBundle != "" {
					t.Errorf("%s: a caBundle in the manifests would be overwritten on every apply", w.name)
				}
				if wantInject := r.name == "cert-manager"; (w.injectCAFrom != "") != wantInject {
					t.Errorf("%s: cert-manager.io/inject-ca-from %q in %s", w.name, w.injectCAFrom, r.name)
				}
			}
		})
	}

	t.Run("cert-manager: objects agree (cert-manager API types)", func(t *testing.T) {
		r := all[1]
		checkCertManagerObjects(t, objects[cmapi.Certificate](t, r, "Certificate"), objects[cmapi.Issuer](t, r, "Issuer"),
			objects[appsv1.Deployment](t, r, "Deployment"), webhooks(t, r))
	})

	t.Run("cert-manager: server-side apply", func(t *testing.T) {
		installCertManagerCRDs(t, cp)
		out := cp.mustKubectl(t, "", "apply", "--server-side", "-k", filepath.Join(manifestsDir(t), "overlays/cert-manager"))
		if n := strings.Count(out, "serverside-applied"); n != len(all[1].docs) {
			t.Fatalf("applied %d of %d objects:\n%s", n, len(all[1].docs), out)
		}
		// The namespace enforces the restricted Pod Security Standard; the API
		// server warns when a pod template would violate it.
		if strings.Contains(out, "Warning") {
			t.Errorf("applying warned:\n%s", out)
		}
		// ...which it does here: a root pod template draws the warning.
		bad := `apiVersion: apps/v1
kind: Deployment
metadata: {name: root, namespace: budgetgate-system}
spec:
  selector: {matchLabels: {app: root}}
  template:
    metadata: {labels: {app: root}}
    spec: {containers: [{name: c, image: busybox:1}]}
`
		if out := cp.mustKubectl(t, bad, "apply", "--dry-run=server", "-f", "-"); !strings.Contains(out, "would violate PodSecurity") {
			t.Errorf("the Pod Security check is not active, so its silence proves nothing:\n%s", out)
		}
		// Read back with the cert-manager Go types, as the API server stored them.
		scheme := runtime.NewScheme()
		if err := cmapi.AddToScheme(scheme); err != nil {
			t.Fatal(err)
		}
		c, err := client.New(cp.cfg, client.Options{Scheme: scheme})
		if err != nil {
			t.Fatal(err)
		}
		cert := &cmapi.Certificate{}
		if err := c.Get(ctx, types.NamespacedName{Namespace: "budgetgate-system", Name: "budgetgate-webhook"}, cert); err != nil {
			t.Fatal(err)
		}
		if cert.Spec.RenewBefore == nil || cert.Spec.RenewBefore.Duration != 720*time.Hour {
			t.Errorf("stored Certificate renewBefore %v, want 720h", cert.Spec.RenewBefore)
		}
		// Re-applying changes nothing and conflicts with nothing.
		cp.mustKubectl(t, "", "apply", "--server-side", "-k", filepath.Join(manifestsDir(t), "overlays/cert-manager"))
	})

	t.Run("self-managed: server-side apply (dry run on the same cluster)", func(t *testing.T) {
		out := cp.mustKubectl(t, "", "apply", "--server-side", "--dry-run=server", "-k", filepath.Join(manifestsDir(t), "overlays/self-managed"))
		if n := strings.Count(out, "serverside-applied"); n != len(all[2].docs) {
			t.Fatalf("applied %d of %d objects:\n%s", n, len(all[2].docs), out)
		}
	})

	t.Run("self-managed: client-side apply (dry run) works too", func(t *testing.T) {
		cp.mustKubectl(t, "", "apply", "--dry-run=server", "-k", filepath.Join(manifestsDir(t), "overlays/self-managed"))
	})

	t.Run("uninstall", func(t *testing.T) {
		// --wait=false: no namespace controller runs here to finish deleting
		// the namespace; everything cluster-wide must be gone at once.
		cp.mustKubectl(t, "", "delete", "--wait=false", "-k", filepath.Join(manifestsDir(t), "overlays/cert-manager"))
		for _, kind := range []string{"mutatingwebhookconfiguration/budgetgate", "validatingwebhookconfiguration/budgetgate", "clusterrole/budgetgate", "clusterrolebinding/budgetgate"} {
			if out, err := cp.kubectl(t, "", "get", kind); err == nil || !strings.Contains(out, "NotFound") {
				t.Errorf("%s still there after uninstall: %s", kind, out)
			}
		}
	})
}

func checkCertManagerObjects(t *testing.T, certs []*cmapi.Certificate, issuers []*cmapi.Issuer, deployments []*appsv1.Deployment, whs []webhook) {
	t.Helper()
	byName := map[string]*cmapi.Certificate{}
	for _, c := range certs {
		byName[c.Name] = c
	}
	issuerByName := map[string]*cmapi.Issuer{}
	for _, i := range issuers {
		issuerByName[i.Name] = i
	}
	serving := byName["budgetgate-webhook"]
	if serving == nil {
		t.Fatal("no Certificate budgetgate-webhook")
	}
	// The Secret cert-manager writes is the one the Deployment mounts.
	var mounted string
	for _, v := range deployments[0].Spec.Template.Spec.Volumes {
		if v.Name == "certs" && v.Secret != nil {
			mounted = v.Secret.SecretName
		}
	}
	if serving.Spec.SecretName != mounted {
		t.Errorf("Certificate writes Secret %q, the Deployment mounts %q", serving.Spec.SecretName, mounted)
	}
	for _, w := range whs {
		if want := w.service.Name + "." + w.service.Namespace + ".svc"; !slices.Contains(serving.Spec.DNSNames, want) {
			t.Errorf("Certificate dnsNames %v lack %s, the name the API server checks", serving.Spec.DNSNames, want)
		}
		if want := serving.Namespace + "/" + serving.Name; w.injectCAFrom != want {
			t.Errorf("%s injects the CA from %q, want %q", w.name, w.injectCAFrom, want)
		}
	}
	if serving.Spec.Duration == nil || serving.Spec.RenewBefore == nil || serving.Spec.RenewBefore.Duration < serving.Spec.Duration.Duration/4 {
		t.Errorf("serving certificate renews too late: duration %v, renewBefore %v", serving.Spec.Duration, serving.Spec.RenewBefore)
	}
	// Signed by a CA Issuer whose CA is a Certificate with isCA that keeps
	// its key on renewal, so renewals never change what the API server trusts.
	ca := issuerByName[serving.Spec.IssuerRef.Name]
	if ca == nil || ca.Spec.CA == nil {
		t.Fatalf("serving Certificate's issuer %q is not a CA Issuer of the install", serving.Spec.IssuerRef.Name)
	}
	var caCert *cmapi.Certificate
	for _, c := range certs {
		if c.Spec.SecretName == ca.Spec.CA.SecretName {
			caCert = c
		}
	}
	if caCert == nil || !caCert.Spec.IsCA {
		t.Fatalf("no isCA Certificate writes the CA Issuer's Secret %q", ca.Spec.CA.SecretName)
	}
	if caCert.Spec.PrivateKey == nil || caCert.Spec.PrivateKey.RotationPolicy != cmapi.RotationPolicyNever {
		t.Errorf("the CA Certificate must keep its key on renewal (privateKey.rotationPolicy: Never)")
	}
	if root := issuerByName[caCert.Spec.IssuerRef.Name]; root == nil || root.Spec.SelfSigned == nil {
		t.Errorf("the CA Certificate's issuer %q is not a self-signed Issuer of the install", caCert.Spec.IssuerRef.Name)
	}
}

// installCertManagerCRDs installs the CRDs the cert-manager Go module ships
// (deploy/crds), the same version as the API types the tests use, from the
// module cache: no network.
func installCertManagerCRDs(t *testing.T, cp *controlPlane) {
	t.Helper()
	out, err := goListModuleDir("github.com/cert-manager/cert-manager")
	if err != nil {
		t.Fatalf("locating the cert-manager module: %v\n%s", err, out)
	}
	dir := filepath.Join(strings.TrimSpace(out), "deploy", "crds")
	for _, f := range []string{"cert-manager.io_certificates.yaml", "cert-manager.io_issuers.yaml"} {
		cp.mustKubectl(t, "", "apply", "--server-side", "-f", filepath.Join(dir, f))
	}
	cp.mustKubectl(t, "", "wait", "--for=condition=Established", "--timeout=60s", "crd/certificates.cert-manager.io", "crd/issuers.cert-manager.io")
}
