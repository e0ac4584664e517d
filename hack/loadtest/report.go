package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// phase is one attack spec run against each server in turn.
type phase struct {
	spec  attackSpec
	stats []*stats // budgetgate, opa
}

type report struct {
	cfg                   config
	env                   machine
	loadBefore, loadAfter string
	idleRSS, peakRSS      []int64
	fixed                 []phase
	max                   phase
	swap                  *swapResult
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d.Microseconds())/1000) }

func mib(b int64) string { return fmt.Sprintf("%.1f", float64(b)/(1<<20)) }

// times says how many times better budgetgate is: other/ours for a cost
// (latency, CPU, memory), ours/other for a throughput.
func times(ours, other float64) string {
	if ours <= 0 || other <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", other/ours)
}

func (r *report) write(w io.Writer) {
	c := r.cfg
	fmt.Fprintf(w, "## Load benchmark: budgetgate serve beside opa run --server\n\n")
	fmt.Fprintf(w, "Machine: %d CPUs (%s), %s, OPA %s. Load average (1/5/15 min) %s before, %s after the comparison.\n",
		r.env.cpus, r.env.model, r.env.goVersion, r.env.opa, r.loadBefore, r.loadAfter)
	fmt.Fprintf(w, "Input: %s, %d SLO budgets in data; HTTPS (TLS 1.3, HTTP/1.1, keep-alive) from vegeta in the same machine.\n\n", c.review, c.slos)
	fmt.Fprintf(w, "Latencies are exact quantiles of every request; errors are transport errors, non-200 answers or answers without \"allowed\":true. CPU is the server process' user+system time over the attack's wall time (cores).\n\n")

	fmt.Fprintf(w, "| measure | budgetgate | OPA server | budgetgate advantage |\n|---|---:|---:|---:|\n")
	fmt.Fprintf(w, "| idle RSS (MiB) | %s | %s | %s |\n", mib(r.idleRSS[0]), mib(r.idleRSS[1]), times(float64(r.idleRSS[0]), float64(r.idleRSS[1])))
	for _, p := range r.fixed {
		b, o := p.stats[0], p.stats[1]
		fmt.Fprintf(w, "| %d req/s: p50 (ms) | %s | %s | %s |\n", p.spec.rate, ms(b.quantile(0.5)), ms(o.quantile(0.5)), times(float64(b.quantile(0.5)), float64(o.quantile(0.5))))
		fmt.Fprintf(w, "| %d req/s: p99 (ms) | %s | %s | %s |\n", p.spec.rate, ms(b.quantile(0.99)), ms(o.quantile(0.99)), times(float64(b.quantile(0.99)), float64(o.quantile(0.99))))
		fmt.Fprintf(w, "| %d req/s: max (ms) | %s | %s | |\n", p.spec.rate, ms(b.quantile(1)), ms(o.quantile(1)))
		fmt.Fprintf(w, "| %d req/s: errors / requests | %d / %d | %d / %d | |\n", p.spec.rate, b.failed, b.requests, o.failed, o.requests)
		fmt.Fprintf(w, "| %d req/s: CPU (cores) | %.2f | %.2f | %s |\n", p.spec.rate, b.cores(), o.cores(), times(b.cores(), o.cores()))
	}
	b, o := r.max.stats[0], r.max.stats[1]
	fmt.Fprintf(w, "| **throughput, %d concurrent clients (req/s)** | **%.0f** | **%.0f** | **%s** |\n", r.max.spec.workers, b.throughput, o.throughput, times(o.throughput, b.throughput))
	fmt.Fprintf(w, "| throughput: errors / requests | %d / %d | %d / %d | |\n", b.failed, b.requests, o.failed, o.requests)
	fmt.Fprintf(w, "| throughput: p50 / p99 (ms) | %s / %s | %s / %s | |\n", ms(b.quantile(0.5)), ms(b.quantile(0.99)), ms(o.quantile(0.5)), ms(o.quantile(0.99)))
	fmt.Fprintf(w, "| throughput: CPU (cores) | %.2f | %.2f | |\n", b.cores(), o.cores())
	fmt.Fprintf(w, "| throughput: CPU per request (µs) | %d | %d | %s |\n", b.cpuPerRequest().Microseconds(), o.cpuPerRequest().Microseconds(), times(float64(b.cpuPerRequest()), float64(o.cpuPerRequest())))
	fmt.Fprintf(w, "| peak RSS (MiB) | %s | %s | %s |\n", mib(r.peakRSS[0]), mib(r.peakRSS[1]), times(float64(r.peakRSS[0]), float64(r.peakRSS[1])))

	var problems []string
	for _, p := range append(append([]phase{}, r.fixed...), r.max) {
		for i, st := range p.stats {
			if st.failed > 0 {
				problems = append(problems, fmt.Sprintf("%s at %s: %d errors, e.g. %s", []string{"budgetgate", "opa"}[i], p.spec, st.failed, strings.Join(st.errors, "; ")))
			}
		}
	}
	if len(problems) > 0 {
		fmt.Fprintf(w, "\nErrors:\n")
		for _, p := range problems {
			fmt.Fprintf(w, "- %s\n", p)
		}
	}
	if r.swap != nil {
		r.swap.write(w)
	}
}
