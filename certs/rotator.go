package certs

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Rotator keeps the Secret's CA and serving certificate valid and the CA
// bundle injected. Only the elected leader runs it, so one replica writes;
// the others pick the Secret up through their FileWriter. Without leader
// election every replica runs it and optimistic concurrency (a conflict is
// retried after a fresh read) keeps them from overwriting each other.
type Rotator struct {
	Client   client.Client
	Injector *Injector
	Policy   Policy
	// Secret names the Secret that holds the certificates.
	Secret types.NamespacedName
	// FieldOwner names this replica in managedFields.
	FieldOwner string
	// CheckInterval bounds the time between two passes (a changed webhook
	// configuration, e.g. re-applied manifests, is fixed within it).
	CheckInterval time.Duration
	// TrustDelay is how long a newly injected CA bundle is given to reach
	// the API servers before a serving certificate signed by the new CA is
	// used.
	TrustDelay time.Duration
	Now        func() time.Time
	Log        logr.Logger
	// Wake, when it receives, starts a pass at once (the Secret changed).
	Wake <-chan struct{}

	mu sync.Mutex
	// trustedSince: when this process first saw the bundle holding a CA
	// (by serial) injected into both configurations.
	trustedSince map[string]time.Time
}

// NeedLeaderElection makes the manager run the rotator on the leader only.
func (r *Rotator) NeedLeaderElection() bool { return true }

// Start runs passes until ctx ends. A failed pass is logged and retried with
// backoff; it never stops the process, since the current certificate keeps
// serving until it expires.
func (r *Rotator) Start(ctx context.Context) error {
	backoff := time.Second
	for {
		wait, err := r.Reconcile(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			r.Log.Error(err, "certificate rotation pass failed; retrying", "retryIn", backoff)
			wait = backoff
			backoff = min(2*backoff, time.Minute)
		} else {
			backoff = time.Second
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-r.Wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// Reconcile makes one pass and returns how long until the next one is due.
func (r *Rotator) Reconcile(ctx context.Context) (time.Duration, error) {
	secret := &corev1.Secret{}
	exists := true
	if err := r.Client.Get(ctx, r.Secret, secret); err != nil {
		if !apierrors.IsNotFound(err) {
			return 0, fmt.Errorf("reading Secret %s: %w", r.Secret, err)
		}
		exists = false
		secret = &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{
				Name: r.Secret.Name, Namespace: r.Secret.Namespace,
				Labels: map[string]string{"app.kubernetes.io/name": "budgetgate", "app.kubernetes.io/component": "webhook-certificate"},
			},
			Type: corev1.SecretTypeTLS,
		}
	}
	now := r.Now()
	cur := StateFromSecret(secret)
	next, why, err := Next(cur, r.Policy, now, r.trusted(cur, now))
	if err != nil {
		return 0, err
	}
	if why != "" {
		next.ApplyToSecret(secret)
		if exists {
			err = r.Client.Update(ctx, secret, client.FieldOwner(r.FieldOwner))
		} else {
			err = r.Client.Create(ctx, secret, client.FieldOwner(r.FieldOwner))
		}
		if apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) {
			r.Log.Info("the Secret changed meanwhile; reading it again", "secret", r.Secret)
			return 0, nil
		}
		if err != nil {
			return 0, fmt.Errorf("writing Secret %s: %w (the ServiceAccount needs create/update on it)", r.Secret, err)
		}
		r.Log.Info("certificates updated", "secret", r.Secret, "why", why,
			"caExpires", next.CA.Cert.NotAfter, "servingExpires", next.Serving.Cert.NotAfter)
	}
	changed, err := r.Injector.Inject(ctx, next.Bundle())
	if err != nil {
		return 0, err
	}
	if changed {
		r.Log.Info("CA bundle injected", "mutating", r.Injector.Mutating, "validating", r.Injector.Validating, "cas", 1+len(next.Previous))
	}
	r.markTrusted(next, r.Now())

	wait := r.CheckInterval
	if d := next.WakeAt().Sub(r.Now()); d < wait {
		wait = d
	}
	if next.PendingTrust() {
		if d := r.trustedAt(next).Add(r.TrustDelay).Sub(r.Now()); d < wait {
			wait = d
		}
	}
	return max(wait, 100*time.Millisecond), nil
}

func (r *Rotator) trusted(s State, now time.Time) bool {
	at := r.trustedAt(s)
	return !at.IsZero() && now.Sub(at) >= r.TrustDelay
}

func (r *Rotator) trustedAt(s State) time.Time {
	if s.CA == nil {
		return time.Time{}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.trustedSince[s.CA.Cert.SerialNumber.String()]
}

func (r *Rotator) markTrusted(s State, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.trustedSince == nil {
		r.trustedSince = map[string]time.Time{}
	}
	key := s.CA.Cert.SerialNumber.String()
	if _, ok := r.trustedSince[key]; !ok {
		r.trustedSince[key] = now
	}
}
