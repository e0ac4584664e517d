package certs

import (
	"crypto/x509"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

var t0 = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

func testPolicy() Policy {
	return Policy{DNSNames: []string{"budgetgate-webhook.budgetgate-system.svc", "127.0.0.1"}, CAValidity: 300 * time.Hour, ServingValidity: 90 * time.Hour}
}

// fresh is a valid state issued at t0.
func fresh(t *testing.T, p Policy) State {
	t.Helper()
	s, why, err := Next(State{}, p, t0, false)
	if err != nil || why == "" {
		t.Fatalf("bootstrap: %q %v", why, err)
	}
	return s
}

func TestNext(t *testing.T) {
	p := testPolicy()
	base := fresh(t, p)
	otherCA, err := NewCA(t0, p.CAValidity)
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := NewServing(otherCA, p.DNSNames, t0, p.ServingValidity)
	if err != nil {
		t.Fatal(err)
	}
	misnamed, err := NewServing(base.CA, []string{"other.svc"}, t0, p.ServingValidity)
	if err != nil {
		t.Fatal(err)
	}
	caDue := t0.Add(201 * time.Hour) // CA renews after 200h (2/3 of 300h)
	// The state after the first step of a CA rotation.
	// A serving certificate from the old CA, issued just before the CA is due.
	late, err := NewServing(base.CA, p.DNSNames, caDue.Add(-time.Hour), p.ServingValidity)
	if err != nil {
		t.Fatal(err)
	}
	rotated, _, err := Next(State{CA: base.CA, Serving: late}, p, caDue, false)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		cur     State
		now     time.Time
		trusted bool
		// want: "" (unchanged) or a substring of why
		want       string
		newCA      bool
		newServing bool
		previous   int
	}{
		{name: "empty Secret: CA and serving certificate", cur: State{}, now: t0, want: "no valid CA", newCA: true, newServing: true},
		{name: "valid: reused", cur: base, now: t0.Add(time.Hour), want: ""},
		{name: "serving due after two thirds", cur: base, now: t0.Add(61 * time.Hour), want: "due for renewal", newServing: true},
		{name: "serving expired", cur: base, now: t0.Add(91 * time.Hour), want: "expired", newServing: true},
		{name: "serving misses a name", cur: State{CA: base.CA, Serving: misnamed}, now: t0, want: "does not cover", newServing: true},
		{name: "serving from an unknown CA", cur: State{CA: base.CA, Serving: foreign}, now: t0, want: "no CA in the bundle", newServing: true},
		{name: "serving without CA: all new", cur: State{Serving: base.Serving}, now: t0, want: "no valid CA", newCA: true, newServing: true},
		{name: "CA due: new CA joins the bundle, serving stays", cur: State{CA: base.CA, Serving: late}, now: caDue, want: "CA renewed", newCA: true, previous: 1},
		{name: "second step waits for trust", cur: rotated, now: caDue, trusted: false, want: "", previous: 1},
		{name: "second step once trusted", cur: rotated, now: caDue, trusted: true, want: "previous CA", newServing: true, previous: 1},
		{name: "expired previous CA dropped", cur: rotated, now: t0.Add(301 * time.Hour), trusted: true, want: "dropped the CA", newServing: true, previous: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			next, why, err := Next(tc.cur, p, tc.now, tc.trusted)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" && why != "" || tc.want != "" && !strings.Contains(why, tc.want) {
				t.Fatalf("why = %q, want %q", why, tc.want)
			}
			if got := next.CA != tc.cur.CA; got != tc.newCA {
				t.Errorf("new CA = %v, want %v", got, tc.newCA)
			}
			if got := next.Serving != tc.cur.Serving; got != tc.newServing {
				t.Errorf("new serving certificate = %v, want %v", got, tc.newServing)
			}
			if len(next.Previous) != tc.previous {
				t.Errorf("previous CAs = %d, want %d", len(next.Previous), tc.previous)
			}
			// Whatever happened, the result serves: the serving certificate
			// verifies against the bundle for every name, now.
			verify(t, next, p, tc.now)
			if _, again, _ := Next(next, p, tc.now, false); again != "" && !next.PendingTrust() {
				t.Errorf("a second pass changes it again: %q", again)
			}
		})
	}
}

func verify(t *testing.T, s State, p Policy, now time.Time) {
	t.Helper()
	roots := x509.NewCertPool()
	cas, err := ParseCertificates(s.Bundle())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cas {
		roots.AddCert(c)
	}
	for _, n := range p.DNSNames {
		if _, err := s.Serving.Cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: n, CurrentTime: now}); err != nil {
			t.Errorf("serving certificate does not verify for %s at %s: %v", n, now, err)
		}
	}
}

func TestServingNeverOutlivesItsCA(t *testing.T) {
	p := testPolicy()
	s := fresh(t, p)
	now := t0.Add(299 * time.Hour) // the CA expires in an hour
	st := State{CA: s.CA, Serving: s.Serving}
	// Pretend renewal failed until now: the CA is due, a new one is made
	// and the serving certificate (expired) is replaced from it.
	next, _, err := Next(st, p, now, false)
	if err != nil {
		t.Fatal(err)
	}
	if next.Serving.Cert.NotAfter.After(next.CA.Cert.NotAfter) {
		t.Fatalf("serving certificate expires %s, after its CA %s", next.Serving.Cert.NotAfter, next.CA.Cert.NotAfter)
	}
}

func TestSecretRoundTrip(t *testing.T) {
	p := testPolicy()
	s := fresh(t, p)
	rotated, _, err := Next(s, p, t0.Add(201*time.Hour), false)
	if err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{Data: map[string][]byte{"other": []byte("kept")}}
	rotated.ApplyToSecret(secret)
	back := StateFromSecret(secret)
	if !back.CA.Cert.Equal(rotated.CA.Cert) || !back.Serving.Cert.Equal(rotated.Serving.Cert) || len(back.Previous) != 1 || !back.Previous[0].Equal(s.CA.Cert) {
		t.Fatalf("round trip lost something: %+v", back)
	}
	if string(secret.Data["other"]) != "kept" {
		t.Error("other keys of the Secret were dropped")
	}
	// Garbage is treated as missing, so Next replaces it.
	secret.Data[CAKeyKey] = []byte("not a key")
	if StateFromSecret(secret).CA != nil {
		t.Error("a CA without a usable key was accepted")
	}
}
