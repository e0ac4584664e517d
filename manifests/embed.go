// Package manifests holds budgetgate's install manifests (kustomize) and gives
// Go code, such as the local control plane of `budgetgate demo` and the
// end-to-end tests, the same webhook configurations a cluster gets.
package manifests

import (
	_ "embed"
	"fmt"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"github.com/budgetgate/budgetgate/manifest"
	"sigs.k8s.io/yaml"
)

//go:embed base/webhooks.yaml
var webhooksYAML []byte

//go:embed base/crds/budgetgate.dev_servicelevelobjectives.yaml
var sloCRDYAML []byte

// CRDs returns budgetgate's CustomResourceDefinitions (manifests/base/crds).
func CRDs() ([]*apiextensionsv1.CustomResourceDefinition, error) {
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.UnmarshalStrict(sloCRDYAML, crd); err != nil {
		return nil, fmt.Errorf("manifests/base/crds: %w", err)
	}
	return []*apiextensionsv1.CustomResourceDefinition{crd}, nil
}

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
