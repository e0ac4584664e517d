package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// corpus is the copy of /work/shared/corpus kept in the repository.
const corpus = "../../tests/testdata/corpus"

// result is one `budgetgate check` run.
type result struct {
	code           int
	stdout, stderr string
}

func runCLI(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

// A Deployment that passes every shipped rule.
const compliant = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: checkout
  namespace: shop
  labels:
    app: checkout
    owner: team-payments
    budgetgate.dev/slo: checkout
spec:
  replicas: 2
  selector:
    matchLabels:
      app: checkout
  template:
    metadata:
      labels:
        app: checkout
    spec:
      containers:
      - name: app
        image: registry.example/checkout:1.4.2
        readinessProbe:
          httpGet:
            path: /ready
            port: 8080
        resources:
          requests:
            cpu: 100m
            memory: 128Mi
          limits:
            memory: 256Mi
`

// compliantExceptOwner differs only by the owner label.
var compliantExceptOwner = strings.Replace(compliant, "    owner: team-payments\n", "", 1)

// nonCompliant breaks several rules.
const nonCompliant = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: cart
  namespace: shop
spec:
  replicas: 1
  selector:
    matchLabels:
      app: cart
  template:
    metadata:
      labels:
        app: cart
    spec:
      containers:
      - name: app
        image: registry.example/cart:latest
`

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// asList wraps manifests in a kind: List.
func asList(docs ...string) string {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: List\nitems:\n")
	for _, d := range docs {
		for i, line := range strings.Split(strings.TrimRight(d, "\n"), "\n") {
			if i == 0 {
				b.WriteString("- " + line + "\n")
			} else {
				b.WriteString("  " + line + "\n")
			}
		}
	}
	return b.String()
}

func TestCheckExitCodes(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", compliant)
	bad := writeFile(t, dir, "bad.yaml", nonCompliant)
	invalid := writeFile(t, dir, "invalid.yaml", compliant+"---\nkind: Service\nmetadata:\n  name: x: y\n")
	brokenPolicies := filepath.Join(dir, "broken-policies")
	writeFile(t, brokenPolicies, "ok.rego", "package main\n\ndeny contains \"x\" if false\n")
	writeFile(t, brokenPolicies, "broken.rego", "package main\n\nimport rego.v1\n\ndeny contains msg if {\n\tmsg := \n}\n")
	noVerdict := filepath.Join(dir, "no-verdict")
	writeFile(t, noVerdict, "p.rego", "package main\n\nx := 1\n")
	// A team's own rule beside the shipped library, as docs/policies.md shows.
	ownRules := filepath.Join(dir, "own-rules")
	writeFile(t, ownRules, "no_debug.rego", "package budgetgate.rules.no_debug\n\nimport data.budgetgate.lib.k8s\n\n"+
		"findings contains k8s.finding(\"no-debug\", \"remove the label debug\") if k8s.labels.debug == \"true\"\n")
	debug := writeFile(t, dir, "debug.yaml", strings.Replace(compliant, "    owner: ", "    debug: \"true\"\n    owner: ", 1))

	tests := []struct {
		name     string
		args     []string
		stdin    string
		code     int
		stdout   []string // substrings
		stderr   []string // substrings; stderr must be empty when nil and code < 2
		stderrRe string
	}{
		{name: "compliant", args: []string{"check", good}, code: 0, stdout: []string{"1 document in 1 file: 0 failures, 0 warnings"}},
		{name: "compliant on stdin", args: []string{"check", "-"}, stdin: compliant, code: 0},
		{name: "non-compliant", args: []string{"check", bad}, code: 1, stdout: []string{"owner-label", "resources", "probes", "image-pinned", "min-replicas", "slo-declared", bad + ":1"}},
		{name: "one bad file fails the run", args: []string{"check", good, bad}, code: 1},
		{name: "non-compliant on stdin", args: []string{"check", "-"}, stdin: nonCompliant, code: 1},
		{name: "missing file", args: []string{"check", filepath.Join(dir, "missing.yaml")}, code: 2, stderr: []string{"missing.yaml"}},
		{name: "missing file after a good one", args: []string{"check", good, filepath.Join(dir, "missing.yaml")}, code: 2, stderr: []string{"missing.yaml"}},
		{name: "invalid YAML names file and line", args: []string{"check", invalid}, code: 2, stderr: []string{invalid + ":36:", "invalid YAML"}},
		{name: "invalid YAML on stdin", args: []string{"check", "-"}, stdin: "kind: A\nmetadata: {name: a\n", code: 2, stderr: []string{"-:2:"}},
		{name: "broken policy names file and line", args: []string{"check", "--policies", brokenPolicies, good}, code: 2, stderrRe: `broken-policies/broken\.rego:[67]`},
		{name: "policies folder missing", args: []string{"check", "--policies", filepath.Join(dir, "nope"), good}, code: 2, stderr: []string{"nope"}},
		{name: "policies without verdict rules", args: []string{"check", "--policies", noVerdict, good}, code: 2, stderr: []string{"no deny"}},
		{name: "policies folders add up", args: []string{"check", "--policies", "../../policies", "--policies", ownRules, debug}, code: 1, stdout: []string{"no-debug", "remove the label debug"}},
		{name: "own rules without the library they import", args: []string{"check", "--policies", ownRules, bad}, code: 2, stderr: []string{"no_debug.rego:5", "undefined function data.budgetgate.lib.k8s.finding"}},
		{name: "missing data file", args: []string{"check", "--data", filepath.Join(dir, "nodata.json"), good}, code: 2, stderr: []string{"nodata.json"}},
		{name: "unknown output format", args: []string{"check", "-o", "yaml", good}, code: 2, stderr: []string{`unknown output format "yaml"`, "table, json"}},
		{name: "no arguments", args: []string{"check"}, code: 2, stderr: []string{"Error:"}},
		{name: "unknown flag", args: []string{"check", "--nope", good}, code: 2, stderr: []string{"--nope"}},
		{name: "version", args: []string{"version"}, code: 0, stdout: []string{"budgetgate "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, tt.stdin, tt.args...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tt.code, r.stdout, r.stderr)
			}
			for _, s := range tt.stdout {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, r.stdout)
				}
			}
			for _, s := range tt.stderr {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
				}
			}
			if tt.stderrRe != "" && !regexp.MustCompile(tt.stderrRe).MatchString(r.stderr) {
				t.Errorf("stderr does not match %s:\n%s", tt.stderrRe, r.stderr)
			}
			if tt.code < 2 && r.stderr != "" {
				t.Errorf("stderr not empty on exit %d:\n%s", tt.code, r.stderr)
			}
			if tt.code == 2 && !strings.HasPrefix(r.stderr, "Error: ") {
				t.Errorf("stderr on bad input does not start with Error:\n%s", r.stderr)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	r := runCLI(t, "", "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "budgetgate ") || !strings.Contains(r.stdout, "OPA") {
		t.Errorf("version: exit %d, stdout %q", r.code, r.stdout)
	}
}

func TestCheckDataDryrun(t *testing.T) {
	dir := t.TempDir()
	manifest := writeFile(t, dir, "deploy.yaml", compliantExceptOwner)
	dryrun := writeFile(t, dir, "config.yaml", "budgetgate:\n  config:\n    actions:\n      owner-label: dryrun\n")
	asJSON := writeFile(t, dir, "config.json", `{"budgetgate": {"config": {"actions": {"owner-label": "warn"}}}}`)

	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string
	}{
		{"default deny", []string{"check", manifest}, 1, []string{"failure", "owner-label"}},
		{"dryrun from --data", []string{"check", "--data", dryrun, manifest}, 0, []string{"dryrun", "owner-label", "0 failures, 0 warnings, 1 dryrun finding"}},
		{"dryrun short flag", []string{"check", "-d", dryrun, manifest}, 0, nil},
		{"warn from JSON data", []string{"check", "--data", asJSON, manifest}, 0, []string{"warning", "0 failures, 1 warning"}},
		{"conflicting data files", []string{"check", "-d", dryrun, "-d", asJSON, manifest}, 2, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, "", tt.args...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tt.code, r.stdout, r.stderr)
			}
			for _, s := range tt.stdout {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, r.stdout)
				}
			}
		})
	}
}

// conftestResult is conftest's JSON shape.
type conftestResult struct {
	Filename  string `json:"filename"`
	Namespace string `json:"namespace"`
	Successes int    `json:"successes"`
	Warnings  []struct {
		Msg      string         `json:"msg"`
		Metadata map[string]any `json:"metadata"`
	} `json:"warnings"`
	Failures []struct {
		Msg      string         `json:"msg"`
		Metadata map[string]any `json:"metadata"`
	} `json:"failures"`
	Patches []struct {
		Object string           `json:"object"`
		Line   int              `json:"line"`
		Patch  []map[string]any `json:"patch"`
	} `json:"patches"`
}

func parseJSON(t *testing.T, out string) []conftestResult {
	t.Helper()
	var rs []conftestResult
	if err := json.Unmarshal([]byte(out), &rs); err != nil {
		t.Fatalf("invalid JSON: %v\n%s", err, out)
	}
	return rs
}

// TestCheckFormatsMultiDocument runs every format on a multi-document file
// and a kind: List file holding the same objects.
func TestCheckFormatsMultiDocument(t *testing.T) {
	dir := t.TempDir()
	otherBad := strings.NewReplacer("name: cart", "name: orders", "app: cart", "app: orders").Replace(nonCompliant)
	multi := writeFile(t, dir, "multi.yaml", compliant+"---\n"+nonCompliant+"--- # third\n"+otherBad)
	list := writeFile(t, dir, "list.yaml", asList(compliant, nonCompliant, otherBad))
	// Lines where the documents start in multi.yaml.
	cartLine := strings.Count(compliant, "\n") + 2
	ordersLine := cartLine + strings.Count(nonCompliant, "\n") + 1

	for _, tc := range []struct {
		file  string
		lines map[string]int // object -> line its findings name
	}{
		{multi, map[string]int{"cart": cartLine, "orders": ordersLine}},
		{list, map[string]int{"cart": 1, "orders": 1}},
	} {
		t.Run(filepath.Base(tc.file), func(t *testing.T) {
			t.Run("json", func(t *testing.T) {
				r := runCLI(t, "", "check", "-o", "json", tc.file)
				if r.code != 1 {
					t.Fatalf("exit %d, want 1: %s", r.code, r.stderr)
				}
				rs := parseJSON(t, r.stdout)
				if len(rs) != 1 || rs[0].Filename != tc.file || rs[0].Namespace != "main" {
					t.Fatalf("want one entry for %s in main, got %+v", tc.file, rs)
				}
				objects := map[string]int{}
				for _, f := range rs[0].Failures {
					if f.Metadata["policy"] == nil || f.Metadata["action"] != "deny" {
						t.Errorf("failure without policy/deny action: %+v", f)
					}
					for _, name := range []string{"checkout", "cart", "orders"} {
						if strings.HasPrefix(f.Msg, "Deployment shop/"+name+":") {
							objects[name]++
						}
					}
				}
				if objects["cart"] == 0 || objects["orders"] == 0 || objects["checkout"] != 0 || objects["cart"] != objects["orders"] {
					t.Errorf("failures by object = %v, want the same failures for cart and orders, none for checkout", objects)
				}
				if len(rs[0].Warnings) == 0 || rs[0].Successes == 0 {
					t.Errorf("warnings %d successes %d, want some of each", len(rs[0].Warnings), rs[0].Successes)
				}
			})
			t.Run("table", func(t *testing.T) {
				r := runCLI(t, "", "check", tc.file)
				if r.code != 1 {
					t.Fatalf("exit %d, want 1: %s", r.code, r.stderr)
				}
				for name, line := range tc.lines {
					want := tc.file + ":" + strconv.Itoa(line)
					if !regexp.MustCompile(regexp.QuoteMeta(want) + `\s+Deployment shop/` + name).MatchString(r.stdout) {
						t.Errorf("table lacks %s for %s:\n%s", want, name, r.stdout)
					}
				}
				if strings.Contains(r.stdout, "shop/checkout") {
					t.Errorf("the compliant document has findings:\n%s", r.stdout)
				}
				if !strings.Contains(r.stdout, "3 documents in 1 file:") {
					t.Errorf("summary:\n%s", r.stdout)
				}
			})
			t.Run("junit", func(t *testing.T) {
				r := runCLI(t, "", "check", "-o", "junit", tc.file)
				if r.code != 1 {
					t.Fatalf("exit %d, want 1: %s", r.code, r.stderr)
				}
				var s struct {
					Tests    int `xml:"tests,attr"`
					Failures int `xml:"failures,attr"`
				}
				if err := xml.Unmarshal([]byte(r.stdout), &s); err != nil {
					t.Fatalf("invalid XML: %v\n%s", err, r.stdout)
				}
				if s.Tests != 3 || s.Failures != 2 {
					t.Errorf("tests=%d failures=%d, want 3 and 2", s.Tests, s.Failures)
				}
			})
			t.Run("sarif", func(t *testing.T) {
				r := runCLI(t, "", "check", "-o", "sarif", tc.file)
				if r.code != 1 {
					t.Fatalf("exit %d, want 1: %s", r.code, r.stderr)
				}
				var log struct {
					Version string `json:"version"`
					Runs    []struct {
						Results []struct {
							Level     string `json:"level"`
							Locations []struct {
								PhysicalLocation struct {
									Region struct {
										StartLine int `json:"startLine"`
									} `json:"region"`
								} `json:"physicalLocation"`
							} `json:"locations"`
						} `json:"results"`
					} `json:"runs"`
				}
				if err := json.Unmarshal([]byte(r.stdout), &log); err != nil {
					t.Fatalf("invalid SARIF: %v", err)
				}
				if log.Version != "2.1.0" || len(log.Runs) != 1 || len(log.Runs[0].Results) == 0 {
					t.Fatalf("SARIF %+v", log)
				}
				lines := map[int]bool{}
				for _, res := range log.Runs[0].Results {
					lines[res.Locations[0].PhysicalLocation.Region.StartLine] = true
				}
				for name, line := range tc.lines {
					if !lines[line] {
						t.Errorf("no SARIF result on line %d (%s)", line, name)
					}
				}
			})
			t.Run("github", func(t *testing.T) {
				r := runCLI(t, "", "check", "-o", "github", tc.file)
				if r.code != 1 {
					t.Fatalf("exit %d, want 1: %s", r.code, r.stderr)
				}
				for name, line := range tc.lines {
					want := "::error file=" + tc.file + ",line=" + strconv.Itoa(line) + ",title=budgetgate "
					found := false
					for _, l := range strings.Split(r.stdout, "\n") {
						if strings.HasPrefix(l, want) && strings.Contains(l, "::Deployment shop/"+name+":") {
							found = true
						}
					}
					if !found {
						t.Errorf("no %s... line for %s:\n%s", want, name, r.stdout)
					}
				}
				if !strings.HasSuffix(r.stdout, "3 documents: 8 failures, 4 warnings\n") {
					t.Errorf("summary:\n%s", r.stdout)
				}
			})
		})
	}
}

func TestCheckJSONStdinFilename(t *testing.T) {
	r := runCLI(t, nonCompliant, "check", "-o", "json", "-")
	if r.code != 1 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	rs := parseJSON(t, r.stdout)
	if len(rs) != 1 || rs[0].Filename != "" {
		t.Errorf("stdin entry = %+v, want filename \"\" as conftest", rs)
	}
}

func TestCheckPodinfoJSON(t *testing.T) {
	r := runCLI(t, "", "check", "-o", "json", filepath.Join(corpus, "podinfo"))
	if r.code != 0 && r.code != 1 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	rs := parseJSON(t, r.stdout)
	if len(rs) == 0 {
		t.Fatal("no entries")
	}
	failures := 0
	for _, cr := range rs {
		if !strings.HasPrefix(cr.Filename, filepath.Join(corpus, "podinfo")) {
			t.Errorf("filename %q", cr.Filename)
		}
		for _, f := range cr.Failures {
			failures++
			if p, _ := f.Metadata["policy"].(string); p == "" {
				t.Errorf("%s: failure without metadata.policy: %+v", cr.Filename, f)
			}
		}
		for _, f := range cr.Warnings {
			if p, _ := f.Metadata["policy"].(string); p == "" {
				t.Errorf("%s: warning without metadata.policy: %+v", cr.Filename, f)
			}
		}
	}
	if failures == 0 {
		t.Error("podinfo has no owner labels: want failures")
	}
}

// TestCheckCorpus runs check on every corpus file in every format: real
// manifests are never bad input and never crash check.
func TestCheckCorpus(t *testing.T) {
	projects, err := os.ReadDir(corpus)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range projects {
		if !p.IsDir() {
			continue
		}
		files, err := filepath.Glob(filepath.Join(corpus, p.Name(), "*.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			n++
			for _, format := range []string{"table", "json", "junit", "sarif", "github"} {
				t.Run(p.Name()+"/"+filepath.Base(f)+"/"+format, func(t *testing.T) {
					r := runCLI(t, "", "check", "-o", format, f)
					if r.code != 0 && r.code != 1 {
						t.Errorf("exit %d, want 0 or 1\nstderr:\n%s", r.code, r.stderr)
					}
					if r.stderr != "" {
						t.Errorf("stderr:\n%s", r.stderr)
					}
				})
			}
		}
		t.Run(p.Name()+"/folder", func(t *testing.T) {
			r := runCLI(t, "", "check", "--show-patches", filepath.Join(corpus, p.Name()))
			if r.code != 0 && r.code != 1 {
				t.Errorf("exit %d, want 0 or 1\nstderr:\n%s", r.code, r.stderr)
			}
		})
	}
	if n < 30 {
		t.Errorf("only %d corpus files found below %s", n, corpus)
	}
}

func TestCheckShowPatches(t *testing.T) {
	dir := t.TempDir()
	policies := filepath.Join(dir, "policies")
	writeFile(t, policies, "main.rego", `package main

warn contains {"msg": "no canary annotation", "policy": "canary-annotation"} if {
	not input.metadata.annotations["budgetgate.dev/canary"]
}

patch contains {"op": "add", "path": "/metadata/annotations", "value": {"budgetgate.dev/canary": "forced"}} if {
	input.kind == "Deployment"
	not input.metadata.annotations
}
`)
	writeFile(t, policies, "main_test.rego", "package main\n\nthis is not even rego\n") // test files are skipped
	manifest := writeFile(t, dir, "deploy.yaml", "kind: ConfigMap\nmetadata:\n  name: cfg\n---\n"+compliant)

	t.Run("table", func(t *testing.T) {
		r := runCLI(t, "", "check", "--policies", policies, "--show-patches", manifest)
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		for _, want := range []string{
			"patch for Deployment shop/checkout (" + manifest + ":5):",
			`"op": "add"`, `"path": "/metadata/annotations"`, `"budgetgate.dev/canary": "forced"`,
			"1 patched document",
		} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("table lacks %q:\n%s", want, r.stdout)
			}
		}
		if strings.Contains(r.stdout, "patch for ConfigMap") {
			t.Errorf("ConfigMap got a patch:\n%s", r.stdout)
		}
	})
	t.Run("table without --show-patches", func(t *testing.T) {
		r := runCLI(t, "", "check", "--policies", policies, manifest)
		if r.code != 0 || strings.Contains(r.stdout, "patch for") {
			t.Errorf("exit %d, patches shown without --show-patches:\n%s", r.code, r.stdout)
		}
	})
	t.Run("json", func(t *testing.T) {
		r := runCLI(t, "", "check", "--policies", policies, "--show-patches", "-o", "json", manifest)
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		rs := parseJSON(t, r.stdout)
		if len(rs) != 1 || len(rs[0].Patches) != 1 {
			t.Fatalf("want one entry with one patched document:\n%s", r.stdout)
		}
		p := rs[0].Patches[0]
		if p.Object != "Deployment shop/checkout" || p.Line != 5 || len(p.Patch) != 1 || p.Patch[0]["op"] != "add" || p.Patch[0]["path"] != "/metadata/annotations" {
			t.Errorf("patch = %+v", p)
		}
		if len(rs[0].Warnings) != 2 || rs[0].Warnings[0].Metadata["policy"] != "canary-annotation" {
			t.Errorf("warnings = %+v", rs[0].Warnings)
		}
	})
	t.Run("json without --show-patches", func(t *testing.T) {
		r := runCLI(t, "", "check", "--policies", policies, "-o", "json", manifest)
		if strings.Contains(r.stdout, "patches") {
			t.Errorf("patches shown without --show-patches:\n%s", r.stdout)
		}
	})
	t.Run("shipped library", func(t *testing.T) {
		// slo-declared is canary by default: check reports it as a warning (a
		// raw manifest is not denied for lacking the canary strategy: only the
		// validating webhook, after the mutating one, does that) and shows the
		// patch the mutating webhook would apply.
		m := writeFile(t, dir, "no-slo.yaml", strings.Replace(compliant, "    budgetgate.dev/slo: checkout\n", "", 1))
		r := runCLI(t, "", "check", "--show-patches", m)
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("exit %d: %s\n%s", r.code, r.stderr, r.stdout)
		}
		const (
			object  = "Deployment shop/checkout"
			message = `Deployment shop/checkout: metadata.labels has no "budgetgate.dev/slo" label: add it with the name of the workload's ServiceLevelObjective`
		)
		loc := m + ":1"
		fileWidth := len(loc) + 2
		want := fmt.Sprintf("%-9s%-*s%-26s%-14s%s\n", "RESULT", fileWidth, "FILE", "OBJECT", "RULE", "MESSAGE") +
			fmt.Sprintf("%-9s%-*s%-26s%-14s%s\n", "warning", fileWidth, loc, object, "slo-declared", message) +
			"\n" +
			"patch for " + object + " (" + loc + "):\n" +
			deploymentPatchTable +
			"\n" +
			"1 document in 1 file: 0 failures, 1 warning, 0 dryrun findings, 1 patched document\n"
		if r.stdout != want {
			t.Errorf("stdout:\n got:\n%s\nwant:\n%s", r.stdout, want)
		}

		r = runCLI(t, "", "check", m)
		if r.code != 0 || strings.Contains(r.stdout, "patch") || !strings.HasSuffix(r.stdout, "\n1 document in 1 file: 0 failures, 1 warning, 0 dryrun findings\n") {
			t.Errorf("without --show-patches: exit %d\n%s", r.code, r.stdout)
		}

		r = runCLI(t, "", "check", "--show-patches", "-o", "json", m)
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("exit %d: %s\n%s", r.code, r.stderr, r.stdout)
		}
		rs := parseExactJSON(t, r.stdout)
		if len(rs) != 1 || rs[0].Filename != m || rs[0].Namespace != "main" || len(rs[0].Failures) != 0 {
			t.Fatalf("want one entry for %s without failures:\n%s", m, r.stdout)
		}
		if got := compact(t, rs[0].Warnings); got != `[{"msg":`+jsonString(t, message)+`,"metadata":{"action":"canary","policy":"slo-declared"}}]` {
			t.Errorf("warnings = %s", got)
		}
		if len(rs[0].Patches) != 1 {
			t.Fatalf("want one patched document:\n%s", r.stdout)
		}
		p := rs[0].Patches[0]
		if p.Object != object || p.Line != 1 {
			t.Errorf("patch for %q line %d, want %q line 1", p.Object, p.Line, object)
		}
		if got := compact(t, p.Patch); got != deploymentPatch {
			t.Errorf("patch:\n got: %s\nwant: %s", got, deploymentPatch)
		}
	})
	t.Run("shipped library, slo-declared as warn: no patch", func(t *testing.T) {
		m := writeFile(t, dir, "no-slo.yaml", strings.Replace(compliant, "    budgetgate.dev/slo: checkout\n", "", 1))
		data := writeFile(t, dir, "slo-warn.json", `{"budgetgate":{"config":{"actions":{"slo-declared":"warn"}}}}`)
		r := runCLI(t, "", "check", "--show-patches", "-d", data, "-o", "json", m)
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("exit %d: %s\n%s", r.code, r.stderr, r.stdout)
		}
		rs := parseExactJSON(t, r.stdout)
		if len(rs) != 1 || len(rs[0].Patches) != 0 || len(rs[0].Failures) != 0 || len(rs[0].Warnings) != 1 {
			t.Fatalf("want one warning and no patch:\n%s", r.stdout)
		}
		if got := compact(t, rs[0].Warnings[0].Metadata); got != `{"action":"warn","policy":"slo-declared"}` {
			t.Errorf("warning metadata = %s", got)
		}
	})
	t.Run("shipped library, compliant: no patch", func(t *testing.T) {
		m := writeFile(t, dir, "compliant.yaml", compliant)
		r := runCLI(t, "", "check", "--show-patches", m)
		const want = "\n1 document in 1 file: 0 failures, 0 warnings, 0 dryrun findings, 0 patched documents\n"
		if r.code != 0 || r.stdout != want {
			t.Errorf("exit %d, stdout:\n got: %q\nwant: %q", r.code, r.stdout, want)
		}
	})
}

// deploymentPatch is the shipped library's canary patch for a Deployment
// without annotations, strategy, minReadySeconds and progressDeadlineSeconds
// whose only canary finding is slo-declared.
const deploymentPatch = `[` +
	`{"op":"add","path":"/metadata/annotations","value":{"budgetgate.dev/canary":"slo-declared"}},` +
	`{"op":"add","path":"/spec/minReadySeconds","value":30},` +
	`{"op":"add","path":"/spec/progressDeadlineSeconds","value":600},` +
	`{"op":"add","path":"/spec/strategy","value":{"rollingUpdate":{"maxSurge":1,"maxUnavailable":0},"type":"RollingUpdate"}}` +
	`]`

// deploymentPatchTable is deploymentPatch as the table prints it.
const deploymentPatchTable = `  [
    {
      "op": "add",
      "path": "/metadata/annotations",
      "value": {
        "budgetgate.dev/canary": "slo-declared"
      }
    },
    {
      "op": "add",
      "path": "/spec/minReadySeconds",
      "value": 30
    },
    {
      "op": "add",
      "path": "/spec/progressDeadlineSeconds",
      "value": 600
    },
    {
      "op": "add",
      "path": "/spec/strategy",
      "value": {
        "rollingUpdate": {
          "maxSurge": 1,
          "maxUnavailable": 0
        },
        "type": "RollingUpdate"
      }
    }
  ]
`

// rolloutCanaryStrategy is the strategy the shipped library forces on an Argo
// Rollout, with its default parameters (steps of 25%, 5m pauses).
const rolloutCanaryStrategy = `{"canary":{"steps":[` +
	`{"setWeight":25},{"pause":{"duration":"5m"}},` +
	`{"setWeight":50},{"pause":{"duration":"5m"}},` +
	`{"setWeight":75},{"pause":{"duration":"5m"}}` +
	`]}}`

// exactResult is conftestResult with warnings and patches kept as the bytes
// check wrote, so they are compared exactly.
type exactResult struct {
	Filename  string `json:"filename"`
	Namespace string `json:"namespace"`
	Successes int    `json:"successes"`
	Warnings  []struct {
		Msg      string          `json:"msg"`
		Metadata json.RawMessage `json:"metadata"`
	} `json:"warnings"`
	Failures []struct {
		Msg      string          `json:"msg"`
		Metadata json.RawMessage `json:"metadata"`
	} `json:"failures"`
	Patches []struct {
		Object string          `json:"object"`
		Line   int             `json:"line"`
		Patch  json.RawMessage `json:"patch"`
	} `json:"patches"`
}

func parseExactJSON(t *testing.T, out string) []exactResult {
	t.Helper()
	var rs []exactResult
	if err := json.Unmarshal([]byte(out), &rs); err != nil {
		t.Fatalf("invalid JSON: %v\n%s", err, out)
	}
	return rs
}

// compact is v as compact JSON: a json.RawMessage keeps its key order.
func compact(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func jsonString(t *testing.T, s string) string {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestCheckShowPatchesRollouts checks the canary patch on the Argo Rollouts
// examples of the corpus: a blueGreen strategy is replaced by canary steps,
// canary steps without pauses get the forced steps, and steps already within
// the limits only get the annotation.
func TestCheckShowPatchesRollouts(t *testing.T) {
	dir := filepath.Join(corpus, "argo-rollouts")
	const annotation = `{"op":"add","path":"/metadata/annotations","value":{"budgetgate.dev/canary":"slo-declared"}}`
	steps := strings.TrimSuffix(strings.TrimPrefix(rolloutCanaryStrategy, `{"canary":{"steps":`), `}}`)
	for _, tc := range []struct {
		file, object string
		patch        string
	}{
		{"rollout-bluegreen.yaml", "Rollout rollout-bluegreen",
			`[` + annotation + `,{"op":"add","path":"/spec/strategy","value":` + rolloutCanaryStrategy + `}]`},
		{"rollout-canary.yaml", "Rollout rollout-canary", `[` + annotation + `]`},
		{"rollout-background-analysis.yaml", "Rollout rollout-background-analysis", `[` + annotation + `]`},
		{"rollout-rolling-update.yaml", "Rollout rollout-rollingupdate",
			`[` + annotation + `,{"op":"add","path":"/spec/strategy/canary/steps","value":` + steps + `}]`},
	} {
		t.Run(tc.file, func(t *testing.T) {
			f := filepath.Join(dir, tc.file)
			r := runCLI(t, "", "check", "--show-patches", "-o", "json", f)
			if r.code != 1 || r.stderr != "" {
				t.Fatalf("exit %d, want 1 (the examples have no owner label): %s\n%s", r.code, r.stderr, r.stdout)
			}
			rs := parseExactJSON(t, r.stdout)
			if len(rs) != 1 || len(rs[0].Patches) != 1 {
				t.Fatalf("want one entry with one patched document:\n%s", r.stdout)
			}
			p := rs[0].Patches[0]
			if p.Object != tc.object || p.Line != 1 {
				t.Errorf("patch for %q line %d, want %q line 1", p.Object, p.Line, tc.object)
			}
			if got := compact(t, p.Patch); got != tc.patch {
				t.Errorf("patch:\n got: %s\nwant: %s", got, tc.patch)
			}
			found := false
			for _, w := range rs[0].Warnings {
				if w.Msg == tc.object+`: metadata.labels has no "budgetgate.dev/slo" label: add it with the name of the workload's ServiceLevelObjective` &&
					compact(t, w.Metadata) == `{"action":"canary","policy":"slo-declared"}` {
					found = true
				}
			}
			if !found {
				t.Errorf("no canary slo-declared warning for %s:\n%s", tc.object, r.stdout)
			}
			for _, fl := range rs[0].Failures {
				if strings.Contains(fl.Msg, "must roll out as a canary") || strings.Contains(string(fl.Metadata), `"canary"`) {
					t.Errorf("a raw manifest is denied for its strategy: %s", fl.Msg)
				}
			}
		})
	}

	t.Run("rollout-bluegreen.yaml/table", func(t *testing.T) {
		f := filepath.Join(dir, "rollout-bluegreen.yaml")
		r := runCLI(t, "", "check", "--show-patches", f)
		if r.code != 1 || r.stderr != "" {
			t.Fatalf("exit %d: %s\n%s", r.code, r.stderr, r.stdout)
		}
		block := "\npatch for Rollout rollout-bluegreen (" + f + ":1):\n" + `  [
    {
      "op": "add",
      "path": "/metadata/annotations",
      "value": {
        "budgetgate.dev/canary": "slo-declared"
      }
    },
    {
      "op": "add",
      "path": "/spec/strategy",
      "value": {
        "canary": {
          "steps": [
            {
              "setWeight": 25
            },
            {
              "pause": {
                "duration": "5m"
              }
            },
            {
              "setWeight": 50
            },
            {
              "pause": {
                "duration": "5m"
              }
            },
            {
              "setWeight": 75
            },
            {
              "pause": {
                "duration": "5m"
              }
            }
          ]
        }
      }
    }
  ]

3 documents in 1 file: 3 failures, 1 warning, 0 dryrun findings, 1 patched document
`
		if !strings.HasSuffix(r.stdout, block) {
			t.Errorf("stdout does not end with the patch and summary:\n got:\n%s\nwant suffix:\n%s", r.stdout, block)
		}
		if strings.Contains(r.stdout, "blueGreen") {
			t.Errorf("the patch keeps blueGreen:\n%s", r.stdout)
		}
	})
}
