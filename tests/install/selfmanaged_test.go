package install

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/budgetgate/budgetgate/certs"
	"github.com/budgetgate/budgetgate/internal/testtls"
	"github.com/budgetgate/budgetgate/policies"
	"github.com/budgetgate/budgetgate/rego"
	"github.com/budgetgate/budgetgate/server"
	"github.com/budgetgate/budgetgate/slo"
	bgwebhook "github.com/budgetgate/budgetgate/webhook"
)

const ns = "budgetgate-system"

// TestSelfManaged installs the self-managed overlay, runs two replicas of
// budgetgate in cluster mode as the install's ServiceAccount (so its RBAC is
// what is tested), and checks: the leader alone creates the Secret, injects
// the CA bundle, the other replica picks the certificate up, the API server
// calls the webhook over the Service successfully, and a stream of admission
// requests loses none while serving certificates and the CA rotate under it.
func TestSelfManaged(t *testing.T) {
	cp := startControlPlane(t)
	ctx := context.Background()
	cp.mustKubectl(t, "", "apply", "--server-side", "-k", filepath.Join(manifestsDir(t), "overlays/self-managed"))
	// As in a cluster, budgetgate starts once its CRD is served (a pod
	// started earlier restarts until then).
	cp.mustKubectl(t, "", "wait", "--for=condition=Established", "--timeout=60s", "crd/servicelevelobjectives.budgetgate.dev")

	admin, err := kubernetes.NewForConfig(cp.cfg)
	if err != nil {
		t.Fatal(err)
	}
	cp.mustKubectl(t, "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n", "apply", "-f", "-")

	// Short lifetimes so the test sees rotations: serving certificates renew
	// every ~5s, the CA after ~16s.
	opts := certs.DefaultOptions()
	opts.CAValidity, opts.ServingValidity = 24*time.Second, 8*time.Second
	opts.CheckInterval, opts.TrustDelay = time.Second, time.Second
	saConfig := cp.serviceAccount(t, ns, "budgetgate")
	start := time.Now()
	a := startReplica(t, saConfig, "replica-a", filepath.Join(t.TempDir(), "certs"), &opts)
	b := startReplica(t, saConfig, "replica-b", filepath.Join(t.TempDir(), "certs"), &opts)
	readyAfter := time.Since(start)
	// The API server's calls go to replica A.
	port := a.port
	routeWebhooksHere(t, cp, port)

	// The API server calls the webhook through the Service.
	var warned atomic.Int64
	userConfig := rest.CopyConfig(cp.cfg)
	userConfig.WarningHandler = warningCounter{&warned}
	user, err := kubernetes.NewForConfig(userConfig)
	if err != nil {
		t.Fatal(err)
	}
	firstAdmission(t, user)
	admittedAfter := time.Since(start)
	if warned.Load() == 0 {
		t.Fatal("the first admission carried no budgetgate warning: was the webhook called?")
	}
	t.Logf("bootstrap: both replicas ready after %s, first admission through the webhook after %s", readyAfter.Round(time.Millisecond), admittedAfter.Round(time.Millisecond))

	t.Run("one replica writes, both serve the Secret's certificate", func(t *testing.T) {
		secret, err := admin.CoreV1().Secrets(ns).Get(ctx, opts.SecretName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if w := writers(secret); len(w) != 1 {
			t.Errorf("want one writer of the Secret (the leader), got %v", w)
		}
		eventuallyT(t, 20*time.Second, func() error {
			secret, err := admin.CoreV1().Secrets(ns).Get(ctx, opts.SecretName, metav1.GetOptions{})
			if err != nil {
				return err
			}
			for _, r := range []*replica{a, b} {
				got, _ := os.ReadFile(filepath.Join(r.certDir, "tls.crt"))
				if !bytes.Equal(got, secret.Data["tls.crt"]) {
					return fmt.Errorf("%s's tls.crt differs from the Secret's", r.name)
				}
			}
			return injected(ctx, admin, secret.Data["ca.crt"])
		})
	})

	t.Run("rotation under a steady stream of admissions loses none", func(t *testing.T) {
		before := warned.Load()
		stop := make(chan struct{})
		type result struct {
			sent, failed int64
			firstErr     string
		}
		results := make(chan result, 1)
		go func() {
			sent, failed, firstErr := stream(user, 4, stop)
			results <- result{sent, failed, firstErr}
		}()
		// Watch rotations happen: in the Secret, and in what replica A serves.
		servingSeen, caSeen, servedSeen := map[string]bool{}, map[string]bool{}, map[string]bool{}
		streamStart := time.Now()
		for time.Since(streamStart) < 60*time.Second {
			if len(servingSeen) >= 4 && len(caSeen) >= 2 && len(servedSeen) >= 3 && time.Since(streamStart) > 20*time.Second {
				break
			}
			secret, err := admin.CoreV1().Secrets(ns).Get(ctx, opts.SecretName, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			st := certs.StateFromSecret(secret)
			servingSeen[st.Serving.Cert.SerialNumber.String()] = true
			caSeen[st.CA.Cert.SerialNumber.String()] = true
			if c := servedCertificate(port, secret.Data["ca.crt"]); c != nil {
				servedSeen[c.SerialNumber.String()] = true
			}
			time.Sleep(200 * time.Millisecond)
		}
		close(stop)
		res := <-results
		elapsed := time.Since(streamStart)
		t.Logf("admission stream: %d requests in %s (%.0f/s), %d failed; serving certificates seen in the Secret %d, CAs %d, certificates served by replica A %d",
			res.sent, elapsed.Round(time.Millisecond), float64(res.sent)/elapsed.Seconds(), res.failed, len(servingSeen), len(caSeen), len(servedSeen))
		if res.failed > 0 {
			t.Errorf("%d of %d admission requests failed during rotation; first: %s", res.failed, res.sent, res.firstErr)
		}
		if len(servingSeen) < 4 || len(caSeen) < 2 || len(servedSeen) < 3 {
			t.Errorf("too few rotations to judge: serving %d (want 4), CA %d (want 2), served %d (want 3)", len(servingSeen), len(caSeen), len(servedSeen))
		}
		if got := warned.Load() - before; got < res.sent-res.failed {
			t.Errorf("%d of %d admitted requests carried a budgetgate warning: some bypassed the webhook", got, res.sent-res.failed)
		}
	})

	t.Run("a deleted Secret is recreated and injected again", func(t *testing.T) {
		if err := admin.CoreV1().Secrets(ns).Delete(ctx, opts.SecretName, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventuallyT(t, 20*time.Second, func() error {
			secret, err := admin.CoreV1().Secrets(ns).Get(ctx, opts.SecretName, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if err := injected(ctx, admin, secret.Data["ca.crt"]); err != nil {
				return err
			}
			_, err = user.AppsV1().Deployments("shop").Create(ctx, deployment(), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			return err
		})
	})

	t.Run("when the leader stops, the other replica takes over the rotation", func(t *testing.T) {
		secret, err := admin.CoreV1().Secrets(ns).Get(ctx, opts.SecretName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		leader, other := a, b
		if w := writers(secret); len(w) == 1 && w[0] == "budgetgate-"+b.name {
			leader, other = b, a
		}
		leader.stop()
		start := time.Now()
		// The stopped leader released its Lease; the next renewal is the
		// other replica's, within one serving lifetime.
		eventuallyT(t, 30*time.Second, func() error {
			s, err := admin.CoreV1().Secrets(ns).Get(ctx, opts.SecretName, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if !slices.Contains(writers(s), "budgetgate-"+other.name) {
				return fmt.Errorf("%s has not written the Secret yet (writers %v)", other.name, writers(s))
			}
			got, _ := os.ReadFile(filepath.Join(other.certDir, "tls.crt"))
			if !bytes.Equal(got, s.Data["tls.crt"]) {
				return fmt.Errorf("%s does not serve the Secret's certificate yet", other.name)
			}
			return nil
		})
		t.Logf("%s took over from %s and renewed after %s", other.name, leader.name, time.Since(start).Round(time.Millisecond))
	})
}

// routeWebhooksHere makes the API server's webhook calls through the Service
// reach port on this machine. No kubelet or kube-proxy runs here: the Service
// becomes an ExternalName for localhost, which the API server resolves as it
// would a pod's address, and both webhooks use port. The API server still
// checks the certificate against budgetgate-webhook.budgetgate-system.svc.
func routeWebhooksHere(t *testing.T, cp *controlPlane, port int) {
	t.Helper()
	cp.mustKubectl(t, "", "delete", "-n", ns, "service", "budgetgate-webhook")
	cp.mustKubectl(t, fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: budgetgate-webhook, namespace: %s}
spec:
  type: ExternalName
  externalName: localhost
  ports: [{name: webhook, port: %d}]
`, ns, port), "apply", "-f", "-")
	for _, kind := range []string{"mutatingwebhookconfiguration", "validatingwebhookconfiguration"} {
		cp.mustKubectl(t, "", "patch", kind, "budgetgate", "--type=json",
			"-p", fmt.Sprintf(`[{"op":"replace","path":"/webhooks/0/clientConfig/service/port","value":%d}]`, port))
	}
	cp.mustKubectl(t, "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n", "apply", "-f", "-")
}

// firstAdmission waits until the API server admits a Deployment through the
// webhook (dry run), and fails the test after 30s.
func firstAdmission(t *testing.T, user kubernetes.Interface) {
	t.Helper()
	eventuallyT(t, 30*time.Second, func() error {
		_, err := user.AppsV1().Deployments("shop").Create(context.Background(), deployment(), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err
	})
}

// stream sends dry-run creates from workers until stop closes; it returns
// how many were sent and failed, and the first error.
func stream(user kubernetes.Interface, workers int, stop <-chan struct{}) (sent, failed int64, firstErr string) {
	var s, f atomic.Int64
	var first atomic.Value
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				s.Add(1)
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				_, err := user.AppsV1().Deployments("shop").Create(ctx, deployment(), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
				cancel()
				if err != nil {
					f.Add(1)
					first.CompareAndSwap(nil, err.Error())
				}
			}
		})
	}
	wg.Wait()
	firstErr, _ = first.Load().(string)
	return s.Load(), f.Load(), firstErr
}

// writers lists the budgetgate replicas in the Secret's managedFields.
func writers(s *corev1.Secret) []string {
	var out []string
	for _, f := range s.ManagedFields {
		if strings.HasPrefix(f.Manager, "budgetgate") {
			out = append(out, f.Manager)
		}
	}
	return out
}

type replica struct {
	name    string
	certDir string
	port    int
	ready   chan struct{}
	done    chan error
	stop    func()
}

// startReplica runs budgetgate in cluster mode as cfg's user and waits
// until it is ready. With opts it manages its certificate (self-managed);
// without, it serves what is in certDir (files mode, as with cert-manager).
// Its webhook port is free when chosen but may be taken by another process
// before the server binds it: then it starts again on another.
func startReplica(t *testing.T, cfg *rest.Config, name, certDir string, opts *certs.Options) *replica {
	t.Helper()
	files, err := rego.ReadFS(policies.FS, ".", "policies")
	if err != nil {
		t.Fatal(err)
	}
	var log logr.Logger = logr.Discard()
	if testing.Verbose() {
		log = testr.New(t).WithName(name)
	}
	if opts != nil {
		o := *opts
		o.CertDir, o.Identity, o.Log = certDir, name, log
		opts = &o
	}
	for attempt := 1; ; attempt++ {
		engine := rego.NewEngine(map[string]any{})
		if _, err := engine.Load(context.Background(), "the embedded library", files); err != nil {
			t.Fatal(err)
		}
		r := &replica{name: name, certDir: certDir, port: testtls.FreePort(t), ready: make(chan struct{}), done: make(chan error, 1)}
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			r.done <- server.Run(ctx, server.Options{
				Engine: engine, Webhook: bgwebhook.DefaultOptions(), Log: log,
				Host: "127.0.0.1", Port: r.port, CertDir: certDir, MetricsAddr: "0", HealthAddr: "0",
				Cluster: &server.ClusterOptions{
					Config: rest.CopyConfig(cfg), Interval: time.Minute, StaleAfter: 10 * time.Minute,
					Thresholds: slo.DefaultThresholds(), LeaderElection: true, LeaderElectionNamespace: ns,
					SelfManagedCerts: opts,
				},
				Ready: r.ready,
			})
		}()
		select {
		case <-r.ready:
		case err := <-r.done:
			cancel()
			if attempt < 3 && err != nil && strings.Contains(err.Error(), "address already in use") {
				t.Logf("%s: port %d was taken meanwhile, starting again: %v", name, r.port, err)
				continue
			}
			t.Fatalf("%s stopped while starting: %v", name, err)
		case <-time.After(60 * time.Second):
			cancel()
			<-r.done
			t.Fatalf("%s not ready within 60s", name)
		}
		var once sync.Once
		r.stop = func() {
			once.Do(func() {
				cancel()
				if err := <-r.done; err != nil {
					t.Errorf("%s: %v", name, err)
				}
			})
		}
		t.Cleanup(r.stop)
		return r
	}
}

// injected checks both webhook configurations carry bundle.
func injected(ctx context.Context, cs kubernetes.Interface, bundle []byte) error {
	m, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "budgetgate", metav1.GetOptions{})
	if err != nil {
		return err
	}
	v, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, "budgetgate", metav1.GetOptions{})
	if err != nil {
		return err
	}
	for _, cc := range []admissionv1.WebhookClientConfig{m.Webhooks[0].ClientConfig, v.Webhooks[0].ClientConfig} {
		if !bytes.Equal(cc.CABundle, bundle) {
			return fmt.Errorf("a webhook configuration's caBundle differs from the Secret's ca.crt")
		}
	}
	return nil
}

// servedCertificate is the certificate replica A presents now, verified as
// the API server verifies it; nil if the handshake fails.
func servedCertificate(port int, bundle []byte) *x509.Certificate {
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(bundle)
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", fmt.Sprintf("127.0.0.1:%d", port),
		&tls.Config{RootCAs: roots, ServerName: "budgetgate-webhook." + ns + ".svc"})
	if err != nil {
		return nil
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0]
}

// deployment meets every requirement but declares no SLO: admitted, with
// budgetgate's slo-declared warning and a canary patch.
func deployment() *appsv1.Deployment {
	labels := map[string]string{"app": "web"}
	d := &appsv1.Deployment{}
	_ = yaml.Unmarshal([]byte(`{"metadata":{"name":"web","namespace":"shop","labels":{"app":"web","owner":"team-shop"}}}`), d)
	replicas := int32(3)
	d.Spec = appsv1.DeploymentSpec{
		Replicas: &replicas,
		Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "web", Image: "ghcr.io/example/web:1.2.3",
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstrPort(8080)}}},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")},
				},
			}}},
		},
	}
	return d
}

type warningCounter struct{ n *atomic.Int64 }

func (w warningCounter) HandleWarningHeader(code int, agent, text string) {
	if strings.Contains(text, "slo-declared") {
		w.n.Add(1)
	}
}

func eventuallyT(t *testing.T, within time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not so within %s: %v", within, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
