package api

import (
	"net/http"
	"testing"
	"time"

	"github.com/trustledger/trustledger/fsm"
)

// Temporary modifiers through the API: an analyst adds one (it shows in
// trustModifiers and moves the score until it expires or is removed) and
// removes it; bad input is a 400 naming the API's field and writes
// nothing; the analyst role reviews alerts but cannot change the policy or
// create tokens.
func TestModifiersAndAnalystRole(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.register("ann", "user", "")
	analyst := h.token("analyst")
	base := h.record("ann").TrustScore
	var added struct {
		Index      uint64     `json:"index"`
		ModifierID string     `json:"modifierId"`
		Record     fsm.Record `json:"record"`
	}
	exp := time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)
	h.mustJSON("POST", "/v1/principals/ann/modifiers", analyst, map[string]any{"amount": -10, "reason": "under investigation",
		"expiresAt": exp}, http.StatusCreated, &added)
	if added.ModifierID == "" || len(added.Record.TrustModifiers) != 1 || added.Record.TrustScore != base-10 ||
		added.Record.TrustModifiers[0].Reason != "under investigation" {
		t.Fatalf("added: %+v", added)
	}
	before := h.state()
	for _, tc := range []struct {
		body   map[string]any
		status int
		field  string
	}{
		{map[string]any{"amount": 0, "reason": "x", "expiresAt": exp}, 400, "amount"},
		{map[string]any{"amount": 101, "reason": "x", "expiresAt": exp}, 400, "amount"},
		{map[string]any{"amount": -5, "reason": "x", "expiresAt": "2001-01-01T00:00:00Z"}, 400, "expiresAt"},
		{map[string]any{"amount": -5, "expiresAt": exp}, 400, "reason"},
	} {
		r := h.do("POST", "/v1/principals/ann/modifiers", analyst, tc.body)
		if p := r.problem(t); r.status != tc.status || p.Field != tc.field {
			t.Errorf("%v: %d %+v, want %d naming %s", tc.body, r.status, p, tc.status, tc.field)
		}
	}
	if r := h.do("POST", "/v1/principals/nobody/modifiers", analyst, map[string]any{"amount": -5, "reason": "x", "expiresAt": exp}); r.status != 404 {
		t.Errorf("unknown principal: %d", r.status)
	}
	if r := h.do("DELETE", "/v1/principals/ann/modifiers/mod-0", analyst, nil); r.status != 404 || r.problem(t).Field != "modifierId" {
		t.Errorf("unknown modifier: %d %s", r.status, r.body)
	}
	if h.state() != before {
		t.Fatal("refused modifier requests wrote to the ledger")
	}
	var rec struct {
		Record fsm.Record `json:"record"`
	}
	h.mustJSON("DELETE", "/v1/principals/ann/modifiers/"+added.ModifierID, analyst, nil, http.StatusOK, &rec)
	if len(rec.Record.TrustModifiers) != 0 || rec.Record.TrustScore != base {
		t.Fatalf("after removal: score %d (base %d), modifiers %v", rec.Record.TrustScore, base, rec.Record.TrustModifiers)
	}
	if r := h.do("DELETE", "/v1/principals/ann/modifiers/"+added.ModifierID, analyst, nil); r.status != 404 {
		t.Errorf("removing it twice: %d", r.status)
	}
	// Least privilege: readers cannot add modifiers; analysts read and
	// review but do not administer.
	if r := h.do("POST", "/v1/principals/ann/modifiers", h.token("reader"), map[string]any{"amount": -5, "reason": "x", "expiresAt": exp}); r.status != 403 {
		t.Errorf("a reader adding a modifier: %d", r.status)
	}
	h.mustJSON("GET", "/v1/principals/ann", analyst, nil, http.StatusOK, nil)
	h.mustJSON("GET", "/v1/alerts", analyst, nil, http.StatusOK, nil)
	for _, c := range []struct{ method, path string }{{"PUT", "/v1/policy"}, {"POST", "/v1/tokens"}, {"POST", "/v1/signals"}, {"GET", "/v1/ledger"}} {
		if r := h.do(c.method, c.path, analyst, map[string]any{}); r.status != http.StatusForbidden {
			t.Errorf("an analyst token on %s %s: %d", c.method, c.path, r.status)
		}
	}
}
