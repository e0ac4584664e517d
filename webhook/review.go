package webhook

import (
	"bytes"
	"errors"
	"fmt"
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
	// Object is the admitted object (the old one on DELETE), for Events;
	// nil when the request has none.
	Object ast.Object
	Input  ast.Value
}

// valueAt is obj[key], nil when absent.
func valueAt(obj ast.Object, key string) ast.Value {
	if t := obj.Get(ast.InternedTerm(key)); t != nil {
		return t.Value
	}
	return nil
}

// stringAt is obj[key] when it is a string, else "".
func stringAt(obj ast.Object, key string) string {
	s, _ := valueAt(obj, key).(ast.String)
	return string(s)
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
// parsed once, straight into the policy input: the fields read here come
// from it too, so no second decode happens on the admission path.
func decodeReview(req *http.Request) (*Review, error) {
	if req.Method != http.MethodPost {
		return nil, badRequestf(http.StatusMethodNotAllowed, "method %s is not allowed: POST an AdmissionReview", req.Method)
	}
	if ct := req.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return nil, badRequestf(http.StatusUnsupportedMediaType, "content type %q is not supported: send application/json", ct)
	}
	// Sized from Content-Length (the API server sends it): one allocation
	// instead of io.ReadAll's doubling from 512 bytes (15 KB of garbage for a
	// 6 KB review). bytes.Buffer wants MinRead spare bytes to see the end.
	size := int64(4096)
	if req.ContentLength > 0 && req.ContentLength <= maxBodyBytes {
		size = req.ContentLength + bytes.MinRead
	}
	buf := bytes.NewBuffer(make([]byte, 0, size))
	_, err := buf.ReadFrom(http.MaxBytesReader(nil, req.Body, maxBodyBytes))
	body := buf.Bytes()
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
	doc, err := parseJSON(body)
	if errors.Is(err, errTrailingData) {
		return nil, badRequestf(http.StatusBadRequest, "the request body holds more than one JSON value: send one AdmissionReview")
	}
	if err != nil {
		return nil, badRequestf(http.StatusBadRequest, "the request body is not JSON: %v", err)
	}
	review, ok := doc.(ast.Object)
	if !ok {
		return nil, badRequestf(http.StatusBadRequest, "the request body is not an AdmissionReview object")
	}
	apiVersion := stringAt(review, "apiVersion")
	kind := stringAt(review, "kind")
	if kind != "AdmissionReview" || apiVersion != "admission.k8s.io/v1" {
		return nil, badRequestf(http.StatusBadRequest, "got apiVersion %q kind %q: send an admission.k8s.io/v1 AdmissionReview (set admissionReviewVersions: [v1] in the webhook configuration)", apiVersion, kind)
	}
	request, ok := valueAt(review, "request").(ast.Object)
	if !ok {
		return nil, badRequestf(http.StatusBadRequest, "the AdmissionReview has no request")
	}
	r := &Review{APIVersion: apiVersion, Input: review}
	r.UID = stringAt(request, "uid")
	if r.UID == "" {
		return nil, badRequestf(http.StatusBadRequest, "the AdmissionReview request has no uid")
	}
	r.Operation = stringAt(request, "operation")
	r.Namespace = stringAt(request, "namespace")
	r.Name = stringAt(request, "name")
	if k, ok := valueAt(request, "kind").(ast.Object); ok {
		r.Kind = stringAt(k, "kind")
	}
	r.DryRun = valueAt(request, "dryRun") == ast.Boolean(true)
	if r.Object, ok = valueAt(request, "object").(ast.Object); !ok {
		r.Object, _ = valueAt(request, "oldObject").(ast.Object)
	}
	return r, nil
}
