package api

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/trustledger/trustledger/fsm"
)

// POST /v1/policy/simulate gives, for every principal, what applying the
// policy and then deciding gives, writes nothing, and names the field of
// bad input (fsm.TestPolicyWhatIfTenThousand checks 10,000 principals;
// fsm.BenchmarkPolicyWhatIf gives the time).
func TestPolicyWhatIfMatchesApplying(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	writer, reader := h.token("writer"), h.token("reader")
	const n = 120
	for i := 0; i < n; i++ {
		h.mustJSON("POST", "/v1/principals", writer, map[string]any{"principalId": fmt.Sprintf("u%05d", i), "principalType": "user",
			"baseTrustScore": i * 100 / n}, http.StatusCreated, nil)
	}
	proposed := `{"decision": {"actions": {"export": {"permission": "sensitive_read", "sensitivity": "high"}},
	  "allow": {"high": 75}, "contextRules": []}}`
	body := fmt.Sprintf(`{"policy": %s, "action": "export", "sensitivity": "high", "context": {"device": {"compliant": false}}, "limit": 1000}`, proposed)
	before := h.state()
	var w fsm.WhatIf
	r := h.mustJSON("POST", "/v1/policy/simulate", h.admin, body, http.StatusOK, &w)
	if h.state() != before {
		t.Fatal("the what-if wrote to the ledger")
	}
	if w.Principals != n || w.Changed == 0 || len(w.Changes) != w.Changed || w.Truncated || r.header.Get(HeaderIndex) == "" {
		t.Fatalf("what-if: %d principals, %d changed, %d listed, truncated %v", w.Principals, w.Changed, len(w.Changes), w.Truncated)
	}
	listed := map[string]fsm.DecisionChange{}
	for _, c := range w.Changes {
		listed[c.PrincipalID] = c
	}
	decide := func(id string) fsm.Decision {
		var d fsm.Decision
		h.mustJSON("POST", "/v1/decisions?at="+w.EvaluatedAt, reader, map[string]any{"principalId": id, "action": "export", "sensitivity": "high",
			"context": map[string]any{"device": map[string]any{"compliant": false}}}, http.StatusOK, &d)
		return d
	}
	beforeDecisions := map[string]fsm.Decision{}
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("u%05d", i)
		beforeDecisions[id] = decide(id)
	}
	h.mustJSON("PUT", "/v1/policy", h.admin, proposed, http.StatusOK, nil)
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("u%05d", i)
		d, was := decide(id), beforeDecisions[id]
		c, changed := listed[id]
		got, had := fmt.Sprint(codes(d.Reasons)), fmt.Sprint(codes(was.Reasons))
		switch {
		case changed && (c.After.Decision != d.Decision || fmt.Sprint(c.After.Reasons) != got || c.Before.Decision != was.Decision || fmt.Sprint(c.Before.Reasons) != had):
			t.Errorf("%s: what-if said %+v → %+v; deciding gives %s %s → %s %s", id, c.Before, c.After, was.Decision, had, d.Decision, got)
		case !changed && (d.Decision != was.Decision || got != had || d.RequiredAuthentication != was.RequiredAuthentication):
			t.Errorf("%s: the what-if lists no change, deciding gives %s %s → %s %s", id, was.Decision, had, d.Decision, got)
		}
	}
	for _, tc := range []struct{ body, field string }{
		{`{"policy": {"decision": {"allow": {"high": 120}}}, "action": "read"}`, "policy.decision.allow.high"},
		{`{"policy": {"nope": 1}, "action": "read"}`, "policy.nope"},
		{`{"action": "read"}`, "policy"},
		{`{"policy": {}, "action": "fly"}`, "sensitivity"},
		{`{"policy": {}, "action": "read", "limit": 5000}`, "limit"},
	} {
		r := h.do("POST", "/v1/policy/simulate", h.admin, tc.body)
		if p := r.problem(t); r.status != http.StatusBadRequest || p.Field != tc.field {
			t.Errorf("%s: %d %+v, want 400 naming %s", tc.body, r.status, p, tc.field)
		}
	}
	if r := h.do("POST", "/v1/policy/simulate", reader, `{"policy": {}, "action": "read"}`); r.status != http.StatusForbidden {
		t.Errorf("a reader token: %d", r.status)
	}
}

func codes(rs []fsm.Reason) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Code
	}
	return out
}
