# The peer's adapter: OPA's server in the kube-mgmt set-up answers an
# admission webhook at POST / with the value of data.system.main, which must be
# an AdmissionReview carrying the response. This turns the shipped library's
# verdict (package main: deny, warn) into the response budgetgate's
# /validate sends for the same review: same allowed, same warnings in the
# same order, same denial message. It is only for the load benchmark; the
# shipped library itself is loaded unchanged beside it.
package system

import data.main as verdict

main := {
	"apiVersion": "admission.k8s.io/v1",
	"kind": "AdmissionReview",
	"response": response,
}

# "[rule id] message", sorted: budgetgate sorts findings by rule id, then
# message, which is the order of these strings for the shipped rule ids.
line(f) := sprintf("[%s] %s", [f.policy, f.msg]) if f.policy

line(f) := f.msg if not f.policy

failures := sort([line(f) | some f in verdict.deny])

warnings := sort([line(f) | some f in verdict.warn])

header := "budgetgate: 1 policy failed:" if count(failures) == 1

header := sprintf("budgetgate: %d policies failed:", [count(failures)]) if count(failures) > 1

response := {"uid": input.request.uid, "allowed": true} if {
	count(failures) == 0
	count(warnings) == 0
} else := {"uid": input.request.uid, "allowed": true, "warnings": warnings} if {
	count(failures) == 0
} else := with_warnings({
	"uid": input.request.uid,
	"allowed": false,
	"status": {
		"status": "Failure",
		"code": 403,
		"reason": "Forbidden",
		"message": concat("\n", array.concat([header], failures)),
	},
})

with_warnings(r) := r if count(warnings) == 0

with_warnings(r) := object.union(r, {"warnings": warnings}) if count(warnings) > 0
