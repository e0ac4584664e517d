// Package server assembles the running webhook process: the TLS webhook
// server, metrics and health endpoints and, with a cluster, a controller
// manager that feeds SLO budgets to the policies (every replica), measures
// SLOs against Prometheus (the leader) and records break-glass Events.
// `budgetgate serve`, `budgetgate demo` and the end-to-end tests all run it.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/budgetgate/budgetgate/certs"
	"github.com/budgetgate/budgetgate/rego"
	"github.com/budgetgate/budgetgate/slo"
	"github.com/budgetgate/budgetgate/slo/api/v1alpha1"
	"github.com/budgetgate/budgetgate/webhook"
)

// Options configure Run.
type Options struct {
	Engine  *rego.Engine
	Webhook webhook.Options
	Log     logr.Logger

	// Host and Port the webhooks listen on; CertDir holds tls.crt and tls.key.
	Host    string
	Port    int
	CertDir string
	// MetricsAddr serves /metrics, HealthAddr /healthz and /readyz; "0" disables.
	MetricsAddr, HealthAddr string

	// Cluster, when set, runs the controller manager; nil is standalone
	// (budgets come from the data document).
	Cluster *ClusterOptions
	// Ready, if set, is closed once the webhooks serve (and, with a
	// cluster, the budgets are synced).
	Ready chan<- struct{}
}

// ClusterOptions configure the parts that need a Kubernetes API.
type ClusterOptions struct {
	Config *rest.Config
	// Prometheus, when set, makes the leader measure SLOs; without it the
	// replica only reads budgets other replicas (or tools) wrote.
	Prometheus *slo.PrometheusOptions
	// Interval between measurements of one SLO; StaleAfter is how old a
	// measurement may be before budget-stale applies.
	Interval, StaleAfter time.Duration
	Thresholds           slo.Thresholds
	LeaderElection       bool
	// LeaderElectionNamespace holds the Lease (default: the pod's namespace).
	LeaderElectionNamespace string
	// SelfManagedCerts, when set, makes budgetgate issue, rotate and inject
	// its own serving certificate (certs package) into CertDir.
	SelfManagedCerts *certs.Options
}

// Run serves until ctx ends.
func Run(ctx context.Context, o Options) error {
	// Go and process metrics come with controller-runtime's registry, which
	// /metrics serves beside this one.
	reg := prometheus.NewRegistry()
	metrics := webhook.NewMetrics(reg)
	// The certificate is loaded when it appears in CertDir and reloaded when
	// it changes; until then handshakes fail and /readyz says why.
	certFiles := &certs.FileSource{Dir: o.CertDir, Log: o.Log.WithName("certs"), Registerer: reg}
	server := ctrlwebhook.NewServer(ctrlwebhook.Options{Host: o.Host, Port: o.Port, CertDir: o.CertDir,
		TLSOpts: []func(*tls.Config){certFiles.ConfigureTLS}})
	wh := webhook.Config{Engine: o.Engine, Options: o.Webhook, Log: o.Log, Metrics: metrics}

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return certFiles.Start(ctx) })
	var budgetsSynced atomic.Bool
	if o.Cluster == nil {
		budgetsSynced.Store(true) // the data document is all there is
		webhook.Register(server, wh)
		g.Go(func() error { return server.Start(ctx) })
	} else {
		mgr, err := newManager(o, server, &budgetsSynced)
		if err != nil {
			return err
		}
		wh.Events = mgr.GetEventRecorder("budgetgate")
		webhook.Register(server, wh)
		g.Go(func() error { return mgr.Start(ctx) })
	}

	started := server.StartedChecker()
	ready := func(r *http.Request) []string {
		var problems []string
		if o.Engine.Current() == nil {
			problems = append(problems, "policies: no policy set loaded")
		}
		if err := certFiles.Ready(); err != nil {
			problems = append(problems, "serving certificate: "+err.Error())
		}
		if err := started(r); err != nil {
			problems = append(problems, "webhook server: "+err.Error())
		}
		if !budgetsSynced.Load() {
			problems = append(problems, "budgets: ServiceLevelObjectives not synced yet")
		}
		return problems
	}
	if o.HealthAddr != "0" {
		health := http.NewServeMux()
		health.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
		health.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
			if problems := ready(r); len(problems) > 0 {
				http.Error(w, strings.Join(problems, "\n"), http.StatusServiceUnavailable)
				return
			}
			fmt.Fprintf(w, "ok: policies from %s\n", o.Engine.Current().Source)
		})
		g.Go(func() error { return listen(ctx, o.Log, "health", o.HealthAddr, health) })
	}
	if o.MetricsAddr != "0" {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(prometheus.Gatherers{reg, crmetrics.Registry}, promhttp.HandlerOpts{}))
		g.Go(func() error { return listen(ctx, o.Log, "metrics", o.MetricsAddr, mux) })
	}
	if o.Ready != nil {
		g.Go(func() error { return signalReady(ctx, ready, o.Ready) })
	}
	o.Log.Info("serving", "webhookPort", o.Port, "metricsAddr", o.MetricsAddr, "healthAddr", o.HealthAddr,
		"failureMode", o.Webhook.FailureMode, "cluster", o.Cluster != nil)
	err := g.Wait()
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func newManager(o Options, server ctrlwebhook.Server, synced *atomic.Bool) (ctrl.Manager, error) {
	c := o.Cluster
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	mgr, err := ctrl.NewManager(c.Config, ctrl.Options{
		Scheme:                        scheme,
		Logger:                        o.Log,
		WebhookServer:                 server,
		Metrics:                       metricsserver.Options{BindAddress: "0"}, // served with ours
		HealthProbeBindAddress:        "0",
		LeaderElection:                c.LeaderElection,
		LeaderElectionID:              "budgetgate-slo-controller",
		LeaderElectionNamespace:       c.LeaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		if c.LeaderElection && c.LeaderElectionNamespace == "" {
			return nil, fmt.Errorf("creating the controller manager: %w (outside a cluster pass --leader-election-namespace, or --leader-elect=false)", err)
		}
		return nil, fmt.Errorf("creating the controller manager: %w", err)
	}
	mgr.GetWebhookServer() // adds WebhookServer to the manager's runnables
	sync := &slo.BudgetSync{
		Cache: mgr.GetCache(), Data: o.Engine, StaleAfter: c.StaleAfter,
		Refresh: 15 * time.Second, Debounce: 100 * time.Millisecond, Now: time.Now,
		Log: o.Log.WithName("budgets"), Synced: func() { synced.Store(true) },
	}
	if err := mgr.Add(sync); err != nil {
		return nil, err
	}
	if c.SelfManagedCerts != nil {
		if err := certs.SetupWithManager(mgr, *c.SelfManagedCerts); err != nil {
			return nil, err
		}
	}
	if c.Prometheus == nil {
		o.Log.Info("no --prometheus-url: this replica does not measure SLOs, it only reads their status")
		return mgr, nil
	}
	api, err := slo.NewPrometheusAPI(*c.Prometheus)
	if err != nil {
		return nil, err
	}
	controller := &slo.Controller{
		Client: mgr.GetClient(), Measurer: &slo.Evaluator{API: api},
		Interval: c.Interval, StaleAfter: c.StaleAfter, Thresholds: c.Thresholds,
		Now: time.Now, Log: o.Log.WithName("slo"),
	}
	if err := controller.SetupWithManager(mgr); err != nil {
		return nil, err
	}
	return mgr, nil
}

func signalReady(ctx context.Context, ready func(*http.Request) []string, done chan<- struct{}) error {
	for len(ready(nil)) > 0 {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(50 * time.Millisecond):
		}
	}
	close(done)
	return nil
}

// listen serves h on addr until ctx ends, then shuts down gracefully.
func listen(ctx context.Context, log logr.Logger, name, addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s server: %w", name, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Info("listening", "server", name, "addr", ln.Addr().String())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s server: %w", name, err)
	}
	return nil
}
