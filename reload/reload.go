// Package reload keeps the engine's policy set and data documents equal to
// their sources while budgetgate serves: the base policies (the embedded
// library or a --policies folder), the --data files and, in a cluster, the
// ConfigMaps labelled for budgetgate in its namespace. A changed source is
// compiled and checked before it replaces anything; a broken one is refused
// and reported (log, metric, /readyz, an annotation on each ConfigMap) while
// the old set keeps serving.
package reload

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/budgetgate/budgetgate/rego"
)

// Reloader polls its sources every Interval (and whenever Notify is
// called) and reloads the engine when their content changes.
type Reloader struct {
	Engine *rego.Engine
	// Base reads the base policy set and names its source.
	Base func() (rego.Files, string, error)
	// DataFiles are the --data documents, merged in order; none leaves
	// the engine's data as it was created.
	DataFiles []string
	// ConfigMaps, if set, adds the labelled ConfigMaps' policies.
	ConfigMaps *ConfigMaps
	Interval   time.Duration
	Metrics    *Metrics
	Log        logr.Logger

	// wake is made by Start before anything can call Notify.
	wake chan struct{}

	mu     sync.Mutex
	status Status
	// last is the fingerprint of the sources last tried, loaded or not: a
	// refused set is not retried until a source changes.
	last [sha256.Size]byte
	// liveData is the fingerprint of the data files the engine holds: a
	// change of policies alone reloads without re-reading and re-checking
	// the data (which would compile the set twice).
	liveData [sha256.Size]byte
	hasData  bool
}

// Status is what /readyz and the logs tell about the policies.
type Status struct {
	// Attempted is true once the sources were read and tried once.
	Attempted bool
	// Source names where the serving set came from, LoadedAt when.
	Source   string
	Files    int
	LoadedAt time.Time
	// Err is why the last change was refused (nil when it loaded); the set
	// named by Source keeps serving meanwhile.
	Err      error
	FailedAt time.Time
}

// NeedLeaderElection is false: every replica serves policies.
func (r *Reloader) NeedLeaderElection() bool { return false }

// Notify asks for a check now (a ConfigMap changed); it never blocks.
func (r *Reloader) Notify() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Status returns the current status.
func (r *Reloader) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status
}

// Start checks the sources until ctx ends. The engine's current set (the
// one serve loaded at start) serves until the first check replaces it.
func (r *Reloader) Start(ctx context.Context) error {
	r.wake = make(chan struct{}, 1)
	if set := r.Engine.Current(); set != nil {
		r.mu.Lock()
		r.status.Source, r.status.Files, r.status.LoadedAt = set.Source, len(set.Files), time.Now()
		r.mu.Unlock()
	}
	if r.ConfigMaps != nil {
		if err := r.ConfigMaps.Watch(ctx, r.Notify); err != nil {
			return err
		}
	}
	ticker := time.NewTicker(r.Interval)
	defer ticker.Stop()
	for {
		r.Check(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		case <-r.wake:
		}
	}
}

// Check reads every source once and reloads when something changed.
func (r *Reloader) Check(ctx context.Context) {
	s, err := r.read(ctx)
	if err != nil {
		r.refuse(ctx, nil, fmt.Errorf("reading policy sources: %w", err))
		return
	}
	r.mu.Lock()
	unchanged := r.status.Attempted && s.fingerprint == r.last
	r.last = s.fingerprint
	r.mu.Unlock()
	if unchanged {
		return
	}
	// Without data files, or with the ones the engine already holds, the
	// engine's data is left alone.
	var doc map[string]any
	dataChanged := len(r.DataFiles) > 0 && (!r.hasData || s.data != r.liveData)
	if dataChanged {
		if doc, err = rego.ReadData(r.DataFiles); err != nil {
			r.refuse(ctx, s, err)
			return
		}
	}
	start := time.Now()
	set, err := r.Engine.Reload(ctx, s.source, s.files, doc)
	if err != nil {
		r.refuse(ctx, s, err)
		return
	}
	r.mu.Lock()
	if dataChanged {
		r.liveData, r.hasData = s.data, true
	}
	r.status = Status{Attempted: true, Source: set.Source, Files: len(set.Files), LoadedAt: time.Now()}
	r.mu.Unlock()
	r.Metrics.observe(true, time.Since(start))
	r.Log.Info("policies loaded", "source", set.Source, "files", len(set.Files), "took", time.Since(start).Round(time.Millisecond))
	if r.ConfigMaps != nil {
		r.ConfigMaps.Report(ctx, s.configMaps, nil)
	}
}

func (r *Reloader) refuse(ctx context.Context, s *sources, err error) {
	r.mu.Lock()
	r.status.Attempted = true
	r.status.Err = err
	r.status.FailedAt = time.Now()
	serving := r.status.Source
	r.mu.Unlock()
	r.Metrics.observe(false, 0)
	r.Log.Error(err, "policy change refused: the previous set keeps serving; fix the source named in the error", "serving", serving)
	if r.ConfigMaps != nil && s != nil {
		r.ConfigMaps.Report(ctx, s.configMaps, err)
	}
}

// sources is one reading of every source.
type sources struct {
	files       rego.Files
	source      string
	configMaps  []ConfigMapRef
	fingerprint [sha256.Size]byte // of everything
	data        [sha256.Size]byte // of the data files alone
}

func (r *Reloader) read(ctx context.Context) (*sources, error) {
	base, source, err := r.Base()
	if err != nil {
		return nil, err
	}
	s := &sources{files: rego.Files{}, source: source}
	for name, text := range base {
		s.files[name] = text
	}
	if r.ConfigMaps != nil {
		files, refs, err := r.ConfigMaps.Files(ctx)
		if err != nil {
			return nil, err
		}
		for name, text := range files {
			s.files[name] = text
		}
		s.configMaps = refs
		if len(refs) > 0 {
			names := make([]string, len(refs))
			for i, ref := range refs {
				names[i] = ref.Name
			}
			s.source = fmt.Sprintf("%s and ConfigMaps %s/{%s}", source, r.ConfigMaps.Namespace, strings.Join(names, ","))
		}
	}
	d := sha256.New()
	for _, path := range r.DataFiles {
		// An unreadable file is hashed as its error, so fixing it is a change.
		text, err := os.ReadFile(path)
		if err != nil {
			text = []byte(err.Error())
		}
		fmt.Fprintf(d, "data %s %d\n", path, len(text))
		d.Write(text)
	}
	copy(s.data[:], d.Sum(nil))
	h := sha256.New()
	for _, name := range sortedNames(s.files) {
		fmt.Fprintf(h, "policy %s %d\n", name, len(s.files[name]))
		h.Write(s.files[name])
	}
	h.Write(s.data[:])
	copy(s.fingerprint[:], h.Sum(nil))
	return s, nil
}

func sortedNames(files rego.Files) []string {
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// Describe is the status as /readyz prints it: one line for the serving set
// and, when the last change was refused, one for why.
func (s Status) Describe() string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "policies: %d files from %s, loaded %s", s.Files, s.Source, s.LoadedAt.UTC().Format(time.RFC3339))
	if s.Err != nil {
		fmt.Fprintf(&b, "\npolicies: the change read at %s was refused, the set above keeps serving: %v", s.FailedAt.UTC().Format(time.RFC3339), s.Err)
	}
	return b.String()
}
