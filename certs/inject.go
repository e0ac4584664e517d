package certs

import (
	"bytes"
	"context"
	"fmt"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Injector writes a CA bundle into every webhook of the named mutating and
// validating webhook configurations, so the API server trusts the serving
// certificate. It only writes when a bundle differs.
type Injector struct {
	Client client.Client
	// Mutating and Validating name the configurations; an empty name skips one.
	Mutating, Validating string
	// FieldOwner names the writer in managedFields.
	FieldOwner string
}

// Inject makes both configurations carry bundle and reports whether it
// changed anything.
func (in *Injector) Inject(ctx context.Context, bundle []byte) (changed bool, err error) {
	if in.Mutating != "" {
		c := &admissionv1.MutatingWebhookConfiguration{}
		ch, err := in.inject(ctx, "MutatingWebhookConfiguration", "--mutating-webhook-configuration", in.Mutating, c, func() []*admissionv1.WebhookClientConfig {
			out := make([]*admissionv1.WebhookClientConfig, len(c.Webhooks))
			for i := range c.Webhooks {
				out[i] = &c.Webhooks[i].ClientConfig
			}
			return out
		}, bundle)
		if err != nil {
			return false, err
		}
		changed = changed || ch
	}
	if in.Validating != "" {
		c := &admissionv1.ValidatingWebhookConfiguration{}
		ch, err := in.inject(ctx, "ValidatingWebhookConfiguration", "--validating-webhook-configuration", in.Validating, c, func() []*admissionv1.WebhookClientConfig {
			out := make([]*admissionv1.WebhookClientConfig, len(c.Webhooks))
			for i := range c.Webhooks {
				out[i] = &c.Webhooks[i].ClientConfig
			}
			return out
		}, bundle)
		if err != nil {
			return false, err
		}
		changed = changed || ch
	}
	return changed, nil
}

func (in *Injector) inject(ctx context.Context, kind, flag, name string, obj client.Object, configs func() []*admissionv1.WebhookClientConfig, bundle []byte) (bool, error) {
	if err := in.Client.Get(ctx, types.NamespacedName{Name: name}, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return false, fmt.Errorf("%s %q not found: apply the install manifests (kubectl apply -k manifests/overlays/self-managed) or fix %s", kind, name, flag)
		}
		return false, fmt.Errorf("reading %s %q: %w", kind, name, err)
	}
	changed := false
	for _, cc := range configs() {
		if !bytes.Equal(cc.CABundle, bundle) {
			cc.CABundle = bundle
			changed = true
		}
	}
	if !changed {
		return false, nil
	}
	// An update carries the resourceVersion read above: a concurrent change
	// is a conflict, retried on the next pass, never overwritten.
	if err := in.Client.Update(ctx, obj, client.FieldOwner(in.FieldOwner)); err != nil {
		return false, fmt.Errorf("injecting the CA bundle into %s %q: %w", kind, name, err)
	}
	return true, nil
}
