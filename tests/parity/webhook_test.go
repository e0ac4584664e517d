package parity

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"

	"github.com/budgetgate/budgetgate/localcluster"
	"github.com/budgetgate/budgetgate/rego"
	"github.com/budgetgate/budgetgate/webhook"
)

// The real CRDs of the kinds beside Kubernetes' own that budgetgate judges,
// from the projects' Go modules (the module proxy is the one source we can
// count on); the hashes are the go.sum lines of those module versions, so
// a changed download fails instead of testing against something else.
var crdModules = []struct {
	module, version, sum string
	files                []string
}{
	{"github.com/argoproj/argo-rollouts", "v1.10.1", "h1:6oyVPGiHHxu3ixkT6mngemh88HLPDoTX1IwO6KNR1Y4=", []string{
		"manifests/crds/rollout-crd.yaml",
		"manifests/crds/analysis-template-crd.yaml",
		"manifests/crds/cluster-analysis-template-crd.yaml",
		"manifests/crds/analysis-run-crd.yaml",
		"manifests/crds/experiment-crd.yaml",
	}},
	{"github.com/fluxcd/flagger", "v1.36.1", "h1:X2PumtNwZz9YSGaOtZLFm2zAKLgHhFkbNv8beg7ifyc=", []string{
		"artifacts/flagger/crd.yaml",
	}},
}

// The cluster's user. Members of config.breakGlassGroups (sre-oncall in
// every data set) may break the glass; CI has no user and treats the
// break-glass annotation as such a member's. Applying as one makes the
// cluster's verdict comparable; TestWebhookParity/production/break-glass
// checks the difference for everybody else.
var asOnCall = []string{"--as=parity-oncall", "--as-group=sre-oncall"}

// Kinds the webhook configurations send to budgetgate (manifests/base):
// other kinds (Services, HPAs, ConfigMaps, AnalysisTemplates, ...) never
// reach the webhooks.
var routed = map[string]map[string]bool{
	"":            {"Pod": true},
	"apps":        {"Deployment": true, "StatefulSet": true, "DaemonSet": true, "ReplicaSet": true},
	"batch":       {"Job": true, "CronJob": true},
	"argoproj.io": {"Rollout": true},
	"flagger.app": {"Canary": true},
}

// Kinds with a progressive strategy the mutating webhook forces on a canary
// action (others only get the warning, as in CI).
var canaried = map[string]map[string]bool{
	"apps":        {"Deployment": true},
	"argoproj.io": {"Rollout": true},
	"flagger.app": {"Canary": true},
}

const canaryAnnotation = "budgetgate.dev/canary"

type clusterEnv struct {
	c      *localcluster.Cluster
	engine *rego.Engine
	// namespaces the corpus applies to (sorted).
	namespaces []string
}

func TestWebhookParity(t *testing.T) {
	assets := requireEnv(t, "KUBEBUILDER_ASSETS", "$(hack/envtest-assets.sh | tail -n 1)")
	env := startCluster(t, assets)
	budgetsFile := dataDir + "/budgets.yaml"
	createSLOs(t, env, budgetsFile)

	for _, ds := range dataSets {
		if ds.budgets != budgetsFile {
			// The cluster's budgets are its SLOs' statuses, those of
			// budgets.yaml; a data set with other budgets has no cluster
			// counterpart (it models CI without access to them).
			continue
		}
		t.Run(ds.name, func(t *testing.T) {
			configure(t, env, ds)
			docs := evaluateDocs(t, ds)
			for _, file := range manifestFiles(t) {
				t.Run(strings.TrimPrefix(file, manifestDir+"/"), func(t *testing.T) {
					t.Parallel()
					compareWebhook(t, env, ds, file, docs[file])
				})
			}
		})
		if ds.name == "production" {
			t.Run(ds.name+"/break-glass", func(t *testing.T) {
				configure(t, env, ds)
				breakGlassOutsideGroups(t, env, ds)
			})
		}
	}
}

// admission is what kubectl printed for one file.
type admission struct {
	refused            bool
	failures, warnings map[string]bool // rule ids
	// canary is the canary annotation of every object admitted, by "Kind namespace/name".
	canary map[string]string
}

var (
	warningLine = regexp.MustCompile(`^Warning: \[([a-z0-9-]+)\] `)
	failureLine = regexp.MustCompile(`^\[([a-z0-9-]+)\] `)
)

// apply runs a server-side dry run of file: both webhooks run, in order,
// as for a real create, and nothing is stored, so every manifest is a
// CREATE, as a raw manifest is in CI.
func apply(t *testing.T, env *clusterEnv, file string, as []string) admission {
	t.Helper()
	args := append([]string{"apply", "--dry-run=server", "-o", "json", "-f", filepath.Join(root, file)}, as...)
	r := kubectl(t, env, args...)
	a := admission{failures: map[string]bool{}, warnings: map[string]bool{}, canary: map[string]string{}}
	for _, line := range strings.Split(r.Stderr, "\n") {
		if m := warningLine.FindStringSubmatch(line); m != nil {
			a.warnings[m[1]] = true
		} else if m := failureLine.FindStringSubmatch(line); m != nil {
			a.failures[m[1]] = true
		}
	}
	if r.Err != nil {
		// Only budgetgate's refusals are expected: anything else (a schema
		// error, an unknown kind) means the manifest or the cluster is wrong.
		if !strings.Contains(r.Stderr, `admission webhook "validate.budgetgate.dev" denied the request: budgetgate: `) {
			t.Fatalf("kubectl %s failed, and not by budgetgate's validating webhook: %v\n%s", strings.Join(args, " "), r.Err, r.Stderr)
		}
		if n := strings.Count(r.Stderr, "Error from server"); n != strings.Count(r.Stderr, `"validate.budgetgate.dev" denied the request`) {
			t.Fatalf("kubectl %s: some errors are not budgetgate's:\n%s", strings.Join(args, " "), r.Stderr)
		}
		a.refused = true
	}
	for _, obj := range printedObjects(t, r.Stdout) {
		meta, _ := obj["metadata"].(map[string]any)
		annotations, _ := meta["annotations"].(map[string]any)
		value, _ := annotations[canaryAnnotation].(string)
		kind, _ := obj["kind"].(string)
		ns, _ := meta["namespace"].(string)
		name, _ := meta["name"].(string)
		a.canary[kind+" "+ns+"/"+name] = value
	}
	return a
}

// printedObjects reads what `kubectl apply -o json` printed: one object, or
// a List of them.
func printedObjects(t *testing.T, stdout string) []map[string]any {
	t.Helper()
	if strings.TrimSpace(stdout) == "" {
		return nil
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(stdout), &obj); err != nil {
		t.Fatalf("kubectl printed no JSON object: %v\n%s", err, stdout)
	}
	if obj["kind"] != "List" {
		return []map[string]any{obj}
	}
	items, _ := obj["items"].([]any)
	var out []map[string]any
	for _, item := range items {
		if m, ok := item.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func compareWebhook(t *testing.T, env *clusterEnv, ds dataSet, file string, docs []docVerdict) {
	ci, err := checkVerdict(ds, file)
	if err != nil {
		t.Fatal(err)
	}
	wantFailures, wantWarnings := policiesOf(ci.Failures), policiesOf(ci.Warnings)
	// Expected difference: CI judges every document of a file, the cluster
	// only sees the kinds its webhook configurations route to budgetgate.
	// The shipped rules judge only those kinds, but config findings (a bad
	// data document, a namespace label naming no tier) are reported on every
	// document in CI; a file with no routed kind (an HPA, AnalysisTemplates)
	// is admitted silently by the cluster whatever CI says of it.
	if !anyRouted(docs) {
		wantFailures, wantWarnings = map[string]bool{}, map[string]bool{}
	}
	got := apply(t, env, file, asOnCall)
	if got.refused != (len(wantFailures) > 0) {
		t.Errorf("the API server refused it: %v; CI failures: %v", got.refused, keys(wantFailures))
	}
	if !equal(got.failures, wantFailures) {
		t.Errorf("refusal names %v, CI failures are %v", keys(got.failures), keys(wantFailures))
	}
	// Expected difference, by design: a canary action is a warning in CI,
	// and in the cluster the mutating webhook forces the canary strategy and
	// the object is admitted with the same warning (checked below).
	if !equal(got.warnings, wantWarnings) {
		t.Errorf("kubectl warnings name %v, CI warnings are %v", keys(got.warnings), keys(wantWarnings))
	}
	stats.webhookPairs.Add(1)
	stats.webhookFindings.Add(int64(len(wantFailures) + len(wantWarnings)))

	// Every admitted object of a kind with a progressive strategy carries
	// the canary annotation naming exactly its canary-action findings.
	// (kubectl prints the objects only when it applied all of them.)
	if got.refused {
		return
	}
	for _, doc := range docs {
		if !canaried[doc.Group][doc.Kind] {
			continue
		}
		want := canaryPolicies(doc.Decision)
		ref := doc.Kind + " " + namespaceOf(doc) + "/" + doc.Name
		gotValue, admitted := got.canary[ref]
		if !admitted {
			t.Errorf("%s: admitted, but kubectl printed no such object", ref)
			continue
		}
		if gotValue != want {
			t.Errorf("%s: stored with %s=%q, want %q (its canary-action findings in CI)", ref, canaryAnnotation, gotValue, want)
		}
		if want != "" {
			stats.canaryObjects.Add(1)
		}
	}
}

// breakGlassOutsideGroups: the one verdict CI and the cluster give
// differently on purpose. CI has no user, so a break-glass annotation turns
// a freeze into a warning there; the cluster admits it only from members of
// config.breakGlassGroups, and refuses anybody else (here the admin, in
// system:masters only). Checked where budget-freeze denies (production).
func breakGlassOutsideGroups(t *testing.T, env *clusterEnv, ds dataSet) {
	n := 0
	for _, file := range manifestFiles(t) {
		ci, err := checkVerdict(ds, file)
		if err != nil {
			t.Fatal(err)
		}
		if !ci.BreakGlass {
			continue
		}
		n++
		if policiesOf(ci.Failures)["budget-freeze"] || !policiesOf(ci.Warnings)["budget-freeze"] {
			t.Fatalf("%s: CI should warn of budget-freeze for a break-glass, got failures %v warnings %v", file, keys(policiesOf(ci.Failures)), keys(policiesOf(ci.Warnings)))
		}
		got := apply(t, env, file, nil)
		if !got.refused || !got.failures["budget-freeze"] {
			t.Errorf("%s: a break-glass by a user outside sre-oncall should be refused for budget-freeze, got failures %v warnings %v", file, keys(got.failures), keys(got.warnings))
		}
	}
	if n == 0 {
		t.Fatal("no manifest of the corpus breaks the glass")
	}
}

func canaryPolicies(d *rego.Decision) string {
	set := map[string]bool{}
	for _, f := range d.Warnings {
		if f.Metadata["action"] == "canary" {
			set[f.Policy()] = true
		}
	}
	return strings.Join(keys(set), ",")
}

func anyRouted(docs []docVerdict) bool {
	for _, d := range docs {
		if routed[d.Group][d.Kind] {
			return true
		}
	}
	return false
}

// namespaceOf is where kubectl creates the document: a manifest without a
// namespace goes to the kubeconfig's, "default".
func namespaceOf(d docVerdict) string {
	if d.Namespace == "" {
		return "default"
	}
	return d.Namespace
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func equal(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

func kubectl(t *testing.T, env *clusterEnv, args ...string) localcluster.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return env.c.Kubectl(ctx, nil, args...)
}

func mustKubectl(t *testing.T, env *clusterEnv, stdin string, args ...string) localcluster.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var in []byte
	if stdin != "" {
		in = []byte(stdin)
	}
	r := env.c.Kubectl(ctx, in, args...)
	if r.Err != nil {
		t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), r.Err, r.Stdout, r.Stderr)
	}
	return r
}

// startCluster starts the API server with budgetgate's webhooks (as
// tests/e2e does), installs the Argo Rollouts and Flagger CRDs, creates the
// corpus's namespaces and lets the on-call group act.
func startCluster(t *testing.T, assets string) *clusterEnv {
	t.Helper()
	// The webhook server logs nowhere (logr.Discard); so does
	// controller-runtime's global logger, which else complains at shutdown.
	ctrllog.SetLogger(logr.Discard())
	ctx := context.Background()
	engine, err := newEngine(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c, err := localcluster.Start(ctx, localcluster.Options{
		AssetsDir: assets, Engine: engine, Webhook: webhook.DefaultOptions(), Log: logr.Discard(),
		// The fresh budgets are evaluated when the suite starts and must
		// stay fresh however slow the machine (the default, 10 minutes, is
		// about the suite's length on a busy one); the stale budget was
		// evaluated months before (budgets.yaml).
		StaleAfter: 24 * time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
	})
	t.Logf("control plane and webhooks up in %s", time.Since(start).Round(time.Millisecond))
	env := &clusterEnv{c: c, engine: engine}

	for _, crd := range crdFiles(t) {
		// create, not apply: the Rollout CRD is too large for the
		// last-applied-configuration annotation of a client-side apply.
		mustKubectl(t, env, "", "create", "-f", crd)
	}
	mustKubectl(t, env, "", "wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")

	namespaces := map[string]bool{}
	for _, ds := range dataSets[:1] {
		for _, docs := range evaluateDocs(t, ds) {
			for _, d := range docs {
				namespaces[namespaceOf(d)] = true
			}
		}
	}
	env.namespaces = keys(namespaces)
	for _, ns := range env.namespaces {
		if ns != "default" {
			mustKubectl(t, env, "", "create", "namespace", ns)
		}
	}
	mustKubectl(t, env, "", "create", "clusterrolebinding", "parity-sre-oncall", "--clusterrole=cluster-admin", "--group=sre-oncall")
	return env
}

// crdFiles downloads the CRD modules (a no-op when they are in the module
// cache) and returns the CRD files' paths.
func crdFiles(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, m := range crdModules {
		// Outside any module (the budgetgate module does not depend on
		// these), with GOFLAGS=-mod=mod so that the download may resolve.
		cmd := exec.Command("go", "mod", "download", "-json", m.module+"@"+m.version)
		cmd.Dir = t.TempDir()
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
		stdout, err := cmd.Output()
		var info struct{ Dir, Sum, Error string }
		if jsonErr := json.Unmarshal(stdout, &info); jsonErr != nil || err != nil || info.Error != "" {
			t.Fatalf("go mod download %s@%s (for its CRDs): %v %s %s", m.module, m.version, err, info.Error, stdout)
		}
		if info.Sum != m.sum {
			t.Fatalf("%s@%s has hash %s, want %s", m.module, m.version, info.Sum, m.sum)
		}
		for _, f := range m.files {
			out = append(out, filepath.Join(info.Dir, f))
		}
	}
	return out
}

// createSLOs creates a ServiceLevelObjective for every budget of the budgets
// document and gives it the status the SLO controller would write, so that
// the budget sync puts the same budgets into the webhook's data.
func createSLOs(t *testing.T, env *clusterEnv, budgetsFile string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, budgetsFile))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Budgetgate struct {
			Budgets map[string]struct {
				Remaining   float64 `json:"remaining"`
				Stale       bool    `json:"stale"`
				EvaluatedAt string  `json:"evaluatedAt"`
			} `json:"budgets"`
		} `json:"budgetgate"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	budgets := doc.Budgetgate.Budgets
	for key, b := range budgets {
		ns, name, _ := strings.Cut(key, "/")
		mustKubectl(t, env, fmt.Sprintf(`apiVersion: budgetgate.dev/v1alpha1
kind: ServiceLevelObjective
metadata:
  name: %s
  namespace: %s
spec:
  objective: 99.9
  window: 30d
  indicator:
    ratio:
      errors: sum(rate(http_requests_total{service="%[1]s",code=~"5.."}[{{.window}}]))
      total: sum(rate(http_requests_total{service="%[1]s"}[{{.window}}]))
`, name, ns), "apply", "-f", "-")
		// The budget sync derives staleness from the evaluation time (older
		// than StaleAfter is stale): a fresh budget is evaluated now, a stale
		// one at the document's old time.
		at := time.Now().UTC().Format(time.RFC3339)
		if b.Stale {
			at = b.EvaluatedAt
		}
		status := fmt.Sprintf(`{"status":{"remaining":%g,"evaluatedAt":%q}}`, b.Remaining, at)
		mustKubectl(t, env, "", "patch", "-n", ns, "servicelevelobjective", name, "--subresource=status", "--type=merge", "-p", status)
	}

	// Wait until the webhook's data holds the same budgets.
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := env.engine.Data(context.Background(), []string{"budgetgate", "budgets"})
		if err != nil {
			t.Fatal(err)
		}
		m, _ := got.(map[string]any)
		missing := []string{}
		for key, b := range budgets {
			e, _ := m[key].(map[string]any)
			if e == nil || fmt.Sprint(e["remaining"]) != fmt.Sprint(b.Remaining) || e["stale"] != b.Stale {
				missing = append(missing, key)
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the budget sync has not brought %v into the webhook's data: %v", missing, got)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// configure gives the webhook the data set's config, as `budgetgate serve
// --data CONFIG` would (its budgets come from the SLOs), and labels the
// namespaces as the data set's namespaces document says.
func configure(t *testing.T, env *clusterEnv, ds dataSet) {
	t.Helper()
	data, err := rego.ReadData([]string{filepath.Join(root, ds.config)})
	if err != nil {
		t.Fatal(err)
	}
	bg, _ := data["budgetgate"].(map[string]any)
	config, _ := bg["config"].(map[string]any)
	if config == nil {
		config = map[string]any{}
	}
	namespaces, _ := bg["namespaces"].(map[string]any)
	if namespaces == nil {
		namespaces = map[string]any{}
	}
	ctx := context.Background()
	if err := env.engine.SetData(ctx, []string{"budgetgate", "config"}, config); err != nil {
		t.Fatal(err)
	}
	// Namespace tiers come from the namespaces' labels in a cluster: they
	// are set for real, and budgetgate's namespace sync (datasync) brings
	// them into data.budgetgate.namespaces, where the policies read them.
	// The data set's document is written there too, which is what the sync
	// will write (for the labels that matter): the check below then holds
	// whether the sync has caught up or not, and fails if it writes
	// something else.
	want := map[string]string{} // namespace -> tier label ("" for none)
	for _, ns := range env.namespaces {
		label := "budgetgate.dev/tier-"
		want[ns] = ""
		if entry, ok := namespaces[ns].(map[string]any); ok {
			if labels, ok := entry["labels"].(map[string]any); ok {
				if tier, ok := labels["budgetgate.dev/tier"].(string); ok {
					label = "budgetgate.dev/tier=" + tier
					want[ns] = tier
				}
			}
		}
		mustKubectl(t, env, "", "label", "--overwrite", "namespace", ns, label)
	}
	if err := env.engine.SetData(ctx, []string{"budgetgate", "namespaces"}, namespaces); err != nil {
		t.Fatal(err)
	}
	// Stable for two consecutive reads a debounce apart: a sync still in
	// flight with the previous labels would show up in between.
	deadline := time.Now().Add(30 * time.Second)
	stable := 0
	for stable < 2 {
		got, err := env.engine.Data(ctx, []string{"budgetgate", "namespaces"})
		if err != nil {
			t.Fatal(err)
		}
		if diff := tierDiff(got, want); diff != "" {
			stable = 0
			if time.Now().After(deadline) {
				t.Fatalf("the webhook's data.budgetgate.namespaces does not match the labels: %s", diff)
			}
		} else {
			stable++
		}
		time.Sleep(time.Second)
	}
}

// tierDiff says which namespaces' tier label in data (data.budgetgate.namespaces)
// differs from want; "" when none does.
func tierDiff(data any, want map[string]string) string {
	m, _ := data.(map[string]any)
	var diffs []string
	for ns, tier := range want {
		entry, _ := m[ns].(map[string]any)
		labels, _ := entry["labels"].(map[string]any)
		got, _ := labels["budgetgate.dev/tier"].(string)
		if got != tier {
			diffs = append(diffs, fmt.Sprintf("%s: %q, want %q", ns, got, tier))
		}
	}
	sort.Strings(diffs)
	return strings.Join(diffs, "; ")
}
