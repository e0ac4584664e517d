package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/budgetgate/budgetgate/rego"
	"github.com/budgetgate/budgetgate/webhook"
)

type serveFlags struct {
	policyFlags
	certDir     string
	port        int
	metricsAddr string
	healthAddr  string
	failureMode string
	evalTimeout time.Duration
	logLevel    string
}

func newServeCommand() *cobra.Command {
	f := serveFlags{}
	defaults := webhook.DefaultOptions()
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the validating (/validate) and mutating (/mutate) admission webhooks",
		Long: `serve runs the admission webhooks over TLS (tls.crt and tls.key in --cert-dir,
reloaded when they change), Prometheus metrics, and health endpoints.

It needs no cluster: budgets and config come from --data documents (the
shape of 'budgetgate budget -o data'), which is how it runs for local use
and benchmarks.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			mode, err := webhook.ParseFailureMode(f.failureMode)
			if err != nil {
				return badInput(err)
			}
			log, err := newLogger(f.logLevel, cmd.ErrOrStderr())
			if err != nil {
				return badInput(err)
			}
			engine, err := f.engine(cmd.Context())
			if err != nil {
				return badInput(err)
			}
			if _, err := os.Stat(f.certDir); err != nil {
				return badInput(fmt.Errorf("--cert-dir: %w: put tls.crt and tls.key there (see docs/install.md)", err))
			}
			set := engine.Current()
			log.Info("policies loaded", "source", set.Source, "files", len(set.Files))
			return serve(cmd.Context(), log, engine, f, webhook.Options{Timeout: f.evalTimeout, FailureMode: mode})
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.dir, "policies", "p", "", "folder of .rego policies (default: the embedded library)")
	fl.StringArrayVarP(&f.data, "data", "d", nil, "data document (YAML or JSON): budgets and config; repeatable")
	fl.StringVar(&f.certDir, "cert-dir", "/tmp/k8s-webhook-server/serving-certs", "folder with the serving certificate tls.crt and key tls.key")
	fl.IntVar(&f.port, "port", 9443, "HTTPS port of the webhooks")
	fl.StringVar(&f.metricsAddr, "metrics-addr", ":8080", "address of the Prometheus /metrics endpoint (\"0\" disables it)")
	fl.StringVar(&f.healthAddr, "health-addr", ":8081", "address of /healthz and /readyz")
	fl.StringVar(&f.failureMode, "failure-mode", string(defaults.FailureMode), "when policies cannot be evaluated: deny (refuse the request) or allow (admit it with a warning)")
	fl.DurationVar(&f.evalTimeout, "eval-timeout", defaults.Timeout, "longest a policy evaluation may take before the failure mode applies")
	fl.StringVar(&f.logLevel, "log-level", "info", "info or debug (debug logs every admission)")
	return cmd
}

func newLogger(level string, w interface{ Write([]byte) (int, error) }) (logr.Logger, error) {
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

// serve runs the webhook, metrics and health servers until ctx ends.
func serve(ctx context.Context, log logr.Logger, engine *rego.Engine, f serveFlags, opts webhook.Options) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := webhook.NewMetrics(reg)

	server := ctrlwebhook.NewServer(ctrlwebhook.Options{Port: f.port, CertDir: f.certDir})
	webhook.Register(server, engine, opts, log, metrics)

	health := http.NewServeMux()
	health.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	started := server.StartedChecker()
	health.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		var problems []string
		if set := engine.Current(); set == nil {
			problems = append(problems, "policies: no policy set loaded")
		}
		if err := started(r); err != nil {
			problems = append(problems, "webhook server: "+err.Error())
		}
		if len(problems) > 0 {
			http.Error(w, strings.Join(problems, "\n"), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "ok: policies from %s\n", engine.Current().Source)
	})

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return server.Start(ctx) })
	g.Go(func() error { return listen(ctx, log, "health", f.healthAddr, health) })
	if f.metricsAddr != "0" {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(prometheus.Gatherers{reg, crmetrics.Registry}, promhttp.HandlerOpts{}))
		g.Go(func() error { return listen(ctx, log, "metrics", f.metricsAddr, mux) })
	}
	log.Info("serving", "webhookPort", f.port, "metricsAddr", f.metricsAddr, "healthAddr", f.healthAddr, "failureMode", opts.FailureMode)
	err := g.Wait()
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
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
