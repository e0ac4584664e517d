package webhook

import (
	"encoding/json"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Response is what a Handler answers; the envelope is added when it is sent.
type Response = admissionv1.AdmissionResponse

// Allowed admits the request, with Kubernetes warnings if any.
func Allowed(warnings []string) Response {
	return Response{Allowed: true, Warnings: warnings}
}

// Denied refuses the request with a message the user reads in kubectl.
func Denied(code int32, message string) Response {
	return Response{Allowed: false, Result: &metav1.Status{
		Status:  metav1.StatusFailure,
		Code:    code,
		Reason:  reasonFor(code),
		Message: message,
	}}
}

// Patched admits the request with a JSON Patch the API server applies.
func Patched(patch []byte) Response {
	pt := admissionv1.PatchTypeJSONPatch
	return Response{Allowed: true, Patch: patch, PatchType: &pt}
}

func reasonFor(code int32) metav1.StatusReason {
	switch code {
	case http.StatusForbidden:
		return metav1.StatusReasonForbidden
	case http.StatusInternalServerError:
		return metav1.StatusReasonInternalError
	}
	return metav1.StatusReasonBadRequest
}

// writeResponse sends resp in an AdmissionReview envelope answering review.
func writeResponse(w http.ResponseWriter, review *Review, resp Response) error {
	resp.UID = types.UID(review.UID)
	out := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: review.APIVersion, Kind: "AdmissionReview"},
		Response: &resp,
	}
	body, err := json.Marshal(&out)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	_, err = w.Write(body)
	return err
}
