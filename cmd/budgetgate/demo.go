package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"

	"github.com/budgetgate/budgetgate/examples"
	"github.com/budgetgate/budgetgate/localcluster"
	"github.com/budgetgate/budgetgate/manifest"
	"github.com/budgetgate/budgetgate/rego"
	"github.com/budgetgate/budgetgate/slo"
	"github.com/budgetgate/budgetgate/webhook"
)

// assetsScript builds the control plane binaries from the Go module proxy.
const assetsScript = "hack/envtest-assets.sh"

func newDemoCommand() *cobra.Command {
	var (
		pf     policyFlags
		assets string
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run budgetgate's webhooks in a local control plane and apply the example workloads",
		Long: `demo starts a real kube-apiserver and etcd on this machine (no cluster, no
containers), registers budgetgate's webhooks in it, applies the bundled example
workloads with kubectl, prints what happened to each (allowed, denied with the
reasons, forced into canary, warned) and shuts everything down.

The control plane binaries come from --assets, else $KUBEBUILDER_ASSETS, else
they are built once by hack/envtest-assets.sh (run from a budgetgate clone;
the first build takes 10 to 15 minutes on 2 cores, later runs seconds).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			// examples/data.yaml gives the policies their config and the
			// SLOs their measured budgets, as Prometheus would in a cluster.
			data, err := exampleData()
			if err != nil {
				return badInput(err)
			}
			engine, err := pf.engineWith(cmd.Context(), data)
			if err != nil {
				return badInput(err)
			}
			dir, err := resolveAssets(cmd.Context(), assets, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			err = runDemo(cmd.Context(), out, dir, engine, budgetsOf(data))
			if cmd.Context().Err() != nil {
				// Ctrl-C: everything started has been stopped.
				fmt.Fprintln(out, "interrupted: the control plane and webhooks are stopped")
				return &exitError{code: exitInterrupted}
			}
			return err
		},
	}
	pf.addPoliciesFlag(cmd)
	cmd.Flags().StringVar(&assets, "assets", "", "folder with kube-apiserver, etcd and kubectl")
	return cmd
}

// exampleData is examples/data.yaml.
func exampleData() (map[string]any, error) {
	text, err := fs.ReadFile(examples.FS, "data.yaml")
	if err != nil {
		return nil, err
	}
	docs, err := manifest.Decode("examples/data.yaml", text)
	if err != nil {
		return nil, err
	}
	if len(docs) != 1 {
		return nil, fmt.Errorf("examples/data.yaml holds %d documents, want 1", len(docs))
	}
	return docs[0].Object, nil
}

func resolveAssets(ctx context.Context, flag string, progress io.Writer) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if env := os.Getenv("KUBEBUILDER_ASSETS"); env != "" {
		return env, nil
	}
	if _, err := os.Stat(assetsScript); err != nil {
		return "", badInput(fmt.Errorf("no control plane binaries: pass --assets DIR, set KUBEBUILDER_ASSETS, or run the demo from a budgetgate clone so %s can build them", assetsScript))
	}
	fmt.Fprintf(progress, "building the control plane binaries with %s (once; cached afterwards)...\n", assetsScript)
	cmd := exec.CommandContext(ctx, "bash", assetsScript)
	cmd.Stderr = progress
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s failed: %w", assetsScript, err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1], nil
}

func runDemo(ctx context.Context, out io.Writer, assets string, engine *rego.Engine, budgets map[string]any) (err error) {
	fmt.Fprintf(out, "starting etcd and kube-apiserver from %s with budgetgate's webhooks...\n", assets)
	start := time.Now()
	cluster, err := localcluster.Start(ctx, localcluster.Options{AssetsDir: assets, Engine: engine, Webhook: webhook.DefaultOptions(), Log: logr.Discard()})
	if err != nil {
		return err
	}
	defer func() {
		fmt.Fprintln(out, "\nstopping the control plane...")
		err = errors.Join(err, cluster.Stop())
	}()
	fmt.Fprintf(out, "up in %s\n", time.Since(start).Round(100*time.Millisecond))

	if r := cluster.Kubectl(ctx, nil, "create", "namespace", "shop"); r.Err != nil {
		return fmt.Errorf("creating namespace shop: %s", r.Stderr)
	}
	if err := installSLOs(ctx, out, cluster, engine, budgets); err != nil {
		return err
	}
	names, err := fs.Glob(examples.FS, "workloads/*.yaml")
	if err != nil {
		return err
	}
	for _, name := range names {
		text, err := fs.ReadFile(examples.FS, name)
		if err != nil {
			return err
		}
		docs, err := manifest.Decode("examples/"+name, text)
		if err != nil {
			return err
		}
		for _, doc := range docs {
			if ctx.Err() != nil {
				return nil // interrupted: shut down cleanly
			}
			if err := applyAndReport(ctx, out, cluster, doc); err != nil {
				return err
			}
		}
	}
	return nil
}

// applyAndReport applies one document as a user would and says what budgetgate did.
func applyAndReport(ctx context.Context, out io.Writer, cluster *localcluster.Cluster, doc manifest.Document) error {
	body, err := json.Marshal(doc.Object)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\n$ kubectl apply -f %s   # %s\n", doc.File, doc.Name())
	r := cluster.Kubectl(ctx, body, "apply", "-f", "-")
	warnings := warningLines(r.Stderr)
	if r.Err != nil {
		if _, reasons, found := strings.Cut(r.Stderr, "denied the request: "); found {
			fmt.Fprintln(out, "  DENIED")
			for _, line := range strings.Split(strings.TrimSpace(reasons), "\n")[1:] {
				fmt.Fprintln(out, "    "+line)
			}
			for _, w := range warnings {
				fmt.Fprintln(out, "    warning: "+w)
			}
			return nil
		}
		return fmt.Errorf("kubectl apply %s: %s", doc.Name(), r.Stderr)
	}
	kind, _ := doc.Object["kind"].(string)
	meta, _ := doc.Object["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	ns, _ := meta["namespace"].(string)
	stored := cluster.Kubectl(ctx, nil, "get", "-n", ns, kind, name, "-o",
		`jsonpath={.metadata.annotations.budgetgate\.dev/canary}{"\t"}{.spec.strategy}{"\t"}{.spec.minReadySeconds}`)
	fields := strings.Split(stored.Stdout, "\t")
	switch {
	case len(fields) == 3 && fields[0] != "":
		fmt.Fprintf(out, "  FORCED INTO CANARY (budgetgate.dev/canary=%s)\n    stored spec.strategy: %s, spec.minReadySeconds: %s\n", fields[0], fields[1], fields[2])
	case len(warnings) > 0:
		fmt.Fprintln(out, "  ALLOWED WITH WARNINGS")
	default:
		fmt.Fprintln(out, "  ALLOWED")
	}
	for _, w := range warnings {
		fmt.Fprintln(out, "    "+w)
	}
	return nil
}

func warningLines(stderr string) []string {
	var out []string
	for _, line := range strings.Split(stderr, "\n") {
		if w, ok := strings.CutPrefix(line, "Warning: "); ok {
			out = append(out, w)
		}
	}
	return out
}

// budgetsOf is data.budgetgate.budgets of a data document, by "namespace/name".
func budgetsOf(data map[string]any) map[string]any {
	bg, _ := data["budgetgate"].(map[string]any)
	budgets, _ := bg["budgets"].(map[string]any)
	return budgets
}

// installSLOs applies examples/slos.yaml and, standing in for the SLO
// controller and Prometheus, writes each one's measured budget to its status.
func installSLOs(ctx context.Context, out io.Writer, cluster *localcluster.Cluster, engine *rego.Engine, budgets map[string]any) error {
	text, err := fs.ReadFile(examples.FS, "slos.yaml")
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "\n$ kubectl apply -f examples/slos.yaml   # budgets as if measured in Prometheus:")
	if r := cluster.Kubectl(ctx, text, "apply", "-f", "-"); r.Err != nil {
		return fmt.Errorf("applying examples/slos.yaml: %s", r.Stderr)
	}
	docs, err := manifest.Decode("examples/slos.yaml", text)
	if err != nil {
		return err
	}
	now := time.Now().UTC().Format(time.RFC3339)
	for _, doc := range docs {
		meta, _ := doc.Object["metadata"].(map[string]any)
		name, _ := meta["name"].(string)
		b, _ := budgets["shop/"+name].(map[string]any)
		remaining, ok := number(b["remaining"])
		if !ok {
			continue
		}
		status := fmt.Sprintf(`{"status":{"remaining":%g,"remainingPercent":%q,"state":%q,"evaluatedAt":%q}}`,
			remaining, slo.Percent(remaining), slo.State(remaining, slo.DefaultThresholds()), now)
		if r := cluster.Kubectl(ctx, nil, "patch", "-n", "shop", "servicelevelobjective", name, "--subresource=status", "--type=merge", "-p", status); r.Err != nil {
			return fmt.Errorf("setting the status of SLO %s: %s", name, r.Stderr)
		}
	}
	r := cluster.Kubectl(ctx, nil, "get", "slo", "-n", "shop")
	fmt.Fprint(out, indent(r.Stdout))
	// The webhook reads budgets from its informer cache: wait until every
	// measured SLO has reached the policies' data.
	deadline := time.Now().Add(10 * time.Second)
	for {
		synced, err := engine.Data(ctx, slo.BudgetsPath)
		if err != nil {
			return err
		}
		if m, _ := synced.(map[string]any); len(m) == len(docs) && allMeasured(m) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the SLOs' budgets did not reach the webhook within 10s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func allMeasured(budgets map[string]any) bool {
	for _, b := range budgets {
		if entry, _ := b.(map[string]any); entry["remaining"] == nil {
			return false
		}
	}
	return true
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return "  " + strings.Join(lines, "\n  ") + "\n"
}
