package webhook_test

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/budgetgate/budgetgate/rego"
	"github.com/budgetgate/budgetgate/webhook"
)

// want is what a user sees of an admission response.
type want struct {
	allowed  bool
	code     int32  // Result.Code of a denial
	message  string // exact Result.Message of a denial
	contains string // a part of Result.Message, when the whole is not stable
	warnings []string
}

func check(t *testing.T, resp *admissionv1.AdmissionResponse, w want) {
	t.Helper()
	if resp.Allowed != w.allowed {
		t.Errorf("allowed = %v, want %v (result %+v)", resp.Allowed, w.allowed, resp.Result)
	}
	if w.allowed {
		if resp.Result != nil && resp.Result.Message != "" {
			t.Errorf("an admitted request carries a message: %q", resp.Result.Message)
		}
	} else {
		if resp.Result == nil {
			t.Fatalf("a denial without a result")
		}
		if resp.Result.Code != w.code {
			t.Errorf("code = %d, want %d", resp.Result.Code, w.code)
		}
		if resp.Result.Status != "Failure" {
			t.Errorf("status = %q, want Failure", resp.Result.Status)
		}
		if w.message != "" && resp.Result.Message != w.message {
			t.Errorf("message:\n got: %s\nwant: %s", resp.Result.Message, w.message)
		}
		if w.contains != "" && !strings.Contains(resp.Result.Message, w.contains) {
			t.Errorf("message %q does not contain %q", resp.Result.Message, w.contains)
		}
	}
	if !reflect.DeepEqual(resp.Warnings, w.warnings) {
		t.Errorf("warnings:\n got: %q\nwant: %q", resp.Warnings, w.warnings)
	}
	if len(resp.Patch) != 0 || resp.PatchType != nil {
		t.Errorf("the validating webhook patched: %s", resp.Patch)
	}
}

const minReplicasWarning = "[min-replicas] Deployment shop/web: spec.replicas is 1, below the minimum of 2: set spec.replicas to 2 or more (with a HorizontalPodAutoscaler, set it to the autoscaler's minReplicas)"

const sloWarning = `[slo-declared] Deployment shop/web: metadata.labels has no "budgetgate.dev/slo" label: add it with the name of the workload's ServiceLevelObjective`

// sloWarn makes slo-declared a plain warning: no canary patch, no canary denial.
var sloWarn = obj{"budgetgate": obj{"config": obj{"actions": obj{"slo-declared": "warn"}}}}

// withCanaryStrategy gives a Deployment the strategy the shipped library's
// mutating webhook forces, as it would have patched it in (annotation aside).
func withCanaryStrategy(o obj) {
	spec(o)["strategy"] = obj{"type": "RollingUpdate", "rollingUpdate": obj{"maxSurge": 1, "maxUnavailable": 0}}
	spec(o)["minReadySeconds"] = 30
	spec(o)["progressDeadlineSeconds"] = 600
}

func TestValidateShippedLibrary(t *testing.T) {
	ownerDryRun := obj{"budgetgate": obj{"config": obj{"actions": obj{"owner-label": "dryrun"}}}}
	for _, tc := range []struct {
		name      string
		data      obj
		operation string
		object    obj
		oldObject obj
		want      want
	}{{
		name:      "compliant create",
		operation: "CREATE",
		object:    compliant("web"),
		want:      want{allowed: true},
	}, {
		name:      "non-compliant create lists every failure",
		operation: "CREATE",
		object:    broken("web"),
		want:      want{code: 403, message: brokenMessage("web"), warnings: brokenWarnings("web")},
	}, {
		name:      "one failure",
		operation: "CREATE",
		object:    with(compliant("web"), dropLabel("owner")),
		want: want{code: 403, message: "budgetgate: 1 policy failed:\n" +
			`[owner-label] Deployment shop/web: metadata.labels has no "owner" label: add metadata.labels.owner naming the owning team`},
	}, {
		name:      "warned: too few replicas",
		operation: "CREATE",
		object:    with(compliant("web"), setReplicas(1)),
		want:      want{allowed: true, warnings: []string{minReplicasWarning}},
	}, {
		// slo-declared is canary: alone, the validating webhook sees the object
		// the mutating webhook would have patched, and refuses the bypass.
		name:      "canary without the mutating webhook: no slo label, no canary strategy",
		operation: "CREATE",
		object:    with(compliant("web"), dropLabel("budgetgate.dev/slo"), setReplicas(1)),
		want: want{code: 403, message: "budgetgate: 1 policy failed:\n" + canaryDenial("web"), warnings: []string{
			minReplicasWarning,
			sloWarning,
		}},
	}, {
		name:      "canary with the canary strategy in place: warned",
		operation: "CREATE",
		object:    with(compliant("web"), dropLabel("budgetgate.dev/slo"), setReplicas(1), withCanaryStrategy),
		want:      want{allowed: true, warnings: []string{minReplicasWarning, sloWarning}},
	}, {
		name:      "canary strategy in place with string intOrStrings, no annotation: warned",
		operation: "CREATE",
		object: with(compliant("web"), dropLabel("budgetgate.dev/slo"), func(o obj) {
			spec(o)["strategy"] = obj{"type": "RollingUpdate", "rollingUpdate": obj{"maxSurge": "1", "maxUnavailable": "0%"}}
			spec(o)["minReadySeconds"] = 45
			spec(o)["progressDeadlineSeconds"] = 300
		}),
		want: want{allowed: true, warnings: []string{sloWarning}},
	}, {
		name:      "canary strategy half in place: minReadySeconds too short",
		operation: "CREATE",
		object: with(compliant("web"), dropLabel("budgetgate.dev/slo"), withCanaryStrategy, func(o obj) {
			spec(o)["minReadySeconds"] = 10
		}),
		want: want{code: 403, message: "budgetgate: 1 policy failed:\n" + canaryDenial("web"), warnings: []string{sloWarning}},
	}, {
		name:      "slo-declared as warn: no canary, no denial",
		data:      sloWarn,
		operation: "CREATE",
		object:    with(compliant("web"), dropLabel("budgetgate.dev/slo"), setReplicas(1)),
		want:      want{allowed: true, warnings: []string{minReplicasWarning, sloWarning}},
	}, {
		name:      "slo-declared as warn: the broken object's denial has no canary line",
		data:      sloWarn,
		operation: "CREATE",
		object:    broken("web"),
		want:      want{code: 403, message: withoutLine(strings.Replace(brokenMessage("web"), "6 policies", "5 policies", 1), "[slo-declared]"), warnings: brokenWarnings("web")},
	}, {
		name:      "update of an object that kept the canary strategy",
		operation: "UPDATE",
		object:    with(compliant("web"), dropLabel("budgetgate.dev/slo"), withCanaryStrategy, setReplicas(4)),
		oldObject: with(compliant("web"), dropLabel("budgetgate.dev/slo"), withCanaryStrategy),
		want:      want{allowed: true, warnings: []string{sloWarning}},
	}, {
		name:      "update that drops the canary strategy, bypassing the mutating webhook",
		operation: "UPDATE",
		object:    with(compliant("web"), dropLabel("budgetgate.dev/slo"), func(o obj) { spec(o)["strategy"] = obj{"type": "Recreate"} }),
		oldObject: with(compliant("web"), dropLabel("budgetgate.dev/slo"), withCanaryStrategy),
		want:      want{code: 403, message: "budgetgate: 1 policy failed:\n" + canaryDenial("web"), warnings: []string{sloWarning}},
	}, {
		name:      "delete of an object without the canary strategy",
		operation: "DELETE",
		oldObject: with(compliant("web"), dropLabel("budgetgate.dev/slo")),
		want:      want{allowed: true},
	}, {
		name:      "update to a compliant object",
		operation: "UPDATE",
		object:    compliant("web"),
		oldObject: broken("web"),
		want:      want{allowed: true},
	}, {
		name:      "update to a non-compliant object",
		operation: "UPDATE",
		object:    broken("web"),
		oldObject: compliant("web"),
		want:      want{code: 403, message: brokenMessage("web"), warnings: brokenWarnings("web")},
	}, {
		name:      "delete of a non-compliant object",
		operation: "DELETE",
		oldObject: broken("web"),
		want:      want{allowed: true},
	}, {
		name:      "dryrun: owner-label alone admits silently",
		data:      ownerDryRun,
		operation: "CREATE",
		object:    with(compliant("web"), dropLabel("owner")),
		want:      want{allowed: true},
	}, {
		name:      "dryrun: owner-label left out of the denial",
		data:      ownerDryRun,
		operation: "CREATE",
		object:    broken("web"),
		want:      want{code: 403, message: withoutLine(strings.Replace(brokenMessage("web"), "6 policies", "5 policies", 1), "[owner-label]"), warnings: brokenWarnings("web")},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newValidateEnv(t, shippedEngine(t, tc.data), testOptions(webhook.FailClosed))
			resp := admit(t, nil, e.url, reviewJSON("uid-"+strings.ReplaceAll(tc.name, " ", "-"), tc.operation, tc.object, tc.oldObject))
			check(t, resp, tc.want)
		})
	}
}

// withoutLine drops the lines of s that start with prefix.
func withoutLine(s, prefix string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(l, prefix) {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

func TestDenialOrderIsStable(t *testing.T) {
	e := newValidateEnv(t, shippedEngine(t, nil), testOptions(webhook.FailClosed))
	first := ""
	for i := range 25 {
		resp := admit(t, nil, e.url, reviewJSON(fmt.Sprintf("uid-%d", i), "CREATE", broken("web"), nil))
		if resp.Allowed || resp.Result == nil {
			t.Fatalf("request %d admitted", i)
		}
		if i == 0 {
			first = resp.Result.Message
			if first != brokenMessage("web") {
				t.Fatalf("message:\n got: %s\nwant: %s", first, brokenMessage("web"))
			}
			continue
		}
		if resp.Result.Message != first {
			t.Fatalf("request %d answered in another order:\n got: %s\nwant: %s", i, resp.Result.Message, first)
		}
	}
}

func TestDryRunIsCounted(t *testing.T) {
	data := obj{"budgetgate": obj{"config": obj{"actions": obj{"owner-label": "dryrun"}}}}
	e := newValidateEnv(t, shippedEngine(t, data), testOptions(webhook.FailClosed))
	resp := admit(t, nil, e.url, reviewJSON("uid-1", "CREATE", with(compliant("web"), dropLabel("owner"), setReplicas(1)), nil))
	check(t, resp, want{allowed: true, warnings: []string{minReplicasWarning}})

	for _, f := range []struct {
		policy, verdict string
		want            float64
	}{
		{"owner-label", "dryrun", 1},
		{"min-replicas", "warning", 1},
		{"owner-label", "failure", 0},
	} {
		got := gathered(t, e, "budgetgate_policy_findings_total", map[string]string{"policy": f.policy, "verdict": f.verdict})
		if got != f.want {
			t.Errorf("budgetgate_policy_findings_total{policy=%q,verdict=%q} = %v, want %v", f.policy, f.verdict, got, f.want)
		}
	}
	if got := requests(t, e, "validate", "warned"); got != 1 {
		t.Errorf("requests{decision=warned} = %v, want 1", got)
	}
}

// requests is the request counter of one webhook and decision.
func requests(t *testing.T, e *env, hook, decision string) float64 {
	t.Helper()
	return gathered(t, e, "budgetgate_admission_requests_total", map[string]string{"webhook": hook, "decision": decision})
}

// gathered reads the counter name{labels} from the env's registry (0 when absent).
func gathered(t *testing.T, e *env, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue metrics
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func TestMutate(t *testing.T) {
	patchSet := rego.Files{"patch.rego": []byte(`package main

patch contains {"op": "add", "path": "/metadata/labels/patched", "value": "yes"} if {
	input.request.object.metadata.labels
	not input.request.object.metadata.labels.patched
}
`)}
	patchEngine := loadEngine(t, "a patch set", patchSet, nil)
	const wantPatch = `[{"op":"add","path":"/metadata/labels/patched","value":"yes"}]`

	t.Run("patched, then idempotent", func(t *testing.T) {
		e := newMutateEnv(t, patchEngine, testOptions(webhook.FailClosed))
		object := compliant("web")
		resp := admit(t, nil, e.url, reviewJSON("uid-1", "CREATE", object, nil))
		if !resp.Allowed || resp.Result != nil || len(resp.Warnings) != 0 {
			t.Fatalf("want a plain admission with a patch, got %+v", resp)
		}
		if resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch {
			t.Fatalf("patchType = %v, want JSONPatch", resp.PatchType)
		}
		if string(resp.Patch) != wantPatch {
			t.Fatalf("patch:\n got: %s\nwant: %s", resp.Patch, wantPatch)
		}

		// Apply the patch as the API server would and ask again.
		p, err := jsonpatch.DecodePatch(resp.Patch)
		if err != nil {
			t.Fatalf("the patch is no RFC 6902 patch: %v", err)
		}
		before := reviewObject(t, object)
		after, err := p.Apply(before)
		if err != nil {
			t.Fatalf("applying the patch: %v", err)
		}
		patched := decodeObject(t, after)
		if labels(patched)["patched"] != "yes" {
			t.Fatalf("patched object: %s", after)
		}
		resp = admit(t, nil, e.url, reviewJSON("uid-2", "CREATE", patched, nil))
		if !resp.Allowed || len(resp.Patch) != 0 || resp.PatchType != nil || len(resp.Warnings) != 0 {
			t.Errorf("second pass: want a plain admission, got %+v (patch %s)", resp, resp.Patch)
		}
		if got := requests(t, e, "mutate", "patched"); got != 1 {
			t.Errorf("requests{mutate,patched} = %v, want 1", got)
		}
		if got := requests(t, e, "mutate", "allowed"); got != 1 {
			t.Errorf("requests{mutate,allowed} = %v, want 1", got)
		}
	})

	shipped := shippedEngine(t, nil)
	for _, tc := range []struct {
		name      string
		engine    *rego.Engine
		object    obj
		wantPatch string // "" for a plain admission
	}{
		{"shipped library, compliant", shipped, compliant("web"), ""},
		{"shipped library, non-compliant: the validator owns the verdict, the mutator forces the canary", shipped, broken("web"), canaryPatch},
		{"shipped library, canary strategy already in place: only the annotation", shipped,
			with(compliant("web"), dropLabel("budgetgate.dev/slo"), withCanaryStrategy),
			`[{"op":"add","path":"/metadata/annotations","value":{"budgetgate.dev/canary":"slo-declared"}}]`},
		{"shipped library, annotations and another strategy: replaced", shipped,
			with(compliant("web"), dropLabel("budgetgate.dev/slo"), func(o obj) {
				metadata(o)["annotations"] = obj{"team": "checkout"}
				spec(o)["strategy"] = obj{"type": "Recreate"}
				spec(o)["minReadySeconds"] = 10
				spec(o)["progressDeadlineSeconds"] = 300
			}),
			`[` +
				`{"op":"add","path":"/metadata/annotations/budgetgate.dev~1canary","value":"slo-declared"},` +
				`{"op":"add","path":"/spec/minReadySeconds","value":30},` +
				`{"op":"add","path":"/spec/strategy","value":{"rollingUpdate":{"maxSurge":1,"maxUnavailable":0},"type":"RollingUpdate"}}` +
				`]`},
		{"shipped library, slo-declared as warn: no canary", shippedEngine(t, sloWarn), broken("web"), ""},
		{"patch set, object without labels", patchEngine, with(compliant("web"), func(o obj) { delete(metadata(o), "labels") }), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newMutateEnv(t, tc.engine, testOptions(webhook.FailClosed))
			resp := admit(t, nil, e.url, reviewJSON("uid-m", "CREATE", tc.object, nil))
			if tc.wantPatch == "" {
				if !resp.Allowed || resp.Result != nil || len(resp.Warnings) != 0 || len(resp.Patch) != 0 || resp.PatchType != nil {
					t.Errorf("want a plain admission, got %+v (patch %s)", resp, resp.Patch)
				}
				return
			}
			checkPatched(t, resp, tc.wantPatch)
		})
	}
}

// checkPatched checks a mutating webhook's admission with exactly the patch want.
func checkPatched(t *testing.T, resp *admissionv1.AdmissionResponse, want string) {
	t.Helper()
	if !resp.Allowed || resp.Result != nil || len(resp.Warnings) != 0 {
		t.Errorf("want a plain admission with a patch, got %+v (patch %s)", resp, resp.Patch)
	}
	if resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch {
		t.Errorf("patchType = %v, want JSONPatch", resp.PatchType)
	}
	if string(resp.Patch) != want {
		t.Errorf("patch:\n got: %s\nwant: %s", resp.Patch, want)
	}
}

// applyPatch applies a JSON Patch to o as the API server does.
func applyPatch(t *testing.T, o obj, patch []byte) obj {
	t.Helper()
	p, err := jsonpatch.DecodePatch(patch)
	if err != nil {
		t.Fatalf("the patch is no RFC 6902 patch: %v\n%s", err, patch)
	}
	after, err := p.Apply(reviewObject(t, o))
	if err != nil {
		t.Fatalf("applying the patch: %v\n%s", err, patch)
	}
	return decodeObject(t, after)
}

// TestCanaryFlow runs a canary finding through both webhooks in the order the
// API server calls them: mutating webhook, patch applied, validating webhook.
func TestCanaryFlow(t *testing.T) {
	for _, tc := range []struct {
		name     string
		object   obj
		warnings []string
	}{{
		name:     "no slo label, too few replicas",
		object:   with(compliant("web"), dropLabel("budgetgate.dev/slo"), setReplicas(1)),
		warnings: []string{minReplicasWarning, sloWarning},
	}, {
		name:     "no slo label",
		object:   with(compliant("web"), dropLabel("budgetgate.dev/slo")),
		warnings: []string{sloWarning},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			engine := shippedEngine(t, nil)
			opts := testOptions(webhook.FailClosed)
			mutator := newMutateEnv(t, engine, opts)
			validator := newValidateEnv(t, engine, opts)

			// The validating webhook alone refuses the unpatched object.
			resp := admit(t, nil, validator.url, reviewJSON("uid-bypass", "CREATE", tc.object, nil))
			check(t, resp, want{code: 403, message: "budgetgate: 1 policy failed:\n" + canaryDenial("web"), warnings: tc.warnings})

			// The API server: mutate, apply the patch, validate the result.
			resp = admit(t, nil, mutator.url, reviewJSON("uid-1", "CREATE", tc.object, nil))
			checkPatched(t, resp, canaryPatch)
			patched := applyPatch(t, tc.object, resp.Patch)
			wantObject := with(tc.object, withCanaryStrategy, func(o obj) {
				metadata(o)["annotations"] = obj{"budgetgate.dev/canary": "slo-declared"}
			})
			if got, want := reviewObject(t, patched), reviewObject(t, wantObject); string(got) != string(want) {
				t.Fatalf("patched object:\n got: %s\nwant: %s", got, want)
			}
			resp = admit(t, nil, validator.url, reviewJSON("uid-1", "CREATE", patched, nil))
			check(t, resp, want{allowed: true, warnings: tc.warnings})

			// The mutation is idempotent: a second pass (a reinvocation, or a
			// later update of the stored object) patches nothing.
			resp = admit(t, nil, mutator.url, reviewJSON("uid-2", "CREATE", patched, nil))
			if !resp.Allowed || resp.Result != nil || len(resp.Warnings) != 0 || len(resp.Patch) != 0 || resp.PatchType != nil {
				t.Errorf("second pass: want a plain admission, got %+v (patch %s)", resp, resp.Patch)
			}
			resp = admit(t, nil, mutator.url, reviewJSON("uid-3", "UPDATE", with(patched, setReplicas(5)), patched))
			if !resp.Allowed || len(resp.Patch) != 0 || resp.PatchType != nil {
				t.Errorf("update of the patched object: want a plain admission, got %+v (patch %s)", resp, resp.Patch)
			}

			for _, c := range []struct {
				e        *env
				hook     string
				decision string
				want     float64
			}{
				{mutator, "mutate", "patched", 1},
				{mutator, "mutate", "allowed", 2},
				{validator, "validate", "denied", 1},
				{validator, "validate", "warned", 1},
			} {
				if got := requests(t, c.e, c.hook, c.decision); got != c.want {
					t.Errorf("requests{%s,%s} = %v, want %v", c.hook, c.decision, got, c.want)
				}
			}
		})
	}

	t.Run("slo-declared as warn: no patch, no denial", func(t *testing.T) {
		engine := shippedEngine(t, sloWarn)
		opts := testOptions(webhook.FailClosed)
		mutator := newMutateEnv(t, engine, opts)
		validator := newValidateEnv(t, engine, opts)
		object := with(compliant("web"), dropLabel("budgetgate.dev/slo"), setReplicas(1))
		resp := admit(t, nil, mutator.url, reviewJSON("uid-1", "CREATE", object, nil))
		if !resp.Allowed || resp.Result != nil || len(resp.Warnings) != 0 || len(resp.Patch) != 0 || resp.PatchType != nil {
			t.Errorf("mutate: want a plain admission, got %+v (patch %s)", resp, resp.Patch)
		}
		resp = admit(t, nil, validator.url, reviewJSON("uid-1", "CREATE", object, nil))
		check(t, resp, want{allowed: true, warnings: []string{minReplicasWarning, sloWarning}})
	})
}

func TestEvaluationErrors(t *testing.T) {
	sets := []struct {
		name    string
		files   rego.Files
		wantErr string
	}{{
		name: "object result without msg",
		files: rego.Files{"boom.rego": []byte(`package main

deny contains {"policy": "boom"} if input.request.object.metadata.name == "boom"
`)},
		wantErr: `data.main.deny returned {"policy":"boom"} without a string "msg"`,
	}, {
		name: "conflicting values of a complete rule",
		files: rego.Files{"conflict.rego": []byte(`package main

replicas := 1 if input.request.object.metadata.name == "boom"

replicas := 2 if input.request.object.metadata.name == "boom"

deny contains "too few replicas" if replicas < 1
`)},
		wantErr: "eval_conflict_error: rule data.main.replicas produced conflicting values",
	}}
	for _, set := range sets {
		engine := loadEngine(t, set.name, set.files, nil)
		for _, mode := range []webhook.FailureMode{webhook.FailClosed, webhook.FailOpen} {
			for _, hook := range []string{"validate", "mutate"} {
				t.Run(fmt.Sprintf("%s/%s/%s", set.name, hook, mode), func(t *testing.T) {
					var e *env
					if hook == "validate" {
						e = newValidateEnv(t, engine, testOptions(mode))
					} else {
						e = newMutateEnv(t, engine, testOptions(mode))
					}
					// Other inputs evaluate fine.
					resp := admit(t, nil, e.url, reviewJSON("uid-ok", "CREATE", compliant("web"), nil))
					if !resp.Allowed || len(resp.Warnings) != 0 {
						t.Fatalf("a harmless input: want admitted, got %+v", resp)
					}

					resp = admit(t, nil, e.url, reviewJSON("uid-boom", "CREATE", compliant("boom"), nil))
					if mode == webhook.FailClosed {
						if resp.Allowed || resp.Result == nil {
							t.Fatalf("want refused, got %+v", resp)
						}
						if resp.Result.Code != http.StatusInternalServerError || resp.Result.Reason != "InternalError" {
							t.Errorf("code %d reason %q, want 500 InternalError", resp.Result.Code, resp.Result.Reason)
						}
						for _, part := range []string{"--failure-mode=deny", set.wantErr} {
							if !strings.Contains(resp.Result.Message, part) {
								t.Errorf("message %q does not contain %q", resp.Result.Message, part)
							}
						}
					} else {
						if !resp.Allowed || len(resp.Warnings) != 1 {
							t.Fatalf("want admitted with one warning, got %+v", resp)
						}
						for _, part := range []string{"could not evaluate policies", "--failure-mode=allow", set.wantErr} {
							if !strings.Contains(resp.Warnings[0], part) {
								t.Errorf("warning %q does not contain %q", resp.Warnings[0], part)
							}
						}
					}
					if got := requests(t, e, hook, "error"); got != 1 {
						t.Errorf("requests{%s,error} = %v, want 1", hook, got)
					}
				})
			}
		}
	}
}

func TestEvaluationTimeout(t *testing.T) {
	for _, mode := range []webhook.FailureMode{webhook.FailClosed, webhook.FailOpen} {
		t.Run(string(mode), func(t *testing.T) {
			opts := webhook.Options{Timeout: 50 * time.Millisecond, FailureMode: mode}
			e := newValidateEnv(t, blockingEvaluator{}, opts)
			start := time.Now()
			resp := admit(t, nil, e.url, reviewJSON("uid-slow", "CREATE", compliant("web"), nil))
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("answered after %s, the timeout is 50ms", d)
			}
			const part = "policy evaluation took longer than 50ms"
			if mode == webhook.FailClosed {
				check(t, resp, want{code: 500, contains: part})
			} else if !resp.Allowed || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], part) {
				t.Errorf("want admitted with a warning containing %q, got %+v", part, resp)
			}
			if got := requests(t, e, "validate", "error"); got != 1 {
				t.Errorf("requests{validate,error} = %v, want 1", got)
			}
		})
	}
}

func TestMalformedRequests(t *testing.T) {
	e := newValidateEnv(t, shippedEngine(t, nil), testOptions(webhook.FailClosed))
	good := string(reviewJSON("uid-1", "CREATE", compliant("web"), nil))
	for _, tc := range []struct {
		name        string
		method      string
		contentType string
		body        string
		status      int
		message     string
	}{
		{"not JSON", "POST", "application/json", "apiVersion: admission.k8s.io/v1", 400, "the request body is not JSON"},
		{"truncated JSON", "POST", "application/json", good[:len(good)/2], 400, "the request body is not JSON"},
		{"empty body", "POST", "application/json", "", 400, "the request body is empty: POST an AdmissionReview"},
		{"blank body", "POST", "application/json", " \n\t", 400, "the request body is empty"},
		{"trailing data", "POST", "application/json", good + ` {"apiVersion":"admission.k8s.io/v1"}`, 400, "the request body holds more than one JSON value"},
		{"trailing garbage", "POST", "application/json", good + "xyz", 400, "the request body holds more than one JSON value"},
		{"JSON array", "POST", "application/json", "[" + good + "]", 400, "the request body is not an AdmissionReview object"},
		{"JSON string", "POST", "application/json", `"AdmissionReview"`, 400, "not an AdmissionReview object"},
		{"JSON null", "POST", "application/json", `null`, 400, "not an AdmissionReview object"},
		{"v1beta1", "POST", "application/json", strings.Replace(good, "admission.k8s.io/v1", "admission.k8s.io/v1beta1", 1), 400,
			`got apiVersion "admission.k8s.io/v1beta1" kind "AdmissionReview": send an admission.k8s.io/v1 AdmissionReview (set admissionReviewVersions: [v1] in the webhook configuration)`},
		{"wrong kind", "POST", "application/json", `{"apiVersion":"admission.k8s.io/v1","kind":"Deployment","request":{"uid":"x"}}`, 400, `kind "Deployment"`},
		{"a manifest", "POST", "application/json", `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"}}`, 400, `got apiVersion "apps/v1"`},
		{"missing request", "POST", "application/json", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`, 400, "the AdmissionReview has no request"},
		{"null request", "POST", "application/json", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":null}`, 400, "the AdmissionReview has no request"},
		{"missing uid", "POST", "application/json", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"operation":"CREATE"}}`, 400, "the AdmissionReview request has no uid"},
		{"numeric uid", "POST", "application/json", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":42}}`, 400, "the AdmissionReview request has no uid"},
		{"GET", "GET", "", "", 405, "method GET is not allowed: POST an AdmissionReview"},
		{"PUT", "PUT", "application/json", good, 405, "method PUT is not allowed"},
		{"text/plain", "POST", "text/plain", good, 415, `content type "text/plain" is not supported: send application/json`},
		{"yaml", "POST", "application/yaml", good, 415, "send application/json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, nil, tc.method, e.url, tc.contentType, []byte(tc.body))
			if r.status != tc.status {
				t.Fatalf("HTTP %d, want %d: %s", r.status, tc.status, r.body)
			}
			if !strings.HasPrefix(r.contentType, "text/plain") {
				t.Errorf("Content-Type %q, want text/plain", r.contentType)
			}
			if !strings.Contains(string(r.body), tc.message) {
				t.Errorf("body %q does not contain %q", r.body, tc.message)
			}
		})
	}
	// The good review still works, with a charset in its content type too.
	r := post(t, nil, e.url, "application/json; charset=utf-8", []byte(good))
	if r.status != 200 || !r.review.Response.Allowed {
		t.Errorf("a good review after the bad ones: HTTP %d %s", r.status, r.body)
	}
	if got := requests(t, e, "validate", "malformed"); got != 20 {
		t.Errorf("requests{validate,malformed} = %v, want 20", got)
	}
}

func TestOversizedBody(t *testing.T) {
	e := newValidateEnv(t, shippedEngine(t, nil), testOptions(webhook.FailClosed))
	big := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x","pad":"` + strings.Repeat("a", 8<<20) + `"}}`
	r := post(t, nil, e.url, "application/json", []byte(big))
	if r.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("HTTP %d, want 413: %.200s", r.status, r.body)
	}
	if !strings.Contains(string(r.body), "the request body is larger than") {
		t.Errorf("body %q does not say the request is too large", r.body)
	}
}

func TestConcurrentRequests(t *testing.T) {
	e := newValidateEnv(t, shippedEngine(t, nil), testOptions(webhook.FailClosed))
	const workers, perWorker = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, workers*perWorker)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				uid := fmt.Sprintf("w%d-r%d", w, i)
				name := fmt.Sprintf("web-%d-%d", w, i)
				good := (w+i)%2 == 0
				object := compliant(name)
				if !good {
					object = broken(name)
				}
				r, err := send(nil, http.MethodPost, e.url, "application/json", reviewJSON(uid, "CREATE", object, nil))
				if err != nil {
					errs <- fmt.Errorf("%s: %w", uid, err)
					continue
				}
				if r.status != 200 {
					errs <- fmt.Errorf("%s: HTTP %d %s", uid, r.status, r.body)
					continue
				}
				resp := r.review.Response
				switch {
				case string(resp.UID) != uid:
					errs <- fmt.Errorf("%s: answered with uid %q", uid, resp.UID)
				case good && (!resp.Allowed || len(resp.Warnings) != 0):
					errs <- fmt.Errorf("%s: compliant object got %+v", uid, resp)
				case !good && (resp.Allowed || resp.Result == nil || resp.Result.Message != brokenMessage(name) || !reflect.DeepEqual(resp.Warnings, brokenWarnings(name))):
					errs <- fmt.Errorf("%s: non-compliant object got %+v", uid, resp)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	n := 0
	for err := range errs {
		if n++; n <= 5 {
			t.Error(err)
		}
	}
	if n > 5 {
		t.Errorf("... and %d more", n-5)
	}
	allowed := requests(t, e, "validate", "allowed")
	denied := requests(t, e, "validate", "denied")
	if allowed != workers*perWorker/2 || denied != workers*perWorker/2 {
		t.Errorf("counted %v allowed and %v denied, want %d each", allowed, denied, workers*perWorker/2)
	}
}
