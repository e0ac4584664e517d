package certs

import (
	corev1 "k8s.io/api/core/v1"
)

// Keys of the Secret beside tls.crt and tls.key: the CA bundle clients trust
// and the current CA's key.
const (
	CABundleKey = "ca.crt"
	CAKeyKey    = "ca.key"
)

// StateFromSecret reads what a Secret holds. Parts that are missing or do
// not parse are left out, so Next replaces them.
func StateFromSecret(s *corev1.Secret) State {
	var st State
	if s == nil {
		return st
	}
	cas, err := ParseCertificates(s.Data[CABundleKey])
	if err == nil && len(cas) > 0 {
		if ca, err := ParseKeyPair(pemOf(cas[0].Raw), s.Data[CAKeyKey]); err == nil {
			st.CA = ca
			st.Previous = cas[1:]
		}
	}
	if serving, err := ParseKeyPair(s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey]); err == nil {
		st.Serving = serving
	}
	return st
}

// ApplyToSecret writes st into s.Data, keeping other keys.
func (st State) ApplyToSecret(s *corev1.Secret) {
	if s.Data == nil {
		s.Data = map[string][]byte{}
	}
	s.Data[CABundleKey] = st.Bundle()
	s.Data[CAKeyKey] = st.CA.KeyPEM
	s.Data[corev1.TLSCertKey] = st.Serving.CertPEM
	s.Data[corev1.TLSPrivateKeyKey] = st.Serving.KeyPEM
}
