package webhook

import (
	"net/http"

	"github.com/go-logr/logr"
)

// Registrar is where the webhooks are mounted, such as controller-runtime's
// webhook.Server.
type Registrar interface {
	Register(path string, h http.Handler)
}

// Paths of the two webhooks, as the webhook configurations in manifests/ name them.
const (
	ValidatePath = "/validate"
	MutatePath   = "/mutate"
)

// Config is what both webhooks are built from.
type Config struct {
	Engine  Evaluator
	Options Options
	Log     logr.Logger
	Metrics *Metrics
	// Events records break-glass overrides; nil without a cluster.
	Events EventRecorder
}

// Register mounts the validating and mutating webhooks on r.
func Register(r Registrar, c Config) {
	r.Register(ValidatePath, Serve("validate", &Validator{Engine: c.Engine, Options: c.Options, Log: c.Log.WithName("validate"), Metrics: c.Metrics, Events: c.Events}, c.Log, c.Metrics))
	r.Register(MutatePath, Serve("mutate", &Mutator{Engine: c.Engine, Options: c.Options, Log: c.Log.WithName("mutate")}, c.Log, c.Metrics))
}
