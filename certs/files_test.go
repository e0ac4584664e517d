package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/budgetgate/budgetgate/internal/testtls"
)

// TestFileSource: no certificate yet means failed handshakes and not ready;
// a certificate written later is served, and a replaced one is served from
// the next handshake on, without a restart.
func TestFileSource(t *testing.T) {
	dir := t.TempDir()
	p := testPolicy()
	now := time.Now()
	first, _, err := Next(State{}, p, now, false)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	src := &FileSource{Dir: dir, Log: logr.Discard(), PollInterval: 20 * time.Millisecond, Registerer: reg}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Start(ctx) }()
	defer func() { cancel(); <-done }()

	cfg := &tls.Config{}
	src.ConfigureTLS(cfg)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _ = c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	roots := x509.NewCertPool()
	roots.AddCert(first.CA.Cert)
	served := func() (*x509.Certificate, error) {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", ln.Addr().String(), &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
		if err != nil {
			return nil, err
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0], nil
	}

	if src.Ready() == nil {
		t.Fatal("ready without a certificate")
	}
	if _, err := served(); err == nil {
		t.Fatal("a handshake succeeded without a certificate")
	}

	if _, err := WriteKeyPair(dir, first.Serving.CertPEM, first.Serving.KeyPEM); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool { return src.Ready() == nil })
	if c, err := served(); err != nil || !c.Equal(first.Serving.Cert) {
		t.Fatalf("want the first certificate, got %v, %v", c, err)
	}
	if got, want := expiry(t, reg), float64(first.Serving.Cert.NotAfter.Unix()); got != want {
		t.Errorf("expiry metric %v, want %v", got, want)
	}

	serving, err := NewServing(first.CA, p.DNSNames, now, p.ServingValidity)
	if err != nil {
		t.Fatal(err)
	}
	second := State{CA: first.CA, Serving: serving}
	changed, err := WriteKeyPair(dir, second.Serving.CertPEM, second.Serving.KeyPEM)
	if err != nil || !changed {
		t.Fatalf("WriteKeyPair: changed=%v err=%v", changed, err)
	}
	eventually(t, func() bool { c, err := served(); return err == nil && c.Equal(second.Serving.Cert) })

	if changed, err := WriteKeyPair(dir, second.Serving.CertPEM, second.Serving.KeyPEM); err != nil || changed {
		t.Fatalf("rewriting the same pair: changed=%v err=%v", changed, err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) > 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
	if _, err := os.Stat(filepath.Join(dir, "tls.key")); err != nil {
		t.Error(err)
	}
}

// TestFileSourceKubeletVolume: a Secret mounted by the kubelet (cert-manager
// mode) is updated by swapping a symlinked folder; the new certificate is
// served without a restart.
func TestFileSourceKubeletVolume(t *testing.T) {
	dir := t.TempDir()
	p := testPolicy()
	now := time.Now()
	first, _, err := Next(State{}, p, now, false)
	if err != nil {
		t.Fatal(err)
	}
	testtls.WriteLikeKubelet(t, dir, map[string][]byte{"tls.crt": first.Serving.CertPEM, "tls.key": first.Serving.KeyPEM, "ca.crt": first.CA.CertPEM})
	src := &FileSource{Dir: dir, Log: logr.Discard()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Start(ctx) }()
	defer func() { cancel(); <-done }()
	current := func() *x509.Certificate {
		c, err := src.getCertificate(&tls.ClientHelloInfo{})
		if err != nil {
			return nil
		}
		return c.Leaf
	}
	eventually(t, func() bool { c := current(); return c != nil && c.Equal(first.Serving.Cert) })
	for range 2 {
		serving, err := NewServing(first.CA, p.DNSNames, now, p.ServingValidity)
		if err != nil {
			t.Fatal(err)
		}
		testtls.WriteLikeKubelet(t, dir, map[string][]byte{"tls.crt": serving.CertPEM, "tls.key": serving.KeyPEM, "ca.crt": first.CA.CertPEM})
		start := time.Now()
		eventually(t, func() bool { c := current(); return c != nil && c.Equal(serving.Cert) })
		t.Logf("kubelet-style update served after %s", time.Since(start).Round(time.Millisecond))
	}
}

// expiry reads the expiry metric from reg.
func expiry(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil || len(families) != 1 || families[0].GetName() != "budgetgate_serving_certificate_expiry_timestamp_seconds" {
		t.Fatalf("want the expiry metric alone, got %v (%v)", families, err)
	}
	return families[0].GetMetric()[0].GetGauge().GetValue()
}

func eventually(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 15s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
