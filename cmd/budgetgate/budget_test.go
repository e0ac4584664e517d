package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/budgetgate/budgetgate/slo/api/v1alpha1"
	"github.com/budgetgate/budgetgate/tests/prometheus/promtest"
)

// startPrometheus serves promtest's history (40 days of requests ending
// three hours ago, continuing past now) from a real Prometheus.
func startPrometheus(t *testing.T) *promtest.Server {
	t.Helper()
	if _, _, err := promtest.Binaries(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%v: CI must run this test (hack/test.sh installs Prometheus)", err)
		}
		t.Skip(err)
	}
	env, err := promtest.NewEnv(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	s, err := env.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	t.Logf("backfill %s, prometheus ready in %s", env.Backfill.Round(time.Millisecond), s.Ready.Round(time.Millisecond))
	return s
}

// sloYAML renders an SLO on promtest's http_requests_total.
func sloYAML(ns, name, service string, extra string) string {
	doc := fmt.Sprintf(`apiVersion: budgetgate.dev/v1alpha1
kind: ServiceLevelObjective
metadata:
  name: %s
`, name)
	if ns != "" {
		doc += "  namespace: " + ns + "\n"
	}
	return doc + fmt.Sprintf(`spec:
  objective: 99.9
  window: 30d
  indicator:
    ratio:
      errors: sum(rate(http_requests_total{service="%[1]s",code=~"5.."}[{{.window}}]))
      total: sum(rate(http_requests_total{service="%[1]s"}[{{.window}}]))
%[2]s`, service, extra)
}

const slothYAML = `apiVersion: budgetgate.dev/v1alpha1
kind: ServiceLevelObjective
metadata:
  name: sloth
  namespace: shop
spec:
  objective: 99.5
  window: 28d
  indicator:
    remaining: slo:period_error_budget_remaining:ratio{sloth_service="sloth"}
`

func near(a, b float64) bool { return math.Abs(a-b) <= 0.005 }

func TestBudgetAgainstPrometheus(t *testing.T) {
	prom := startPrometheus(t)
	dir := t.TempDir()
	slos := writeFile(t, dir, "slos/slos.yaml", strings.Join([]string{
		sloYAML("shop", "healthy", "healthy", ""),
		sloYAML("shop", "burning", "burning", ""),
		sloYAML("", "exhausted", "exhausted", ""), // -n or "default"
		sloYAML("shop", "old-errors", "old-errors", ""),
		compliant, // not an SLO: skipped
	}, "---\n"))
	writeFile(t, dir, "slos/sloth.yaml", slothYAML)
	folder := filepath.Dir(slos)

	t.Run("data", func(t *testing.T) {
		r := runCLI(t, "", "budget", "--prometheus-url", prom.URL, "-f", folder, "-n", "shop", "-o", "data")
		if r.code != 0 {
			t.Fatalf("exit %d: %s%s", r.code, r.stdout, r.stderr)
		}
		var doc struct {
			Budgetgate struct {
				Budgets map[string]map[string]any `json:"budgets"`
			} `json:"budgetgate"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
			t.Fatalf("%v:\n%s", err, r.stdout)
		}
		want := map[string]struct{ remaining, burn float64 }{
			"shop/healthy": {0.9, 0.1}, "shop/burning": {0.2, 0.8}, "shop/exhausted": {-0.5, 1.5},
			"shop/old-errors": {1.0, 0}, "shop/sloth": {0.37, -1},
		}
		if len(doc.Budgetgate.Budgets) != len(want) {
			t.Errorf("budgets for %d SLOs, want %d:\n%s", len(doc.Budgetgate.Budgets), len(want), r.stdout)
		}
		for key, w := range want {
			b := doc.Budgetgate.Budgets[key]
			if b == nil {
				t.Errorf("no budget for %s", key)
				continue
			}
			rem, _ := b["remaining"].(float64)
			t.Logf("%s: remaining %.6f (want %v) burnRate %v", key, rem, w.remaining, b["burnRate"])
			if !near(rem, w.remaining) {
				t.Errorf("%s: remaining %v, want %v", key, b["remaining"], w.remaining)
			}
			if b["stale"] != false {
				t.Errorf("%s: stale %v, want false", key, b["stale"])
			}
			if at, err := time.Parse(time.RFC3339, fmt.Sprint(b["evaluatedAt"])); err != nil || time.Since(at) > time.Minute {
				t.Errorf("%s: evaluatedAt %v, want about now", key, b["evaluatedAt"])
			}
			burn, _ := b["burnRate"].(map[string]any)
			if w.burn < 0 {
				if burn != nil {
					t.Errorf("%s: burnRate %v for a remaining indicator", key, burn)
				}
			} else if h1, _ := burn["1h"].(float64); burn == nil || !near(h1, w.burn) {
				t.Errorf("%s: burnRate %v, want 1h %v", key, burn, w.burn)
			}
		}
		if o := doc.Budgetgate.Budgets["shop/sloth"]["objective"]; o != 0.995 {
			t.Errorf("sloth: objective %v, want 0.995", o)
		}

		// The document is what check --data reads.
		data := writeFile(t, dir, "budgets.json", r.stdout)
		deploy := strings.ReplaceAll(strings.ReplaceAll(compliant, "budgetgate.dev/slo: checkout", "budgetgate.dev/slo: exhausted"), "replicas: 2", "replicas: 3")
		c := runCLI(t, "", "check", "--data", data, "-o", "json", writeFile(t, dir, "deploy.yaml", deploy))
		if c.code != 1 || !strings.Contains(c.stdout, `"budget-freeze"`) {
			t.Errorf("check --data: exit %d, want 1 with budget-freeze:\n%s%s", c.code, c.stdout, c.stderr)
		}
	})

	t.Run("table", func(t *testing.T) {
		r := runCLI(t, "", "budget", "--prometheus-url", prom.URL, "-f", folder, "-n", "shop")
		if r.code != 0 {
			t.Fatalf("exit %d: %s%s", r.code, r.stdout, r.stderr)
		}
		t.Logf("\n%s", r.stdout)
		for _, line := range []string{
			"NAMESPACE/NAME", "BUDGET LEFT",
			"shop/burning ", "20.00%", "8m38s of 43m12s", "canary",
			"shop/exhausted ", "-50.00%", "0s of 43m12s, overspent by 21m36s", "frozen",
			"shop/healthy ", "90.00%", "38m53s of 43m12s", "0.10",
			"shop/old-errors ", "100.00%", "43m12s of 43m12s",
			"shop/sloth ", "99.5%", "28d", "37.00%",
		} {
			if !strings.Contains(r.stdout, line) {
				t.Errorf("the table lacks %q", line)
			}
		}
	})

	t.Run("json", func(t *testing.T) {
		r := runCLI(t, "", "budget", "--prometheus-url", prom.URL, "-f", slos, "-o", "json")
		if r.code != 0 {
			t.Fatalf("exit %d: %s%s", r.code, r.stdout, r.stderr)
		}
		var rows []budgetRow
		if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
			t.Fatal(err)
		}
		if len(rows) != 4 || rows[0].Namespace != "default" || rows[0].Name != "exhausted" {
			t.Fatalf("rows %+v, want 4 sorted by namespace/name, exhausted in default first", rows)
		}
		e := rows[0]
		if e.State != "frozen" || e.OverspentBy != "21m36s" || e.BudgetLeft != "0s" || e.AllowedDowntime != "43m12s" || e.Objective != 99.9 || e.Error != "" {
			t.Errorf("exhausted: %+v", e)
		}
	})

	t.Run("config thresholds decide the state", func(t *testing.T) {
		config := writeFile(t, dir, "config.yaml", "budgetgate:\n  config:\n    canaryBelow: 0.95\n    freezeBelow: 0.3\n")
		r := runCLI(t, "", "budget", "--prometheus-url", prom.URL, "-f", slos, "-n", "shop", "--data", config, "-o", "json")
		if r.code != 0 {
			t.Fatalf("exit %d: %s%s", r.code, r.stdout, r.stderr)
		}
		var rows []budgetRow
		if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
			t.Fatal(err)
		}
		states := map[string]string{}
		for _, row := range rows {
			states[row.Name] = row.State
		}
		// healthy has 90% left: under canaryBelow 95%; burning's 20% is under freezeBelow 30%.
		if states["healthy"] != "canary" || states["burning"] != "frozen" || states["old-errors"] != "ok" {
			t.Errorf("states %v, want healthy=canary burning=frozen old-errors=ok", states)
		}
	})

	t.Run("a failing query", func(t *testing.T) {
		broken := writeFile(t, dir, "broken.yaml", sloYAML("shop", "unknown", "nobody", "")+"---\n"+sloYAML("shop", "healthy", "healthy", ""))
		r := runCLI(t, "", "budget", "--prometheus-url", prom.URL, "-f", broken)
		if r.code != 1 {
			t.Fatalf("exit %d, want 1: %s%s", r.code, r.stdout, r.stderr)
		}
		t.Logf("\n%s%s", r.stdout, r.stderr)
		table, errs, _ := strings.Cut(r.stdout, "\nErrors:\n")
		if !strings.Contains(table, "shop/unknown") || !strings.Contains(table, " error") || !strings.Contains(table, "shop/healthy") {
			t.Errorf("table:\n%s", table)
		}
		if !strings.Contains(errs, "shop/unknown: the total query over 30d returned no traffic") {
			t.Errorf("no error under the table:\n%s", r.stdout)
		}
		if !strings.Contains(r.stderr, "1 of 2 SLOs could not be measured") {
			t.Errorf("stderr: %s", r.stderr)
		}
		r = runCLI(t, "", "budget", "--prometheus-url", prom.URL, "-f", broken, "-o", "data")
		var doc map[string]map[string]map[string]map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || r.code != 1 {
			t.Fatalf("exit %d, %v:\n%s", r.code, err, r.stdout)
		}
		u := doc["budgetgate"]["budgets"]["shop/unknown"]
		if _, has := u["remaining"]; has || u["stale"] != true || u["window"] != "30d" {
			t.Errorf("a failed SLO's budget %v, want stale without remaining", u)
		}
		if doc["budgetgate"]["budgets"]["shop/healthy"]["stale"] != false {
			t.Errorf("healthy: %v", doc["budgetgate"]["budgets"]["shop/healthy"])
		}
	})

	t.Run("Prometheus unreachable", func(t *testing.T) {
		r := runCLI(t, "", "budget", "--prometheus-url", "http://127.0.0.1:1", "--prometheus-timeout", "2s", "-f", slos, "-o", "json")
		if r.code != 1 || !strings.Contains(r.stdout, "connection refused") {
			t.Errorf("exit %d, want 1 with the error in the rows: %s%s", r.code, r.stdout, r.stderr)
		}
	})
}

func TestBudgetBadInput(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", sloYAML("shop", "a", "a", ""))
	url := "http://127.0.0.1:1" // never reached: input is checked first
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no URL", []string{"-f", good}, "no Prometheus URL"},
		{"bad output", []string{"--prometheus-url", url, "-f", good, "-o", "yaml"}, `unknown output format "yaml"`},
		{"stray argument", []string{"--prometheus-url", url, good}, "unknown command"},
		{"-n and -A", []string{"--prometheus-url", url, "-n", "a", "-A"}, "exclude each other"},
		{"-A and -f", []string{"--prometheus-url", url, "-A", "-f", good}, "does not go with -f"},
		{"missing file", []string{"--prometheus-url", url, "-f", filepath.Join(dir, "nope.yaml")}, "nope.yaml"},
		{"unknown field", []string{"--prometheus-url", url, "-f", writeFile(t, dir, "typo.yaml", "kind: Other\n---\n"+sloYAML("shop", "a", "a", "  canaryBelove: 0.5\n"))}, `typo.yaml:3: ServiceLevelObjective shop/a: strict decoding error: unknown field "spec.canaryBelove"`},
		{"wrong type", []string{"--prometheus-url", url, "-f", writeFile(t, dir, "type.yaml", strings.Replace(sloYAML("shop", "a", "a", ""), "objective: 99.9", `objective: "99.9"`, 1))}, "type.yaml:1: ServiceLevelObjective shop/a:"},
		{"bad window", []string{"--prometheus-url", url, "-f", writeFile(t, dir, "window.yaml", strings.Replace(sloYAML("shop", "a", "a", ""), "window: 30d", "window: a month", 1))}, "window.yaml:1: ServiceLevelObjective shop/a: spec.window"},
		{"bad objective", []string{"--prometheus-url", url, "-f", writeFile(t, dir, "objective.yaml", strings.Replace(sloYAML("shop", "a", "a", ""), "objective: 99.9", "objective: 0.999e3", 1))}, "spec.objective 999 must be a percentage"},
		{"other version", []string{"--prometheus-url", url, "-f", writeFile(t, dir, "version.yaml", strings.Replace(sloYAML("shop", "a", "a", ""), "v1alpha1", "v1", 1))}, `apiVersion "budgetgate.dev/v1" is not one budgetgate reads`},
		{"no SLO", []string{"--prometheus-url", url, "-f", writeFile(t, dir, "deploy.yaml", compliant)}, "no ServiceLevelObjective (budgetgate.dev/v1alpha1) in"},
		{"twice", []string{"--prometheus-url", url, "-f", good, "-f", good}, "good.yaml:1: ServiceLevelObjective shop/a is already declared at " + good + ":1"},
		{"invalid YAML", []string{"--prometheus-url", url, "-f", writeFile(t, dir, "invalid.yaml", "kind: [\n")}, "invalid.yaml:"},
		{"no cluster", []string{"--prometheus-url", url, "--kubeconfig", filepath.Join(dir, "nope")}, "no cluster to read ServiceLevelObjectives from"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, "", append([]string{"budget"}, tc.args...)...)
			if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", r.code, r.stderr, tc.want)
			}
		})
	}
}

func TestBudgetFromCluster(t *testing.T) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("KUBEBUILDER_ASSETS is not set: CI must run this test")
		}
		t.Skip("set KUBEBUILDER_ASSETS=$(hack/envtest-assets.sh | tail -1)")
	}
	prom := startPrometheus(t)
	testEnv := &envtest.Environment{
		BinaryAssetsDirectory:    assets,
		CRDInstallOptions:        envtest.CRDInstallOptions{Paths: []string{filepath.Join("..", "..", "manifests", "base", "crds")}, ErrorIfPathMissing: true},
		ControlPlaneStartTimeout: time.Minute,
	}
	cfg, err := testEnv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = testEnv.Stop() })
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = v1alpha1.AddToScheme(scheme)
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for ns, names := range map[string][]string{"shop": {"healthy", "exhausted"}, "cart": {"burning"}} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			s := &v1alpha1.ServiceLevelObjective{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: promtest.RatioSpec(name, 99.9, "30d")}
			if err := c.Create(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
	}
	user, err := testEnv.AddUser(envtest.User{Name: "reader", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := writeFile(t, t.TempDir(), "kubeconfig", string(kc))

	rows := func(args ...string) []budgetRow {
		t.Helper()
		r := runCLI(t, "", append([]string{"budget", "--prometheus-url", prom.URL, "--kubeconfig", kubeconfig, "-o", "json"}, args...)...)
		if r.code != 0 {
			t.Fatalf("exit %d: %s%s", r.code, r.stdout, r.stderr)
		}
		var out []budgetRow
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	names := func(rs []budgetRow) (out []string) {
		for _, r := range rs {
			out = append(out, fmt.Sprintf("%s/%s=%s", r.Namespace, r.Name, r.State))
		}
		return out
	}
	if got := fmt.Sprint(names(rows("-n", "shop"))); got != "[shop/exhausted=frozen shop/healthy=ok]" {
		t.Errorf("-n shop: %s", got)
	}
	if got := fmt.Sprint(names(rows("-A"))); got != "[cart/burning=canary shop/exhausted=frozen shop/healthy=ok]" {
		t.Errorf("-A: %s", got)
	}
	// The kubeconfig's context names no namespace: kubectl's "default".
	if got := rows(); len(got) != 0 {
		t.Errorf("default namespace: %v", names(got))
	}
}
