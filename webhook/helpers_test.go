package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/budgetgate/budgetgate/policies"
	"github.com/budgetgate/budgetgate/rego"
	"github.com/budgetgate/budgetgate/webhook"
)

// obj is a JSON object under construction: manifests, data documents.
type obj = map[string]any

// shippedEngine loads the embedded library over the data document data.
func shippedEngine(t testing.TB, data obj) *rego.Engine {
	t.Helper()
	files, err := rego.ReadFS(policies.FS, ".", "policies")
	if err != nil {
		t.Fatalf("reading the shipped library: %v", err)
	}
	return loadEngine(t, "the shipped library", files, data)
}

// loadEngine loads a policy set over the data document data.
func loadEngine(t testing.TB, source string, files rego.Files, data obj) *rego.Engine {
	t.Helper()
	e := rego.NewEngine(data)
	if _, err := e.Load(context.Background(), source, files); err != nil {
		t.Fatalf("loading %s: %v", source, err)
	}
	return e
}

// testOptions are the defaults with a generous timeout for -race runs.
func testOptions(mode webhook.FailureMode) webhook.Options {
	o := webhook.DefaultOptions()
	o.Timeout = 10e9 // 10 s: -race makes evaluation slow, never this slow
	o.FailureMode = mode
	return o
}

// env is one webhook under test behind an httptest server, with its metrics.
type env struct {
	url     string
	reg     *prometheus.Registry
	metrics *webhook.Metrics
}

// newValidateEnv serves a Validator over e at /validate.
func newValidateEnv(t testing.TB, e webhook.Evaluator, opts webhook.Options) *env {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := webhook.NewMetrics(reg)
	v := &webhook.Validator{Engine: e, Options: opts, Log: logr.Discard(), Metrics: m}
	return startEnv(t, "validate", v, reg, m)
}

// newMutateEnv serves a Mutator over e at /mutate.
func newMutateEnv(t testing.TB, e webhook.Evaluator, opts webhook.Options) *env {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := webhook.NewMetrics(reg)
	mu := &webhook.Mutator{Engine: e, Options: opts, Log: logr.Discard()}
	return startEnv(t, "mutate", mu, reg, m)
}

func startEnv(t testing.TB, name string, h webhook.Handler, reg *prometheus.Registry, m *webhook.Metrics) *env {
	mux := http.NewServeMux()
	mux.Handle("/"+name, webhook.Serve(name, h, logr.Discard(), m))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &env{url: srv.URL + "/" + name, reg: reg, metrics: m}
}

// reply is what came back over HTTP.
type reply struct {
	status      int
	contentType string
	body        []byte
	review      *admissionv1.AdmissionReview // nil unless status 200
}

// post sends body with the given content type ("" for none) and decodes an
// AdmissionReview from a 200 answer.
func post(t testing.TB, client *http.Client, url, contentType string, body []byte) reply {
	t.Helper()
	return do(t, client, http.MethodPost, url, contentType, body)
}

func do(t testing.TB, client *http.Client, method, url, contentType string, body []byte) reply {
	t.Helper()
	r, err := send(client, method, url, contentType, body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// send is do for goroutines other than the test's: it reports errors.
func send(client *http.Client, method, url, contentType string, body []byte) (reply, error) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return reply{}, fmt.Errorf("building the request: %w", err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return reply{}, fmt.Errorf("%s %s: %w (did the handler panic?)", method, url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, fmt.Errorf("reading the response: %w", err)
	}
	r := reply{status: resp.StatusCode, contentType: resp.Header.Get("Content-Type"), body: raw}
	if resp.StatusCode == http.StatusOK {
		r.review = &admissionv1.AdmissionReview{}
		if err := json.Unmarshal(raw, r.review); err != nil {
			return r, fmt.Errorf("the 200 answer is no AdmissionReview: %w\n%s", err, raw)
		}
	}
	return r, nil
}

// admit posts an AdmissionReview and checks the envelope every answer must
// have: HTTP 200, JSON, admission.k8s.io/v1 AdmissionReview, the request's uid.
func admit(t testing.TB, client *http.Client, url string, review []byte) *admissionv1.AdmissionResponse {
	t.Helper()
	r := post(t, client, url, "application/json", review)
	if r.status != http.StatusOK {
		t.Fatalf("HTTP %d, want 200: %s", r.status, r.body)
	}
	if r.contentType != "application/json" {
		t.Errorf("Content-Type %q, want application/json", r.contentType)
	}
	if r.review.APIVersion != "admission.k8s.io/v1" || r.review.Kind != "AdmissionReview" {
		t.Errorf("answer is apiVersion %q kind %q, want admission.k8s.io/v1 AdmissionReview", r.review.APIVersion, r.review.Kind)
	}
	if r.review.Request != nil {
		t.Errorf("answer carries a request: %s", r.body)
	}
	if r.review.Response == nil {
		t.Fatalf("answer has no response: %s", r.body)
	}
	var sent struct {
		Request struct {
			UID string `json:"uid"`
		} `json:"request"`
	}
	if err := json.Unmarshal(review, &sent); err != nil {
		t.Fatalf("test bug: review is not JSON: %v", err)
	}
	if got := string(r.review.Response.UID); got != sent.Request.UID {
		t.Errorf("response uid %q, want the request's %q", got, sent.Request.UID)
	}
	return r.review.Response
}

// reviewJSON builds an admission.k8s.io/v1 AdmissionReview for a Deployment.
// object or oldObject nil leaves them null, as the API server does.
func reviewJSON(uid, operation string, object, oldObject obj) []byte {
	name, namespace := "", ""
	for _, o := range []obj{object, oldObject} {
		if o == nil {
			continue
		}
		md := o["metadata"].(obj)
		name, _ = md["name"].(string)
		namespace, _ = md["namespace"].(string)
		break
	}
	var objJSON, oldJSON any
	if object != nil {
		objJSON = object
	}
	if oldObject != nil {
		oldJSON = oldObject
	}
	review := obj{
		"apiVersion": "admission.k8s.io/v1",
		"kind":       "AdmissionReview",
		"request": obj{
			"uid":                uid,
			"kind":               obj{"group": "apps", "version": "v1", "kind": "Deployment"},
			"resource":           obj{"group": "apps", "version": "v1", "resource": "deployments"},
			"requestKind":        obj{"group": "apps", "version": "v1", "kind": "Deployment"},
			"requestResource":    obj{"group": "apps", "version": "v1", "resource": "deployments"},
			"name":               name,
			"namespace":          namespace,
			"operation":          operation,
			"userInfo":           obj{"username": "alice", "groups": []any{"system:authenticated"}},
			"object":             objJSON,
			"oldObject":          oldJSON,
			"dryRun":             false,
			"options":            obj{"apiVersion": "meta.k8s.io/v1", "kind": operationOptions(operation)},
			"requestSubResource": "",
		},
	}
	b, err := json.Marshal(review)
	if err != nil {
		panic(err)
	}
	return b
}

func operationOptions(op string) string {
	switch op {
	case "UPDATE":
		return "UpdateOptions"
	case "DELETE":
		return "DeleteOptions"
	}
	return "CreateOptions"
}

// compliant is a Deployment the shipped library admits without a word.
func compliant(name string) obj {
	return obj{
		"apiVersion": "apps/v1",
		"kind":       "Deployment",
		"metadata": obj{
			"name":      name,
			"namespace": "shop",
			"labels":    obj{"app": name, "owner": "team-checkout", "budgetgate.dev/slo": "checkout"},
		},
		"spec": obj{
			"replicas": 3,
			"selector": obj{"matchLabels": obj{"app": name}},
			"template": obj{
				"metadata": obj{"labels": obj{"app": name}},
				"spec": obj{
					"containers": []any{obj{
						"name":  "app",
						"image": "registry.example/checkout:1.4.2",
						"resources": obj{
							"requests": obj{"cpu": "100m", "memory": "128Mi"},
							"limits":   obj{"memory": "256Mi"},
						},
						"readinessProbe": obj{"httpGet": obj{"path": "/healthz", "port": 8080}},
					}},
				},
			},
		},
	}
}

// with returns a deep copy of o changed by edits.
func with(o obj, edits ...func(obj)) obj {
	b, err := json.Marshal(o)
	if err != nil {
		panic(err)
	}
	var c obj
	if err := json.Unmarshal(b, &c); err != nil {
		panic(err)
	}
	for _, e := range edits {
		e(c)
	}
	return c
}

func metadata(o obj) obj  { return o["metadata"].(obj) }
func labels(o obj) obj    { return metadata(o)["labels"].(obj) }
func spec(o obj) obj      { return o["spec"].(obj) }
func podSpec(o obj) obj   { return spec(o)["template"].(obj)["spec"].(obj) }
func container(o obj) obj { return podSpec(o)["containers"].([]any)[0].(obj) }
func dropLabel(k string) func(obj) {
	return func(o obj) { delete(labels(o), k) }
}
func setReplicas(n int) func(obj) {
	return func(o obj) { spec(o)["replicas"] = n }
}

// broken fails owner-label, probes, resources and image-pinned (twice), warns
// min-replicas and slo-declared, and (slo-declared being canary) lacks the
// canary strategy the mutating webhook would have forced.
func broken(name string) obj {
	return with(compliant(name), dropLabel("owner"), dropLabel("budgetgate.dev/slo"), setReplicas(1), func(o obj) {
		c := container(o)
		c["image"] = "nginx"
		delete(c, "resources")
		delete(c, "readinessProbe")
		podSpec(o)["containers"] = append(podSpec(o)["containers"].([]any), obj{
			"name":           "sidecar",
			"image":          "busybox:latest",
			"resources":      obj{"requests": obj{"cpu": "10m", "memory": "16Mi"}, "limits": obj{"memory": "16Mi"}},
			"readinessProbe": obj{"exec": obj{"command": []any{"true"}}},
		})
	})
}

// brokenMessage is the denial of broken(name) in namespace shop.
func brokenMessage(name string) string {
	ref := "Deployment shop/" + name
	return strings.Join([]string{
		"budgetgate: 6 policies failed:",
		`[image-pinned] ` + ref + `: container "app" image "nginx" has no tag: set spec.template.spec.containers[0].image to a fixed version`,
		`[image-pinned] ` + ref + `: container "sidecar" image "busybox:latest" uses the tag latest: set spec.template.spec.containers[1].image to a fixed version`,
		`[owner-label] ` + ref + `: metadata.labels has no "owner" label: add metadata.labels.owner naming the owning team`,
		`[probes] ` + ref + `: container "app" has no readinessProbe: set spec.template.spec.containers[0].readinessProbe`,
		`[resources] ` + ref + `: container "app" has no resources.requests.cpu, resources.requests.memory, resources.limits.memory: set spec.template.spec.containers[0].resources`,
		canaryDenial(name),
	}, "\n")
}

// canaryDenial is the line a validating webhook answers for the Deployment
// shop/name whose canary finding (slo-declared) was not patched in.
func canaryDenial(name string) string {
	return `[slo-declared] Deployment shop/` + name + ` must roll out as a canary (slo-declared), but its strategy is not the canary strategy: is budgetgate's mutating webhook installed and called before this one?`
}

// canaryPatch is the JSON Patch the shipped library's mutating webhook answers
// for a Deployment without annotations, strategy, minReadySeconds and
// progressDeadlineSeconds whose only canary finding is slo-declared.
const canaryPatch = `[` +
	`{"op":"add","path":"/metadata/annotations","value":{"budgetgate.dev/canary":"slo-declared"}},` +
	`{"op":"add","path":"/spec/minReadySeconds","value":30},` +
	`{"op":"add","path":"/spec/progressDeadlineSeconds","value":600},` +
	`{"op":"add","path":"/spec/strategy","value":{"rollingUpdate":{"maxSurge":1,"maxUnavailable":0},"type":"RollingUpdate"}}` +
	`]`

// brokenWarnings are the warnings that travel with the denial of broken(name).
func brokenWarnings(name string) []string {
	ref := "Deployment shop/" + name
	return []string{
		`[min-replicas] ` + ref + `: spec.replicas is 1, below the minimum of 2: set spec.replicas to 2 or more (with a HorizontalPodAutoscaler, set it to the autoscaler's minReplicas)`,
		`[slo-declared] ` + ref + `: metadata.labels has no "budgetgate.dev/slo" label: add it with the name of the workload's ServiceLevelObjective`,
	}
}

// blockingEvaluator never answers before its context ends.
type blockingEvaluator struct{}

func (blockingEvaluator) Evaluate(ctx context.Context, _ ast.Value) (*rego.Decision, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// reviewObject is o as JSON bytes, as the API server holds it.
func reviewObject(t testing.TB, o obj) []byte {
	t.Helper()
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodeObject reads an object back from JSON.
func decodeObject(t testing.TB, b []byte) obj {
	t.Helper()
	var o obj
	if err := json.Unmarshal(b, &o); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return o
}
