package slo

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	"github.com/budgetgate/budgetgate/slo/api/v1alpha1"
)

// DataWriter is where budgets go: the policy engine's data store.
type DataWriter interface {
	SetData(ctx context.Context, path []string, value any) error
}

// BudgetsPath is where policies read budgets: data.budgetgate.budgets.
var BudgetsPath = []string{"budgetgate", "budgets"}

// BudgetSync keeps data.budgetgate.budgets equal to the SLO statuses in the
// informer cache, so Prometheus is never called on the admission path. A
// status change reaches decisions after one debounce (coalescing bursts);
// a periodic refresh turns budgets stale when the controller stops writing.
// It runs on every replica, not only the leader.
type BudgetSync struct {
	Cache      cache.Cache
	Data       DataWriter
	StaleAfter time.Duration
	// Refresh re-derives staleness; Debounce coalesces bursts of changes.
	Refresh, Debounce time.Duration
	Now               func() time.Time
	Log               logr.Logger
	// Synced, if set, is called after the first successful sync.
	Synced func()
}

// NeedLeaderElection is false: every replica's webhook needs the budgets.
func (b *BudgetSync) NeedLeaderElection() bool { return false }

// Start runs until ctx ends.
func (b *BudgetSync) Start(ctx context.Context) error {
	informer, err := b.Cache.GetInformer(ctx, &v1alpha1.ServiceLevelObjective{})
	if err != nil {
		return fmt.Errorf("watching ServiceLevelObjectives: %w (is the CRD installed? see manifests/)", err)
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
	if !b.Cache.WaitForCacheSync(ctx) {
		return ctx.Err()
	}
	ticker := time.NewTicker(b.Refresh)
	defer ticker.Stop()
	first := true
	for {
		if err := b.sync(ctx); err != nil {
			b.Log.Error(err, "updating budgets for policies")
		} else if first && b.Synced != nil {
			first = false
			b.Synced()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		case <-changed:
			select { // let a burst of changes settle into one write
			case <-time.After(b.Debounce):
			case <-ctx.Done():
				return nil
			}
		}
	}
}

func (b *BudgetSync) sync(ctx context.Context) error {
	var list v1alpha1.ServiceLevelObjectiveList
	if err := b.Cache.List(ctx, &list); err != nil {
		return err
	}
	return b.Data.SetData(ctx, BudgetsPath, Budgets(list.Items, b.Now(), b.StaleAfter))
}
