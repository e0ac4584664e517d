// Package manifests holds budgetgate's install manifests (kustomize) and gives
// Go code, such as the local control plane of `budgetgate demo` and the
// end-to-end tests, the same webhook configurations a cluster gets.
package manifests

import (
	_ "embed"
	"fmt"

	admissionv1 "k8s.io/api/admissionregistration/v1"

	"github.com/budgetgate/budgetgate/manifest"
	"sigs.k8s.io/yaml"
)

//go:embed base/webhooks.yaml
var webhooksYAML []byte

// WebhookConfigurations returns the mutating and validating webhook
// configurations of manifests/base/webhooks.yaml.
func WebhookConfigurations() (*admissionv1.MutatingWebhookConfiguration, *admissionv1.ValidatingWebhookConfiguration, error) {
	docs, err := manifest.Decode("manifests/base/webhooks.yaml", webhooksYAML)
	if err != nil {
		return nil, nil, err
	}
	var (
		mutating   *admissionv1.MutatingWebhookConfiguration
		validating *admissionv1.ValidatingWebhookConfiguration
	)
	for _, doc := range docs {
		raw, err := yaml.Marshal(doc.Object)
		if err != nil {
			return nil, nil, err
		}
		switch doc.Object["kind"] {
		case "MutatingWebhookConfiguration":
			mutating = &admissionv1.MutatingWebhookConfiguration{}
			err = yaml.UnmarshalStrict(raw, mutating)
		case "ValidatingWebhookConfiguration":
			validating = &admissionv1.ValidatingWebhookConfiguration{}
			err = yaml.UnmarshalStrict(raw, validating)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("manifests/base/webhooks.yaml:%d: %w", doc.Line, err)
		}
	}
	if mutating == nil || validating == nil {
		return nil, nil, fmt.Errorf("manifests/base/webhooks.yaml must hold one mutating and one validating webhook configuration")
	}
	return mutating, validating, nil
}
