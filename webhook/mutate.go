package webhook

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/go-logr/logr"

	"github.com/budgetgate/budgetgate/rego"
)

// Mutator answers with the JSON Patch of the policies' patch rules. It does
// not warn or deny: the validating webhook, which runs after every mutation,
// owns the verdict, so users see each message once.
type Mutator struct {
	Engine  Evaluator
	Options Options
	Log     logr.Logger
}

var _ Handler = (*Mutator)(nil)

// Handle implements Handler.
func (m *Mutator) Handle(ctx context.Context, review *Review) (Response, Outcome) {
	// Every verdict rule, though only the patch is answered: an error in any
	// rule then fails this webhook as the failure mode says, as it fails the
	// validating one, and the patch needs the findings anyway.
	d, err := evaluate(ctx, m.Engine, rego.AllVerdicts, m.Options, review)
	if err != nil {
		return onFailure(m.Options.FailureMode, m.Log, review, err)
	}
	if len(d.Patch) == 0 {
		return Allowed(nil), OutcomeAllowed
	}
	patch, err := json.Marshal(d.Patch)
	if err != nil {
		return onFailure(m.Options.FailureMode, m.Log, review, fmt.Errorf("encoding the patch: %w", err))
	}
	if debug := m.Log.V(1); debug.Enabled() {
		debug.Info("patching", "request", review.String(), "uid", review.UID, "patch", string(patch))
	}
	return Patched(patch), OutcomePatched
}
