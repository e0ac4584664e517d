package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/budgetgate/budgetgate/rego"
	bgserver "github.com/budgetgate/budgetgate/server"
	"github.com/budgetgate/budgetgate/webhook"
)

// swapResult is a policy hot swap under steady load, beside a baseline run
// at the same offered load without swaps.
type swapResult struct {
	how              string
	rate             int
	every            time.Duration
	baseline, during *stats
	swaps            int
	reloads          int // reloads serve logged during the swaps (file mode)
	swapErrors       []string
	loadTimes        []time.Duration // how long each swap took (engine mode)
}

// swapFile is the policy the swap changes: a rule of its own package whose
// condition differs in every version (so each swap installs a set that
// really differs) and never holds for the benchmark review (so the verdicts
// stay those of the shipped library).
const swapFile = "rules/loadtest_swap.rego"

func swapPolicy(version int) []byte {
	return fmt.Appendf(nil, `# Written by hack/loadtest to swap policies under load (version %d).
package budgetgate.rules.loadtest_swap

import data.budgetgate.lib.k8s

findings contains k8s.finding("loadtest-swap", "swapped in by the load benchmark") if {
	k8s.gated
	k8s.labels["budgetgate.dev/loadtest-swap"] == "%d"
}
`, version, version)
}

// swapInProcess runs budgetgate's webhook server in this process, as serve
// does (server.Run, standalone), and swaps the policy set through
// Engine.Load every c.swapEvery while vegeta keeps the offered load steady.
func swapInProcess(ctx context.Context, c config, tlsConfig *tls.Config, body []byte, dataPath, policiesDir, certDir string) (*swapResult, error) {
	ctrllog.SetLogger(logr.Discard()) // controller-runtime's server logs through it
	data, err := rego.ReadData([]string{dataPath})
	if err != nil {
		return nil, err
	}
	files, err := rego.ReadDir(policiesDir)
	if err != nil {
		return nil, err
	}
	engine := rego.NewEngine(data)
	if _, err := engine.Load(ctx, policiesDir, files); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ready := make(chan struct{})
	failed := make(chan error, 1)
	go func() {
		failed <- bgserver.Run(ctx, bgserver.Options{
			Engine: engine, Webhook: webhook.DefaultOptions(), Log: logr.Discard(),
			Host: "127.0.0.1", Port: port, CertDir: certDir, MetricsAddr: "0", HealthAddr: "0", Ready: ready,
		})
	}()
	select {
	case <-ready:
	case err := <-failed:
		return nil, fmt.Errorf("starting the in-process webhook server: %w", err)
	case <-time.After(30 * time.Second):
		return nil, fmt.Errorf("the in-process webhook server was not ready within 30s")
	}
	s := &server{name: "budgetgate (in-process)", url: fmt.Sprintf("https://127.0.0.1:%d/validate", port), pid: os.Getpid()}
	res := &swapResult{how: "Engine.Load in the serving process (server.Run, standalone), every " + c.swapEvery.String(), rate: c.swapRate, every: c.swapEvery}

	progress("hot swap: warming up, then a baseline at %d req/s", c.swapRate)
	attack(s, tlsConfig, body, attackSpec{rate: c.swapRate, duration: c.warmup}, nil)
	res.baseline = attack(s, tlsConfig, body, attackSpec{rate: c.swapRate, duration: c.swapDur}, nil)
	progress("hot swap: %d req/s while swapping policies every %s", c.swapRate, c.swapEvery)
	res.during = attack(s, tlsConfig, body, attackSpec{rate: c.swapRate, duration: c.swapDur}, func(stop <-chan struct{}) {
		tick := time.NewTicker(c.swapEvery)
		defer tick.Stop()
		for version := 1; ; version++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			next := rego.Files{}
			for name, text := range files {
				next[name] = text
			}
			next[filepath.Join(policiesDir, swapFile)] = swapPolicy(version)
			start := time.Now()
			if _, err := engine.Load(ctx, fmt.Sprintf("swap %d", version), next); err != nil {
				res.swapErrors = append(res.swapErrors, err.Error())
				continue
			}
			res.loadTimes = append(res.loadTimes, time.Since(start))
			res.swaps++
		}
	})
	return res, nil
}

// swapFiles rewrites a policy file in serve's --policies folder every
// c.swapEvery while vegeta keeps the offered load steady: serve reloads the
// folder on change. Reloads are counted from serve's log afterwards.
func swapFiles(ctx context.Context, c config, bg *server, tlsConfig *tls.Config, body []byte, policiesDir string) (*swapResult, error) {
	res := &swapResult{how: "rewriting " + swapFile + " in serve's --policies folder every " + c.swapEvery.String(), rate: c.swapRate, every: c.swapEvery}
	path := filepath.Join(policiesDir, swapFile)
	loaded := func() int {
		text, err := os.ReadFile(bg.log.Name())
		if err != nil {
			fatalf("reading serve's log: %v", err)
		}
		return bytes.Count(text, []byte(`"msg":"policies loaded"`))
	}
	progress("hot swap: baseline at %d req/s", c.swapRate)
	res.baseline = attack(bg, tlsConfig, body, attackSpec{rate: c.swapRate, duration: c.swapDur}, nil)
	progress("hot swap: %d req/s while rewriting %s every %s", c.swapRate, swapFile, c.swapEvery)
	before := loaded()
	res.during = attack(bg, tlsConfig, body, attackSpec{rate: c.swapRate, duration: c.swapDur}, func(stop <-chan struct{}) {
		tick := time.NewTicker(c.swapEvery)
		defer tick.Stop()
		for version := 1; ; version++ {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			// Write a temporary file and rename it over the old one, as
			// editors and ConfigMap volumes do: serve never reads half a file.
			tmp := path + ".tmp"
			if err := os.WriteFile(tmp, swapPolicy(version), 0o644); err != nil {
				res.swapErrors = append(res.swapErrors, err.Error())
				continue
			}
			if err := os.Rename(tmp, path); err != nil {
				res.swapErrors = append(res.swapErrors, err.Error())
				continue
			}
			res.swaps++
		}
	})
	res.reloads = loaded() - before
	if res.reloads == 0 {
		return nil, fmt.Errorf("serve logged no reload while %s was rewritten %d times: does this budgetgate reload --policies (see %s)?", swapFile, res.swaps, bg.log.Name())
	}
	return res, nil
}

func (r *swapResult) write(w io.Writer) {
	b, d := r.baseline, r.during
	limit := 2 * b.quantile(0.99)
	slow := 0
	for _, l := range d.latencies {
		if l > limit {
			slow++
		}
	}
	fmt.Fprintf(w, "\n### Policy hot swap under load\n\n%s, at %d req/s.\n\n", r.how, r.rate)
	fmt.Fprintf(w, "| run | requests | errors | p50 (ms) | p99 (ms) | max (ms) | slower than 2× baseline p99 |\n|---|---:|---:|---:|---:|---:|---:|\n")
	fmt.Fprintf(w, "| baseline, no swap | %d | %d | %s | %s | %s | |\n", b.requests, b.failed, ms(b.quantile(0.5)), ms(b.quantile(0.99)), ms(b.quantile(1)))
	swaps := fmt.Sprintf("%d swaps", r.swaps)
	if r.reloads > 0 {
		swaps = fmt.Sprintf("%d files written, %d reloads", r.swaps, r.reloads)
	}
	fmt.Fprintf(w, "| %s | %d | %d | %s | %s | %s | %d (limit %s ms) |\n", swaps, d.requests, d.failed, ms(d.quantile(0.5)), ms(d.quantile(0.99)), ms(d.quantile(1)), slow, ms(limit))
	if len(r.loadTimes) > 0 {
		var total, longest time.Duration
		for _, t := range r.loadTimes {
			total += t
			longest = max(longest, t)
		}
		fmt.Fprintf(w, "\nEach swap (compile, smoke test, atomic pointer swap) took %s on average, %s at most; requests never wait for it: they keep the set they started with.\n",
			(total / time.Duration(len(r.loadTimes))).Round(time.Millisecond), longest.Round(time.Millisecond))
	}
	if len(r.swapErrors) > 0 {
		fmt.Fprintf(w, "\nSwap errors: %v\n", r.swapErrors)
	}
	if d.failed > 0 {
		fmt.Fprintf(w, "\nRequest errors during the swap: %v\n", d.errors)
	}
}
