// Command budgetgate is the one binary: the admission webhooks (serve), the
// CI gate (check), error budgets (budget), a local demonstration (demo) and
// its version.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit codes of every command, as conftest uses them.
const (
	exitFailure  = 1 // a policy failed
	exitBadInput = 2 // unreadable or invalid input, broken policies, bad flags
	// exitInterrupted is the shell's code for a command ended by Ctrl-C.
	exitInterrupted = 130
)

// exitError carries an exit code up to main; its message is printed unless empty.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}

func badInput(err error) error { return &exitError{code: exitBadInput, err: err} }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command line and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCommand(stdin)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(stderr, "Error:", ee.err)
		}
		return ee.code
	}
	// cobra's own errors: unknown flags, wrong argument counts.
	fmt.Fprintln(stderr, "Error:", err)
	return exitBadInput
}

func newRootCommand(stdin io.Reader) *cobra.Command {
	root := &cobra.Command{
		Use:   "budgetgate",
		Short: "Error-budget policy and release requirements as code, at admission and in CI",
		Long: `budgetgate gates workload rollouts on their service's error budget and on
declarative release requirements, with the same Rego policies in the cluster
(admission webhooks), in CI (budgetgate check) and in plain conftest.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newCheckCommand(stdin), newServeCommand(), newDemoCommand(), newVersionCommand())
	root.AddCommand(newBudgetCommand())
	return root
}
