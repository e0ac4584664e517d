package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/budgetgate/budgetgate/internal/testtls"
)

// TestServeStandalone runs `budgetgate serve` as a user would, with no cluster
// and budgets from --data, and talks to it over real TLS.
func TestServeStandalone(t *testing.T) {
	certDir := t.TempDir()
	pool := testtls.WriteServingCert(t, certDir)
	port, health, metrics := testtls.FreePort(t), testtls.FreePort(t), testtls.FreePort(t)

	ctx, cancel := context.WithCancel(context.Background())
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve",
			"--cert-dir", certDir, "--port", fmt.Sprint(port),
			"--health-addr", fmt.Sprintf("127.0.0.1:%d", health),
			"--metrics-addr", fmt.Sprintf("127.0.0.1:%d", metrics),
			"--data", "../../examples/data.yaml",
		}, strings.NewReader(""), io.Discard, &stderr)
	}()

	waitReady(t, fmt.Sprintf("http://127.0.0.1:%d/readyz", health), done, &stderr)

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	object, err := os.ReadFile("../../examples/workloads/cart-unready.yaml")
	if err != nil {
		t.Fatal(err)
	}
	review := admissionReview(t, "CREATE", object)
	resp, err := client.Post(fmt.Sprintf("https://127.0.0.1:%d/validate", port), "application/json", bytes.NewReader(review))
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Response struct {
			UID     string `json:"uid"`
			Allowed bool   `json:"allowed"`
			Status  struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			} `json:"status"`
		} `json:"response"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if out.Response.Allowed || out.Response.Status.Code != 403 || out.Response.UID != "uid-1" {
		t.Fatalf("want a 403 denial for uid-1, got %+v", out.Response)
	}
	for _, rule := range []string{"[image-pinned]", "[owner-label]", "[probes]", "[resources]"} {
		if !strings.Contains(out.Response.Status.Message, rule) {
			t.Errorf("denial does not list %s:\n%s", rule, out.Response.Status.Message)
		}
	}

	m, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", metrics))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(m.Body)
	m.Body.Close()
	if want := `budgetgate_admission_requests_total{decision="denied",webhook="validate"} 1`; !strings.Contains(string(body), want) {
		t.Errorf("/metrics lacks %q:\n%s", want, grepLines(string(body), "budgetgate_"))
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited %d on shutdown: %s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not shut down within 10s of cancellation")
	}
}

func TestServeRefusesBadFlags(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--failure-mode", "maybe"}, "failure mode must be"},
		{[]string{"serve", "--cert-dir", "/nonexistent/certs"}, "--cert-dir"},
		{[]string{"serve", "--policies", "/nonexistent/policies"}, "reading policies"},
	}
	for _, tc := range cases {
		var stderr bytes.Buffer
		if code := run(context.Background(), tc.args, strings.NewReader(""), io.Discard, &stderr); code != exitBadInput {
			t.Errorf("%v: exit %d, want %d", tc.args, code, exitBadInput)
		}
		if !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: stderr %q lacks %q", tc.args, stderr.String(), tc.want)
		}
	}
}

func waitReady(t *testing.T, url string, done chan int, stderr *bytes.Buffer) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case code := <-done:
			t.Fatalf("serve exited %d before it was ready: %s", code, stderr.String())
		default:
		}
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("serve was not ready within 20s: %s", stderr.String())
}

// admissionReview wraps a YAML object in an AdmissionReview request.
func admissionReview(t *testing.T, op string, objectYAML []byte) []byte {
	t.Helper()
	docs, err := decodeYAMLForTest(objectYAML)
	if err != nil {
		t.Fatal(err)
	}
	obj := docs
	meta, _ := obj["metadata"].(map[string]any)
	review := map[string]any{
		"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
		"request": map[string]any{
			"uid": "uid-1", "operation": op, "namespace": meta["namespace"], "name": meta["name"],
			"kind":     map[string]any{"group": "apps", "version": "v1", "kind": obj["kind"]},
			"userInfo": map[string]any{"username": "alice", "groups": []string{"dev"}},
			"object":   obj,
		},
	}
	b, err := json.Marshal(review)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func grepLines(s, substr string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
