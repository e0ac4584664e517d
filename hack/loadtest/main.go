// Command loadtest measures budgetgate's validating webhook beside its peer,
// OPA's server in the kube-mgmt set-up, on the same machine, with the same
// policies, data and AdmissionReviews, in the same run: latency at fixed
// offered loads, the highest throughput without errors, CPU and memory, and
// a policy hot swap under load. hack/loadtest/run.sh builds both servers and
// runs it; docs/performance.md has the figures.
//
// Each server runs as its own process (CPU and memory are read from /proc)
// and the two are attacked in turn, phase by phase, so a disturbance on the
// shared machine hits both rather than one.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

type config struct {
	budgetgate, opa string // the binaries
	repo            string // the clone: policies/ and the review come from it
	review          string
	work            string
	keep            bool

	slos      int
	rates     []int
	duration  time.Duration
	maxDur    time.Duration
	warmup    time.Duration
	workers   int
	swap      string // "", "engine" or "file"
	swapRate  int
	swapEvery time.Duration
	swapDur   time.Duration
	markdown  string
}

func main() {
	var c config
	var rates string
	flag.StringVar(&c.budgetgate, "budgetgate", "", "the budgetgate binary (required)")
	flag.StringVar(&c.opa, "opa", "", "the opa binary (required)")
	flag.StringVar(&c.repo, "repo", "../..", "the budgetgate clone: its policies/ are loaded into both servers")
	flag.StringVar(&c.review, "review", "", "the AdmissionReview to send (default: REPO/rego/testdata/deployment-review.json)")
	flag.StringVar(&c.work, "work", "", "folder for certificates, data, copied policies and server logs (default: a temporary one)")
	flag.BoolVar(&c.keep, "keep", false, "keep the work folder (server logs) afterwards")
	flag.IntVar(&c.slos, "slos", 1000, "SLO budgets in the data document of both servers")
	flag.StringVar(&rates, "rates", "100,500,1000,2000", "fixed offered loads, requests per second, comma-separated")
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "length of each fixed-rate attack")
	flag.DurationVar(&c.maxDur, "max-duration", 10*time.Second, "length of the throughput attack")
	flag.DurationVar(&c.warmup, "warmup", 3*time.Second, "warm-up at 200 req/s before measuring")
	flag.IntVar(&c.workers, "workers", 8, "concurrent clients of the throughput attack")
	flag.StringVar(&c.swap, "swap", "file", `policy hot swap under load: "file" (rewrite a file in serve's --policies folder, which serve reloads), "engine" (budgetgate's server in this process, Engine.Load every -swap-every), or "" to skip`)
	flag.IntVar(&c.swapRate, "swap-rate", 300, "offered load during the hot swap, requests per second")
	flag.DurationVar(&c.swapEvery, "swap-every", 3*time.Second, "time between two policy swaps (serve checks its files every 2s)")
	flag.DurationVar(&c.swapDur, "swap-duration", 30*time.Second, "length of the hot swap attack (and of its baseline)")
	flag.StringVar(&c.markdown, "markdown", "", "also write the report to this file")
	flag.Parse()
	if c.budgetgate == "" || c.opa == "" {
		fatalf("pass -budgetgate and -opa (hack/loadtest/run.sh builds both)")
	}
	for _, r := range strings.Split(rates, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(r))
		if err != nil || n <= 0 {
			fatalf("-rates: %q is not a positive number of requests per second", r)
		}
		c.rates = append(c.rates, n)
	}
	if c.review == "" {
		c.review = filepath.Join(c.repo, "rego", "testdata", "deployment-review.json")
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	if err := run(ctx, c); err != nil {
		fatalf("%v", err)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "loadtest: "+format+"\n", args...)
	os.Exit(1)
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "loadtest: "+format+"\n", args...)
}

func run(ctx context.Context, c config) error {
	work := c.work
	if work == "" {
		var err error
		if work, err = os.MkdirTemp("", "budgetgate-loadtest-"); err != nil {
			return err
		}
	}
	if c.keep || c.work != "" {
		progress("work folder (logs): %s", work)
	} else {
		defer os.RemoveAll(work)
	}
	certDir := filepath.Join(work, "certs")
	policiesDir := filepath.Join(work, "policies")
	for _, d := range []string{certDir, policiesDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	pool, err := writeCert(certDir)
	if err != nil {
		return fmt.Errorf("writing the serving certificate: %w", err)
	}
	tlsConfig := clientTLS(pool)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig}, Timeout: 10 * time.Second}

	if err := copyPolicies(filepath.Join(c.repo, "policies"), policiesDir); err != nil {
		return err
	}
	dataPath := filepath.Join(work, "data.json")
	if err := writeData(dataPath, c.slos); err != nil {
		return err
	}
	body, err := os.ReadFile(c.review)
	if err != nil {
		return fmt.Errorf("reading the review: %w (pass -review or -repo)", err)
	}

	bgPort, err := freePort()
	if err != nil {
		return err
	}
	bgHealth, err := freePort()
	if err != nil {
		return err
	}
	opaPort, err := freePort()
	if err != nil {
		return err
	}
	progress("starting budgetgate serve and opa run --server")
	bg, err := start(ctx, "budgetgate", fmt.Sprintf("https://127.0.0.1:%d/validate", bgPort),
		fmt.Sprintf("http://127.0.0.1:%d/readyz", bgHealth), filepath.Join(work, "budgetgate.log"), client,
		c.budgetgate, "serve", "--standalone", "--policies", policiesDir, "--data", dataPath,
		"--cert-dir", certDir, "--port", strconv.Itoa(bgPort),
		"--metrics-addr", "0", "--health-addr", fmt.Sprintf("127.0.0.1:%d", bgHealth))
	if err != nil {
		return err
	}
	defer bg.stop()
	// The kube-mgmt set-up: OPA's server with TLS, answering POST / with
	// data.system.main (peer/system.rego), the same policies and data.
	peerDir, err := filepath.Abs("peer")
	if err != nil {
		return err
	}
	opa, err := start(ctx, "opa", fmt.Sprintf("https://127.0.0.1:%d/", opaPort),
		fmt.Sprintf("https://127.0.0.1:%d/health", opaPort), filepath.Join(work, "opa.log"), client,
		c.opa, "run", "--server", "--addr", fmt.Sprintf("127.0.0.1:%d", opaPort),
		"--tls-cert-file", filepath.Join(certDir, "tls.crt"), "--tls-private-key-file", filepath.Join(certDir, "tls.key"),
		"--log-level", "error", "--disable-telemetry",
		dataPath, policiesDir, peerDir)
	if err != nil {
		return err
	}
	defer opa.stop()
	servers := []*server{bg, opa}

	if err := checkSameAnswers(client, servers, body); err != nil {
		return err
	}

	r := &report{cfg: c, env: describeMachine(c)}
	r.loadBefore = loadAverage()
	time.Sleep(2 * time.Second) // let start-up garbage settle before reading idle memory
	for _, s := range servers {
		r.idleRSS = append(r.idleRSS, s.usage().rss)
	}

	progress("warming up: %s at 200 req/s each", c.warmup)
	for _, s := range servers {
		if st := attack(s, tlsConfig, body, attackSpec{rate: 200, duration: c.warmup}, nil); st.failed > 0 {
			return fmt.Errorf("%s failed %d of %d warm-up requests: %v", s.name, st.failed, st.requests, st.errors)
		}
	}
	for _, rate := range c.rates {
		row := phase{spec: attackSpec{rate: rate, duration: c.duration}}
		for _, s := range servers {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			progress("%s: %s", s.name, row.spec)
			row.stats = append(row.stats, attack(s, tlsConfig, body, row.spec, nil))
		}
		r.fixed = append(r.fixed, row)
	}
	r.max = phase{spec: attackSpec{workers: c.workers, duration: c.maxDur}}
	for _, s := range servers {
		progress("%s: %s", s.name, r.max.spec)
		r.max.stats = append(r.max.stats, attack(s, tlsConfig, body, r.max.spec, nil))
	}
	for _, s := range servers {
		r.peakRSS = append(r.peakRSS, s.usage().hwm)
	}
	r.loadAfter = loadAverage()

	switch c.swap {
	case "":
	case "engine":
		bg.stop()
		opa.stop()
		if r.swap, err = swapInProcess(ctx, c, tlsConfig, body, dataPath, policiesDir, certDir); err != nil {
			return err
		}
	case "file":
		opa.stop()
		if r.swap, err = swapFiles(ctx, c, bg, tlsConfig, body, policiesDir); err != nil {
			return err
		}
	default:
		return fmt.Errorf(`-swap must be "engine", "file" or "", not %q`, c.swap)
	}

	var out bytes.Buffer
	r.write(&out)
	os.Stdout.Write(out.Bytes())
	if c.markdown != "" {
		if err := os.WriteFile(c.markdown, out.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// copyPolicies copies the library's .rego files, tests excepted, so both
// servers load exactly the same files and the file hot swap can edit them.
func copyPolicies(from, to string) error {
	return filepath.WalkDir(from, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		if !strings.HasSuffix(path, ".rego") || strings.HasSuffix(path, "_test.rego") {
			return nil
		}
		text, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), text, 0o644)
	})
}

// writeData writes the data document both servers load: budgets for n SLOs,
// the benchmark review's (shop/frontend, healthy) among them, plus a low and
// an exhausted budget that the answer check's variants point at.
func writeData(path string, n int) error {
	budget := func(remaining float64) map[string]any {
		return map[string]any{"objective": 0.999, "window": "30d", "remaining": remaining, "stale": false,
			"evaluatedAt": "2026-11-26T04:00:00Z"}
	}
	budgets := map[string]any{}
	for i := range max(n-3, 0) {
		budgets[fmt.Sprintf("team-%d/service-%d", i%100, i)] = budget(0.5)
	}
	budgets["shop/frontend"] = budget(0.5)
	budgets["shop/low"] = budget(0.1)
	budgets["shop/frozen"] = budget(-0.1)
	doc := map[string]any{"budgetgate": map[string]any{
		"budgets": budgets,
		"config":  map[string]any{"breakGlassGroups": []string{"sre-oncall"}},
	}}
	text, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	return os.WriteFile(path, text, 0o644)
}

// answer is what the check compares of two admission responses.
type answer struct {
	Response struct {
		Allowed  bool     `json:"allowed"`
		Warnings []string `json:"warnings"`
		Status   *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"status"`
	} `json:"response"`
}

// checkSameAnswers posts the review and variants of it that deny, warn,
// canary and freeze to every server and insists on identical answers: the
// peer's adapter must be equivalent for the comparison to mean anything.
func checkSameAnswers(client *http.Client, servers []*server, body []byte) error {
	variants := map[string]func(obj map[string]any){
		"as is (admitted)": func(map[string]any) {},
		"no owner label (denied)": func(obj map[string]any) {
			delete(dig(obj, "metadata", "labels"), "owner")
		},
		"1 replica, image :latest (denied and warned)": func(obj map[string]any) {
			dig(obj, "spec")["replicas"] = 1
			containers := dig(obj, "spec", "template", "spec")["containers"].([]any)
			containers[0].(map[string]any)["image"] = "ghcr.io/stefanprodan/podinfo:latest"
		},
		"SLO budget low (canary)": func(obj map[string]any) {
			dig(obj, "metadata", "labels")["budgetgate.dev/slo"] = "low"
		},
		"SLO budget exhausted (frozen)": func(obj map[string]any) {
			dig(obj, "metadata", "labels")["budgetgate.dev/slo"] = "frozen"
		},
	}
	for name, change := range variants {
		var review map[string]any
		if err := json.Unmarshal(body, &review); err != nil {
			return fmt.Errorf("the review is not JSON: %w", err)
		}
		change(dig(review, "request", "object"))
		text, err := json.Marshal(review)
		if err != nil {
			return err
		}
		var answers []answer
		var raw []string
		for _, s := range servers {
			resp, err := client.Post(s.url, "application/json", bytes.NewReader(text))
			if err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("%s answered the review %s with HTTP %d: %s", s.name, name, resp.StatusCode, got)
			}
			var a answer
			if err := json.Unmarshal(got, &a); err != nil {
				return fmt.Errorf("%s answered the review %s with no AdmissionReview: %s", s.name, name, got)
			}
			answers = append(answers, a)
			raw = append(raw, string(got))
		}
		want, _ := json.Marshal(answers[0])
		for i, a := range answers[1:] {
			if got, _ := json.Marshal(a); !bytes.Equal(got, want) {
				return fmt.Errorf("the servers disagree on the review %s:\n%s: %s\n%s: %s\nfix hack/loadtest/peer/system.rego",
					name, servers[0].name, raw[0], servers[i+1].name, raw[i+1])
			}
		}
		progress("same answer from both servers: %s (allowed=%v, %d warnings)", name, answers[0].Response.Allowed, len(answers[0].Response.Warnings))
	}
	return nil
}

// dig walks nested objects of a decoded JSON document.
func dig(v map[string]any, keys ...string) map[string]any {
	for _, k := range keys {
		v = v[k].(map[string]any)
	}
	return v
}

// machine describes where the figures come from.
type machine struct {
	cpus      int
	model     string
	goVersion string
	opa       string
}

func describeMachine(c config) machine {
	m := machine{cpus: runtime.NumCPU(), goVersion: runtime.Version(), model: "unknown"}
	if info, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(info), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.model = strings.TrimSpace(v)
				break
			}
		}
	}
	if out, err := runOutput(c.opa, "version"); err == nil {
		m.opa = strings.TrimPrefix(strings.SplitN(out, "\n", 2)[0], "Version: ")
	}
	return m
}

func runOutput(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	out, err := cmd.Output()
	return string(out), err
}

// loadAverage is the 1-, 5- and 15-minute load of the machine.
func loadAverage() string {
	text, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(text))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
