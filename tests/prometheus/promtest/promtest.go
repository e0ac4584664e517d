// Package promtest runs a real Prometheus (Debian's prometheus package, or
// $PROMETHEUS_BIN and $PROMTOOL_BIN) on a known request history, backfilled
// with `promtool tsdb create-blocks-from openmetrics`, so tests can check SLO
// arithmetic against the real PromQL engine. hack/test.sh installs the
// package and exports the variables.
package promtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/budgetgate/budgetgate/slo/api/v1alpha1"
)

// Step is the interval between samples, History how far back they go.
const (
	Step    = 5 * time.Minute
	History = 40 * 24 * time.Hour
	// After is how far past T the samples go, so that windows ending at the
	// wall clock (the budget command measures at time.Now()) have data too.
	After = 4 * time.Hour
)

// perStep is the number of requests each service serves per Step.
const perStep = 100000

// A Service is one service's request history.
type Service struct {
	Name string
	// ErrorsPerStep are the 5xx requests of perStep in the recent past.
	ErrorsPerStep int
	// OldErrorsPerStep are served between OldFrom and OldTo before T (only
	// those, when set).
	OldErrorsPerStep int
	OldFrom, OldTo   time.Duration
}

// Services are the histories the tests measure, for a 99.9% objective:
// healthy spends 10% of its budget, burning 80%, exhausted 150%, old-errors
// had a bad week 35-40 days ago and none since.
var Services = []Service{
	{Name: "healthy", ErrorsPerStep: 10},
	{Name: "burning", ErrorsPerStep: 80},
	{Name: "exhausted", ErrorsPerStep: 150},
	{Name: "old-errors", OldErrorsPerStep: 2000, OldFrom: 40 * 24 * time.Hour, OldTo: 35 * 24 * time.Hour},
}

// SlothService and SlothRemaining: a gauge
// slo:period_error_budget_remaining:ratio{sloth_service="sloth"} of 0.37.
const (
	SlothService   = "sloth"
	SlothRemaining = 0.37
	SlothMetric    = "slo:period_error_budget_remaining:ratio"
)

// BaseTime is T: the hour three hours before now, the end of the history.
func BaseTime(now time.Time) time.Time { return now.UTC().Truncate(time.Hour).Add(-3 * time.Hour) }

// OpenMetrics renders the history up to T (+After) in the OpenMetrics text
// format promtool backfills: one family per metric name, each series'
// samples contiguous and in time order, timestamps in seconds, # EOF last.
func OpenMetrics(t time.Time) []byte {
	var b strings.Builder
	start, end := t.Add(-History), t.Add(After)
	b.WriteString("# HELP http_requests HTTP requests served.\n# TYPE http_requests counter\n")
	for _, s := range Services {
		for _, code := range []string{"200", "500"} {
			var v int64 // counters start at zero: no extrapolation before the first sample
			for ts := start; !ts.After(end); ts = ts.Add(Step) {
				if ts.After(start) {
					v += int64(s.increment(t, ts, code))
				}
				fmt.Fprintf(&b, "http_requests_total{code=%q,service=%q} %d %d\n", code, s.Name, v, ts.Unix())
			}
		}
	}
	fmt.Fprintf(&b, "# HELP %s Sloth's error budget remaining.\n# TYPE %s gauge\n", SlothMetric, SlothMetric)
	for ts := start; !ts.After(end); ts = ts.Add(Step) {
		fmt.Fprintf(&b, "%s{sloth_service=%q} %g %d\n", SlothMetric, SlothService, SlothRemaining, ts.Unix())
	}
	b.WriteString("# EOF\n")
	return []byte(b.String())
}

// increment is what the code's counter of s grows by in the step ending at ts.
func (s Service) increment(t, ts time.Time, code string) int {
	errs := s.ErrorsPerStep
	if s.OldErrorsPerStep > 0 {
		errs = 0
		if ago := t.Sub(ts); ago < s.OldFrom && ago >= s.OldTo {
			errs = s.OldErrorsPerStep
		}
	}
	if code == "500" {
		return errs
	}
	return perStep - errs
}

// ErrorRatio is the 5xx ratio of s over window before t, from the history
// itself: the hand-computed value PromQL must agree with. Prometheus 2.x
// selects samples in [t-window, t]; both series of a service share their
// timestamps (and start at zero), so rate()'s extrapolation cancels out.
func (s Service) ErrorRatio(t time.Time, window time.Duration) float64 {
	from := t.Add(-window)
	if start := t.Add(-History); from.Before(start) {
		from = start
	}
	var errs, total float64
	for ts := from.Add(Step); !ts.After(t); ts = ts.Add(Step) {
		errs += float64(s.increment(t, ts, "500"))
		total += float64(perStep)
	}
	return errs / total
}

// Lookup is the service called name.
func Lookup(name string) Service {
	for _, s := range Services {
		if s.Name == name {
			return s
		}
	}
	panic("promtest: no service " + name)
}

// RatioSpec is an SLO on service's http_requests_total.
func RatioSpec(service string, objective float64, window string) v1alpha1.ServiceLevelObjectiveSpec {
	return v1alpha1.ServiceLevelObjectiveSpec{
		Objective: objective,
		Window:    window,
		Indicator: v1alpha1.Indicator{Ratio: &v1alpha1.RatioIndicator{
			Errors: fmt.Sprintf(`sum(rate(http_requests_total{service=%q,code=~"5.."}[{{.window}}]))`, service),
			Total:  fmt.Sprintf(`sum(rate(http_requests_total{service=%q}[{{.window}}]))`, service),
		}},
	}
}

// RemainingSpec is an SLO read from Sloth's gauge.
func RemainingSpec(objective float64, window string) v1alpha1.ServiceLevelObjectiveSpec {
	return v1alpha1.ServiceLevelObjectiveSpec{
		Objective: objective,
		Window:    window,
		Indicator: v1alpha1.Indicator{Remaining: fmt.Sprintf(`%s{sloth_service=%q}`, SlothMetric, SlothService)},
	}
}

// Binaries finds prometheus and promtool: $PROMETHEUS_BIN and
// $PROMTOOL_BIN, else the PATH.
func Binaries() (prometheus, promtool string, err error) {
	find := func(env, name string) (string, error) {
		if p := os.Getenv(env); p != "" {
			return p, nil
		}
		p, err := exec.LookPath(name)
		if err != nil {
			return "", fmt.Errorf("%s not found (set %s, or install Debian's prometheus package as hack/test.sh does)", name, env)
		}
		return p, nil
	}
	if prometheus, err = find("PROMETHEUS_BIN", "prometheus"); err != nil {
		return "", "", err
	}
	promtool, err = find("PROMTOOL_BIN", "promtool")
	return prometheus, promtool, err
}

// Env is a backfilled history, ready to be served by any number of
// Prometheus servers (each on its own copy of the blocks).
type Env struct {
	T          time.Time
	Prometheus string
	dir        string
	blocks     string
	// Backfill is how long promtool took.
	Backfill time.Duration
}

// NewEnv writes the history at T = BaseTime(now) and backfills it.
func NewEnv(now time.Time) (*Env, error) {
	prometheus, promtool, err := Binaries()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "budgetgate-prometheus-")
	if err != nil {
		return nil, err
	}
	e := &Env{T: BaseTime(now), Prometheus: prometheus, dir: dir, blocks: filepath.Join(dir, "blocks")}
	input := filepath.Join(dir, "history.om")
	if err := os.WriteFile(input, OpenMetrics(e.T), 0o644); err != nil {
		e.Close()
		return nil, err
	}
	start := time.Now()
	// promtool reads the whole input once per block: with its default 2h
	// blocks, 40 days take ~480 passes (20s); 162h blocks take 7 (<1s).
	// --max-block-duration is hidden in promtool's help, but there since 2.27.
	out, err := exec.Command(promtool, "tsdb", "create-blocks-from", "openmetrics", "--quiet", "--max-block-duration=162h", input, e.blocks).CombinedOutput()
	e.Backfill = time.Since(start)
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("promtool tsdb create-blocks-from openmetrics: %w\n%s", err, out)
	}
	return e, nil
}

// Close removes the history and its blocks.
func (e *Env) Close() { _ = os.RemoveAll(e.dir) }

// Server is a running Prometheus.
type Server struct {
	URL string
	// Ready is how long it took from start to /-/ready.
	Ready time.Duration
	cmd   *exec.Cmd
	log   string
	done  chan error
}

// Start runs Prometheus on a fresh copy of the blocks, with no scrape
// targets, on a free local port, and waits until it is ready.
func (e *Env) Start(ctx context.Context) (*Server, error) {
	data, err := os.MkdirTemp(e.dir, "data-")
	if err != nil {
		return nil, err
	}
	if err := os.CopyFS(data, os.DirFS(e.blocks)); err != nil {
		return nil, fmt.Errorf("copying the blocks: %w", err)
	}
	config := filepath.Join(data, "prometheus.yml")
	if err := os.WriteFile(config, []byte("scrape_configs: []\n"), 0o644); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	logFile, err := os.Create(filepath.Join(data, "prometheus.log"))
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(e.Prometheus,
		"--config.file="+config,
		"--storage.tsdb.path="+data,
		"--storage.tsdb.retention.time=100d",
		"--web.listen-address="+addr,
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", e.Prometheus, err)
	}
	s := &Server{URL: "http://" + addr, cmd: cmd, log: logFile.Name(), done: make(chan error, 1)}
	go func() { s.done <- cmd.Wait() }()
	if err := s.waitReady(ctx); err != nil {
		s.Stop()
		return nil, fmt.Errorf("%w\nprometheus log:\n%s", err, s.Log())
	}
	s.Ready = time.Since(start)
	return s, nil
}

func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/-/ready", nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-s.done:
			s.done <- err
			return fmt.Errorf("prometheus exited while starting: %v", err)
		case <-ctx.Done():
			return fmt.Errorf("prometheus was not ready at %s/-/ready: %w", s.URL, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop terminates Prometheus (SIGTERM, then SIGKILL after 10s) and waits.
func (s *Server) Stop() {
	if s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		s.done <- err
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		s.done <- <-s.done
	}
}

// Log is what Prometheus logged, its last 40 lines.
func (s *Server) Log() string {
	f, err := os.Open(s.log)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > 40 {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		return 0, errors.New("no TCP address")
	}
	return addr.Port, nil
}
