package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/budgetgate/budgetgate/certs"
)

// Certificate modes of serve.
const (
	certModeFiles       = "files"
	certModeSelfManaged = "self-managed"
)

// certFlags are serve's flags for where the serving certificate comes from.
type certFlags struct {
	mode string
	certs.Options
}

func (c *certFlags) register(fl *pflag.FlagSet) {
	d := certs.DefaultOptions()
	c.Options = d
	fl.StringVar(&c.mode, "cert-mode", certModeFiles, "where the serving certificate comes from: files (tls.crt/tls.key in --cert-dir, e.g. from cert-manager) or self-managed (budgetgate keeps a CA and certificate in a Secret, injects the CA bundle and rotates them; needs a cluster)")
	fl.StringVar(&c.SecretName, "cert-secret", d.SecretName, "self-managed: the Secret holding the CA and the serving certificate")
	fl.StringVar(&c.ServiceName, "webhook-service", d.ServiceName, "self-managed: the webhook Service; the certificate is for SERVICE.NAMESPACE.svc")
	fl.StringVar(&c.MutatingWebhookConfiguration, "mutating-webhook-configuration", d.MutatingWebhookConfiguration, "self-managed: MutatingWebhookConfiguration that gets the CA bundle (\"\" for none)")
	fl.StringVar(&c.ValidatingWebhookConfiguration, "validating-webhook-configuration", d.ValidatingWebhookConfiguration, "self-managed: ValidatingWebhookConfiguration that gets the CA bundle (\"\" for none)")
	fl.DurationVar(&c.CAValidity, "ca-validity", d.CAValidity, "self-managed: lifetime of the CA, renewed after two thirds of it")
	fl.DurationVar(&c.ServingValidity, "cert-validity", d.ServingValidity, "self-managed: lifetime of the serving certificate, renewed after two thirds of it")
}

// selfManaged returns the options of self-managed mode, nil in files mode.
func (c *certFlags) selfManaged(certDir, namespace string, cluster bool) (*certs.Options, error) {
	switch c.mode {
	case certModeFiles:
		return nil, nil
	case certModeSelfManaged:
	default:
		return nil, fmt.Errorf("--cert-mode must be %s or %s, not %q", certModeFiles, certModeSelfManaged, c.mode)
	}
	if !cluster {
		return nil, errors.New("--cert-mode=self-managed needs a cluster (in-cluster, --kubeconfig or $KUBECONFIG) to keep the certificate in a Secret; without one use --cert-mode=files")
	}
	o := c.Options
	o.CertDir, o.Namespace = certDir, namespace
	o.Identity = os.Getenv("POD_NAME")
	if err := o.Validate(); err != nil {
		return nil, err
	}
	return &o, nil
}

// ownNamespace is the namespace budgetgate runs in: $POD_NAMESPACE (the
// Deployment sets it), else the service account's namespace file, else the
// install's budgetgate-system.
func ownNamespace() string {
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	if b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil && len(b) > 0 {
		return strings.TrimSpace(string(b))
	}
	return "budgetgate-system"
}
