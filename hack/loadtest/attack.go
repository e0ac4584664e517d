package main

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"math"
	"net/http"
	"slices"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// stats is one attack on one server.
type stats struct {
	requests   int
	failed     int      // transport errors, non-2xx answers, or answers without "allowed":true
	errors     []string // a few distinct failures, for the report
	latencies  []time.Duration
	elapsed    time.Duration // first request sent to last answer received
	throughput float64       // successful answers per second
	cpu        time.Duration // the server's CPU time during the attack
	rssAfter   int64
}

func (s *stats) quantile(q float64) time.Duration {
	if len(s.latencies) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(s.latencies)))) - 1
	return s.latencies[max(i, 0)]
}

// cores is the server's CPU use during the attack, in cores.
func (s *stats) cores() float64 {
	if s.elapsed <= 0 {
		return 0
	}
	return s.cpu.Seconds() / s.elapsed.Seconds()
}

// cpuPerRequest is the server's CPU time per answered request.
func (s *stats) cpuPerRequest() time.Duration {
	if s.requests == 0 {
		return 0
	}
	return s.cpu / time.Duration(s.requests)
}

// attackSpec says how hard to push: a fixed offered rate (open loop: vegeta
// sends on schedule whatever the answers' latency), or, with rate 0, as fast
// as workers concurrent clients get answers (closed loop: the throughput).
type attackSpec struct {
	rate     int
	workers  int
	duration time.Duration
}

func (a attackSpec) String() string {
	if a.rate == 0 {
		return fmt.Sprintf("max, %d concurrent, %s", a.workers, a.duration)
	}
	return fmt.Sprintf("%d req/s, %s", a.rate, a.duration)
}

// allowedMarker is in every answer to the benchmark review: it is admitted.
var allowedMarker = []byte(`"allowed":true`)

// attack sends body to s as spec says, over HTTPS with keep-alive, and
// returns exact latency quantiles (every latency is kept and sorted; vegeta's
// own quantiles are estimates). during, if set, runs while the attack does.
func attack(s *server, tlsConfig *tls.Config, body []byte, spec attackSpec, during func(stop <-chan struct{})) *stats {
	opts := []func(*vegeta.Attacker){
		vegeta.TLSConfig(tlsConfig),
		vegeta.KeepAlive(true),
		vegeta.HTTP2(false),
		vegeta.Timeout(10 * time.Second),
	}
	pacer := vegeta.Rate{Freq: spec.rate, Per: time.Second}
	if spec.rate == 0 {
		opts = append(opts, vegeta.Workers(uint64(spec.workers)), vegeta.MaxWorkers(uint64(spec.workers)))
	}
	atk := vegeta.NewAttacker(opts...)
	target := vegeta.NewStaticTargeter(vegeta.Target{
		Method: http.MethodPost,
		URL:    s.url,
		Body:   body,
		Header: http.Header{"Content-Type": []string{"application/json"}},
	})

	st := &stats{latencies: make([]time.Duration, 0, max(spec.rate, 1000)*int(spec.duration.Seconds()+1))}
	seen := map[string]bool{}
	fail := func(msg string) {
		st.failed++
		if !seen[msg] && len(seen) < 5 {
			seen[msg] = true
			st.errors = append(st.errors, msg)
		}
	}
	stop := make(chan struct{})
	finished := make(chan struct{})
	if during != nil {
		go func() { during(stop); close(finished) }()
	} else {
		close(finished)
	}
	before := s.usage()
	var first, last time.Time
	for r := range atk.Attack(target, pacer, spec.duration, s.name) {
		st.requests++
		st.latencies = append(st.latencies, r.Latency)
		if first.IsZero() || r.Timestamp.Before(first) {
			first = r.Timestamp
		}
		if end := r.End(); end.After(last) {
			last = end
		}
		switch {
		case r.Error != "":
			fail(r.Error)
		case r.Code != http.StatusOK:
			fail(fmt.Sprintf("HTTP %d: %.200s", r.Code, r.Body))
		case !bytes.Contains(r.Body, allowedMarker):
			fail(fmt.Sprintf("not admitted: %.200s", r.Body))
		}
	}
	close(stop)
	<-finished
	after := s.usage()
	st.cpu = after.cpu - before.cpu
	st.rssAfter = after.rss
	st.elapsed = last.Sub(first)
	if st.elapsed > 0 {
		st.throughput = float64(st.requests-st.failed) / st.elapsed.Seconds()
	}
	slices.Sort(st.latencies)
	return st
}
