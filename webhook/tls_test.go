package webhook_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/budgetgate/budgetgate/internal/testtls"
	"github.com/budgetgate/budgetgate/webhook"
)

// TestOverTLS serves both webhooks on controller-runtime's webhook server, as
// `budgetgate serve` does, and asks over HTTPS trusting only a test CA.
func TestOverTLS(t *testing.T) {
	ctrllog.SetLogger(logr.Discard())
	certDir := t.TempDir()
	caPool := testtls.WriteServingCert(t, certDir)
	port := testtls.FreePort(t)

	engine := shippedEngine(t, nil)
	opts := testOptions(webhook.FailClosed)
	log := logr.Discard()
	metrics := webhook.NewMetrics(prometheus.NewRegistry())
	server := ctrlwebhook.NewServer(ctrlwebhook.Options{Host: "127.0.0.1", Port: port, CertDir: certDir})
	server.Register("/validate", webhook.Serve("validate", &webhook.Validator{Engine: engine, Options: opts, Log: log.WithName("validate"), Metrics: metrics}, log, metrics))
	server.Register("/mutate", webhook.Serve("mutate", &webhook.Mutator{Engine: engine, Options: opts, Log: log.WithName("mutate")}, log, metrics))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- server.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("webhook server: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("the webhook server did not stop")
		}
	})

	client := &http.Client{
		Timeout:   15 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: caPool, MinVersion: tls.VersionTLS12}},
	}
	base := fmt.Sprintf("https://127.0.0.1:%d", port)
	waitStarted(t, server, done)

	resp := admit(t, client, base+"/validate", reviewJSON("uid-tls", "CREATE", broken("web"), nil))
	check(t, resp, want{code: 403, message: brokenMessage("web"), warnings: brokenWarnings("web")})

	resp = admit(t, client, base+"/mutate", reviewJSON("uid-tls-m", "CREATE", broken("web"), nil))
	checkPatched(t, resp, canaryPatch)

	// The patched object is refused only for the failures the patch cannot fix.
	patched := applyPatch(t, broken("web"), resp.Patch)
	resp = admit(t, client, base+"/validate", reviewJSON("uid-tls-2", "CREATE", patched, nil))
	check(t, resp, want{code: 403, message: withoutLine(strings.Replace(brokenMessage("web"), "6 policies", "5 policies", 1), "[slo-declared]"), warnings: brokenWarnings("web")})

	// A client that does not trust the CA is refused the handshake.
	_, err := http.Post(base+"/validate", "application/json", nil)
	if err == nil {
		t.Errorf("a client without the CA got through")
	}
}

func waitStarted(t *testing.T, server ctrlwebhook.Server, done <-chan error) {
	t.Helper()
	started := server.StartedChecker()
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case err := <-done:
			t.Fatalf("the webhook server stopped: %v", err)
		default:
		}
		req, _ := http.NewRequest(http.MethodGet, "/readyz", nil)
		err := started(req)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the webhook server did not start: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
