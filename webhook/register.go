package webhook

import (
	"net/http"

	"github.com/go-logr/logr"
)

// Registrar is where the webhooks are mounted: controller-runtime's
// webhook.Server, or an http.ServeMux.
type Registrar interface {
	Register(path string, h http.Handler)
}

// Paths of the two webhooks, as the webhook configurations in manifests/ name them.
const (
	ValidatePath = "/validate"
	MutatePath   = "/mutate"
)

// Register mounts the validating and mutating webhooks on r.
func Register(r Registrar, engine Evaluator, opts Options, log logr.Logger, metrics *Metrics) {
	r.Register(ValidatePath, Serve("validate", &Validator{Engine: engine, Options: opts, Log: log.WithName("validate"), Metrics: metrics}, log, metrics))
	r.Register(MutatePath, Serve("mutate", &Mutator{Engine: engine, Options: opts, Log: log.WithName("mutate")}, log, metrics))
}
