package webhook_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/budgetgate/budgetgate/webhook"
)

// BenchmarkValidateDeploymentReview is one /validate request for the engine
// benchmark's Deployment review (rego/testdata), through the handler as
// serve mounts it, without the network: decoding, evaluation, metrics and
// the response. Its difference to the engine benchmark is the webhook's own
// cost per admission.
func BenchmarkValidateDeploymentReview(b *testing.B) {
	body, err := os.ReadFile("../rego/testdata/deployment-review.json")
	if err != nil {
		b.Fatal(err)
	}
	m := webhook.NewMetrics(prometheus.NewRegistry())
	v := &webhook.Validator{Engine: shippedEngine(b, nil), Options: webhook.DefaultOptions(), Log: logr.Discard(), Metrics: m}
	h := webhook.Serve("validate", v, logr.Discard(), m)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/validate", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK || !bytes.Contains(w.Body.Bytes(), []byte(`"allowed":true`)) {
			b.Fatalf("the review must be admitted: HTTP %d %s", w.Code, w.Body)
		}
	}
}
