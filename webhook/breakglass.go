package webhook

import (
	"fmt"
	"github.com/open-policy-agent/opa/v1/ast"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/budgetgate/budgetgate/rego"
)

// EventRecorder is the events.k8s.io/v1 recorder controller-runtime's
// manager hands out (GetEventRecorder).
type EventRecorder interface {
	Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any)
}

// breakGlass is what a policy attaches to a finding that a break-glass
// annotation turned from a denial into a warning.
type breakGlass struct {
	User   string
	Groups []string
	Reason string
}

func breakGlassOf(f rego.Finding) (breakGlass, bool) {
	m, ok := f.Metadata["breakGlass"].(map[string]any)
	if !ok {
		return breakGlass{}, false
	}
	bg := breakGlass{}
	bg.User, _ = m["user"].(string)
	bg.Reason, _ = m["reason"].(string)
	if groups, ok := m["groups"].([]any); ok {
		for _, g := range groups {
			if s, ok := g.(string); ok {
				bg.Groups = append(bg.Groups, s)
			}
		}
	}
	return bg, true
}

// recordBreakGlass leaves the trail an overridden freeze must leave: an audit
// annotation on the request, a Kubernetes Event on the object, a metric and
// a log line. Dry runs get no Event: an Event is a write, and a dry run must
// have no side effects (the validating webhook declares NoneOnDryRun).
func (v *Validator) recordBreakGlass(review *Review, warnings []rego.Finding, resp *Response) {
	for _, f := range warnings {
		bg, ok := breakGlassOf(f)
		if !ok {
			continue
		}
		note := fmt.Sprintf("break-glass by %s (groups %s): %s", bg.User, strings.Join(bg.Groups, ","), bg.Reason)
		if resp.AuditAnnotations == nil {
			resp.AuditAnnotations = map[string]string{}
		}
		resp.AuditAnnotations["break-glass-"+f.Policy()] = note
		v.Log.Info("break-glass admitted a change during a freeze", "request", review.String(), "uid", review.UID,
			"policy", f.Policy(), "user", bg.User, "groups", bg.Groups, "reason", bg.Reason)
		v.Metrics.countBreakGlass(review.Namespace, f.Policy())
		if v.Events != nil && !review.DryRun && review.Object != nil {
			v.Events.Eventf(regarding(review), nil, corev1.EventTypeWarning, "BreakGlass", "Admit",
				"%s overrode %s: %s", bg.User, f.Policy(), note)
		}
	}
}

// regarding is the admitted object as an Event's subject.
func regarding(review *Review) runtime.Object {
	u := &unstructured.Unstructured{}
	content := map[string]any{}
	for _, key := range []string{"apiVersion", "kind", "metadata"} {
		if v := valueAt(review.Object, key); v != nil {
			// Only here, on the rare break-glass, is the object turned into
			// Go values (numbers as json.Number, as a decoder would).
			content[key], _ = ast.JSON(v)
		}
	}
	u.SetUnstructuredContent(content)
	if u.GetNamespace() == "" {
		u.SetNamespace(review.Namespace)
	}
	return u
}
