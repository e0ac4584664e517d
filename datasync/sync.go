// Package datasync mirrors cluster state into the policies' data document:
// the SLO budgets (data.budgetgate.budgets) and the namespaces' labels
// (data.budgetgate.namespaces), read from the informer cache on every
// replica, so that no API call is made on the admission path.
package datasync

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// DataWriter is where the mirrored state goes: the policy engine's data.
type DataWriter interface {
	SetData(ctx context.Context, path []string, value any) error
}

// Sync keeps the data document at Path equal to Build's view of the cache.
// A change of Object's kind reaches decisions after one debounce (which
// coalesces bursts into one write); Refresh rebuilds periodically too, for
// values that change with time (a budget turns stale when nobody writes it).
type Sync struct {
	Cache cache.Cache
	// Object names the kind to watch, e.g. &corev1.Namespace{}.
	Object client.Object
	// Build computes the data value from the cache.
	Build func(ctx context.Context) (any, error)
	Path  []string
	Data  DataWriter
	// Refresh rebuilds on this interval; Debounce coalesces bursts of changes.
	Refresh, Debounce time.Duration
	Log               logr.Logger
	// Synced, if set, is called after the first successful write.
	Synced func()
}

// NeedLeaderElection is false: every replica's webhook needs the data.
func (s *Sync) NeedLeaderElection() bool { return false }

// Start runs until ctx ends.
func (s *Sync) Start(ctx context.Context) error {
	informer, err := s.Cache.GetInformer(ctx, s.Object)
	if err != nil {
		return fmt.Errorf("watching %T for data.%v: %w (is its CRD installed and may budgetgate's service account list and watch it? see manifests/)", s.Object, s.Path, err)
	}
	changed := make(chan struct{}, 1)
	notify := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	reg, err := informer.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { notify() },
		UpdateFunc: func(any, any) { notify() },
		DeleteFunc: func(any) { notify() },
	})
	if err != nil {
		return err
	}
	defer func() { _ = informer.RemoveEventHandler(reg) }()
	if !s.Cache.WaitForCacheSync(ctx) {
		return ctx.Err()
	}
	ticker := time.NewTicker(s.Refresh)
	defer ticker.Stop()
	first := true
	for {
		if err := s.sync(ctx); err != nil {
			s.Log.Error(err, "updating policy data", "path", s.Path)
		} else if first && s.Synced != nil {
			first = false
			s.Synced()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		case <-changed:
			select { // let a burst of changes settle into one write
			case <-time.After(s.Debounce):
			case <-ctx.Done():
				return nil
			}
		}
	}
}

func (s *Sync) sync(ctx context.Context) error {
	value, err := s.Build(ctx)
	if err != nil {
		return err
	}
	return s.Data.SetData(ctx, s.Path, value)
}
