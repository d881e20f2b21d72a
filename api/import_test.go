package api

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/trustledger/trustledger/api/client"
	"github.com/trustledger/trustledger/fsm"
)

// The two example records of the PrincipalTrust data model import
// unchanged and read back with the same score, level and breakdown.
func TestImportSeedExamples(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cases := []struct {
		file, id, level string
		score           int64
		components      fsm.Breakdown
	}{
		{"testdata/seed_example1.json", "user_john_doe", "high", 78, fsm.Breakdown{Authentication: 18, Behavior: 20, Compliance: 15, History: 18, Context: 7}},
		{"testdata/seed_example2.json", "svc_payment_processor", "verified", 92, fsm.Breakdown{Authentication: 25, Behavior: 23, Compliance: 22, History: 22, Context: 0}},
	}
	for _, c := range cases {
		t.Run(c.id, func(t *testing.T) {
			raw, err := os.ReadFile(c.file)
			if err != nil {
				t.Fatal(err)
			}
			var out struct {
				Index   uint64                  `json:"index"`
				Results []client.ImportedRecord `json:"results"`
				Record  *fsm.Record             `json:"record"`
			}
			h.mustJSON("POST", "/v1/import", h.admin, raw, http.StatusCreated, &out)
			if out.Index == 0 || len(out.Results) != 1 || out.Results[0].Status != "imported" {
				t.Fatalf("import answer: %+v", out)
			}
			for _, rec := range []*fsm.Record{out.Record, h.record(c.id)} {
				if rec.TrustScore != c.score || rec.TrustLevel != c.level || rec.ScoreComponents != c.components {
					t.Errorf("read back %d/%s %+v, want %d/%s %+v", rec.TrustScore, rec.TrustLevel, rec.ScoreComponents,
						c.score, c.level, c.components)
				}
			}
			var orig map[string]json.RawMessage
			if err := json.Unmarshal(raw, &orig); err != nil {
				t.Fatal(err)
			}
			rec := h.record(c.id)
			if want := strings.Trim(string(orig["trustId"]), `"`); rec.TrustID != want {
				t.Errorf("trustId %q, want %q", rec.TrustID, want)
			}
			if want := strings.Trim(string(orig["assessmentFrequency"]), `"`); rec.AssessmentFrequency != want {
				t.Errorf("assessmentFrequency %q, want %q", rec.AssessmentFrequency, want)
			}
			assertSameJSON(t, "metadata", orig["metadata"], rec.Metadata)
			var factors string
			if err := json.Unmarshal(orig["authenticationFactors"], &factors); err != nil {
				t.Fatal(err)
			}
			assertSameJSON(t, "authenticationFactors", json.RawMessage(factors), rec.AuthenticationFactors)
		})
	}
	// A second import of the same principal is refused and changes nothing.
	before := h.state()
	raw, _ := os.ReadFile(cases[0].file)
	r := h.do("POST", "/v1/import", h.admin, raw)
	if p := r.problem(t); r.status != http.StatusConflict || p.Field != "principalId" {
		t.Errorf("re-import: %d %+v", r.status, p)
	}
	if h.state() != before {
		t.Error("a refused import changed the ledger")
	}
}

func assertSameJSON(t *testing.T, what string, a, b json.RawMessage) {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	if string(xa) != string(ya) {
		t.Errorf("%s: %s, want %s", what, ya, xa)
	}
}

// A batch import reports every record, and a malformed record rejects the
// whole batch before anything is written.
func TestImportBatch(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	rec := func(id string, score int) map[string]any {
		return map[string]any{"@type": "PrincipalTrust", "principalId": id, "principalType": "device", "trustScore": score,
			"scoreComponents": `{"authentication":10,"behavior":10,"compliance":10,"history":10,"context":` + itoa(score-40) + `}`,
			"positiveSignals": `[{"event":"successful_mfa","timestamp":"2024-03-15T10:00:00Z","impact":+5}]`,
			"negativeSignals": []any{map[string]any{"event": "failed_login", "timestamp": "2024-03-15T09:00:00Z", "impact": -10}},
			"trustHistory":    []any{map[string]any{"timestamp": "2024-03-01T00:00:00Z", "score": 40}},
			"isActive":        true}
	}
	var out struct {
		Imported int                     `json:"imported"`
		Results  []client.ImportedRecord `json:"results"`
	}
	h.mustJSON("POST", "/v1/import", h.admin, map[string]any{"records": []any{rec("dev-1", 45), rec("dev-2", 47)}},
		http.StatusCreated, &out)
	if out.Imported != 2 {
		t.Fatalf("imported %d: %+v", out.Imported, out.Results)
	}
	r1 := h.record("dev-1")
	if r1.TrustScore != 45 || len(r1.PositiveSignals) != 1 || r1.PositiveSignals[0].Category != "authentication" ||
		r1.PositiveSignals[0].Impact != "5" || len(r1.NegativeSignals) != 1 || r1.NegativeSignals[0].Impact != "-10" {
		t.Errorf("dev-1: %+v %+v %+v", r1.TrustScore, r1.PositiveSignals, r1.NegativeSignals)
	}

	// One existing and one new: 200, per-record results.
	h.mustJSON("POST", "/v1/import", h.admin, []any{rec("dev-1", 45), rec("dev-3", 41)}, http.StatusOK, &out)
	if out.Imported != 1 || out.Results[0].Status != "rejected" || out.Results[0].Code != "conflict" ||
		out.Results[1].Status != "imported" {
		t.Errorf("mixed batch: %+v", out)
	}

	before := h.state()
	bad := rec("dev-4", 50)
	bad["scoreComponents"] = `{"authentication":10,"behavior":10,"compliance":10,"history":10,"context":1}`
	r := h.do("POST", "/v1/import", h.admin, []any{rec("dev-5", 44), bad})
	if p := r.problem(t); r.status != http.StatusBadRequest || p.Field != "records[1].scoreComponents" {
		t.Errorf("bad batch: %d %+v", r.status, p)
	}
	if h.state() != before || h.node.Ledger().Has("dev-5") {
		t.Error("a malformed batch wrote something")
	}
}

// Imported modifiers are kept with their expiry: the imported score
// reflects them while they are in force and moves when they expire; an
// expired one is left out with a warning. A record this API exported
// (breakdown with its adjustment, history points with causes, holds)
// imports again under another id with the same score.
func TestImportModifiersAndReimport(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	now := time.Now().UTC()
	rec := map[string]any{"@type": "PrincipalTrust", "principalId": "dev-mod", "principalType": "device", "trustScore": 60,
		"trustModifiers": []any{
			map[string]any{"delta": -10, "reason": "under review", "expiresAt": now.Add(time.Hour).Format(time.RFC3339)},
			map[string]any{"delta": 5, "expiresAt": now.Add(-time.Hour).Format(time.RFC3339)}}}
	var out struct {
		Results []client.ImportedRecord `json:"results"`
	}
	h.mustJSON("POST", "/v1/import", h.admin, rec, http.StatusCreated, &out)
	if len(out.Results) != 1 || !strings.Contains(strings.Join(out.Results[0].Warnings, ";"), "trustModifiers[1] not imported") {
		t.Fatalf("import: %+v", out.Results)
	}
	r := h.record("dev-mod")
	if r.TrustScore != 60 || len(r.TrustModifiers) != 1 || r.TrustModifiers[0].Delta != "-10" || r.TrustModifiers[0].Reason != "under review" {
		t.Fatalf("imported: score %d modifiers %+v", r.TrustScore, r.TrustModifiers)
	}
	var later fsm.Record
	h.mustJSON("GET", "/v1/principals/dev-mod?at="+now.Add(2*time.Hour).Format(time.RFC3339), h.admin, nil, http.StatusOK, &later)
	if later.TrustScore != 70 || len(later.TrustModifiers) != 0 {
		t.Fatalf("after the modifier expired: score %d modifiers %+v", later.TrustScore, later.TrustModifiers)
	}

	// A score the evidence cannot hold without its modifiers (10 with a
	// bonus of 20) is refused, and nothing is written.
	before := h.state()
	bad := map[string]any{"@type": "PrincipalTrust", "principalId": "dev-bonus", "principalType": "device", "trustScore": 10,
		"trustModifiers": []any{map[string]any{"delta": 20, "expiresAt": now.Add(time.Hour).Format(time.RFC3339)}}}
	r2 := h.do("POST", "/v1/import", h.admin, bad)
	if pr := r2.problem(t); r2.status/100 != 4 || pr.Field != "trustModifiers" || h.state() != before {
		t.Fatalf("import of an unholdable score: %d %+v", r2.status, pr)
	}

	// Export and import again.
	h.mustJSON("POST", "/v1/signals", h.admin, map[string]any{"signals": []any{
		map[string]any{"eventId": "re-1", "principalId": "dev-mod", "event": "policy_violation", "category": "compliance", "impact": -30}}},
		http.StatusOK, nil)
	res := h.do("GET", "/v1/principals/dev-mod", h.admin, nil)
	var exported map[string]any
	if err := json.Unmarshal(res.body, &exported); err != nil {
		t.Fatal(err)
	}
	exported["principalId"], exported["trustId"] = "dev-copy", "trust_dev-copy"
	h.mustJSON("POST", "/v1/import", h.admin, exported, http.StatusCreated, &out)
	orig, cp := h.record("dev-mod"), h.record("dev-copy")
	if cp.TrustScore != orig.TrustScore || cp.TrustLevel != orig.TrustLevel {
		t.Fatalf("re-imported %d/%s, exported %d/%s (warnings %v)", cp.TrustScore, cp.TrustLevel, orig.TrustScore, orig.TrustLevel,
			out.Results[0].Warnings)
	}
}
