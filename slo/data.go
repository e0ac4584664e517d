package slo

import (
	"context"
	"math"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/budgetgate/budgetgate/slo/api/v1alpha1"
)

// Key names an SLO in data.budgetgate.budgets: "<namespace>/<name>".
func Key(s *v1alpha1.ServiceLevelObjective) string { return s.Namespace + "/" + s.Name }

// Budget is one entry of data.budgetgate.budgets, JSON-compatible as the
// policy store wants it (the shape of DESIGN.md's data document).
func Budget(s *v1alpha1.ServiceLevelObjective, now time.Time, staleAfter time.Duration) map[string]any {
	b := map[string]any{
		"objective": math.Round(s.Spec.Objective*1e4) / 1e6, // 99.9 -> 0.999, without float noise
		"window":    s.Spec.Window,
		"stale":     IsStale(s.Status, now, staleAfter),
	}
	st := s.Status
	if st.Remaining != nil {
		b["remaining"] = *st.Remaining
	}
	burn := map[string]any{}
	if st.BurnRate1h != nil {
		burn["1h"] = *st.BurnRate1h
	}
	if st.BurnRate6h != nil {
		burn["6h"] = *st.BurnRate6h
	}
	if len(burn) > 0 {
		b["burnRate"] = burn
	}
	if st.EvaluatedAt != nil {
		b["evaluatedAt"] = st.EvaluatedAt.UTC().Format(time.RFC3339)
	}
	if s.Spec.CanaryBelow != nil {
		b["canaryBelow"] = *s.Spec.CanaryBelow
	}
	if s.Spec.FreezeBelow != nil {
		b["freezeBelow"] = *s.Spec.FreezeBelow
	}
	return b
}

// IsStale is true when the budget was never measured or not within staleAfter.
// It is computed from evaluatedAt, not only read from the Stale condition, so
// budgets go stale even when the controller itself has stopped.
func IsStale(st v1alpha1.ServiceLevelObjectiveStatus, now time.Time, staleAfter time.Duration) bool {
	return st.EvaluatedAt == nil || st.Remaining == nil || now.Sub(st.EvaluatedAt.Time) > staleAfter
}

// Budgets is data.budgetgate.budgets for a set of SLOs.
func Budgets(slos []v1alpha1.ServiceLevelObjective, now time.Time, staleAfter time.Duration) map[string]any {
	out := make(map[string]any, len(slos))
	for i := range slos {
		out[Key(&slos[i])] = Budget(&slos[i], now, staleAfter)
	}
	return out
}

// BudgetsPath is where policies read budgets: data.budgetgate.budgets.
var BudgetsPath = []string{"budgetgate", "budgets"}

// BudgetsFrom builds data.budgetgate.budgets from the SLOs in the cache.
func BudgetsFrom(c client.Reader, staleAfter time.Duration, now func() time.Time) func(ctx context.Context) (any, error) {
	return func(ctx context.Context) (any, error) {
		var list v1alpha1.ServiceLevelObjectiveList
		if err := c.List(ctx, &list); err != nil {
			return nil, err
		}
		return Budgets(list.Items, now(), staleAfter), nil
	}
}
