// Package parity checks that the shipped policy library gives the same
// verdicts in the three places it runs (DESIGN.md: "the same Rego runs
// unchanged"): plain `conftest test`, `budgetgate check`, and the cluster's
// admission webhooks behind a real kube-apiserver.
//
// For every manifest of tests/testdata/parity/manifests and every data set
// of tests/testdata/parity/data (a config document and a budgets document,
// passed as two --data files):
//
//   - TestConftestParity runs conftest (CONFTEST_BIN, built by
//     hack/conftest.sh) and budgetgate check (built once here) with -o json
//     and compares, file for file, the failures and warnings (rule id and
//     message) and the exit codes;
//   - TestWebhookParity applies the manifest with `kubectl apply
//     --dry-run=server` to a real API server (KUBEBUILDER_ASSETS, built by
//     hack/envtest-assets.sh) whose webhooks run the same library with the
//     same config and budgets, and checks that the API server refuses it iff
//     CI reports a failure and prints warnings iff CI reports warnings, for
//     the same rule ids;
//   - TestCorpusCoverage checks that the corpus exercises every rule id and
//     every action.
//
// In CI (CI set) a missing conftest or control plane fails the suite; on a
// developer's machine those tests skip and say how to get them.
package parity

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

var (
	// root is the repository's root: commands run there, with the relative
	// paths conftest and budgetgate print as file names.
	root string
	// budgetgateBin is `go build ./cmd/budgetgate`, built once by TestMain.
	budgetgateBin string
)

// Counters for the summary TestMain prints.
var stats struct {
	conftestPairs, conftestFindings atomic.Int64
	webhookPairs, webhookFindings   atomic.Int64
	canaryObjects                   atomic.Int64
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	root = filepath.Join(wd, "..", "..")
	tmp, err := os.MkdirTemp("", "budgetgate-parity-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)

	// The real binary, not an in-process call: flag parsing, output and exit
	// codes are part of what CI sees.
	start := time.Now()
	budgetgateBin = filepath.Join(tmp, "budgetgate")
	build := exec.Command("go", "build", "-o", budgetgateBin, "./cmd/budgetgate")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building budgetgate: %v\n%s", err, out)
		return 1
	}
	fmt.Fprintf(os.Stderr, "parity: built budgetgate in %s\n", time.Since(start).Round(time.Millisecond))

	start = time.Now()
	code := m.Run()
	fmt.Fprintf(os.Stderr, "parity: %d manifest files x %d data sets; conftest vs budgetgate check: %d pairs, %d findings compared; "+
		"webhook vs CI: %d pairs, %d findings compared, %d canaried objects checked; %s on %d CPUs\n",
		len(manifestFiles(nil)), len(dataSets),
		stats.conftestPairs.Load(), stats.conftestFindings.Load(),
		stats.webhookPairs.Load(), stats.webhookFindings.Load(), stats.canaryObjects.Load(),
		time.Since(start).Round(time.Second), runtime.NumCPU())
	return code
}

// requireEnv returns the environment variable's value. Where it is unset,
// the test fails in CI (which must run every part of the suite) and skips
// elsewhere with how to set it.
func requireEnv(t *testing.T, name, how string) string {
	t.Helper()
	v := os.Getenv(name)
	if v != "" {
		return v
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not set: CI must run the parity suite (hack/test.sh sets it: %s)", name, how)
	}
	t.Skipf("skipping: %s is not set; run it with %s=%s", name, name, how)
	return ""
}
