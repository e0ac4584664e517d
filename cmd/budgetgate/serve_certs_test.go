package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/budgetgate/budgetgate/internal/testtls"
)

// TestServeCertFlags: certificate flags are checked before anything starts,
// and each refusal says what to change.
func TestServeCertFlags(t *testing.T) {
	// A kubeconfig is only read here, never contacted: validation comes first.
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("POD_NAMESPACE", "")
	dir := t.TempDir()
	cluster := []string{"serve", "--kubeconfig", kubeconfig, "--cert-dir", dir, "--cert-mode", "self-managed"}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown mode", []string{"serve", "--cert-dir", dir, "--cert-mode", "vault"}, `--cert-mode must be files or self-managed, not "vault"`},
		{"self-managed without a cluster", []string{"serve", "--standalone", "--cert-dir", dir, "--cert-mode", "self-managed"}, "needs a cluster"},
		{"no namespace", append(cluster, "--namespace", ""), "--namespace is empty"},
		{"bad Secret name", append(cluster, "--namespace", "budgetgate-system", "--cert-secret", "Not_A_Name"), `--cert-secret "Not_A_Name"`},
		{"zero validity", append(cluster, "--namespace", "budgetgate-system", "--cert-validity", "0s"), "--cert-validity must be longer than zero"},
		{"serving outlives a third of the CA", append(cluster, "--namespace", "budgetgate-system", "--ca-validity", "240h", "--cert-validity", "100h"), "at most a third of --ca-validity"},
		{"no configuration to inject into", append(cluster, "--namespace", "budgetgate-system", "--mutating-webhook-configuration", "", "--validating-webhook-configuration", ""), "the CA bundle would go nowhere"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if code := run(context.Background(), tc.args, strings.NewReader(""), io.Discard, &stderr); code != exitBadInput {
				t.Errorf("exit %d, want %d; stderr: %s", code, exitBadInput, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tc.want)
			}
		})
	}
}

// TestServeWaitsForCertificate: serve starts with an empty --cert-dir, is
// not ready and says why, and becomes ready once a certificate appears.
func TestServeWaitsForCertificate(t *testing.T) {
	certDir := t.TempDir()
	port, health := testtls.FreePort(t), testtls.FreePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--standalone", "--cert-dir", certDir, "--port", fmt.Sprint(port),
			"--health-addr", fmt.Sprintf("127.0.0.1:%d", health), "--metrics-addr", "0"},
			strings.NewReader(""), io.Discard, &stderr)
	}()
	defer func() {
		cancel()
		<-done
	}()
	readyz := fmt.Sprintf("http://127.0.0.1:%d/readyz", health)
	deadline := time.Now().Add(20 * time.Second)
	var body string
	for {
		resp, err := http.Get(readyz)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			if resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(body, "serving certificate: no serving certificate loaded") {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz never said the certificate is missing; last: %q, stderr: %s", body, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	testtls.WriteServingCert(t, certDir)
	waitReady(t, readyz, done, &stderr)
}
