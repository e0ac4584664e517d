package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/budgetgate/budgetgate/rego"
	"github.com/budgetgate/budgetgate/server"
	"github.com/budgetgate/budgetgate/slo"
	"github.com/budgetgate/budgetgate/webhook"
)

type serveFlags struct {
	policyFlags
	certDir, metricsAddr, healthAddr string
	port                             int
	failureMode, logLevel            string
	evalTimeout                      time.Duration

	kubeconfig      string
	standalone      bool
	prometheus      slo.PrometheusOptions
	sloInterval     time.Duration
	staleAfter      time.Duration
	leaderElect     bool
	leaderNamespace string

	namespace        string
	policyConfigMaps bool
	reloadInterval   time.Duration
	certs            certFlags
}

func newServeCommand() *cobra.Command {
	f := serveFlags{}
	defaults := webhook.DefaultOptions()
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the validating (/validate) and mutating (/mutate) admission webhooks",
		Long: `serve runs the admission webhooks over TLS (tls.crt and tls.key in --cert-dir,
reloaded when they change), Prometheus metrics, and health endpoints.

With a cluster (in-cluster, --kubeconfig or $KUBECONFIG) it also keeps the
ServiceLevelObjectives' budgets in the policies' data (every replica) and,
with --prometheus-url, measures them on an interval (the elected leader).

Without a cluster, or with --standalone, budgets and config come from --data
documents (the shape of 'budgetgate budget -o data'): for local use and
benchmarks.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			mode, err := webhook.ParseFailureMode(f.failureMode)
			if err != nil {
				return badInput(err)
			}
			if err := f.validateDurations(); err != nil {
				return badInput(err)
			}
			log, err := newLogger(f.logLevel, cmd.ErrOrStderr())
			if err != nil {
				return badInput(err)
			}
			data, err := rego.ReadData(f.data)
			if err != nil {
				return badInput(err)
			}
			engine, err := f.engineWith(cmd.Context(), data)
			if err != nil {
				return badInput(err)
			}
			cluster, err := f.clusterOptions(data)
			if err != nil {
				return badInput(err)
			}
			selfManaged, err := f.certs.selfManaged(f.certDir, f.namespace, cluster != nil)
			if err != nil {
				return badInput(err)
			}
			if selfManaged != nil {
				cluster.SelfManagedCerts = selfManaged
				// One replica writes the Secret: the elected leader.
				cluster.LeaderElection = f.leaderElect
				if cluster.LeaderElectionNamespace == "" {
					cluster.LeaderElectionNamespace = selfManaged.Namespace
				}
			} else if _, err := os.Stat(f.certDir); err != nil {
				return badInput(fmt.Errorf("--cert-dir: %w: put the serving certificate tls.crt and its key tls.key there, or use --cert-mode=self-managed", err))
			}
			set := engine.Current()
			log.Info("policies loaded", "source", set.Source, "files", len(set.Files))
			sources := &server.PolicySources{Base: f.files, DataFiles: f.data, Interval: f.reloadInterval}
			if cluster != nil && f.policyConfigMaps {
				sources.ConfigMapNamespace = f.namespace
			}
			return server.Run(cmd.Context(), server.Options{
				Engine: engine, Webhook: webhook.Options{Timeout: f.evalTimeout, FailureMode: mode}, Log: log,
				Port: f.port, CertDir: f.certDir, MetricsAddr: f.metricsAddr, HealthAddr: f.healthAddr,
				Policies: sources, Cluster: cluster,
			})
		},
	}
	fl := cmd.Flags()
	f.addPoliciesFlag(cmd)
	fl.StringArrayVarP(&f.data, "data", "d", nil, "data document (YAML or JSON): config, and budgets when standalone; repeatable")
	fl.StringVar(&f.certDir, "cert-dir", "/tmp/k8s-webhook-server/serving-certs", "folder with the serving certificate tls.crt and key tls.key")
	fl.IntVar(&f.port, "port", 9443, "HTTPS port of the webhooks")
	fl.StringVar(&f.metricsAddr, "metrics-addr", ":8080", "address of the Prometheus /metrics endpoint (\"0\" disables it)")
	fl.StringVar(&f.healthAddr, "health-addr", ":8081", "address of /healthz and /readyz (\"0\" disables them)")
	fl.StringVar(&f.failureMode, "failure-mode", string(defaults.FailureMode), "when policies cannot be evaluated: deny (refuse the request) or allow (admit it with a warning)")
	fl.DurationVar(&f.evalTimeout, "eval-timeout", defaults.Timeout, "longest a policy evaluation may take before the failure mode applies")
	fl.StringVar(&f.logLevel, "log-level", "info", "info or debug (debug logs every admission)")
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig of the cluster (default: in-cluster, or $KUBECONFIG)")
	fl.BoolVar(&f.standalone, "standalone", false, "run without a cluster even if one is configured")
	fl.StringVar(&f.prometheus.URL, "prometheus-url", "", "Prometheus to measure SLOs against, e.g. http://prometheus.monitoring:9090 (the leader measures)")
	fl.DurationVar(&f.prometheus.Timeout, "prometheus-timeout", 10*time.Second, "timeout of one Prometheus query")
	fl.StringVar(&f.prometheus.BearerTokenFile, "prometheus-bearer-token-file", "", "file with a bearer token for Prometheus (read on every request)")
	fl.StringVar(&f.prometheus.CAFile, "prometheus-ca-file", "", "CA bundle that signs Prometheus' certificate")
	fl.DurationVar(&f.sloInterval, "slo-interval", time.Minute, "how often each SLO is measured")
	fl.DurationVar(&f.staleAfter, "stale-after", 10*time.Minute, "age of the last measurement after which a budget is stale (budget-stale)")
	fl.BoolVar(&f.leaderElect, "leader-elect", true, "elect one replica to measure SLOs and, self-managed, rotate certificates (with a cluster)")
	fl.StringVar(&f.leaderNamespace, "leader-election-namespace", "", "namespace of the leader election Lease (default: the pod's)")
	fl.StringVar(&f.namespace, "namespace", ownNamespace(), "budgetgate's own namespace: its policy ConfigMaps and, self-managed, its certificate Secret and webhook Service (default: the pod's, else budgetgate-system)")
	fl.BoolVar(&f.policyConfigMaps, "policy-configmaps", true, "with a cluster, also load the .rego keys of ConfigMaps labelled budgetgate.dev/policy=true in --namespace")
	fl.DurationVar(&f.reloadInterval, "reload-interval", 2*time.Second, "how often --policies and --data files are checked for changes (ConfigMap changes apply at once)")
	f.certs.register(fl)
	return cmd
}

// validateDurations refuses durations that would silently break serving: a
// zero eval timeout denies everything, a zero interval measures once.
func (f *serveFlags) validateDurations() error {
	for _, d := range []struct {
		flag  string
		value time.Duration
	}{
		{"--eval-timeout", f.evalTimeout}, {"--slo-interval", f.sloInterval},
		{"--stale-after", f.staleAfter}, {"--prometheus-timeout", f.prometheus.Timeout},
		{"--reload-interval", f.reloadInterval},
	} {
		if d.value <= 0 {
			return fmt.Errorf("%s must be longer than zero, got %s", d.flag, d.value)
		}
	}
	return nil
}

// clusterOptions decides between standalone and cluster mode: a cluster is
// used when one is configured (--kubeconfig, $KUBECONFIG, in-cluster).
func (f *serveFlags) clusterOptions(data map[string]any) (*server.ClusterOptions, error) {
	if f.standalone {
		return nil, nil
	}
	cfg, err := clusterRESTConfig(f.kubeconfig)
	if cfg == nil || err != nil {
		return nil, err
	}
	c := &server.ClusterOptions{
		Config: cfg, Interval: f.sloInterval, StaleAfter: f.staleAfter,
		Thresholds: thresholds(data), LeaderElectionNamespace: f.leaderNamespace,
	}
	// Only measuring SLOs needs a leader; replicas that only read budgets don't.
	if f.prometheus.URL != "" {
		c.Prometheus = &f.prometheus
		c.LeaderElection = f.leaderElect
	}
	return c, nil
}

func clusterRESTConfig(kubeconfig string) (*rest.Config, error) {
	switch {
	case kubeconfig != "":
		cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("--kubeconfig: %w", err)
		}
		return cfg, nil
	case os.Getenv("KUBECONFIG") != "" || os.Getenv("KUBERNETES_SERVICE_HOST") != "":
		cfg, err := ctrl.GetConfig()
		if err != nil {
			return nil, fmt.Errorf("loading the cluster configuration: %w (pass --standalone to run without a cluster)", err)
		}
		return cfg, nil
	}
	return nil, nil
}

// thresholds reads canaryBelow and freezeBelow from the config data document,
// so the SLO states the controller writes agree with the policies.
func thresholds(data map[string]any) slo.Thresholds {
	t := slo.DefaultThresholds()
	bg, _ := data["budgetgate"].(map[string]any)
	config, _ := bg["config"].(map[string]any)
	if v, ok := number(config["canaryBelow"]); ok {
		t.CanaryBelow = v
	}
	if v, ok := number(config["freezeBelow"]); ok {
		t.FreezeBelow = v
	}
	return t
}

// number reads a data document number (manifest.Decode keeps json.Number).
func number(v any) (float64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	f, err := n.Float64()
	return f, err == nil
}

func newLogger(level string, w io.Writer) (logr.Logger, error) {
	var l slog.Level
	switch level {
	case "info":
		l = slog.LevelInfo
	case "debug":
		l = slog.LevelDebug
	default:
		return logr.Logger{}, fmt.Errorf("--log-level must be info or debug, not %q", level)
	}
	log := logr.FromSlogHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
	ctrllog.SetLogger(log) // controller-runtime logs through it too
	return log, nil
}
