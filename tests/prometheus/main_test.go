// Package prometheus_test measures SLOs against a real Prometheus (Debian's
// package; hack/test.sh installs it) on a request history backfilled with
// promtool, and runs the SLO controller against it in a real kube-apiserver.
package prometheus_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/budgetgate/budgetgate/tests/prometheus/promtest"
)

var (
	env    *promtest.Env
	shared *promtest.Server // read-only tests share it; TestController runs its own
)

func TestMain(m *testing.M) {
	if _, _, err := promtest.Binaries(); err != nil {
		if os.Getenv("CI") != "" {
			fmt.Fprintf(os.Stderr, "%v: CI must run the Prometheus suite (hack/test.sh installs it)\n", err)
			os.Exit(1)
		}
		fmt.Fprintf(os.Stderr, "skipping the Prometheus suite: %v\n", err)
		os.Exit(0)
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	env, err = promtest.NewEnv(time.Now())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer env.Close()
	fmt.Fprintf(os.Stderr, "promtool backfilled %s of history ending at T=%s in %s\n", promtest.History, env.T.Format(time.RFC3339), env.Backfill.Round(time.Millisecond))
	shared, err = env.Start(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer shared.Stop()
	fmt.Fprintf(os.Stderr, "prometheus ready at %s in %s\n", shared.URL, shared.Ready.Round(time.Millisecond))
	return m.Run()
}
