// Package install tests the install manifests against a real kube-apiserver
// and etcd: every object of every overlay applies with server-side apply, no
// webhook configuration gates kube-system, and self-managed certificates
// bootstrap, get injected and rotate under a steady stream of admission
// requests without losing one. KUBEBUILDER_ASSETS names the binaries
// (hack/envtest-assets.sh).
package install

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

var assets string

func TestMain(m *testing.M) {
	assets = os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		if os.Getenv("CI") != "" {
			fmt.Fprintln(os.Stderr, "KUBEBUILDER_ASSETS is not set: CI must run the install suite (hack/test.sh sets it)")
			os.Exit(1)
		}
		fmt.Fprintln(os.Stderr, "skipping the install suite: set KUBEBUILDER_ASSETS=$(hack/envtest-assets.sh)")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// controlPlane is a fresh kube-apiserver and etcd with an admin kubeconfig.
type controlPlane struct {
	env        *envtest.Environment
	cfg        *rest.Config
	kubeconfig string
}

func startControlPlane(t *testing.T) *controlPlane {
	t.Helper()
	start := time.Now()
	var (
		env *envtest.Environment
		cfg *rest.Config
		err error
	)
	// envtest retries a failed start on the same ports, so a port another
	// process took between envtest choosing it and etcd binding it fails
	// every retry; a fresh Environment chooses new ports.
	for attempt := 1; ; attempt++ {
		env = &envtest.Environment{
			BinaryAssetsDirectory:    assets,
			ControlPlaneStartTimeout: time.Minute,
			ControlPlaneStopTimeout:  30 * time.Second,
		}
		if cfg, err = env.Start(); err == nil {
			break
		}
		_ = env.Stop()
		if attempt == 3 {
			t.Fatalf("starting the control plane (%d attempts): %v", attempt, err)
		}
		t.Logf("starting the control plane failed, trying again on other ports: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping the control plane: %v", err)
		}
	})
	user, err := env.AddUser(envtest.User{Name: "install-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("control plane up in %s", time.Since(start).Round(time.Millisecond))
	return &controlPlane{env: env, cfg: cfg, kubeconfig: path}
}

// serviceAccount returns a client configuration that authenticates as the
// ServiceAccount the manifests create, so RBAC applies as in a pod.
func (cp *controlPlane) serviceAccount(t *testing.T, namespace, name string) *rest.Config {
	t.Helper()
	user, err := cp.env.AddUser(envtest.User{
		Name:   fmt.Sprintf("system:serviceaccount:%s:%s", namespace, name),
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return user.Config()
}

func (cp *controlPlane) kubectl(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	return kubectl(t, stdin, append([]string{"--kubeconfig", cp.kubeconfig}, args...)...)
}

func (cp *controlPlane) mustKubectl(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, err := cp.kubectl(t, stdin, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// kubectl runs the kubectl of the assets (kustomize built in).
func kubectl(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(assets, "kubectl"), args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	err := cmd.Run()
	return out.String(), err
}

// manifestsDir is the repository's manifests/ folder.
func manifestsDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../../manifests")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}
