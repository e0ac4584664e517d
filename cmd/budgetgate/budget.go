package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/budgetgate/budgetgate/manifest"
	"github.com/budgetgate/budgetgate/rego"
	"github.com/budgetgate/budgetgate/slo"
	"github.com/budgetgate/budgetgate/slo/api/v1alpha1"
)

// budgetFormats are the output formats of `budgetgate budget`.
var budgetFormats = []string{"table", "json", "data"}

// budgetStaleAfter only decides the stale flag of -o data, where every
// budget was measured just now (fresh) or not at all (stale either way).
const budgetStaleAfter = 10 * time.Minute

type budgetFlags struct {
	prometheus    slo.PrometheusOptions
	files         []string
	output        string
	kubeconfig    string
	namespace     string
	allNamespaces bool
	// data names config documents whose canaryBelow/freezeBelow decide
	// the STATE column, as they do for the controller.
	data []string
}

func newBudgetCommand() *cobra.Command {
	f := budgetFlags{}
	cmd := &cobra.Command{
		Use:   "budget --prometheus-url URL [-f FILE]... [-o table|json|data]",
		Short: "Measure the error budgets of ServiceLevelObjectives in Prometheus",
		Long: `budget evaluates ServiceLevelObjectives against Prometheus now, as the SLO
controller does, and prints what is left of each error budget.

The SLOs come from the files and folders given with -f (documents of other
kinds are skipped; a document without a namespace is in -n's, else "default"),
or, without -f, from the cluster (kubeconfig as controller-runtime finds it:
--kubeconfig, $KUBECONFIG, in-cluster, ~/.kube/config; the namespace is -n's,
the kubeconfig context's, or every namespace with -A).

Output formats:
  table  one line per SLO; failed queries are printed below the table
  json   a list of objects with the same fields and the error
  data   the data document {"budgetgate": {"budgets": ...}} that policies
         read, for 'budgetgate check --data' and 'conftest test --data'; an
         SLO that could not be measured is in it as stale, without remaining

Exit codes: 0 every SLO was measured, 1 a query failed, 2 bad input (flags,
unreadable or invalid files with the file and line named, no cluster).`,
		Example: `  budgetgate budget --prometheus-url http://localhost:9090 -f slos/
  budgetgate budget --prometheus-url http://localhost:9090 -f slos/ -o data > budgets.json
  budgetgate check --data budgets.json deploy/
  budgetgate budget --prometheus-url https://prometheus.monitoring:9090 -A`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBudget(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.prometheus.URL, "prometheus-url", "", "base URL of Prometheus' HTTP API, e.g. http://prometheus.monitoring:9090 (required)")
	fl.DurationVar(&f.prometheus.Timeout, "prometheus-timeout", 10*time.Second, "longest one Prometheus query may take")
	fl.StringVar(&f.prometheus.BearerTokenFile, "prometheus-bearer-token-file", "", "file holding a bearer token for Prometheus, read on every request")
	fl.StringVar(&f.prometheus.CAFile, "prometheus-ca-file", "", "CA bundle (PEM) that signs Prometheus' certificate")
	fl.StringArrayVarP(&f.files, "filename", "f", nil, "file or folder of ServiceLevelObjective manifests (\"-\" for standard input); repeatable. Without it, the cluster's SLOs")
	fl.StringVarP(&f.output, "output", "o", "table", "output format: "+strings.Join(budgetFormats, "|"))
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (without -f)")
	fl.StringVarP(&f.namespace, "namespace", "n", "", "namespace of the SLOs (with -f: of those that name none)")
	fl.BoolVarP(&f.allNamespaces, "all-namespaces", "A", false, "SLOs of every namespace (without -f)")
	fl.StringArrayVarP(&f.data, "data", "d", nil, "data document with the config's canaryBelow/freezeBelow for the STATE column (as serve's --data); repeatable")
	return cmd
}

func runBudget(ctx context.Context, stdin io.Reader, out io.Writer, f budgetFlags) error {
	if !slices.Contains(budgetFormats, f.output) {
		return badInput(fmt.Errorf("unknown output format %q: use one of %s", f.output, strings.Join(budgetFormats, ", ")))
	}
	if f.allNamespaces && f.namespace != "" {
		return badInput(errors.New("-n/--namespace and -A/--all-namespaces exclude each other"))
	}
	if f.prometheus.Timeout <= 0 {
		return badInput(fmt.Errorf("--prometheus-timeout must be longer than zero, not %s", f.prometheus.Timeout))
	}
	api, err := slo.NewPrometheusAPI(f.prometheus)
	if err != nil {
		return badInput(err)
	}
	data, err := rego.ReadData(f.data)
	if err != nil {
		return badInput(err)
	}
	limits := thresholds(data)
	var slos []v1alpha1.ServiceLevelObjective
	if len(f.files) > 0 {
		if f.allNamespaces {
			return badInput(errors.New("-A/--all-namespaces lists the cluster's SLOs: it does not go with -f"))
		}
		slos, err = readSLOFiles(f.files, stdin, f.namespace)
	} else {
		slos, err = listSLOs(ctx, f)
	}
	if err != nil {
		return badInput(err)
	}
	sort.Slice(slos, func(i, j int) bool { return slo.Key(&slos[i]) < slo.Key(&slos[j]) })

	ev := &slo.Evaluator{API: api}
	now := time.Now()
	rows := make([]budgetRow, len(slos))
	failed := 0
	for i := range slos {
		s := &slos[i]
		e, err := ev.Evaluate(ctx, s.Spec, now)
		rows[i] = newBudgetRow(s, e, err, limits)
		// The data document is built from the status, as the webhook builds it
		// from the controller's: this measurement, or none.
		s.Status = v1alpha1.ServiceLevelObjectiveStatus{}
		if err != nil {
			failed++
			continue
		}
		remaining := e.Remaining
		s.Status.Remaining = &remaining
		s.Status.BurnRate1h, s.Status.BurnRate6h = e.BurnRate1h, e.BurnRate6h
		s.Status.EvaluatedAt = &metav1.Time{Time: e.At}
	}

	switch f.output {
	case "table":
		err = writeBudgetTable(out, rows)
	case "json":
		err = writeBudgetJSON(out, rows)
	case "data":
		err = writeBudgetJSON(out, map[string]any{"budgetgate": map[string]any{"budgets": slo.Budgets(slos, now, budgetStaleAfter)}})
	}
	if err != nil {
		return err
	}
	if failed > 0 {
		return &exitError{code: exitFailure, err: fmt.Errorf("%d of %d SLOs could not be measured", failed, len(slos))}
	}
	return nil
}

// readSLOFiles reads the ServiceLevelObjectives of files and folders,
// strictly: a field the CRD does not know is an error, with file and line.
func readSLOFiles(paths []string, stdin io.Reader, namespace string) ([]v1alpha1.ServiceLevelObjective, error) {
	docs, err := manifest.Read(paths, stdin)
	if err != nil {
		return nil, err
	}
	if namespace == "" {
		namespace = metav1.NamespaceDefault
	}
	kind := "ServiceLevelObjective"
	apiVersion := v1alpha1.GroupVersion.String()
	var slos []v1alpha1.ServiceLevelObjective
	seen := map[string]string{}
	for _, doc := range docs {
		if k, _ := doc.Object["kind"].(string); k != kind {
			continue
		}
		where := fmt.Sprintf("%s:%d", doc.File, doc.Line)
		if v, _ := doc.Object["apiVersion"].(string); v != apiVersion {
			return nil, fmt.Errorf("%s: %s: apiVersion %q is not one budgetgate reads: use %s", where, doc.Name(), v, apiVersion)
		}
		s, err := decodeSLO(doc.Object)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", where, doc.Name(), err)
		}
		if s.Namespace == "" {
			s.Namespace = namespace
		}
		if err := validateSLO(s); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", where, doc.Name(), err)
		}
		key := slo.Key(s)
		if first, dup := seen[key]; dup {
			return nil, fmt.Errorf("%s: ServiceLevelObjective %s is already declared at %s", where, key, first)
		}
		seen[key] = where
		slos = append(slos, *s)
	}
	if len(slos) == 0 {
		return nil, fmt.Errorf("no %s (%s) in %s", kind, apiVersion, strings.Join(paths, ", "))
	}
	return slos, nil
}

// sloDecoder is the API server's JSON decoder in strict mode: unknown and
// duplicate fields are errors that name the field's path.
var sloDecoder = func() runtime.Decoder {
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		panic(err)
	}
	return kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme, scheme, kjson.SerializerOptions{Strict: true})
}()

// decodeSLO decodes obj into the CRD type, refusing unknown fields as the
// API server does with fieldValidation=Strict.
func decodeSLO(obj map[string]any) (*v1alpha1.ServiceLevelObjective, error) {
	raw, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var s v1alpha1.ServiceLevelObjective
	if _, _, err := sloDecoder.Decode(raw, nil, &s); err != nil {
		return nil, err
	}
	if s.Name == "" {
		return nil, errors.New("metadata.name is missing")
	}
	return &s, nil
}

// validateSLO checks what the CRD's schema checks in a cluster.
func validateSLO(s *v1alpha1.ServiceLevelObjective) error {
	if o := s.Spec.Objective; o <= 0 || o >= 100 {
		return fmt.Errorf("spec.objective %v must be a percentage between 0 and 100, e.g. 99.9", o)
	}
	if _, err := slo.ParseWindow(s.Spec.Window); err != nil {
		return fmt.Errorf("spec.window: %w", err)
	}
	in := s.Spec.Indicator
	if (in.Ratio != nil) == (in.Remaining != "") {
		return errors.New("spec.indicator: set exactly one of ratio or remaining")
	}
	if in.Ratio != nil && (in.Ratio.Errors == "" || in.Ratio.Total == "") {
		return errors.New("spec.indicator.ratio: both errors and total are required")
	}
	return nil
}

// listSLOs reads the cluster's ServiceLevelObjectives.
func listSLOs(ctx context.Context, f budgetFlags) ([]v1alpha1.ServiceLevelObjective, error) {
	cfg, namespace, err := budgetClusterConfig(f.kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("no cluster to read ServiceLevelObjectives from (pass -f FILE to read them from files): %w", err)
	}
	if f.namespace != "" {
		namespace = f.namespace
	}
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("connecting to the cluster %s: %w", cfg.Host, err)
	}
	var opts []client.ListOption
	where := "in every namespace"
	if !f.allNamespaces {
		opts = append(opts, client.InNamespace(namespace))
		where = "in namespace " + namespace
	}
	var list v1alpha1.ServiceLevelObjectiveList
	if err := c.List(ctx, &list, opts...); err != nil {
		return nil, fmt.Errorf("listing ServiceLevelObjectives %s of %s: %w (is budgetgate's CRD installed? see manifests/)", where, cfg.Host, err)
	}
	return list.Items, nil
}

// budgetClusterConfig finds the cluster as controller-runtime's GetConfig does
// (--kubeconfig, $KUBECONFIG, in-cluster, ~/.kube/config), and the
// namespace as kubectl does (the context's, the pod's, else "default").
func budgetClusterConfig(kubeconfig string) (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	switch {
	case kubeconfig != "":
		rules = &clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig}
	case os.Getenv(clientcmd.RecommendedConfigPathEnvVar) == "":
		if cfg, err := rest.InClusterConfig(); err == nil {
			ns := metav1.NamespaceDefault
			if b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil && len(bytes.TrimSpace(b)) > 0 {
				ns = string(bytes.TrimSpace(b))
			}
			return cfg, ns, nil
		}
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", err
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, "", err
	}
	return cfg, ns, nil
}

// budgetRow is one SLO of the table and of -o json.
type budgetRow struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Objective is the spec's, in percent (99.9).
	Objective float64 `json:"objective"`
	Window    string  `json:"window"`
	// Remaining is the budget left as a ratio (negative when overspent).
	Remaining        *float64 `json:"remaining,omitempty"`
	RemainingPercent string   `json:"remainingPercent,omitempty"`
	// BudgetLeft is Remaining as time at full outage, AllowedDowntime the
	// whole budget; OverspentBy is set when Remaining is negative.
	BudgetLeft      string   `json:"budgetLeft,omitempty"`
	AllowedDowntime string   `json:"allowedDowntime,omitempty"`
	OverspentBy     string   `json:"overspentBy,omitempty"`
	BurnRate1h      *float64 `json:"burnRate1h,omitempty"`
	BurnRate6h      *float64 `json:"burnRate6h,omitempty"`
	// State is ok, canary, frozen, or error when Prometheus could not say.
	State       string `json:"state"`
	EvaluatedAt string `json:"evaluatedAt,omitempty"`
	Error       string `json:"error,omitempty"`
}

func newBudgetRow(s *v1alpha1.ServiceLevelObjective, e slo.Evaluation, evalErr error, limits slo.Thresholds) budgetRow {
	r := budgetRow{Namespace: s.Namespace, Name: s.Name, Objective: s.Spec.Objective, Window: s.Spec.Window}
	window, werr := slo.ParseWindow(s.Spec.Window)
	if werr == nil && s.Spec.Objective > 0 && s.Spec.Objective < 100 {
		r.AllowedDowntime = slo.AllowedDowntime(s.Spec.Objective/100, window).String()
	}
	if evalErr != nil {
		r.State, r.Error = slo.StateError, evalErr.Error()
		return r
	}
	remaining := e.Remaining
	r.Remaining, r.RemainingPercent = &remaining, slo.Percent(remaining)
	r.BurnRate1h, r.BurnRate6h = e.BurnRate1h, e.BurnRate6h
	r.EvaluatedAt = e.At.UTC().Format(time.RFC3339)
	r.State = slo.State(remaining, limits.For(s))
	if r.AllowedDowntime != "" {
		allowed := slo.AllowedDowntime(s.Spec.Objective/100, window)
		left := time.Duration(remaining * float64(allowed)).Round(time.Second)
		if left < 0 {
			r.OverspentBy = (-left).String()
			left = 0
		}
		r.BudgetLeft = left.String()
	}
	return r
}

func writeBudgetTable(out io.Writer, rows []budgetRow) error {
	if len(rows) == 0 {
		_, err := fmt.Fprintln(out, "No ServiceLevelObjectives found.")
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE/NAME\tOBJECTIVE\tWINDOW\tREMAINING\tBUDGET LEFT\tBURN 1h\tBURN 6h\tSTATE")
	var errs []string
	for _, r := range rows {
		remaining, left := "-", "-"
		if r.Remaining != nil {
			remaining = r.RemainingPercent
			if r.BudgetLeft != "" {
				left = r.BudgetLeft + " of " + r.AllowedDowntime
				if r.OverspentBy != "" {
					left += ", overspent by " + r.OverspentBy
				}
			}
		}
		fmt.Fprintf(tw, "%s/%s\t%s%%\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Namespace, r.Name,
			strconv.FormatFloat(r.Objective, 'f', -1, 64), r.Window, remaining, left,
			formatBurn(r.BurnRate1h), formatBurn(r.BurnRate6h), r.State)
		if r.Error != "" {
			errs = append(errs, fmt.Sprintf("  %s/%s: %s", r.Namespace, r.Name, r.Error))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(errs) > 0 {
		_, err := fmt.Fprintf(out, "\nErrors:\n%s\n", strings.Join(errs, "\n"))
		return err
	}
	return nil
}

func formatBurn(v *float64) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatFloat(*v, 'f', 2, 64)
}

func writeBudgetJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
