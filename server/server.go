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
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/budgetgate/budgetgate/certs"
	"github.com/budgetgate/budgetgate/datasync"
	"github.com/budgetgate/budgetgate/rego"
	"github.com/budgetgate/budgetgate/reload"
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

	// Policies, when set, reloads the policy set and data documents when
	// their sources change; nil keeps the set Engine has.
	Policies *PolicySources
	// Cluster, when set, runs the controller manager; nil is standalone
	// (budgets come from the data document).
	Cluster *ClusterOptions
	// Ready, if set, is closed once the webhooks serve (and, with a
	// cluster, the budgets are synced).
	Ready chan<- struct{}
}

// PolicySources name what the policy set and data documents are read from.
type PolicySources struct {
	// Base reads the base set: the embedded library or a --policies folder.
	Base      func() (rego.Files, string, error)
	DataFiles []string
	// ConfigMapNamespace, with a cluster, adds the policies of the
	// ConfigMaps labelled budgetgate.dev/policy=true there ("" for none).
	ConfigMapNamespace string
	// Interval between checks of the sources for changes.
	Interval time.Duration
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

	var reloader *reload.Reloader
	if p := o.Policies; p != nil {
		reloader = &reload.Reloader{
			Engine: o.Engine, Base: p.Base, DataFiles: p.DataFiles, Interval: p.Interval,
			Metrics: reload.NewMetrics(reg), Log: o.Log.WithName("policies"),
		}
	}

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return certFiles.Start(ctx) })
	var budgetsSynced, namespacesSynced atomic.Bool
	if o.Cluster == nil {
		// the data document is all there is
		budgetsSynced.Store(true)
		namespacesSynced.Store(true)
		webhook.Register(server, wh)
		g.Go(func() error { return server.Start(ctx) })
		if reloader != nil {
			g.Go(func() error { return reloader.Start(ctx) })
		}
	} else {
		mgr, err := newManager(o, server, reloader, &budgetsSynced, &namespacesSynced)
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
		if reloader != nil && !reloader.Status().Attempted {
			problems = append(problems, "policies: sources not read yet")
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
		if !namespacesSynced.Load() {
			problems = append(problems, "namespaces: tiers not synced yet")
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
			// A refused policy change is reported, but the replica stays
			// ready: the previous set serves, and taking every replica out
			// of the Service would fail every admission instead.
			if reloader != nil {
				fmt.Fprintf(w, "ok\n%s\n", reloader.Status().Describe())
				return
			}
			fmt.Fprintf(w, "ok\npolicies: from %s\n", o.Engine.Current().Source)
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

func newManager(o Options, server ctrlwebhook.Server, reloader *reload.Reloader, budgetsSynced, namespacesSynced *atomic.Bool) (ctrl.Manager, error) {
	c := o.Cluster
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	var byObject map[client.Object]cache.ByObject
	if reloader != nil && o.Policies.ConfigMapNamespace != "" {
		// Only the labelled ConfigMaps of one namespace: neither the memory
		// nor the RBAC of a cluster-wide ConfigMap watch.
		byObject = map[client.Object]cache.ByObject{&corev1.ConfigMap{}: {
			Namespaces: map[string]cache.Config{o.Policies.ConfigMapNamespace: {}},
			Label:      labels.SelectorFromSet(labels.Set{reload.PolicyLabel: "true"}),
		}}
	}
	mgr, err := ctrl.NewManager(c.Config, ctrl.Options{
		Scheme:                        scheme,
		Cache:                         cache.Options{ByObject: byObject},
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
	syncs := []*datasync.Sync{{
		Object: &v1alpha1.ServiceLevelObjective{}, Path: slo.BudgetsPath,
		Build: slo.BudgetsFrom(mgr.GetCache(), c.StaleAfter, time.Now),
		// The refresh turns budgets stale when the controller stops writing.
		Refresh: 15 * time.Second, Log: o.Log.WithName("budgets"),
		Synced: func() { budgetsSynced.Store(true) },
	}, {
		Object: &corev1.Namespace{}, Path: datasync.NamespacesPath,
		Build:   datasync.Namespaces(mgr.GetCache()),
		Refresh: 5 * time.Minute, Log: o.Log.WithName("namespaces"),
		Synced: func() { namespacesSynced.Store(true) },
	}}
	for _, s := range syncs {
		s.Cache, s.Data, s.Debounce = mgr.GetCache(), o.Engine, 100*time.Millisecond
		if err := mgr.Add(s); err != nil {
			return nil, err
		}
	}
	if reloader != nil {
		if ns := o.Policies.ConfigMapNamespace; ns != "" {
			reloader.ConfigMaps = &reload.ConfigMaps{
				Cache: mgr.GetCache(), Client: mgr.GetClient(), Namespace: ns, Log: o.Log.WithName("policies"),
			}
		}
		if err := mgr.Add(reloader); err != nil {
			return nil, err
		}
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
