package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ServiceLevelObjectiveSpec declares an objective and how to measure it.
type ServiceLevelObjectiveSpec struct {
	// Objective is the target in percent, e.g. 99.9.
	// +kubebuilder:validation:ExclusiveMinimum=true
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:ExclusiveMaximum=true
	// +kubebuilder:validation:Maximum=100
	Objective float64 `json:"objective"`

	// Window is the rolling window the budget covers, as a Prometheus
	// duration: 30d, 4w, 720h.
	// +kubebuilder:validation:Pattern=`^[0-9]+(ms|s|m|h|d|w|y)$`
	Window string `json:"window"`

	// Indicator says how Prometheus measures the objective.
	Indicator Indicator `json:"indicator"`

	// CanaryBelow overrides the config's canaryBelow for this SLO: budget
	// remaining (a ratio, 0.25 = 25%) under which rollouts are forced into canary.
	// +optional
	CanaryBelow *float64 `json:"canaryBelow,omitempty"`

	// FreezeBelow overrides the config's freezeBelow for this SLO: budget
	// remaining at or under which rollouts are frozen.
	// +optional
	FreezeBelow *float64 `json:"freezeBelow,omitempty"`
}

// Indicator is either a ratio of error and total queries, or a query that
// returns the budget remaining directly (Sloth, Pyrra).
// +kubebuilder:validation:XValidation:rule="has(self.ratio) != has(self.remaining)",message="set exactly one of ratio or remaining"
type Indicator struct {
	// Ratio measures errors against all events.
	// +optional
	Ratio *RatioIndicator `json:"ratio,omitempty"`

	// Remaining is a PromQL query whose value is the budget remaining as a
	// ratio, e.g. Sloth's slo:period_error_budget_remaining:ratio.
	// +optional
	Remaining string `json:"remaining,omitempty"`
}

// RatioIndicator holds two PromQL queries; {{.window}} in them is replaced by
// the window being evaluated (the SLO's window, 1h or 6h for burn rates).
type RatioIndicator struct {
	// Errors counts bad events per second, e.g. sum(rate(http_requests_total{code=~"5.."}[{{.window}}])).
	// +kubebuilder:validation:MinLength=1
	Errors string `json:"errors"`
	// Total counts all events per second.
	// +kubebuilder:validation:MinLength=1
	Total string `json:"total"`
}

// ServiceLevelObjectiveStatus is the last evaluation against Prometheus.
type ServiceLevelObjectiveStatus struct {
	// Remaining is the budget remaining as a ratio: 1 is untouched, 0 spent,
	// below 0 overspent.
	// +optional
	Remaining *float64 `json:"remaining,omitempty"`
	// RemainingPercent is Remaining as a percentage string, for kubectl get.
	// +optional
	RemainingPercent string `json:"remainingPercent,omitempty"`
	// Consumed is 1 - Remaining.
	// +optional
	Consumed *float64 `json:"consumed,omitempty"`
	// BurnRate1h is the error rate over the last hour relative to the rate the
	// objective allows (1 spends the budget exactly over the window).
	// +optional
	BurnRate1h *float64 `json:"burnRate1h,omitempty"`
	// BurnRate6h is the same over the last six hours.
	// +optional
	BurnRate6h *float64 `json:"burnRate6h,omitempty"`
	// EvaluatedAt is when Prometheus last answered.
	// +optional
	EvaluatedAt *metav1.Time `json:"evaluatedAt,omitempty"`
	// State is ok, canary, frozen, stale or error.
	// +optional
	State string `json:"state,omitempty"`
	// ObservedGeneration is the spec generation last evaluated.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Ready (evaluated recently), Stale (no fresh data within the
	// limit), QueryFailed (with Prometheus' error).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// ServiceLevelObjective ties an objective to the Prometheus queries that
// measure it; budgetgate gates the rollouts of workloads labelled
// budgetgate.dev/slo: <name> on its error budget.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=slo
// +kubebuilder:printcolumn:name="Objective",type=number,JSONPath=`.spec.objective`
// +kubebuilder:printcolumn:name="Window",type=string,JSONPath=`.spec.window`
// +kubebuilder:printcolumn:name="Remaining",type=string,JSONPath=`.status.remainingPercent`
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.status.state`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ServiceLevelObjective struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ServiceLevelObjectiveSpec   `json:"spec"`
	Status ServiceLevelObjectiveStatus `json:"status,omitempty"`
}

// ServiceLevelObjectiveList is a list of ServiceLevelObjectives.
//
// +kubebuilder:object:root=true
type ServiceLevelObjectiveList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ServiceLevelObjective `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ServiceLevelObjective{}, &ServiceLevelObjectiveList{})
}
