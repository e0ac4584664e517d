package slo

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/budgetgate/budgetgate/slo/api/v1alpha1"
)

// PrometheusOptions say how to reach Prometheus' HTTP API.
type PrometheusOptions struct {
	URL string
	// Timeout bounds each query.
	Timeout time.Duration
	// BearerTokenFile, if set, is read on every request (tokens rotate).
	BearerTokenFile string
	// CAFile, if set, is the CA bundle that signs Prometheus' certificate.
	CAFile string
}

// NewPrometheusAPI builds the client_golang API client for opts.
func NewPrometheusAPI(opts PrometheusOptions) (promv1.API, error) {
	if opts.URL == "" {
		return nil, errors.New("no Prometheus URL: pass --prometheus-url, e.g. http://prometheus.monitoring:9090")
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if opts.CAFile != "" {
		pem, err := os.ReadFile(opts.CAFile)
		if err != nil {
			return nil, fmt.Errorf("reading the Prometheus CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("the Prometheus CA file %s holds no PEM certificate", opts.CAFile)
		}
		transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	var rt http.RoundTripper = transport
	if opts.BearerTokenFile != "" {
		rt = &bearerToken{file: opts.BearerTokenFile, next: transport}
	}
	client, err := api.NewClient(api.Config{Address: opts.URL, Client: &http.Client{Transport: rt, Timeout: opts.Timeout}})
	if err != nil {
		return nil, fmt.Errorf("Prometheus URL %q: %w", opts.URL, err)
	}
	return promv1.NewAPI(client), nil
}

type bearerToken struct {
	file string
	next http.RoundTripper
}

func (b *bearerToken) RoundTrip(req *http.Request) (*http.Response, error) {
	token, err := os.ReadFile(b.file)
	if err != nil {
		return nil, fmt.Errorf("reading the Prometheus bearer token: %w", err)
	}
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	return b.next.RoundTrip(req)
}

// Evaluation is one measurement of an SLO's error budget.
type Evaluation struct {
	Remaining  float64
	BurnRate1h *float64 // nil for a remaining indicator
	BurnRate6h *float64
	At         time.Time
}

// Evaluator measures SLOs against Prometheus.
type Evaluator struct {
	API promv1.API
}

// Evaluate measures spec at time at.
func (e *Evaluator) Evaluate(ctx context.Context, spec v1alpha1.ServiceLevelObjectiveSpec, at time.Time) (Evaluation, error) {
	objective := spec.Objective / 100
	if objective <= 0 || objective >= 1 {
		return Evaluation{}, fmt.Errorf("objective %v%% must be between 0 and 100", spec.Objective)
	}
	ev := Evaluation{At: at}
	switch {
	case spec.Indicator.Ratio != nil:
		ratio, err := e.errorRatio(ctx, spec.Indicator.Ratio, spec.Window, at, true)
		if err != nil {
			return Evaluation{}, err
		}
		ev.Remaining = Remaining(ratio, objective)
		for _, w := range []struct {
			window string
			into   **float64
		}{{"1h", &ev.BurnRate1h}, {"6h", &ev.BurnRate6h}} {
			r, err := e.errorRatio(ctx, spec.Indicator.Ratio, w.window, at, false)
			if err != nil {
				return Evaluation{}, err
			}
			burn := BurnRate(r, objective)
			*w.into = &burn
		}
	case spec.Indicator.Remaining != "":
		v, found, err := e.scalar(ctx, spec.Indicator.Remaining, at)
		if err != nil {
			return Evaluation{}, err
		}
		if !found {
			return Evaluation{}, fmt.Errorf("the remaining query returned no sample: check %q in Prometheus", spec.Indicator.Remaining)
		}
		ev.Remaining = v
	default:
		return Evaluation{}, errors.New("the indicator sets neither ratio nor remaining")
	}
	return ev, nil
}

// errorRatio is errors/total over window. No error samples means no errors.
// Over the SLO's window, no total samples (or zero traffic) is an error: a
// typo and an idle service look alike, and guessing either way would misstate
// the budget. Over a burn-rate window (requireTraffic false) a quiet hour
// burns nothing.
func (e *Evaluator) errorRatio(ctx context.Context, q *v1alpha1.RatioIndicator, window string, at time.Time, requireTraffic bool) (float64, error) {
	total, found, err := e.scalar(ctx, withWindow(q.Total, window), at)
	if err != nil {
		return 0, err
	}
	if !found || total == 0 {
		if !requireTraffic {
			return 0, nil
		}
		return 0, fmt.Errorf("the total query over %s returned no traffic: check %q in Prometheus", window, withWindow(q.Total, window))
	}
	errs, _, err := e.scalar(ctx, withWindow(q.Errors, window), at)
	if err != nil {
		return 0, err
	}
	return errs / total, nil
}

// withWindow replaces the {{.window}} placeholder.
func withWindow(query, window string) string {
	for _, p := range []string{"{{.window}}", "{{ .window }}"} {
		query = strings.ReplaceAll(query, p, window)
	}
	return query
}

// scalar runs an instant query that must return at most one sample.
func (e *Evaluator) scalar(ctx context.Context, query string, at time.Time) (float64, bool, error) {
	value, _, _, err := e.API.Query(ctx, query, at)
	if err != nil {
		return 0, false, fmt.Errorf("query %q: %w", query, err)
	}
	switch v := value.(type) {
	case model.Vector:
		switch len(v) {
		case 0:
			return 0, false, nil
		case 1:
			return float64(v[0].Value), true, nil
		}
		return 0, false, fmt.Errorf("query %q returned %d series: aggregate it to one, e.g. with sum()", query, len(v))
	case *model.Scalar:
		return float64(v.Value), true, nil
	}
	return 0, false, fmt.Errorf("query %q returned a %s, want an instant vector or scalar", query, value.Type())
}
