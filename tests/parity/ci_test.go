package parity

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/budgetgate/budgetgate/manifest"
	"github.com/budgetgate/budgetgate/policies"
	"github.com/budgetgate/budgetgate/rego"
)

const (
	manifestDir = "tests/testdata/parity/manifests"
	dataDir     = "tests/testdata/parity/data"
)

// dataSet is one CI invocation's data: `--data config --data budgets`.
type dataSet struct {
	name            string
	config, budgets string // paths relative to root
}

func (d dataSet) args() []string { return []string{"--data", d.config, "--data", d.budgets} }

// The data sets: one per action family and tier, and one without budgets.
var dataSets = []dataSet{
	{"production", dataDir + "/production.yaml", dataDir + "/budgets.yaml"},
	{"staging", dataDir + "/staging.yaml", dataDir + "/budgets.yaml"},
	{"namespace-tiers", dataDir + "/namespace-tiers.yaml", dataDir + "/budgets.yaml"},
	{"overrides", dataDir + "/overrides.yaml", dataDir + "/budgets.yaml"},
	{"invalid", dataDir + "/invalid.yaml", dataDir + "/budgets.yaml"},
	{"no-budgets", dataDir + "/production.yaml", dataDir + "/no-budgets.yaml"},
}

// Every rule id of DESIGN.md (and README's `config`) and every action: the
// corpus must make each of them happen somewhere.
var (
	ruleIDs = []string{"budget-freeze", "budget-canary", "budget-stale", "slo-declared", "owner-label",
		"resources", "probes", "image-pinned", "min-replicas", "config"}
	actions = []string{"deny", "canary", "warn", "dryrun"}
)

var (
	manifestsOnce sync.Once
	manifestList  []string
	manifestErr   error
)

// manifestFiles lists the corpus, relative to root, in a stable order.
func manifestFiles(t *testing.T) []string {
	manifestsOnce.Do(func() {
		manifestErr = filepath.WalkDir(filepath.Join(root, manifestDir), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			switch filepath.Ext(p) {
			case ".yaml", ".yml", ".json":
				rel, err := filepath.Rel(root, p)
				manifestList = append(manifestList, filepath.ToSlash(rel))
				return err
			}
			return nil
		})
		sort.Strings(manifestList)
	})
	if t != nil && manifestErr != nil {
		t.Fatal(manifestErr)
	}
	return manifestList
}

// finding is what parity compares: conftest's metadata.policy and msg.
type finding struct{ Policy, Msg string }

// verdict is what one CI tool said of one file.
type verdict struct {
	Exit               int
	Failures, Warnings map[finding]bool
	// BreakGlass: a warning carries breakGlass metadata (a freeze that the
	// break-glass annotation turned into a warning).
	BreakGlass bool
}

func policiesOf(fs map[finding]bool) map[string]bool {
	out := map[string]bool{}
	for f := range fs {
		out[f.Policy] = true
	}
	return out
}

// conftest's JSON shape, which budgetgate check -o json also prints.
type jsonResult struct {
	Filename  string        `json:"filename"`
	Namespace string        `json:"namespace"`
	Warnings  []jsonFinding `json:"warnings"`
	Failures  []jsonFinding `json:"failures"`
}

type jsonFinding struct {
	Msg      string         `json:"msg"`
	Metadata map[string]any `json:"metadata"`
}

// runCI runs a CI tool on one file with -o json and reads its verdict.
// Findings are compared as sets: conftest reports a finding once per
// document that has it, budgetgate check likewise, and OPA's sets already
// merge duplicates within a document.
func runCI(bin string, args []string, file string) (*verdict, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(args, file)...)
	cmd.Dir = root
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	v := &verdict{Failures: map[finding]bool{}, Warnings: map[finding]bool{}}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		v.Exit = exit.ExitCode()
	default:
		return nil, fmt.Errorf("%s: %w", bin, err)
	}
	var results []jsonResult
	if err := json.Unmarshal(stdout.Bytes(), &results); err != nil {
		return nil, fmt.Errorf("%s %s (exit %d) printed no JSON: %v\nstdout: %s\nstderr: %s", filepath.Base(bin), strings.Join(append(args, file), " "), v.Exit, err, stdout.String(), stderr.String())
	}
	if len(results) != 1 || results[0].Filename != file || results[0].Namespace != "main" {
		return nil, fmt.Errorf("%s: want one result for %s in namespace main, got %+v", filepath.Base(bin), file, results)
	}
	for _, f := range results[0].Failures {
		v.Failures[toFinding(f)] = true
	}
	for _, f := range results[0].Warnings {
		v.Warnings[toFinding(f)] = true
		if _, ok := f.Metadata["breakGlass"]; ok {
			v.BreakGlass = true
		}
	}
	return v, nil
}

func toFinding(f jsonFinding) finding {
	p, _ := f.Metadata["policy"].(string)
	return finding{Policy: p, Msg: f.Msg}
}

type lazyVerdict struct {
	once sync.Once
	v    *verdict
	err  error
}

var checkVerdicts sync.Map // dataSet.name + " " + file -> *lazyVerdict

// checkVerdict is `budgetgate check -o json` on file with ds, run once.
func checkVerdict(ds dataSet, file string) (*verdict, error) {
	l, _ := checkVerdicts.LoadOrStore(ds.name+" "+file, &lazyVerdict{})
	lv := l.(*lazyVerdict)
	lv.once.Do(func() {
		lv.v, lv.err = runCI(budgetgateBin, append([]string{"check", "-o", "json"}, ds.args()...), file)
	})
	return lv.v, lv.err
}

// The conftest command of the issue: plain `conftest test` with the policy
// folder and the two data documents, no --namespace (the verdict rules are
// in package main, where conftest looks by default).
func conftestArgs(ds dataSet) []string {
	return append([]string{"test", "-p", "policies/", "-o", "json"}, ds.args()...)
}

func TestConftestParity(t *testing.T) {
	conftest := requireEnv(t, "CONFTEST_BIN", "$(hack/conftest.sh | tail -n 1)")
	for _, ds := range dataSets {
		t.Run(ds.name, func(t *testing.T) {
			for _, file := range manifestFiles(t) {
				t.Run(strings.TrimPrefix(file, manifestDir+"/"), func(t *testing.T) {
					t.Parallel()
					want, err := runCI(conftest, conftestArgs(ds), file)
					if err != nil {
						t.Fatal(err)
					}
					got, err := checkVerdict(ds, file)
					if err != nil {
						t.Fatal(err)
					}
					if got.Exit != want.Exit {
						t.Errorf("exit code: budgetgate check %d, conftest %d", got.Exit, want.Exit)
					}
					compareSets(t, "failures", got.Failures, want.Failures)
					compareSets(t, "warnings", got.Warnings, want.Warnings)
					stats.conftestPairs.Add(1)
					stats.conftestFindings.Add(int64(len(want.Failures) + len(want.Warnings)))
				})
			}
		})
	}
}

// compareSets reports what only one side has; got is budgetgate's, want conftest's.
func compareSets(t *testing.T, what string, got, want map[finding]bool) {
	t.Helper()
	for f := range want {
		if !got[f] {
			t.Errorf("%s: conftest reports, budgetgate check does not: [%s] %s", what, f.Policy, f.Msg)
		}
	}
	for f := range got {
		if !want[f] {
			t.Errorf("%s: budgetgate check reports, conftest does not: [%s] %s", what, f.Policy, f.Msg)
		}
	}
}

// docVerdict is the library's decision on one document of a file, from the
// engine budgetgate check runs, evaluated here in-process so that the
// webhook test knows each document's kind and actions (conftest's JSON only
// has the file's findings).
type docVerdict struct {
	Group, Kind, Namespace, Name string
	Decision                     *rego.Decision
}

var (
	docVerdictsMu sync.Mutex
	docVerdicts   = map[string]map[string][]docVerdict{} // data set -> file -> documents
)

// evaluateDocs evaluates every document of the corpus with ds, once per ds.
func evaluateDocs(t *testing.T, ds dataSet) map[string][]docVerdict {
	t.Helper()
	docVerdictsMu.Lock()
	defer docVerdictsMu.Unlock()
	if v, ok := docVerdicts[ds.name]; ok {
		return v
	}
	ctx := context.Background()
	data, err := rego.ReadData([]string{filepath.Join(root, ds.config), filepath.Join(root, ds.budgets)})
	if err != nil {
		t.Fatal(err)
	}
	engine, err := newEngine(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]docVerdict{}
	for _, file := range manifestFiles(t) {
		docs, err := manifest.Read([]string{filepath.Join(root, file)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range docs {
			input, err := ast.InterfaceToValue(doc.Object)
			if err != nil {
				t.Fatal(err)
			}
			d, err := engine.Evaluate(ctx, input)
			if err != nil {
				t.Fatalf("%s:%d: %v", file, doc.Line, err)
			}
			dv := docVerdict{Decision: d}
			dv.Group, dv.Kind = groupKind(doc.Object)
			meta, _ := doc.Object["metadata"].(map[string]any)
			dv.Namespace, _ = meta["namespace"].(string)
			dv.Name, _ = meta["name"].(string)
			out[file] = append(out[file], dv)
		}
	}
	docVerdicts[ds.name] = out
	return out
}

// newEngine is the engine of the webhook and of check: the embedded library on data.
func newEngine(ctx context.Context, data map[string]any) (*rego.Engine, error) {
	files, err := rego.ReadFS(policies.FS, ".", "policies")
	if err != nil {
		return nil, err
	}
	engine := rego.NewEngine(data)
	if _, err := engine.Load(ctx, "the embedded library", files); err != nil {
		return nil, err
	}
	return engine, nil
}

func groupKind(obj map[string]any) (group, kind string) {
	kind, _ = obj["kind"].(string)
	apiVersion, _ := obj["apiVersion"].(string)
	if i := strings.Index(apiVersion, "/"); i >= 0 {
		group = apiVersion[:i]
	}
	return group, kind
}

// action is the finding's action as package main assigned it; results
// without one (the config rule's) are what their verdict rule says.
func action(f rego.Finding, verdictRule string) string {
	if a, ok := f.Metadata["action"].(string); ok {
		return a
	}
	return verdictRule
}

// TestCorpusCoverage: every rule id fires somewhere where CI shows it (a
// failure or a warning), and every action is taken somewhere (dryrun
// findings are shown by neither conftest nor check -o json: they are counted
// from the decisions).
func TestCorpusCoverage(t *testing.T) {
	if n := len(manifestFiles(t)); n < 40 {
		t.Errorf("the corpus has %d manifest files, want at least 40", n)
	}
	seenRule := map[string]int{}
	seenAction := map[string]int{}
	byRuleAction := map[string]map[string]int{}
	for _, ds := range dataSets {
		for _, docs := range evaluateDocs(t, ds) {
			for _, doc := range docs {
				for _, set := range []struct {
					rule     string
					findings []rego.Finding
				}{{"deny", doc.Decision.Failures}, {"warn", doc.Decision.Warnings}, {"dryrun", doc.Decision.DryRun}} {
					for _, f := range set.findings {
						a := action(f, set.rule)
						if set.rule != "dryrun" {
							seenRule[f.Policy()]++
						}
						seenAction[a]++
						if byRuleAction[f.Policy()] == nil {
							byRuleAction[f.Policy()] = map[string]int{}
						}
						byRuleAction[f.Policy()][a]++
					}
				}
			}
		}
	}
	for _, id := range ruleIDs {
		if seenRule[id] == 0 {
			t.Errorf("no manifest and data set makes rule %s a failure or a warning", id)
		}
	}
	for _, a := range actions {
		if seenAction[a] == 0 {
			t.Errorf("no finding of the corpus has the action %s", a)
		}
	}
	for _, id := range ruleIDs {
		t.Logf("%-14s %v", id, byRuleAction[id])
	}
}
