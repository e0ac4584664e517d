package reload

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics count reloads; alert on budgetgate_policy_reload_failing == 1.
type Metrics struct {
	reloads  *prometheus.CounterVec
	failing  prometheus.Gauge
	duration prometheus.Histogram
}

// NewMetrics registers the reload metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "budgetgate_policy_reloads_total",
			Help: "Policy set changes tried, by result (loaded, refused).",
		}, []string{"result"}),
		failing: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "budgetgate_policy_reload_failing",
			Help: "1 while the last policy change was refused (the previous set serves), else 0.",
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "budgetgate_policy_reload_duration_seconds",
			Help:    "Time to check and swap in a changed policy set.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 10),
		}),
	}
	reg.MustRegister(m.reloads, m.failing, m.duration)
	return m
}

func (m *Metrics) observe(loaded bool, took time.Duration) {
	if m == nil {
		return
	}
	if loaded {
		m.reloads.WithLabelValues("loaded").Inc()
		m.failing.Set(0)
		m.duration.Observe(took.Seconds())
		return
	}
	m.reloads.WithLabelValues("refused").Inc()
	m.failing.Set(1)
}
