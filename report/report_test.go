package report_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"strings"
	"testing"

	"github.com/budgetgate/budgetgate/manifest"
	"github.com/budgetgate/budgetgate/rego"
	"github.com/budgetgate/budgetgate/report"
)

func finding(rule, policy, action, msg string) rego.Finding {
	return rego.Finding{Msg: msg, Metadata: map[string]any{"policy": policy, "action": action}, Namespace: "main", Rule: rule}
}

func deployment(name string) map[string]any {
	return map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": name, "namespace": "shop"}}
}

// sample is two files: a.yaml with two documents (one failing twice and
// warned, one clean) and stdin with a warned, patched document.
func sample(showPatches bool) *report.Report {
	return &report.Report{
		Namespaces:  []string{"main"},
		ShowPatches: showPatches,
		Results: []report.Result{
			{
				Document: manifest.Document{File: "deploy/a.yaml", Line: 1, Object: deployment("api")},
				Decision: &rego.Decision{
					Failures: []rego.Finding{
						finding("deny", "owner-label", "deny", `Deployment shop/api: metadata.labels has no "owner" label`),
						finding("deny", "probes", "deny", "Deployment shop/api: container \"app\" has no readinessProbe"),
					},
					Warnings:  []rego.Finding{finding("warn", "min-replicas", "warn", "Deployment shop/api: spec.replicas is 1")},
					Successes: map[string]int{"main": 1},
				},
			},
			{
				Document: manifest.Document{File: "deploy/a.yaml", Line: 30, Object: deployment("web")},
				Decision: &rego.Decision{Successes: map[string]int{"main": 4}},
			},
			{
				Document: manifest.Document{File: "-", Line: 5, Object: deployment("cart")},
				Decision: &rego.Decision{
					Warnings:  []rego.Finding{finding("warn", "slo-declared", "canary", "Deployment shop/cart: no SLO label")},
					DryRun:    []rego.Finding{finding("dryrun", "resources", "dryrun", "Deployment shop/cart: no cpu request")},
					Successes: map[string]int{"main": 3},
					Patch: []rego.PatchOperation{
						{Op: "add", Path: "/metadata/annotations/budgetgate.dev~1canary", Value: "true"},
					},
				},
			},
		},
	}
}

func write(t *testing.T, format string, r *report.Report) string {
	t.Helper()
	var buf bytes.Buffer
	if err := report.Write(&buf, format, r); err != nil {
		t.Fatalf("Write(%s): %v", format, err)
	}
	return buf.String()
}

func TestJSONConftestShape(t *testing.T) {
	const withoutPatches = `[
	{
		"filename": "deploy/a.yaml",
		"namespace": "main",
		"successes": 5,
		"warnings": [
			{
				"msg": "Deployment shop/api: spec.replicas is 1",
				"metadata": {
					"action": "warn",
					"policy": "min-replicas"
				}
			}
		],
		"failures": [
			{
				"msg": "Deployment shop/api: metadata.labels has no \"owner\" label",
				"metadata": {
					"action": "deny",
					"policy": "owner-label"
				}
			},
			{
				"msg": "Deployment shop/api: container \"app\" has no readinessProbe",
				"metadata": {
					"action": "deny",
					"policy": "probes"
				}
			}
		]
	},
	{
		"filename": "",
		"namespace": "main",
		"successes": 3,
		"warnings": [
			{
				"msg": "Deployment shop/cart: no SLO label",
				"metadata": {
					"action": "canary",
					"policy": "slo-declared"
				}
			}
		]
	}
]
`
	const stdinWithPatches = `	{
		"filename": "",
		"namespace": "main",
		"successes": 3,
		"warnings": [
			{
				"msg": "Deployment shop/cart: no SLO label",
				"metadata": {
					"action": "canary",
					"policy": "slo-declared"
				}
			}
		],
		"patches": [
			{
				"object": "Deployment shop/cart",
				"line": 5,
				"patch": [
					{
						"op": "add",
						"path": "/metadata/annotations/budgetgate.dev~1canary",
						"value": "true"
					}
				]
			}
		]
	}
]
`
	tests := []struct {
		name        string
		showPatches bool
		check       func(t *testing.T, got string)
	}{
		{"exact conftest shape", false, func(t *testing.T, got string) {
			if got != withoutPatches {
				t.Errorf("JSON =\n%s\nwant\n%s", got, withoutPatches)
			}
		}},
		{"patches only with ShowPatches", true, func(t *testing.T, got string) {
			if !strings.HasSuffix(got, stdinWithPatches) {
				t.Errorf("JSON =\n%s\nwant it to end with\n%s", got, stdinWithPatches)
			}
			if strings.Count(got, `"patches"`) != 1 {
				t.Errorf("want patches on the patched document's file only:\n%s", got)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := write(t, "json", sample(tt.showPatches))
			var v []map[string]any
			if err := json.Unmarshal([]byte(got), &v); err != nil {
				t.Fatalf("invalid JSON: %v\n%s", err, got)
			}
			tt.check(t, got)
		})
	}
}

func TestJSONEntryPerNamespace(t *testing.T) {
	r := &report.Report{
		Namespaces: []string{"main", "team"},
		Results: []report.Result{{
			Document: manifest.Document{File: "a.yaml", Line: 1, Object: deployment("api")},
			Decision: &rego.Decision{
				Failures:  []rego.Finding{finding("deny", "owner-label", "deny", "m1"), {Msg: "plain", Namespace: "team", Rule: "deny_x"}},
				Successes: map[string]int{"main": 2, "team": 1},
			},
		}},
	}
	var got []struct {
		Filename  string `json:"filename"`
		Namespace string `json:"namespace"`
		Successes int    `json:"successes"`
		Failures  []struct {
			Msg      string         `json:"msg"`
			Metadata map[string]any `json:"metadata"`
		} `json:"failures"`
	}
	if err := json.Unmarshal([]byte(write(t, "json", r)), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Namespace != "main" || got[1].Namespace != "team" {
		t.Fatalf("entries = %+v, want one for main and one for team", got)
	}
	if len(got[0].Failures) != 1 || got[0].Failures[0].Msg != "m1" || got[0].Successes != 2 {
		t.Errorf("main entry = %+v", got[0])
	}
	if len(got[1].Failures) != 1 || got[1].Failures[0].Msg != "plain" || got[1].Failures[0].Metadata != nil || got[1].Successes != 1 {
		t.Errorf("team entry = %+v", got[1])
	}
}

func TestJSONEmptyReport(t *testing.T) {
	if got := write(t, "json", &report.Report{Namespaces: []string{"main"}}); got != "[]\n" {
		t.Errorf("JSON of no documents = %q, want []", got)
	}
}

func TestJUnit(t *testing.T) {
	out := write(t, "junit", sample(false))
	if !strings.HasPrefix(out, xml.Header) {
		t.Errorf("JUnit does not start with the XML header:\n%s", out)
	}
	var suites struct {
		XMLName  xml.Name `xml:"testsuites"`
		Tests    int      `xml:"tests,attr"`
		Failures int      `xml:"failures,attr"`
		Suites   []struct {
			Name     string `xml:"name,attr"`
			Tests    int    `xml:"tests,attr"`
			Failures int    `xml:"failures,attr"`
			Cases    []struct {
				Name    string `xml:"name,attr"`
				Failure *struct {
					Message string `xml:"message,attr"`
					Text    string `xml:",chardata"`
				} `xml:"failure"`
				SystemOut string `xml:"system-out"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal([]byte(out), &suites); err != nil {
		t.Fatalf("invalid XML: %v\n%s", err, out)
	}
	if suites.Tests != 3 || suites.Failures != 1 {
		t.Errorf("testsuites tests=%d failures=%d, want 3 and 1", suites.Tests, suites.Failures)
	}
	if len(suites.Suites) != 2 {
		t.Fatalf("%d suites, want one per file", len(suites.Suites))
	}
	a := suites.Suites[0]
	if a.Name != "deploy/a.yaml" || a.Tests != 2 || a.Failures != 1 {
		t.Errorf("suite %s tests=%d failures=%d, want deploy/a.yaml 2 1", a.Name, a.Tests, a.Failures)
	}
	failed := a.Cases[0]
	if failed.Name != "Deployment shop/api (line 1)" || failed.Failure == nil {
		t.Fatalf("first case = %+v, want a failed Deployment shop/api (line 1)", failed)
	}
	for _, want := range []string{"[owner-label]", "[probes]"} {
		if !strings.Contains(failed.Failure.Text, want) {
			t.Errorf("failure text %q lacks %s", failed.Failure.Text, want)
		}
	}
	if failed.Failure.Message != "2 policy failures" {
		t.Errorf("failure message = %q", failed.Failure.Message)
	}
	if !strings.Contains(failed.SystemOut, "warning: [min-replicas]") {
		t.Errorf("system-out = %q, want the warning", failed.SystemOut)
	}
	if a.Cases[1].Failure != nil {
		t.Errorf("clean document has a failure")
	}
	if s := suites.Suites[1]; s.Name != "-" || s.Tests != 1 || s.Failures != 0 {
		t.Errorf("stdin suite = %s tests=%d failures=%d", s.Name, s.Tests, s.Failures)
	}
}

func TestSARIF(t *testing.T) {
	out := write(t, "sarif", sample(false))
	var log struct {
		Schema  string `json:"$schema"`
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name  string `json:"name"`
					Rules []struct {
						ID string `json:"id"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID  string `json:"ruleId"`
				Level   string `json:"level"`
				Message struct {
					Text string `json:"text"`
				} `json:"message"`
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct {
							URI string `json:"uri"`
						} `json:"artifactLocation"`
						Region struct {
							StartLine int `json:"startLine"`
						} `json:"region"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(out), &log); err != nil {
		t.Fatalf("invalid JSON: %v\n%s", err, out)
	}
	if log.Version != "2.1.0" || !strings.Contains(log.Schema, "sarif-2.1.0") || len(log.Runs) != 1 {
		t.Fatalf("version %q schema %q runs %d", log.Version, log.Schema, len(log.Runs))
	}
	run := log.Runs[0]
	var ids []string
	for _, r := range run.Tool.Driver.Rules {
		ids = append(ids, r.ID)
	}
	if got, want := strings.Join(ids, ","), "min-replicas,owner-label,probes,resources,slo-declared"; got != want {
		t.Errorf("rule ids = %s, want %s", got, want)
	}
	type res struct {
		rule, level, uri string
		line             int
	}
	want := []res{
		{"owner-label", "error", "deploy/a.yaml", 1},
		{"probes", "error", "deploy/a.yaml", 1},
		{"min-replicas", "warning", "deploy/a.yaml", 1},
		{"slo-declared", "warning", "-", 5},
		{"resources", "note", "-", 5},
	}
	if len(run.Results) != len(want) {
		t.Fatalf("%d results, want %d:\n%s", len(run.Results), len(want), out)
	}
	for i, r := range run.Results {
		got := res{r.RuleID, r.Level, r.Locations[0].PhysicalLocation.ArtifactLocation.URI, r.Locations[0].PhysicalLocation.Region.StartLine}
		if got != want[i] {
			t.Errorf("result %d = %+v, want %+v", i, got, want[i])
		}
		if r.Message.Text == "" {
			t.Errorf("result %d has no message", i)
		}
	}
}

func TestSARIFEmpty(t *testing.T) {
	out := write(t, "sarif", &report.Report{Namespaces: []string{"main"}})
	if !strings.Contains(out, `"results": []`) || !strings.Contains(out, `"rules": []`) {
		t.Errorf("empty SARIF must have empty arrays, not null:\n%s", out)
	}
}

func TestGitHub(t *testing.T) {
	tests := []struct {
		name string
		r    *report.Report
		want string
	}{
		{
			name: "sample",
			r:    sample(false),
			want: "::error file=deploy/a.yaml,line=1,title=budgetgate owner-label::Deployment shop/api: metadata.labels has no \"owner\" label\n" +
				"::error file=deploy/a.yaml,line=1,title=budgetgate probes::Deployment shop/api: container \"app\" has no readinessProbe\n" +
				"::warning file=deploy/a.yaml,line=1,title=budgetgate min-replicas::Deployment shop/api: spec.replicas is 1\n" +
				"::warning file=-,line=5,title=budgetgate slo-declared::Deployment shop/cart: no SLO label\n" +
				"::notice file=-,line=5,title=budgetgate resources::Deployment shop/cart: no cpu request\n" +
				"3 documents: 2 failures, 2 warnings\n",
		},
		{
			name: "escaping of data and properties",
			r: &report.Report{Namespaces: []string{"main"}, Results: []report.Result{{
				Document: manifest.Document{File: "odd,dir/a:b%.yaml", Line: 7, Object: deployment("x")},
				Decision: &rego.Decision{Failures: []rego.Finding{
					finding("deny", "rule:with,odd%", "deny", "100% broken:\nsecond line, really\r"),
				}},
			}}},
			want: "::error file=odd%2Cdir/a%3Ab%25.yaml,line=7,title=budgetgate rule%3Awith%2Codd%25::100%25 broken:%0Asecond line, really%0D\n" +
				"1 document: 1 failure, 0 warnings\n",
		},
		{
			name: "plain string finding uses namespace.rule",
			r: &report.Report{Namespaces: []string{"main"}, Results: []report.Result{{
				Document: manifest.Document{File: "a.yaml", Line: 2, Object: deployment("x")},
				Decision: &rego.Decision{Warnings: []rego.Finding{{Msg: "plain", Namespace: "main", Rule: "warn"}}},
			}}},
			want: "::warning file=a.yaml,line=2,title=budgetgate main.warn::plain\n1 document: 0 failures, 1 warning\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := write(t, "github", tt.r); got != tt.want {
				t.Errorf("github =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestTable(t *testing.T) {
	tests := []struct {
		name        string
		r           *report.Report
		contains    []string
		notContains []string
		summary     string
	}{
		{
			name: "findings",
			r:    sample(false),
			contains: []string{
				"RESULT", "FILE", "OBJECT", "RULE", "MESSAGE",
				"deploy/a.yaml:1", "Deployment shop/api", "owner-label", "probes", "min-replicas",
				"-:5", "slo-declared", "dryrun",
			},
			notContains: []string{"patch for"},
			summary:     "3 documents in 2 files: 2 failures, 2 warnings, 1 dryrun finding",
		},
		{
			name:     "patches",
			r:        sample(true),
			contains: []string{"patch for Deployment shop/cart (-:5):", `"path": "/metadata/annotations/budgetgate.dev~1canary"`},
			summary:  "3 documents in 2 files: 2 failures, 2 warnings, 1 dryrun finding, 1 patched document",
		},
		{
			name: "clean",
			r: &report.Report{Namespaces: []string{"main"}, Results: []report.Result{{
				Document: manifest.Document{File: "a.yaml", Line: 1, Object: deployment("x")},
				Decision: &rego.Decision{Successes: map[string]int{"main": 3}},
			}}},
			notContains: []string{"RESULT"},
			summary:     "1 document in 1 file: 0 failures, 0 warnings, 0 dryrun findings",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := write(t, "table", tt.r)
			lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
			if last := lines[len(lines)-1]; last != tt.summary {
				t.Errorf("summary line = %q, want %q", last, tt.summary)
			}
			if len(tt.contains) > 0 && strings.HasPrefix(tt.contains[0], "RESULT") {
				if !strings.HasPrefix(lines[0], "RESULT") {
					t.Errorf("first line %q is not the header", lines[0])
				}
				if lines[1] == "" || !strings.HasPrefix(lines[1], "failure") {
					t.Errorf("second line %q, want the first failure", lines[1])
				}
			}
			for _, s := range tt.contains {
				if !strings.Contains(out, s) {
					t.Errorf("table lacks %q:\n%s", s, out)
				}
			}
			for _, s := range tt.notContains {
				if strings.Contains(out, s) {
					t.Errorf("table has %q:\n%s", s, out)
				}
			}
		})
	}
}

func TestFailed(t *testing.T) {
	if !sample(false).Failed() {
		t.Error("a report with failures is not Failed")
	}
	clean := &report.Report{Results: []report.Result{{Decision: &rego.Decision{Warnings: []rego.Finding{{Msg: "w"}}}}}}
	if clean.Failed() {
		t.Error("a report with only warnings is Failed")
	}
}

func TestUnknownFormat(t *testing.T) {
	var buf bytes.Buffer
	err := report.Write(&buf, "yaml", sample(false))
	if err == nil || !strings.Contains(err.Error(), "yaml") {
		t.Errorf("Write(yaml) error = %v, want one naming the format", err)
	}
	for _, f := range report.Formats {
		if err := report.Write(&buf, f, sample(true)); err != nil {
			t.Errorf("Write(%s): %v", f, err)
		}
	}
}
