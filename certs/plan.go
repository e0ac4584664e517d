package certs

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"
	"time"
)

// State is what the Secret holds: the current CA (which signs new serving
// certificates), older CAs that clients must still trust because a serving
// certificate they signed may still be in use, and the serving certificate.
type State struct {
	CA       *KeyPair
	Previous []*x509.Certificate
	Serving  *KeyPair
}

// Bundle is the CA bundle clients must trust: the current CA first, then the
// older ones that have not expired.
func (s State) Bundle() []byte {
	var b bytes.Buffer
	if s.CA != nil {
		b.Write(s.CA.CertPEM)
	}
	for _, c := range s.Previous {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}

// Policy says what a valid state is.
type Policy struct {
	// DNSNames the serving certificate must cover.
	DNSNames []string
	// CAValidity and ServingValidity are the lifetimes of new certificates;
	// each is renewed after two thirds of it (RenewAt).
	CAValidity, ServingValidity time.Duration
}

// Next decides the state to store. why is empty when cur is fine as it is.
//
// CA rotation takes two steps so that no client ever sees a serving
// certificate it does not trust: first a new CA joins the bundle (and the
// rotator injects it) while the old serving certificate stays; only when
// caTrusted says the bundle with the new CA has reached the clients does a
// serving certificate signed by it replace the old one. A missing, expired
// or misnamed serving certificate is replaced at once: nothing can be lost.
func Next(cur State, p Policy, now time.Time, caTrusted bool) (next State, why string, err error) {
	next = State{CA: cur.CA, Serving: cur.Serving}
	var reasons []string
	if cur.CA == nil || !cur.CA.Cert.IsCA || !now.Before(cur.CA.Cert.NotAfter) {
		if next.CA, err = NewCA(now, p.CAValidity); err != nil {
			return State{}, "", err
		}
		reasons = append(reasons, "no valid CA: created one")
		caTrusted = false
	} else if !now.Before(RenewAt(cur.CA.Cert)) {
		if next.CA, err = NewCA(now, p.CAValidity); err != nil {
			return State{}, "", err
		}
		next.Previous = append(next.Previous, cur.CA.Cert)
		reasons = append(reasons, fmt.Sprintf("CA renewed (due %s, expires %s)", RenewAt(cur.CA.Cert).Format(time.RFC3339), cur.CA.Cert.NotAfter.Format(time.RFC3339)))
		caTrusted = false
	}
	if cur.CA == nil {
		cur.Previous = nil // a bundle without its CA key is not continued
	}
	for _, c := range cur.Previous {
		if now.Before(c.NotAfter) && !slices.ContainsFunc(next.Previous, func(p *x509.Certificate) bool { return p.Equal(c) }) {
			next.Previous = append(next.Previous, c)
		} else if !now.Before(c.NotAfter) {
			reasons = append(reasons, fmt.Sprintf("dropped the CA %q that expired at %s", c.Subject.CommonName, c.NotAfter.Format(time.RFC3339)))
		}
	}

	switch problem, urgent := servingProblem(next, p, now); {
	case problem == "":
	case urgent || caTrusted:
		// Never longer than the CA that signs it lives.
		validity := min(p.ServingValidity, next.CA.Cert.NotAfter.Sub(now))
		if next.Serving, err = NewServing(next.CA, p.DNSNames, now, validity); err != nil {
			return State{}, "", err
		}
		reasons = append(reasons, "serving certificate issued: "+problem)
	}
	return next, strings.Join(reasons, "; "), nil
}

// servingProblem says why s.Serving must be replaced, and whether that is
// urgent (it does not work now) or may wait until the current CA is trusted.
func servingProblem(s State, p Policy, now time.Time) (problem string, urgent bool) {
	c := s.Serving
	if c == nil {
		return "none yet", true
	}
	if !now.Before(c.Cert.NotAfter) {
		return "the old one expired at " + c.Cert.NotAfter.Format(time.RFC3339), true
	}
	for _, n := range p.DNSNames {
		if c.Cert.VerifyHostname(n) != nil {
			return fmt.Sprintf("the old one does not cover %q", n), true
		}
	}
	if !signedBy(c.Cert, s.CA.Cert) {
		if !slices.ContainsFunc(s.Previous, func(ca *x509.Certificate) bool { return signedBy(c.Cert, ca) }) {
			return "the old one is signed by no CA in the bundle", true
		}
		return "the old one is signed by the previous CA", false
	}
	if !now.Before(RenewAt(c.Cert)) {
		return fmt.Sprintf("the old one was due for renewal at %s (expires %s)", RenewAt(c.Cert).Format(time.RFC3339), c.Cert.NotAfter.Format(time.RFC3339)), true
	}
	return "", false
}

func signedBy(c, ca *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, ca.RawSubject) && c.CheckSignatureFrom(ca) == nil
}

// WakeAt is when s next needs attention: the earliest renewal.
func (s State) WakeAt() time.Time {
	var at time.Time
	for _, c := range []*KeyPair{s.CA, s.Serving} {
		if c != nil && (at.IsZero() || RenewAt(c.Cert).Before(at)) {
			at = RenewAt(c.Cert)
		}
	}
	for _, c := range s.Previous {
		if at.IsZero() || c.NotAfter.Before(at) {
			at = c.NotAfter
		}
	}
	return at
}

// PendingTrust reports whether the serving certificate waits for the
// current CA to be trusted (the second step of a CA rotation).
func (s State) PendingTrust() bool {
	return s.CA != nil && s.Serving != nil && !signedBy(s.Serving.Cert, s.CA.Cert)
}
