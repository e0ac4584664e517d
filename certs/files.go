package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
)

// FileWriter copies the Secret's tls.crt and tls.key into Dir on every
// replica, leader or not, as soon as the Secret changes; the webhook server
// (FileSource) reloads them from there. It watches that one Secret only, so
// the ServiceAccount needs no access to other Secrets.
type FileWriter struct {
	Clientset kubernetes.Interface
	Secret    types.NamespacedName
	Dir       string
	Log       logr.Logger
	// Changed, if set, is called (without blocking) after each change of the
	// Secret, including its deletion: it wakes the rotator.
	Changed func()
}

// NeedLeaderElection is false: every replica serves, so every replica writes.
func (w *FileWriter) NeedLeaderElection() bool { return false }

// Start watches the Secret until ctx ends.
func (w *FileWriter) Start(ctx context.Context) error {
	if err := os.MkdirAll(w.Dir, 0o700); err != nil {
		return fmt.Errorf("certificate folder: %w (it must be writable, e.g. an emptyDir volume)", err)
	}
	lw := cache.NewListWatchFromClient(w.Clientset.CoreV1().RESTClient(), "secrets", w.Secret.Namespace,
		fields.OneTermEqualSelector("metadata.name", w.Secret.Name))
	_, informer := cache.NewInformerWithOptions(cache.InformerOptions{
		Logger:        &w.Log,
		ListerWatcher: lw,
		ObjectType:    &corev1.Secret{},
		ResyncPeriod:  time.Minute, // rewrites files someone removed
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { w.write(obj) },
			UpdateFunc: func(_, obj any) { w.write(obj) },
			DeleteFunc: func(any) {
				w.Log.Info("the certificate Secret was deleted; serving the last certificate until it is recreated", "secret", w.Secret)
				w.changed()
			},
		},
	})
	informer.RunWithContext(ctx)
	return nil
}

func (w *FileWriter) changed() {
	if w.Changed != nil {
		w.Changed()
	}
}

func (w *FileWriter) write(obj any) {
	s, ok := obj.(*corev1.Secret)
	if !ok {
		return
	}
	w.changed()
	crt, key := s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey]
	if _, err := tls.X509KeyPair(crt, key); err != nil {
		w.Log.Info("the certificate Secret holds no valid key pair yet; keeping the files", "secret", w.Secret, "error", err.Error())
		return
	}
	changed, err := WriteKeyPair(w.Dir, crt, key)
	if err != nil {
		w.Log.Error(err, "writing the serving certificate", "dir", w.Dir)
		return
	}
	if changed {
		w.Log.Info("serving certificate written", "dir", w.Dir, "secret", w.Secret, "resourceVersion", s.ResourceVersion)
	}
}

// WriteKeyPair writes tls.crt and tls.key into dir unless they already hold
// these bytes. Each file is replaced by a rename, so a reader never sees a
// half-written file; between the two renames the pair does not match, which
// the certificate watcher rejects, keeping the previous pair until both are
// in place.
func WriteKeyPair(dir string, crt, key []byte) (changed bool, err error) {
	for _, f := range []struct {
		name string
		data []byte
	}{{corev1.TLSPrivateKeyKey, key}, {corev1.TLSCertKey, crt}} {
		path := filepath.Join(dir, f.name)
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, f.data) {
			continue
		}
		tmp, err := os.CreateTemp(dir, "."+f.name+".*")
		if err != nil {
			return changed, err
		}
		_, werr := tmp.Write(f.data)
		cerr := tmp.Close()
		if err := errors.Join(werr, cerr); err != nil {
			_ = os.Remove(tmp.Name())
			return changed, err
		}
		if err := os.Rename(tmp.Name(), path); err != nil {
			_ = os.Remove(tmp.Name())
			return changed, err
		}
		changed = true
	}
	return changed, nil
}

// FileSource serves the certificate in Dir (tls.crt, tls.key) to the webhook
// server and reloads it from disk when it changes, through
// controller-runtime's certificate watcher. Unlike the webhook server's own
// watcher it tolerates a folder that has no certificate yet (self-managed
// mode writes it after start, cert-manager may issue it late): TLS
// handshakes fail and Ready reports why until one appears.
type FileSource struct {
	Dir string
	Log logr.Logger
	// PollInterval is how often a missing certificate is looked for.
	PollInterval time.Duration
	// Registerer, if set, gets budgetgate_serving_certificate_expiry_timestamp_seconds.
	Registerer prometheus.Registerer

	watcher atomic.Pointer[certwatcher.CertWatcher]
}

// ConfigureTLS is a webhook server TLS option: the server then takes its
// certificate from the source.
func (s *FileSource) ConfigureTLS(c *tls.Config) {
	c.GetCertificate = s.getCertificate
}

func (s *FileSource) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	w := s.watcher.Load()
	if w == nil {
		return nil, fmt.Errorf("no serving certificate in %s yet", s.Dir)
	}
	return w.GetCertificate(hello)
}

// Ready is nil once a certificate is loaded.
func (s *FileSource) Ready() error {
	if s.watcher.Load() == nil {
		return fmt.Errorf("no serving certificate loaded from %s yet (tls.crt and tls.key)", s.Dir)
	}
	return nil
}

func (s *FileSource) expiry() float64 {
	c, err := s.getCertificate(nil)
	if err != nil || c == nil || c.Leaf == nil {
		return 0
	}
	return float64(c.Leaf.NotAfter.Unix())
}

// Start waits for the certificate files, then watches them until ctx ends.
func (s *FileSource) Start(ctx context.Context) error {
	interval := s.PollInterval
	if interval <= 0 {
		interval = 250 * time.Millisecond
	}
	if s.Registerer != nil {
		// Whatever renews the certificate (cert-manager, self-managed), this
		// is what is served: alert on it.
		if err := s.Registerer.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "budgetgate_serving_certificate_expiry_timestamp_seconds",
			Help: "NotAfter of the serving certificate loaded from --cert-dir, in Unix seconds; 0 before one is loaded.",
		}, s.expiry)); err != nil {
			return fmt.Errorf("registering the certificate expiry metric: %w", err)
		}
	}
	crt, key := filepath.Join(s.Dir, corev1.TLSCertKey), filepath.Join(s.Dir, corev1.TLSPrivateKeyKey)
	logged := false
	for {
		w, err := certwatcher.New(crt, key)
		if err == nil {
			s.watcher.Store(w)
			s.Log.Info("serving certificate loaded; watching it for changes", "dir", s.Dir)
			return w.Start(ctx)
		}
		if !logged {
			s.Log.Info("waiting for the serving certificate", "dir", s.Dir, "error", err.Error())
			logged = true
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}
