package slo

import (
	"context"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/budgetgate/budgetgate/slo/api/v1alpha1"
)

// Condition types on a ServiceLevelObjective.
const (
	ConditionReady       = "Ready"
	ConditionStale       = "Stale"
	ConditionQueryFailed = "QueryFailed"
)

// Measurer measures an SLO's budget; *Evaluator is the real one.
type Measurer interface {
	Evaluate(ctx context.Context, spec v1alpha1.ServiceLevelObjectiveSpec, at time.Time) (Evaluation, error)
}

// Controller evaluates every ServiceLevelObjective against Prometheus on an
// interval and writes the result to its status. Only the leader runs it.
type Controller struct {
	Client     client.Client
	Measurer   Measurer
	Interval   time.Duration
	StaleAfter time.Duration
	// Thresholds are the config's; an SLO's own canaryBelow/freezeBelow win.
	Thresholds Thresholds
	Now        func() time.Time
	Log        logr.Logger
}

// SetupWithManager registers the controller. Status writes do not change the
// generation, so they do not trigger a new evaluation: the interval does.
func (c *Controller) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("servicelevelobjective").
		For(&v1alpha1.ServiceLevelObjective{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Complete(c)
}

// Reconcile measures one SLO and records the result.
func (c *Controller) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var s v1alpha1.ServiceLevelObjective
	if err := c.Client.Get(ctx, req.NamespacedName, &s); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	now := c.Now()
	before := s.DeepCopy()
	ev, err := c.Measurer.Evaluate(ctx, s.Spec, now)
	c.apply(&s, ev, err, now)
	if err != nil {
		c.Log.Info("measuring the SLO failed", "slo", req.NamespacedName, "error", err.Error())
	}
	if err := c.Client.Status().Patch(ctx, &s, client.MergeFrom(before)); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: c.Interval}, nil
}

// apply folds one measurement (or its error) into the status.
func (c *Controller) apply(s *v1alpha1.ServiceLevelObjective, ev Evaluation, evalErr error, now time.Time) {
	st := &s.Status
	st.ObservedGeneration = s.Generation
	gen := s.Generation
	if evalErr == nil {
		remaining := ev.Remaining
		consumed := 1 - remaining
		st.Remaining, st.Consumed = &remaining, &consumed
		st.RemainingPercent = Percent(remaining)
		st.BurnRate1h, st.BurnRate6h = ev.BurnRate1h, ev.BurnRate6h
		st.EvaluatedAt = &metav1.Time{Time: ev.At}
		setCondition(st, gen, ConditionQueryFailed, false, "QuerySucceeded", "Prometheus answered every query")
	} else {
		setCondition(st, gen, ConditionQueryFailed, true, "QueryFailed", evalErr.Error())
	}
	stale := IsStale(*st, now, c.StaleAfter)
	switch {
	case stale && st.Remaining == nil:
		st.State = StateError
		setCondition(st, gen, ConditionStale, true, "NeverMeasured", "the budget has not been measured yet")
	case stale:
		st.State = StateStale
		setCondition(st, gen, ConditionStale, true, "NoFreshData", "no successful measurement within "+c.StaleAfter.String()+"; policies use the last known budget")
	default:
		st.State = State(*st.Remaining, c.Thresholds.For(s))
		setCondition(st, gen, ConditionStale, false, "Fresh", "measured within "+c.StaleAfter.String())
	}
	if stale || evalErr != nil {
		setCondition(st, gen, ConditionReady, false, "NotMeasured", "see the QueryFailed and Stale conditions")
	} else {
		setCondition(st, gen, ConditionReady, true, "Measured", "budget remaining "+st.RemainingPercent)
	}
}

func setCondition(st *v1alpha1.ServiceLevelObjectiveStatus, gen int64, typ string, status bool, reason, msg string) {
	s := metav1.ConditionFalse
	if status {
		s = metav1.ConditionTrue
	}
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: typ, Status: s, Reason: reason, Message: msg, ObservedGeneration: gen})
}
