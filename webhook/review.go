package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// maxBodyBytes bounds a request body: the API server sends at most its 3 MiB
// object limit twice over (object and oldObject), plus the envelope.
const maxBodyBytes = 7 << 20

// Review is a decoded AdmissionReview request. Input is the whole review as
// policies see it; the other fields are what the response and logs need.
type Review struct {
	APIVersion string
	UID        string
	Kind       string
	Namespace  string
	Name       string
	Operation  string
	// DryRun requests must have no side effects (no Events).
	DryRun bool
	// Object is the admitted object (the old one on DELETE), for Events.
	Object map[string]any
	Input  ast.Value
}

// String names the request in logs: "CREATE Deployment shop/checkout".
func (r *Review) String() string {
	if r.Namespace != "" {
		return fmt.Sprintf("%s %s %s/%s", r.Operation, r.Kind, r.Namespace, r.Name)
	}
	return fmt.Sprintf("%s %s %s", r.Operation, r.Kind, r.Name)
}

// badRequest is an HTTP error the client caused; its message says what to fix.
type badRequest struct {
	status int
	msg    string
}

func (e *badRequest) Error() string { return e.msg }

func badRequestf(status int, format string, args ...any) error {
	return &badRequest{status: status, msg: fmt.Sprintf(format, args...)}
}

// decodeReview reads an admission.k8s.io/v1 AdmissionReview. The body is
// parsed once into a generic value: it feeds both the fields read here and
// the policy input, so no second decode happens on the admission path.
func decodeReview(req *http.Request) (*Review, error) {
	if req.Method != http.MethodPost {
		return nil, badRequestf(http.StatusMethodNotAllowed, "method %s is not allowed: POST an AdmissionReview", req.Method)
	}
	if ct := req.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return nil, badRequestf(http.StatusUnsupportedMediaType, "content type %q is not supported: send application/json", ct)
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, req.Body, maxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, badRequestf(http.StatusRequestEntityTooLarge, "the request body is larger than %d bytes: an AdmissionReview is at most twice the API server's object size limit", maxBodyBytes)
		}
		return nil, badRequestf(http.StatusBadRequest, "reading the request body: %v", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, badRequestf(http.StatusBadRequest, "the request body is empty: POST an AdmissionReview")
	}
	var doc any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return nil, badRequestf(http.StatusBadRequest, "the request body is not JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badRequestf(http.StatusBadRequest, "the request body holds more than one JSON value: send one AdmissionReview")
	}
	review, ok := doc.(map[string]any)
	if !ok {
		return nil, badRequestf(http.StatusBadRequest, "the request body is not an AdmissionReview object")
	}
	apiVersion, _ := review["apiVersion"].(string)
	kind, _ := review["kind"].(string)
	if kind != "AdmissionReview" || apiVersion != "admission.k8s.io/v1" {
		return nil, badRequestf(http.StatusBadRequest, "got apiVersion %q kind %q: send an admission.k8s.io/v1 AdmissionReview (set admissionReviewVersions: [v1] in the webhook configuration)", apiVersion, kind)
	}
	request, ok := review["request"].(map[string]any)
	if !ok {
		return nil, badRequestf(http.StatusBadRequest, "the AdmissionReview has no request")
	}
	r := &Review{APIVersion: apiVersion}
	r.UID, _ = request["uid"].(string)
	if r.UID == "" {
		return nil, badRequestf(http.StatusBadRequest, "the AdmissionReview request has no uid")
	}
	r.Operation, _ = request["operation"].(string)
	r.Namespace, _ = request["namespace"].(string)
	r.Name, _ = request["name"].(string)
	if k, ok := request["kind"].(map[string]any); ok {
		r.Kind, _ = k["kind"].(string)
	}
	r.DryRun, _ = request["dryRun"].(bool)
	if r.Object, ok = request["object"].(map[string]any); !ok {
		r.Object, _ = request["oldObject"].(map[string]any)
	}
	if r.Input, err = ast.InterfaceToValue(review); err != nil {
		return nil, badRequestf(http.StatusBadRequest, "converting the AdmissionReview for policies: %v", err)
	}
	return r, nil
}
