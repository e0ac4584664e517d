package rego

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Finding is one result of a verdict rule, in conftest's terms: a message and
// the object's other keys as metadata.
type Finding struct {
	// Msg is the message the user reads.
	Msg string `json:"msg"`
	// Metadata holds every key of an object result but msg; the shipped
	// library sets "policy" (the rule id) and "action".
	Metadata map[string]any `json:"metadata,omitempty"`
	// Namespace is the Rego package of the rule without "data.", e.g. "main".
	Namespace string `json:"-"`
	// Rule is the verdict rule's name, e.g. "deny" or "warn_ports".
	Rule string `json:"-"`
}

// Policy is the rule id the finding names, or "" for a plain string result.
func (f Finding) Policy() string { return f.metaString("policy") }

func (f Finding) metaString(key string) string {
	s, _ := f.Metadata[key].(string)
	return s
}

// String is the finding as admission responses and tables show it:
// "[rule-id] message".
func (f Finding) String() string {
	if p := f.Policy(); p != "" {
		return "[" + p + "] " + f.Msg
	}
	return f.Msg
}

// PatchOperation is one RFC 6902 JSON Patch operation from a patch rule.
type PatchOperation struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	From  string `json:"from,omitempty"`
	Value any    `json:"value,omitempty"`
}

// MarshalJSON keeps a null value where the operation needs one.
func (p PatchOperation) MarshalJSON() ([]byte, error) {
	type plain PatchOperation
	if p.Value == nil && (p.Op == "add" || p.Op == "replace" || p.Op == "test") {
		return json.Marshal(struct {
			plain
			Value any `json:"value"`
		}{plain: plain(p)})
	}
	return json.Marshal(plain(p))
}

// Decision is what a policy set says of one input.
type Decision struct {
	// Failures come from deny and violation rules: the request is refused.
	Failures []Finding
	// Warnings come from warn rules: admitted with a warning.
	Warnings []Finding
	// DryRun findings are admitted silently, only logged and counted.
	DryRun []Finding
	// Successes counts, by Rego package, verdict rule bodies that found
	// nothing, as conftest counts them.
	Successes map[string]int
	// Patch is the JSON Patch the mutating webhook applies; empty for none.
	Patch []PatchOperation
}

// Allowed is true when no rule asks for the request to be refused.
func (d *Decision) Allowed() bool { return len(d.Failures) == 0 }

// sortFindings gives responses and reports a stable order, whatever the order
// of packages and rules: by rule id, then message.
func sortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.Policy() != b.Policy() {
			return a.Policy() < b.Policy()
		}
		if a.Msg != b.Msg {
			return a.Msg < b.Msg
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Rule < b.Rule
	})
}

// toFindings turns a verdict rule's results into findings, as conftest does:
// a string is a message; an object needs a string msg, its other keys are
// metadata; other values (booleans of `deny if`) are ignored.
func toFindings(r verdictRule, values []any) ([]Finding, error) {
	out := make([]Finding, 0, len(values))
	for _, v := range values {
		switch x := v.(type) {
		case string:
			out = append(out, Finding{Msg: x, Namespace: r.namespace, Rule: r.name})
		case map[string]any:
			msg, ok := x["msg"].(string)
			if !ok {
				return nil, fmt.Errorf("%s returned %s without a string \"msg\": give every object result a msg", r.ref, compact(x))
			}
			meta := make(map[string]any, len(x)-1)
			for k, val := range x {
				if k != "msg" {
					meta[k] = val
				}
			}
			out = append(out, Finding{Msg: msg, Metadata: meta, Namespace: r.namespace, Rule: r.name})
		}
	}
	return out, nil
}

var validPatchOps = map[string]bool{"add": true, "remove": true, "replace": true, "move": true, "copy": true, "test": true}

// toPatch checks each patch result is an RFC 6902 operation; a malformed one
// is an evaluation error, never a patch the API server would reject.
func toPatch(r verdictRule, values []any) ([]PatchOperation, error) {
	out := make([]PatchOperation, 0, len(values))
	for _, v := range values {
		x, ok := v.(map[string]any)
		op, _ := x["op"].(string)
		p, hasPath := x["path"].(string)
		if !ok || !validPatchOps[op] || !hasPath || (p != "" && !strings.HasPrefix(p, "/")) {
			return nil, fmt.Errorf("%s returned %s: a patch is an RFC 6902 operation {\"op\": add|remove|replace|move|copy|test, \"path\": \"/...\"}", r.ref, compact(v))
		}
		from, hasFrom := x["from"].(string)
		if (op == "move" || op == "copy") && !hasFrom {
			return nil, fmt.Errorf("%s returned %s: %s needs a \"from\" path", r.ref, compact(v), op)
		}
		value, hasValue := x["value"]
		if (op == "add" || op == "replace" || op == "test") && !hasValue {
			return nil, fmt.Errorf("%s returned %s: %s needs a \"value\"", r.ref, compact(v), op)
		}
		out = append(out, PatchOperation{Op: op, Path: p, From: from, Value: value})
	}
	return out, nil
}

func compact(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}
