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
	"path/filepath"
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
	out := validate(t, client, port, review)
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

type validateResponse struct {
	Response struct {
		UID     string `json:"uid"`
		Allowed bool   `json:"allowed"`
		Status  struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"status"`
	} `json:"response"`
}

func validate(t *testing.T, client *http.Client, port int, review []byte) validateResponse {
	t.Helper()
	resp, err := client.Post(fmt.Sprintf("https://127.0.0.1:%d/validate", port), "application/json", bytes.NewReader(review))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out validateResponse
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestServeReloadsPolicies edits the --policies folder of a running serve:
// a change applies without a restart, a broken one is refused and shown on
// /readyz (still ready: the previous set serves).
func TestServeReloadsPolicies(t *testing.T) {
	certDir, dir := t.TempDir(), t.TempDir()
	pool := testtls.WriteServingCert(t, certDir)
	port, health := testtls.FreePort(t), testtls.FreePort(t)
	write := func(name, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("main.rego", "package main\n\ndeny contains \"version one\" if true\n")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--policies", dir, "--reload-interval", "50ms",
			"--cert-dir", certDir, "--port", fmt.Sprint(port),
			"--health-addr", fmt.Sprintf("127.0.0.1:%d", health), "--metrics-addr", "0",
		}, strings.NewReader(""), io.Discard, &stderr)
	}()
	readyz := fmt.Sprintf("http://127.0.0.1:%d/readyz", health)
	waitReady(t, readyz, done, &stderr)

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	review := admissionReview(t, "CREATE", []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: y}\n"))
	until := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 10s", what)
			}
		}
	}
	denial := func() string { return validate(t, client, port, review).Response.Status.Message }
	if got := denial(); !strings.Contains(got, "version one") {
		t.Fatalf("first set: %q", got)
	}

	write("main.rego", "package main\n\ndeny contains \"version two\" if true\n")
	until("the edited policy serves", func() bool { return strings.Contains(denial(), "version two") })

	write("broken.rego", "package main\n\ndeny contains x if {\n")
	until("/readyz reports the refused change", func() bool {
		resp, err := http.Get(readyz)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK && strings.Contains(string(body), "was refused") && strings.Contains(string(body), "broken.rego")
	})
	if got := denial(); !strings.Contains(got, "version two") {
		t.Errorf("the previous set stopped serving: %q", got)
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
		{[]string{"serve", "--reload-interval", "0s"}, "--reload-interval must be longer than zero"},
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
