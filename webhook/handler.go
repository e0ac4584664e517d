// Package webhook serves budgetgate's admission webhooks: /validate refuses or
// warns, /mutate patches. Each request flows one way: AdmissionReview ->
// policy input -> engine -> decision -> AdmissionResponse.
package webhook

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/budgetgate/budgetgate/rego"
)

// Evaluator is what the handlers need of the policy engine.
type Evaluator interface {
	Evaluate(ctx context.Context, input ast.Value) (*rego.Decision, error)
}

// VerdictEvaluator is an Evaluator that can read only some verdict rules
// (rego.Engine is one): each webhook then evaluates only what it answers
// with, and the validating webhook does not pay for the patch.
type VerdictEvaluator interface {
	Evaluator
	EvaluateVerdicts(ctx context.Context, v rego.Verdicts, input ast.Value) (*rego.Decision, error)
}

// Handler answers one admission request.
type Handler interface {
	Handle(ctx context.Context, review *Review) (Response, Outcome)
}

// Outcome labels a response in metrics and logs.
type Outcome string

// Outcomes of an admission request.
const (
	OutcomeAllowed Outcome = "allowed"
	OutcomeWarned  Outcome = "warned"
	OutcomeDenied  Outcome = "denied"
	OutcomePatched Outcome = "patched"
	// OutcomeError is a failed evaluation, answered per the failure mode.
	OutcomeError Outcome = "error"
	// OutcomeMalformed is a request that was no AdmissionReview (HTTP 4xx).
	OutcomeMalformed Outcome = "malformed"
)

// FailureMode says what happens when policies cannot be evaluated.
type FailureMode string

const (
	// FailClosed denies the request with the error (the default).
	FailClosed FailureMode = "deny"
	// FailOpen admits the request with a warning naming the error.
	FailOpen FailureMode = "allow"
)

// ParseFailureMode reads --failure-mode.
func ParseFailureMode(s string) (FailureMode, error) {
	switch FailureMode(s) {
	case FailClosed, FailOpen:
		return FailureMode(s), nil
	}
	return "", errors.New(`failure mode must be "deny" (refuse requests when policies cannot be evaluated) or "allow" (admit them with a warning)`)
}

// Options configure both handlers.
type Options struct {
	// Timeout bounds one policy evaluation; keep it below the webhook
	// configuration's timeoutSeconds so the failure mode, not the API server,
	// decides.
	Timeout time.Duration
	// FailureMode applies when evaluation fails or times out.
	FailureMode FailureMode
}

// DefaultOptions: 3 s leaves room under a 10 s webhook timeout; fail closed.
func DefaultOptions() Options {
	return Options{Timeout: 3 * time.Second, FailureMode: FailClosed}
}

// httpHandler decodes the request, calls h, and records the outcome.
type httpHandler struct {
	name    string
	handler Handler
	log     logr.Logger
	metrics *Metrics
}

// Serve turns h into the http.Handler registered at a webhook path; name
// ("validate" or "mutate") labels its metrics and logs.
func Serve(name string, h Handler, log logr.Logger, m *Metrics) http.Handler {
	return &httpHandler{name: name, handler: h, log: log.WithName(name), metrics: m}
}

func (s *httpHandler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	start := time.Now()
	review, err := decodeReview(req)
	if err != nil {
		status := http.StatusBadRequest
		var br *badRequest
		if errors.As(err, &br) {
			status = br.status
		}
		s.log.Info("refused a malformed request", "remote", req.RemoteAddr, "status", status, "error", err.Error())
		s.metrics.observe(s.name, OutcomeMalformed, time.Since(start))
		http.Error(w, err.Error(), status)
		return
	}
	resp, outcome := s.handler.Handle(req.Context(), review)
	// Recorded before the answer leaves, so whoever sees the answer can see it counted.
	elapsed := time.Since(start)
	s.metrics.observe(s.name, outcome, elapsed)
	if debug := s.log.V(1); debug.Enabled() {
		debug.Info("admission", "request", review.String(), "uid", review.UID, "outcome", outcome, "duration", elapsed)
	}
	if err := writeResponse(w, review, resp); err != nil {
		s.log.Error(err, "writing the admission response", "request", review.String(), "uid", review.UID)
	}
}
