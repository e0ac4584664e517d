package certs

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// Options configure self-managed mode. DefaultOptions match manifests/.
type Options struct {
	// Namespace holds the Secret and the Service.
	Namespace string
	// SecretName is the Secret with ca.crt, ca.key, tls.crt, tls.key.
	SecretName string
	// ServiceName is the webhook Service; the serving certificate covers
	// NAME.NAMESPACE.svc (the name the API server checks) and its longer
	// forms.
	ServiceName string
	// ExtraNames are more DNS names or IP addresses for the certificate.
	ExtraNames []string
	// MutatingWebhookConfiguration and ValidatingWebhookConfiguration get
	// the CA bundle.
	MutatingWebhookConfiguration, ValidatingWebhookConfiguration string
	// CertDir is where every replica writes the serving certificate.
	CertDir string
	// CAValidity and ServingValidity are certificate lifetimes; each is
	// renewed after two thirds of it.
	CAValidity, ServingValidity time.Duration
	// CheckInterval bounds the time between two rotator passes; TrustDelay
	// is how long a new CA bundle is given to reach the API servers.
	CheckInterval, TrustDelay time.Duration
	// Identity names this replica (its pod) as the writer in managedFields.
	Identity string
	Log      logr.Logger
}

// DefaultOptions: CA for 5 years (renewed after about 3.3), serving
// certificate for 90 days (renewed after 60, a month before expiry).
func DefaultOptions() Options {
	return Options{
		Namespace:                      "budgetgate-system",
		SecretName:                     "budgetgate-webhook-tls",
		ServiceName:                    "budgetgate-webhook",
		MutatingWebhookConfiguration:   "budgetgate",
		ValidatingWebhookConfiguration: "budgetgate",
		CAValidity:                     5 * 365 * 24 * time.Hour,
		ServingValidity:                90 * 24 * time.Hour,
		CheckInterval:                  time.Minute,
		TrustDelay:                     10 * time.Second,
	}
}

// DNSNames the serving certificate covers.
func (o Options) DNSNames() []string {
	svc := o.ServiceName + "." + o.Namespace
	return append([]string{svc + ".svc", svc, svc + ".svc.cluster.local"}, o.ExtraNames...)
}

// Validate says what is wrong with o, naming the serve flag to fix.
func (o Options) Validate() error {
	var errs []error
	for _, f := range []struct{ flag, value string }{
		{"--namespace", o.Namespace}, {"--cert-secret", o.SecretName}, {"--webhook-service", o.ServiceName},
	} {
		if msgs := validation.IsDNS1123Label(f.value); f.value != "" && len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("%s %q: %s", f.flag, f.value, strings.Join(msgs, "; ")))
		}
	}
	if o.Namespace == "" {
		errs = append(errs, errors.New("--namespace is empty: pass budgetgate's own namespace"))
	}
	if o.SecretName == "" || o.ServiceName == "" {
		errs = append(errs, errors.New("--cert-secret and --webhook-service must not be empty"))
	}
	if o.MutatingWebhookConfiguration == "" && o.ValidatingWebhookConfiguration == "" {
		errs = append(errs, errors.New("--mutating-webhook-configuration and --validating-webhook-configuration are both empty: the CA bundle would go nowhere"))
	}
	if o.CertDir == "" {
		errs = append(errs, errors.New("--cert-dir is empty"))
	}
	for _, d := range []struct {
		flag  string
		value time.Duration
	}{{"--ca-validity", o.CAValidity}, {"--cert-validity", o.ServingValidity}, {"--cert-check-interval", o.CheckInterval}} {
		if d.value <= 0 {
			errs = append(errs, fmt.Errorf("%s must be longer than zero, got %s", d.flag, d.value))
		}
	}
	if o.ServingValidity > 0 && o.CAValidity > 0 && o.ServingValidity > o.CAValidity/3 {
		errs = append(errs, fmt.Errorf("--cert-validity %s must be at most a third of --ca-validity %s: a serving certificate must fit in the time an old CA stays trusted after its renewal", o.ServingValidity, o.CAValidity))
	}
	return errors.Join(errs...)
}

// SetupWithManager adds self-managed certificates to mgr: the rotator (on
// the leader) and the file writer (on every replica). Serve the webhooks
// from a FileSource on o.CertDir.
func SetupWithManager(mgr manager.Manager, o Options) error {
	if err := o.Validate(); err != nil {
		return err
	}
	// Uncached clients: the manager's cache would list and watch Secrets in
	// every namespace, which the ServiceAccount may not and need not do.
	c, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme()})
	if err != nil {
		return fmt.Errorf("certificates: %w", err)
	}
	clientset, err := kubernetes.NewForConfig(mgr.GetConfig())
	if err != nil {
		return fmt.Errorf("certificates: %w", err)
	}
	identity := o.Identity
	if identity == "" {
		identity, _ = os.Hostname()
	}
	owner := "budgetgate"
	if identity != "" {
		owner = "budgetgate-" + identity
	}
	wake := make(chan struct{}, 1)
	secret := types.NamespacedName{Namespace: o.Namespace, Name: o.SecretName}
	rotator := &Rotator{
		Client: c, Secret: secret, FieldOwner: owner,
		Injector:      &Injector{Client: c, Mutating: o.MutatingWebhookConfiguration, Validating: o.ValidatingWebhookConfiguration, FieldOwner: owner},
		Policy:        Policy{DNSNames: o.DNSNames(), CAValidity: o.CAValidity, ServingValidity: o.ServingValidity},
		CheckInterval: o.CheckInterval, TrustDelay: o.TrustDelay, Now: time.Now,
		Log: o.Log.WithName("rotator"), Wake: wake,
	}
	writer := &FileWriter{
		Clientset: clientset, Secret: secret, Dir: o.CertDir, Log: o.Log.WithName("files"),
		Changed: func() {
			select {
			case wake <- struct{}{}:
			default:
			}
		},
	}
	if err := mgr.Add(rotator); err != nil {
		return err
	}
	return mgr.Add(writer)
}
