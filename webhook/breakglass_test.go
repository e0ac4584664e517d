package webhook_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/budgetgate/budgetgate/webhook"
)

// recordedEvents stands in for the cluster's event recorder: this is a unit
// test of the validator; the end-to-end suite reads real Events.
type recordedEvents struct{ events []string }

func (r *recordedEvents) Eventf(regarding, _ runtime.Object, eventtype, reason, action, note string, args ...any) {
	u := regarding.(*unstructured.Unstructured)
	r.events = append(r.events, fmt.Sprintf("%s %s/%s %s %s %s: %s", eventtype, u.GetNamespace(), u.GetName(), u.GetKind(), reason, action, fmt.Sprintf(note, args...)))
}

func TestBreakGlassLeavesATrail(t *testing.T) {
	data := obj{"budgetgate": obj{
		"budgets": obj{"shop/checkout": obj{"remaining": -0.2, "stale": false}},
		"config":  obj{"breakGlassGroups": []any{"sre-oncall"}},
	}}
	glass := func(o obj) {
		metadata(o)["annotations"] = obj{"budgetgate.dev/break-glass": "INC-7 rollback is broken"}
	}
	cases := []struct {
		name      string
		groups    []any
		dryRun    bool
		allowed   bool
		events    int
		auditWant string
	}{
		{"on-call engineer", []any{"sre-oncall"}, false, true, 1, "break-glass by alice (groups sre-oncall): INC-7 rollback is broken"},
		{"on-call engineer, dry run: no Event", []any{"sre-oncall"}, true, true, 0, "break-glass by alice (groups sre-oncall): INC-7 rollback is broken"},
		{"developer", []any{"developers"}, false, false, 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			m := webhook.NewMetrics(reg)
			events := &recordedEvents{}
			v := &webhook.Validator{Engine: shippedEngine(t, data), Options: testOptions(webhook.FailClosed), Log: logr.Discard(), Metrics: m, Events: events}
			e := startEnv(t, "validate", v, reg, m)

			var review obj
			if err := json.Unmarshal(reviewJSON("uid-glass", "CREATE", with(compliant("checkout"), glass), nil), &review); err != nil {
				t.Fatal(err)
			}
			req := review["request"].(obj)
			req["userInfo"] = obj{"username": "alice", "groups": tc.groups}
			req["dryRun"] = tc.dryRun
			body, _ := json.Marshal(review)
			resp := admit(t, nil, e.url, body)

			if resp.Allowed != tc.allowed {
				t.Fatalf("allowed = %v, want %v: %+v", resp.Allowed, tc.allowed, resp.Result)
			}
			if got := resp.AuditAnnotations["break-glass-budget-freeze"]; got != tc.auditWant {
				t.Errorf("audit annotation = %q, want %q", got, tc.auditWant)
			}
			if len(events.events) != tc.events {
				t.Fatalf("events = %q, want %d", events.events, tc.events)
			}
			if tc.events == 1 && !strings.HasPrefix(events.events[0], "Warning shop/checkout Deployment BreakGlass Admit: alice overrode budget-freeze") {
				t.Errorf("event = %q", events.events[0])
			}
			wantCount := 0.0
			if tc.allowed {
				wantCount = 1
			}
			if got := gathered(t, e, "budgetgate_break_glass_total", map[string]string{"namespace": "shop", "policy": "budget-freeze"}); got != wantCount {
				t.Errorf("budgetgate_break_glass_total = %v, want %v", got, wantCount)
			}
			if tc.allowed && !strings.Contains(strings.Join(resp.Warnings, "\n"), "[budget-freeze]") {
				t.Errorf("no budget-freeze warning: %q", resp.Warnings)
			}
		})
	}
}
