package api

import (
	"encoding/json"
	"net/http"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/trustledger/trustledger/fsm"
)

// The decision answer over the default policy: reason codes, a decision
// id, the action map (deploy needs production_change; no sensitivity
// needed for a mapped action) and the non-compliant-device rule; requests
// the policy cannot decide are a 400 naming the field.
func TestDecisionsActionsAndContext(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	reader := h.token("reader")
	h.mustJSON("POST", "/v1/principals", h.token("writer"), map[string]any{"principalId": "ops", "principalType": "user",
		"baseTrustScore": 78}, http.StatusCreated, nil)
	var d fsm.Decision
	h.mustJSON("POST", "/v1/decisions", reader, map[string]any{"principalId": "ops", "action": "deploy", "sensitivity": "high"}, http.StatusOK, &d)
	if d.Decision != fsm.DecisionDeny || d.Sensitivity != "critical" || d.RequiredPermission != "production_change" ||
		!hasReason(d.Reasons, "missing_permission") || len(d.DecisionID) != 36 {
		t.Fatalf("deploy at 78: %+v", d)
	}
	var d2 fsm.Decision
	h.mustJSON("POST", "/v1/decisions", reader, map[string]any{"principalId": "ops", "action": "write",
		"context": map[string]any{"device": map[string]any{"compliant": false}}}, http.StatusOK, &d2)
	if d2.Decision != fsm.DecisionStepUp || !hasReason(d2.Reasons, "device_untrusted") || d2.DecisionID == d.DecisionID {
		t.Fatalf("write from a non-compliant device: %+v", d2)
	}
	for _, tc := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"principalId": "ops", "action": "fly"}, "sensitivity"},
		{map[string]any{"principalId": "ops", "action": "read", "sensitivity": "extreme"}, "sensitivity"},
		{map[string]any{"principalId": "ops", "action": "read", "context": []any{1}}, "context"},
		{map[string]any{"principalId": "ops", "action": "read", "context": json.RawMessage(strings.Repeat(`{"a":`, 12) + "1" + strings.Repeat("}", 12))}, "context"},
	} {
		r := h.do("POST", "/v1/decisions", reader, tc.body)
		if p := r.problem(t); r.status != http.StatusBadRequest || p.Field != tc.field {
			t.Errorf("%v: %d %+v, want 400 naming %s", tc.body, r.status, p, tc.field)
		}
	}
}

func hasReason(rs []fsm.Reason, code string) bool {
	for _, r := range rs {
		if r.Code == code {
			return true
		}
	}
	return false
}

// Context rules and the action map are part of the policy: PUT accepts the
// documented JSON as written (docs/scoring.md §16), GET gives it back, a
// rule that is not valid is a 400 naming its field, and the rule decides.
func TestPolicyContextRules(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.register("u1", "user", "")
	body := `{"decision": {
	  "contextRules": [
	    {"name": "outside-corporate-network", "code": "network_zone",
	     "message": "the request does not come from the corporate network",
	     "when": [{"field": "context.network.ip", "op": "notCidr", "values": ["10.0.0.0/8", "192.168.0.0/16"]}],
	     "then": {"sessionMaxDuration": "1h", "auditIntensity": "elevated"}},
	    {"name": "embargoed-country", "code": "geography",
	     "when": [{"field": "context.geo.country", "op": "in", "values": ["KP", "IR"]}],
	     "then": {"decision": "deny"}}
	  ]}}`
	// The worked example of docs/scoring.md is this body, as written.
	doc, err := os.ReadFile("../docs/scoring.md")
	if err != nil {
		t.Fatal(err)
	}
	_, example, _ := strings.Cut(string(doc), "**Worked example.**")
	_, example, _ = strings.Cut(example, "```json\n")
	example, _, _ = strings.Cut(example, "```")
	var a, b any
	if json.Unmarshal([]byte(example), &a) != nil || json.Unmarshal([]byte(body), &b) != nil || !reflect.DeepEqual(a, b) {
		t.Fatalf("docs/scoring.md's worked example is not the body tested here:\n%s", example)
	}
	var put struct {
		Changed bool
		Policy  policyDoc
	}
	h.mustJSON("PUT", "/v1/policy", h.admin, example, http.StatusOK, &put)
	if !put.Changed || len(put.Policy.Decision.ContextRules) != 2 || len(put.Policy.Decision.Actions) != 6 ||
		put.Policy.Decision.ContextRules[0].Then.SessionMaxDuration.ms != 3_600_000 {
		t.Fatalf("PUT: %+v", put)
	}
	var got policyDoc
	h.mustJSON("GET", "/v1/policy", h.token("reader"), nil, http.StatusOK, &got)
	if got.Decision.Actions["deploy"].Permission != "production_change" || got.Decision.ContextRules[1].When[0].Values == nil {
		t.Fatalf("GET: %+v", got.Decision)
	}
	var d fsm.Decision
	h.mustJSON("POST", "/v1/decisions", h.token("reader"), map[string]any{"principalId": "u1", "action": "read",
		"context": map[string]any{"network": map[string]any{"ip": "203.0.113.5"}, "geo": map[string]any{"country": "KP"}}}, http.StatusOK, &d)
	if d.Decision != fsm.DecisionDeny || !hasReason(d.Reasons, "geography") || !hasReason(d.Reasons, "network_zone") ||
		d.SessionMaxDuration > 3600 || d.AuditIntensity == "standard" || d.PolicyVersion != 1 {
		t.Fatalf("decision: %+v", d)
	}
	for _, tc := range []struct{ body, field string }{
		{`{"decision": {"contextRules": [{"name": "x", "code": "Bad Code", "when": [{"field": "context.a", "op": "present"}], "then": {"decision": "deny"}}]}}`, "decision.contextRules[0].code"},
		{`{"decision": {"contextRules": [{"name": "x", "code": "c", "when": [{"field": "context.a", "op": "cidr", "values": ["10/8"]}], "then": {"decision": "deny"}}]}}`, "decision.contextRules[0].when[0].values[0]"},
		{`{"decision": {"contextRules": [{"name": "x", "code": "c", "when": [{"field": "context.a", "op": "present"}], "then": {}}]}}`, "decision.contextRules[0].then"},
		{`{"decision": {"contextRules": [{"name": "x", "code": "c", "when": [{"field": "context.a", "op": "present"}], "then": {"decision": "allow"}}]}}`, "decision.contextRules[0].then.decision"},
		{`{"decision": {"actions": {"deploy": {"permission": "launch_missiles", "sensitivity": "critical"}}}}`, "decision.actions.deploy.permission"},
		{`{"decision": {"actions": {"deploy": {"sensitivity": "extreme"}}}}`, "decision.actions.deploy.sensitivity"},
	} {
		r := h.do("PUT", "/v1/policy", h.admin, tc.body)
		if p := r.problem(t); r.status != http.StatusBadRequest || p.Field != tc.field {
			t.Errorf("%s: %d %+v, want 400 naming %s", tc.body, r.status, p, tc.field)
		}
	}
}

// Every decision is in the audit log with its decision id, ledger index,
// context and policy version, and replaying the ledger up to that index
// and deciding the same request at the same instant gives the same
// decision (docs/operations.md, "Decision logs").
func TestDecisionLogReplays(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.register("carol", "user", "")
	writer, reader := h.token("writer"), h.token("reader")
	h.mustJSON("POST", "/v1/signals", writer, map[string]any{"signals": []any{map[string]any{"eventId": "e1", "principalId": "carol",
		"event": "mfa_success", "category": "authentication", "impact": 4}}}, http.StatusOK, nil)
	var answer fsm.Decision
	h.mustJSON("POST", "/v1/decisions", reader, map[string]any{"principalId": "carol", "action": "write",
		"context": map[string]any{"device": map[string]any{"compliant": false}, "network": map[string]any{"ip": "10.1.1.1"}}},
		http.StatusOK, &answer)
	// The ledger moves on: the replay must not see this.
	h.mustJSON("POST", "/v1/signals", writer, map[string]any{"signals": []any{map[string]any{"eventId": "e2", "principalId": "carol",
		"event": "malware_found", "category": "context", "impact": -30}}}, http.StatusOK, nil)

	var logged struct {
		DecisionID, PrincipalID, Action, Sensitivity, EvaluatedAt string
		LedgerIndex                                               uint64
		Context                                                   json.RawMessage
	}
	for _, l := range strings.Split(strings.TrimSpace(h.audit.String()), "\n") {
		var m struct {
			Unmapped struct {
				Decision json.RawMessage `json:"decision"`
			} `json:"unmapped"`
		}
		if json.Unmarshal([]byte(l), &m) == nil && m.Unmapped.Decision != nil {
			if err := json.Unmarshal(m.Unmapped.Decision, &logged); err != nil {
				t.Fatal(err)
			}
		}
	}
	if logged.DecisionID != answer.DecisionID || logged.LedgerIndex != answer.LedgerIndex || logged.LedgerIndex == 0 {
		t.Fatalf("decision log %+v, answer %+v", logged, answer)
	}
	entries, err := h.node.Entries(0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var replay []fsm.ReplayEntry
	var head fsm.Head
	for _, e := range entries {
		if e.Index > logged.LedgerIndex {
			break
		}
		p, err := fsm.ParseLeaf(e.Leaf)
		if err != nil {
			t.Fatal(err)
		}
		replay = append(replay, fsm.ReplayEntry{Leaf: e.Leaf, Index: e.Index, Alerts: e.Alerts})
		head = fsm.Head{Size: p.Sequence, Time: p.Time, Index: e.Index}
	}
	l, err := fsm.Replay(replay, head)
	if err != nil {
		t.Fatal(err)
	}
	ctx, err := fsm.ParseContext(logged.Context)
	if err != nil {
		t.Fatal(err)
	}
	at, err := parseTime(logged.EvaluatedAt)
	if err != nil {
		t.Fatalf("evaluatedAt %q: %v", logged.EvaluatedAt, err)
	}
	again, err := l.Decide(fsm.DecisionRequest{PrincipalID: logged.PrincipalID, Action: logged.Action, Sensitivity: logged.Sensitivity, Context: ctx}, at)
	if err != nil {
		t.Fatal(err)
	}
	again.DecisionID = answer.DecisionID
	a, _ := json.Marshal(answer)
	b, _ := json.Marshal(again)
	if string(a) != string(b) {
		t.Fatalf("replayed decision differs:\nanswer %s\nreplay %s", a, b)
	}
	if h.record("carol").TrustScore >= answer.TrustScore {
		t.Fatal("the later signal did not lower the score: the replay proves nothing")
	}
}
