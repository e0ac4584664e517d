package datasync

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// NamespacesPath is where policies read namespaces:
// data.budgetgate.namespaces["<name>"].labels (the tier label among them).
var NamespacesPath = []string{"budgetgate", "namespaces"}

// Namespaces builds data.budgetgate.namespaces from the cache: each
// namespace's labels, which is all policies read of it.
func Namespaces(c client.Reader) func(ctx context.Context) (any, error) {
	return func(ctx context.Context) (any, error) {
		var list corev1.NamespaceList
		if err := c.List(ctx, &list); err != nil {
			return nil, err
		}
		return NamespaceData(list.Items), nil
	}
}

// NamespaceData is the data document of namespaces, JSON-compatible.
func NamespaceData(namespaces []corev1.Namespace) map[string]any {
	out := make(map[string]any, len(namespaces))
	for i := range namespaces {
		labels := make(map[string]any, len(namespaces[i].Labels))
		for k, v := range namespaces[i].Labels {
			labels[k] = v
		}
		out[namespaces[i].Name] = map[string]any{"labels": labels}
	}
	return out
}
