// Package localcluster runs a real control plane (kube-apiserver and etcd,
// envtest-style) on this machine with budgetgate's webhooks registered in it
// and served from this process over TLS: what `budgetgate demo` shows and
// what the end-to-end tests drive with kubectl.
package localcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/budgetgate/budgetgate/manifests"
	"github.com/budgetgate/budgetgate/rego"
	"github.com/budgetgate/budgetgate/server"
	"github.com/budgetgate/budgetgate/slo"
	"github.com/budgetgate/budgetgate/webhook"
)

// Options configure Start.
type Options struct {
	// AssetsDir holds kube-apiserver, etcd and kubectl (hack/envtest-assets.sh
	// builds them); KUBEBUILDER_ASSETS names it by convention.
	AssetsDir string
	// Engine is the policy engine the webhooks evaluate.
	Engine *rego.Engine
	// Webhook configures the handlers (timeout, failure mode).
	Webhook webhook.Options
	// Prometheus, if set, makes the SLO controller measure budgets there.
	Prometheus *slo.PrometheusOptions
	// SLOInterval and StaleAfter tune the controller and the budget sync
	// (defaults: 10s and 10m).
	SLOInterval, StaleAfter time.Duration
	// Policies, if set, reloads policies on change (ConfigMaps included).
	Policies *server.PolicySources
	Log      logr.Logger
}

// Cluster is a running control plane with budgetgate installed.
type Cluster struct {
	// Config is an admin's client configuration.
	Config *rest.Config
	// Kubeconfig is the path of an admin kubeconfig for kubectl.
	Kubeconfig  string
	kubectlPath string
	env         *envtest.Environment
	cancel      context.CancelFunc
	served      chan error
}

// Start starts etcd and kube-apiserver, installs budgetgate's CRDs and the
// webhook configurations of manifests/base pointed at budgetgate's server
// running in this process (in cluster mode, as `budgetgate serve` runs in a
// cluster), and waits until it serves with budgets synced.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	for _, bin := range []string{"kube-apiserver", "etcd", "kubectl"} {
		if _, err := os.Stat(filepath.Join(opts.AssetsDir, bin)); err != nil {
			return nil, fmt.Errorf("control plane binaries: %w: build them with hack/envtest-assets.sh and pass its folder", err)
		}
	}
	mutating, validating, err := manifests.WebhookConfigurations()
	if err != nil {
		return nil, err
	}
	crds, err := manifests.CRDs()
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: opts.AssetsDir,
		CRDInstallOptions:     envtest.CRDInstallOptions{CRDs: crds},
		WebhookInstallOptions: envtest.WebhookInstallOptions{
			MutatingWebhooks:   []*admissionv1.MutatingWebhookConfiguration{mutating},
			ValidatingWebhooks: []*admissionv1.ValidatingWebhookConfiguration{validating},
		},
		ControlPlaneStartTimeout: time.Minute,
		ControlPlaneStopTimeout:  30 * time.Second,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting the control plane: %w", err)
	}
	c := &Cluster{Config: cfg, env: env, kubectlPath: filepath.Join(opts.AssetsDir, "kubectl"), served: make(chan error, 1)}
	if err := c.writeKubeconfig(); err != nil {
		_ = c.Stop()
		return nil, err
	}

	interval, staleAfter := opts.SLOInterval, opts.StaleAfter
	if interval == 0 {
		interval = 10 * time.Second
	}
	if staleAfter == 0 {
		staleAfter = 10 * time.Minute
	}
	wh := env.WebhookInstallOptions
	ready := make(chan struct{})
	serveCtx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go func() {
		c.served <- server.Run(serveCtx, server.Options{
			Engine: opts.Engine, Webhook: opts.Webhook, Log: opts.Log,
			Host: wh.LocalServingHost, Port: wh.LocalServingPort, CertDir: wh.LocalServingCertDir,
			MetricsAddr: "0", HealthAddr: "0", Policies: opts.Policies,
			Cluster: &server.ClusterOptions{
				Config: cfg, Prometheus: opts.Prometheus, Interval: interval, StaleAfter: staleAfter,
				Thresholds: slo.DefaultThresholds(),
			},
			Ready: ready,
		})
	}()
	select {
	case <-ready:
		return c, nil
	case err := <-c.served:
		c.served <- err
		_ = c.Stop()
		return nil, fmt.Errorf("budgetgate stopped while starting: %w", err)
	case <-ctx.Done():
		_ = c.Stop()
		return nil, ctx.Err()
	}
}

func (c *Cluster) writeKubeconfig() error {
	user, err := c.env.AddUser(envtest.User{Name: "budgetgate-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("creating an admin user: %w", err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "budgetgate-kubeconfig-")
	if err != nil {
		return err
	}
	c.Kubeconfig = filepath.Join(dir, "kubeconfig")
	return os.WriteFile(c.Kubeconfig, kubeconfig, 0o600)
}

// Result is what one kubectl invocation printed.
type Result struct {
	Stdout, Stderr string
	// Err is non-nil when kubectl exited non-zero.
	Err error
}

// Kubectl runs kubectl against the cluster as an admin, feeding stdin.
func (c *Cluster) Kubectl(ctx context.Context, stdin []byte, args ...string) Result {
	cmd := exec.CommandContext(ctx, c.kubectlPath, append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	return Result{Stdout: out.String(), Stderr: errOut.String(), Err: err}
}

// Stop shuts the webhook server and the control plane down and removes their files.
func (c *Cluster) Stop() error {
	var errs []error
	if c.cancel != nil {
		c.cancel()
		c.cancel = nil // a second Stop must not wait for the server again
		if err := <-c.served; err != nil && !errors.Is(err, context.Canceled) {
			errs = append(errs, fmt.Errorf("webhook server: %w", err))
		}
	}
	if err := c.env.Stop(); err != nil {
		errs = append(errs, fmt.Errorf("control plane: %w", err))
	}
	if c.Kubeconfig != "" {
		_ = os.RemoveAll(filepath.Dir(c.Kubeconfig))
	}
	return errors.Join(errs...)
}
