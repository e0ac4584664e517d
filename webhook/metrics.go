package webhook

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/budgetgate/budgetgate/rego"
)

// Metrics are the webhook's Prometheus series.
type Metrics struct {
	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	findings   *prometheus.CounterVec
	breakGlass *prometheus.CounterVec
}

// NewMetrics registers the webhook's series with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "budgetgate_admission_requests_total",
			Help: "Admission requests answered, by webhook and decision.",
		}, []string{"webhook", "decision"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "budgetgate_admission_duration_seconds",
			Help:    "Time from receiving an admission request to answering it, by webhook and decision.",
			Buckets: []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5},
		}, []string{"webhook", "decision"}),
		findings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "budgetgate_policy_findings_total",
			Help: "Findings of the validating webhook, by rule id and verdict (failure, warning, dryrun).",
		}, []string{"policy", "verdict"}),
	}
	m.breakGlass = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "budgetgate_break_glass_total",
		Help: "Changes admitted during a freeze by a break-glass annotation, by namespace and rule id.",
	}, []string{"namespace", "policy"})
	reg.MustRegister(m.requests, m.duration, m.findings, m.breakGlass)
	return m
}

func (m *Metrics) observe(webhook string, outcome Outcome, d time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(webhook, string(outcome)).Inc()
	m.duration.WithLabelValues(webhook, string(outcome)).Observe(d.Seconds())
}

func (m *Metrics) countFindings(d *rego.Decision) {
	if m == nil {
		return
	}
	count := func(verdict string, fs []rego.Finding) {
		for _, f := range fs {
			m.findings.WithLabelValues(f.Policy(), verdict).Inc()
		}
	}
	count("failure", d.Failures)
	count("warning", d.Warnings)
	count("dryrun", d.DryRun)
}

func (m *Metrics) countBreakGlass(namespace, policy string) {
	if m == nil {
		return
	}
	m.breakGlass.WithLabelValues(namespace, policy).Inc()
}
