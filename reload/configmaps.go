package reload

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/budgetgate/budgetgate/rego"
)

const (
	// PolicyLabel marks a ConfigMap whose .rego keys are policies:
	// budgetgate.dev/policy: "true".
	PolicyLabel = "budgetgate.dev/policy"
	// StatusAnnotation tells on each such ConfigMap whether the set that
	// includes it serves ("loaded") or was refused, and why.
	StatusAnnotation = "budgetgate.dev/policy-status"

	// maxStatus keeps the annotation readable; the log has the whole error.
	maxStatus = 4000
)

// ConfigMaps reads policies from the ConfigMaps labelled PolicyLabel=true
// in Namespace, through the informer cache.
type ConfigMaps struct {
	Cache cache.Cache
	// Client writes the status annotation.
	Client    client.Client
	Namespace string
	Log       logr.Logger
}

// ConfigMapRef names a ConfigMap that contributed policies.
type ConfigMapRef struct{ Name string }

// Watch calls changed whenever a ConfigMap of Namespace changes, and
// returns once the cache is synced, so that Files sees every ConfigMap.
func (c *ConfigMaps) Watch(ctx context.Context, changed func()) error {
	informer, err := c.Cache.GetInformer(ctx, &corev1.ConfigMap{})
	if err != nil {
		return fmt.Errorf("watching policy ConfigMaps in %s: %w (may budgetgate's service account list and watch configmaps there?)", c.Namespace, err)
	}
	if _, err := informer.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { changed() },
		UpdateFunc: func(any, any) { changed() },
		DeleteFunc: func(any) { changed() },
	}); err != nil {
		return err
	}
	if !c.Cache.WaitForCacheSync(ctx) {
		return ctx.Err()
	}
	return nil
}

// Files returns the policy files of the labelled ConfigMaps, named
// configmap/<namespace>/<name>/<key> so that errors point at them, and the
// ConfigMaps they came from. Test files (_test.rego) are skipped, as in a
// folder; other keys are not policies and are ignored.
func (c *ConfigMaps) Files(ctx context.Context) (rego.Files, []ConfigMapRef, error) {
	var list corev1.ConfigMapList
	if err := c.Cache.List(ctx, &list, client.InNamespace(c.Namespace), client.MatchingLabels{PolicyLabel: "true"}); err != nil {
		return nil, nil, fmt.Errorf("listing policy ConfigMaps in %s: %w", c.Namespace, err)
	}
	files := rego.Files{}
	var refs []ConfigMapRef
	for _, cm := range list.Items {
		refs = append(refs, ConfigMapRef{Name: cm.Name})
		for key, text := range cm.Data {
			if strings.HasSuffix(key, ".rego") && !strings.HasSuffix(key, "_test.rego") {
				files[fmt.Sprintf("configmap/%s/%s/%s", cm.Namespace, cm.Name, key)] = []byte(text)
			}
		}
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].Name < refs[j].Name })
	return files, refs, nil
}

// Report writes the outcome into each ConfigMap's StatusAnnotation. Every
// replica computes the same outcome, so the value carries no replica or
// time, and an unchanged value is not written again.
func (c *ConfigMaps) Report(ctx context.Context, refs []ConfigMapRef, loadErr error) {
	status := "loaded"
	if loadErr != nil {
		status = "refused: " + loadErr.Error()
		if len(status) > maxStatus {
			status = status[:maxStatus] + "... (see budgetgate's log)"
		}
	}
	for _, ref := range refs {
		var cm corev1.ConfigMap
		if err := c.Cache.Get(ctx, types.NamespacedName{Namespace: c.Namespace, Name: ref.Name}, &cm); err != nil {
			continue // deleted meanwhile: the next check sees it gone
		}
		if cm.Annotations[StatusAnnotation] == status {
			continue
		}
		patch := client.MergeFrom(cm.DeepCopy())
		if cm.Annotations == nil {
			cm.Annotations = map[string]string{}
		}
		cm.Annotations[StatusAnnotation] = status
		if err := c.Client.Patch(ctx, &cm, patch); err != nil {
			c.Log.Error(err, "writing the policy status annotation (may budgetgate's service account patch configmaps?)", "configMap", c.Namespace+"/"+ref.Name)
		}
	}
}
