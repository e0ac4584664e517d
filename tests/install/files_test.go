package install

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/budgetgate/budgetgate/certs"
	"github.com/budgetgate/budgetgate/internal/testtls"
)

// TestFilesModeRotation installs the base (files mode: the certificate comes
// from a mounted Secret, as cert-manager provides it) and plays cert-manager
// and the kubelet: a CA injected into both webhook configurations and a
// serving certificate in a kubelet-style Secret volume, renewed several times
// while a stream of admission requests runs. None may fail.
func TestFilesModeRotation(t *testing.T) {
	cp := startControlPlane(t)
	ctx := context.Background()
	cp.mustKubectl(t, "", "apply", "--server-side", "-k", filepath.Join(manifestsDir(t), "base"))
	// As in a cluster, budgetgate starts once its CRD is served (a pod
	// started earlier restarts until then).
	cp.mustKubectl(t, "", "wait", "--for=condition=Established", "--timeout=60s", "crd/servicelevelobjectives.budgetgate.dev")

	names := certs.DefaultOptions().DNSNames()
	ca, err := certs.NewCA(time.Now(), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	issue := func() *certs.KeyPair {
		s, err := certs.NewServing(ca, names, time.Now(), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	dir := t.TempDir()
	mount := func(s *certs.KeyPair) {
		testtls.WriteLikeKubelet(t, dir, map[string][]byte{"tls.crt": s.CertPEM, "tls.key": s.KeyPEM, "ca.crt": ca.CertPEM})
	}
	mount(issue())
	admin, err := client.New(cp.cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (&certs.Injector{Client: admin, Mutating: "budgetgate", Validating: "budgetgate", FieldOwner: "cainjector"}).Inject(ctx, ca.CertPEM); err != nil {
		t.Fatal(err)
	}

	r := startReplica(t, cp.serviceAccount(t, ns, "budgetgate"), "replica-a", dir, nil)
	port := r.port
	routeWebhooksHere(t, cp, port)
	var warned atomic.Int64
	userConfig := rest.CopyConfig(cp.cfg)
	userConfig.WarningHandler = warningCounter{&warned}
	user, err := kubernetes.NewForConfig(userConfig)
	if err != nil {
		t.Fatal(err)
	}
	firstAdmission(t, user)

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
	start := time.Now()
	served := map[string]bool{}
	const renewals = 4
	for i := range renewals {
		time.Sleep(2 * time.Second)
		next := issue()
		mount(next)
		eventuallyT(t, 15*time.Second, func() error {
			c := servedCertificate(port, ca.CertPEM)
			if c == nil || !c.Equal(next.Cert) {
				return fmt.Errorf("renewal %d not served yet", i+1)
			}
			served[c.SerialNumber.String()] = true
			return nil
		})
	}
	time.Sleep(2 * time.Second)
	close(stop)
	res := <-results
	elapsed := time.Since(start)
	t.Logf("files mode: %d requests in %s (%.0f/s), %d failed, %d renewals served", res.sent, elapsed.Round(time.Millisecond), float64(res.sent)/elapsed.Seconds(), res.failed, len(served))
	if res.failed > 0 {
		t.Errorf("%d of %d admission requests failed during renewals; first: %s", res.failed, res.sent, res.firstErr)
	}
	if len(served) != renewals {
		t.Errorf("served %d renewed certificates, want %d", len(served), renewals)
	}
}
