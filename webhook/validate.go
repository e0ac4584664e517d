package webhook

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/go-logr/logr"

	"github.com/budgetgate/budgetgate/rego"
)

// Validator refuses requests that fail a deny rule and turns warn findings
// into Kubernetes warnings. dryrun findings are only logged and counted.
type Validator struct {
	Engine  Evaluator
	Options Options
	Log     logr.Logger
	Metrics *Metrics
	// Events records break-glass overrides; nil where there is no cluster.
	Events EventRecorder
}

var _ Handler = (*Validator)(nil)

// Handle implements Handler.
func (v *Validator) Handle(ctx context.Context, review *Review) (Response, Outcome) {
	d, err := evaluate(ctx, v.Engine, rego.AdmissionVerdicts, v.Options, review)
	if err != nil {
		return onFailure(v.Options.FailureMode, v.Log, review, err)
	}
	v.Metrics.countFindings(d)
	for _, f := range d.DryRun {
		v.Log.Info("dryrun finding (admitted)", "request", review.String(), "uid", review.UID, "policy", f.Policy(), "msg", f.Msg)
	}
	if !d.Allowed() {
		// Warnings travel with a denial too: the user fixes everything at once.
		resp := Denied(http.StatusForbidden, denialMessage(d.Failures))
		resp.Warnings = findingStrings(d.Warnings)
		return resp, OutcomeDenied
	}
	if len(d.Warnings) > 0 {
		resp := Allowed(findingStrings(d.Warnings))
		v.recordBreakGlass(review, d.Warnings, &resp)
		return resp, OutcomeWarned
	}
	return Allowed(nil), OutcomeAllowed
}

// denialMessage lists every failure, one a line, in the decision's stable order.
func denialMessage(failures []rego.Finding) string {
	var b strings.Builder
	if len(failures) == 1 {
		b.WriteString("budgetgate: 1 policy failed:")
	} else {
		fmt.Fprintf(&b, "budgetgate: %d policies failed:", len(failures))
	}
	for _, f := range failures {
		b.WriteString("\n")
		b.WriteString(f.String())
	}
	return b.String()
}

func findingStrings(fs []rego.Finding) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.String()
	}
	return out
}

// evaluate runs the engine under the configured timeout, reading only the
// verdicts v when the engine can.
func evaluate(ctx context.Context, engine Evaluator, v rego.Verdicts, opts Options, review *Review) (*rego.Decision, error) {
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	var d *rego.Decision
	var err error
	if ve, ok := engine.(VerdictEvaluator); ok {
		d, err = ve.EvaluateVerdicts(ctx, v, review.Input)
	} else {
		d, err = engine.Evaluate(ctx, review.Input)
	}
	if err != nil && ctx.Err() == context.DeadlineExceeded {
		return nil, fmt.Errorf("policy evaluation took longer than %s: simplify the policies or raise --eval-timeout", opts.Timeout)
	}
	return d, err
}

// onFailure answers a failed evaluation as the failure mode says.
func onFailure(mode FailureMode, log logr.Logger, review *Review, err error) (Response, Outcome) {
	log.Error(err, "policy evaluation failed", "request", review.String(), "uid", review.UID, "failureMode", mode)
	if mode == FailOpen {
		return Allowed([]string{fmt.Sprintf("budgetgate could not evaluate policies and admitted this request (--failure-mode=allow): %v", err)}), OutcomeError
	}
	return Denied(http.StatusInternalServerError, fmt.Sprintf("budgetgate could not evaluate policies and refused this request (--failure-mode=deny): %v", err)), OutcomeError
}
