// Package slo turns ServiceLevelObjectives into error budgets: the budget
// arithmetic, the Prometheus queries that measure it, the controller that
// writes it to each SLO's status, and the data document policies read.
package slo

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/prometheus/common/model"

	"github.com/budgetgate/budgetgate/slo/api/v1alpha1"
)

// States of an SLO, as `kubectl get slo` and `budgetgate budget` show them.
const (
	StateOK     = "ok"
	StateCanary = "canary"
	StateFrozen = "frozen"
	StateStale  = "stale"
	StateError  = "error"
)

// Thresholds are the remaining-budget levels where rollouts change.
type Thresholds struct {
	CanaryBelow float64 // rollouts are forced into canary below this
	FreezeBelow float64 // rollouts are frozen at or below this
}

// DefaultThresholds are DESIGN.md's: canary under 25% left, freeze when spent.
func DefaultThresholds() Thresholds { return Thresholds{CanaryBelow: 0.25, FreezeBelow: 0} }

// Remaining is the budget left after an error ratio over the window:
// 1 - errorRatio / (1 - objective). objective is a ratio (0.999). It goes
// below 0 when the budget is overspent.
func Remaining(errorRatio, objective float64) float64 {
	return 1 - errorRatio/(1-objective)
}

// BurnRate is how fast an error ratio spends the budget: 1 spends it exactly
// over the window, 14.4 spends a 30-day budget in about two days.
func BurnRate(errorRatio, objective float64) float64 {
	return errorRatio / (1 - objective)
}

// For is t with the SLO's own canaryBelow and freezeBelow, where it sets them.
func (t Thresholds) For(s *v1alpha1.ServiceLevelObjective) Thresholds {
	if s.Spec.CanaryBelow != nil {
		t.CanaryBelow = *s.Spec.CanaryBelow
	}
	if s.Spec.FreezeBelow != nil {
		t.FreezeBelow = *s.Spec.FreezeBelow
	}
	return t
}

// State classifies a remaining budget.
func State(remaining float64, t Thresholds) string {
	switch {
	case remaining <= t.FreezeBelow:
		return StateFrozen
	case remaining < t.CanaryBelow:
		return StateCanary
	}
	return StateOK
}

// AllowedDowntime is the full outage the objective allows over the window:
// 99.9% over 30d allows 43m12s.
func AllowedDowntime(objective float64, window time.Duration) time.Duration {
	return time.Duration(float64(window) * (1 - objective)).Round(time.Second)
}

// ParseWindow reads a Prometheus duration such as 30d or 4w.
func ParseWindow(s string) (time.Duration, error) {
	d, err := model.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("window %q is not a Prometheus duration such as 30d, 4w or 720h", s)
	}
	if d <= 0 {
		return 0, fmt.Errorf("window %q must be longer than zero", s)
	}
	return time.Duration(d), nil
}

// Percent formats a ratio as a percentage for people: 0.4213 -> "42.13%".
func Percent(ratio float64) string {
	if math.IsNaN(ratio) || math.IsInf(ratio, 0) {
		return "n/a"
	}
	return strconv.FormatFloat(ratio*100, 'f', 2, 64) + "%"
}
