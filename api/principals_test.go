package api

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/trustledger/trustledger/api/client"
	"github.com/trustledger/trustledger/fsm"
)

func TestPrincipalLifecycle(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	writer, reader := h.token("writer"), h.token("reader")

	var org struct {
		Index uint64      `json:"index"`
		Org   fsm.OrgView `json:"org"`
	}
	h.mustJSON("PUT", "/v1/orgs/acme", h.admin, map[string]any{"baseTrustScore": 72.5, "name": "Acme"}, http.StatusCreated, &org)
	if org.Index == 0 || org.Org.BaseTrustScore != "72.5" {
		t.Fatalf("org: %+v", org)
	}

	var reg struct {
		Index  uint64      `json:"index"`
		Record *fsm.Record `json:"record"`
	}
	r := h.mustJSON("POST", "/v1/principals", writer, map[string]any{"principalId": "alice", "principalType": "user",
		"orgId": "acme", "trustDecayRate": 0.01, "metadata": `{"team":"red"}`}, http.StatusCreated, &reg)
	if reg.Index == 0 || reg.Record == nil || reg.Record.TrustScore != 73 || reg.Record.BaseTrustScore != "72.5" ||
		reg.Record.TrustDecayRate != "0.01" || string(reg.Record.Metadata) != `{"team":"red"}` {
		t.Fatalf("register: %+v", reg)
	}
	if r.header.Get("Location") != "/v1/principals/alice" {
		t.Errorf("Location %q", r.header.Get("Location"))
	}
	if reg.Record.LedgerIndex < reg.Index {
		t.Errorf("record at index %d, before the write at %d", reg.Record.LedgerIndex, reg.Index)
	}

	var upd struct {
		Index  uint64      `json:"index"`
		Record *fsm.Record `json:"record"`
	}
	h.mustJSON("PATCH", "/v1/principals/alice", writer, map[string]any{"maxTrustScore": 70, "assessmentFrequency": "daily"},
		http.StatusOK, &upd)
	if upd.Index <= reg.Index || upd.Record.MaxTrustScore != "70" || upd.Record.TrustScore != 70 ||
		upd.Record.AssessmentFrequency != "daily" {
		t.Errorf("update: %+v", upd.Record)
	}

	var fac struct {
		Record *fsm.Record `json:"record"`
	}
	h.mustJSON("PUT", "/v1/principals/alice/factors", writer, map[string]any{
		"authenticationFactors": map[string]any{"mfa_enabled": false},
		"riskIndicators":        `["tor_exit_node"]`,
	}, http.StatusOK, &fac)
	if string(fac.Record.RiskIndicators) != `["tor_exit_node"]` || fac.Record.TrustScore >= 70 {
		t.Errorf("factors: score %d risk %s", fac.Record.TrustScore, fac.Record.RiskIndicators)
	}

	var hist struct {
		PrincipalID string            `json:"principalId"`
		History     []fsm.HistoryView `json:"history"`
	}
	h.mustJSON("GET", "/v1/principals/alice/history", reader, nil, http.StatusOK, &hist)
	if hist.PrincipalID != "alice" || len(hist.History) < 2 {
		t.Errorf("history: %+v", hist)
	}
	var events struct {
		PrincipalID string               `json:"principalId"`
		Entries     []client.LedgerEntry `json:"entries"`
	}
	h.mustJSON("GET", "/v1/principals/alice/events", reader, nil, http.StatusOK, &events)
	if len(events.Entries) != 3 || events.Entries[0].Kind != "register_principal" || events.Entries[2].Kind != "report_factors" {
		t.Errorf("events: %+v", events.Entries)
	}

	// ?at= evaluates in the future: decay, and the response says so.
	resp := h.do("GET", "/v1/principals/alice?at=2099-01-01T00:00:00Z", reader, nil)
	var future fsm.Record
	if err := jsonUnmarshal(resp.body, &future); err != nil || resp.status != http.StatusOK {
		t.Fatalf("future read: %d %s", resp.status, resp.body)
	}
	if future.EvaluatedAt != "2099-01-01T00:00:00Z" || resp.header.Get(HeaderEvaluatedAt) != "2099-01-01T00:00:00Z" ||
		resp.header.Get(HeaderEvaluationClock) != "request" || future.TrustScore >= fac.Record.TrustScore {
		t.Errorf("future read: evaluatedAt %s header %s clock %s score %d", future.EvaluatedAt,
			resp.header.Get(HeaderEvaluatedAt), resp.header.Get(HeaderEvaluationClock), future.TrustScore)
	}
	if now := h.do("GET", "/v1/principals/alice", reader, nil); now.header.Get(HeaderEvaluationClock) != "node" {
		t.Errorf("clock header %q", now.header.Get(HeaderEvaluationClock))
	}
}

func TestListPrincipals(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for i := range 7 {
		typ := "user"
		if i%2 == 1 {
			typ = "device"
		}
		h.register(fmt.Sprintf("p%02d", i), typ, "")
	}
	reader := h.token("reader")
	var ids []string
	cursor := ""
	for page := 0; page < 10; page++ {
		var out principalList
		h.mustJSON("GET", "/v1/principals?type=user&limit=2&cursor="+cursor, reader, nil, http.StatusOK, &out)
		for _, r := range out.Principals {
			ids = append(ids, r.PrincipalID)
		}
		if out.NextCursor == "" {
			break
		}
		cursor = out.NextCursor
	}
	if fmt.Sprint(ids) != "[p00 p02 p04 p06]" {
		t.Errorf("users paged: %v", ids)
	}
	var out principalList
	h.mustJSON("GET", "/v1/principals?level=medium&requiresReview=false", reader, nil, http.StatusOK, &out)
	if len(out.Principals) != 4 { // users start at 50 (medium), devices at 40 (low)
		t.Errorf("medium: %d principals", len(out.Principals))
	}
	h.mustJSON("GET", "/v1/principals?orgId=none", reader, nil, http.StatusOK, &out)
	if out.Principals == nil || len(out.Principals) != 0 {
		t.Errorf("empty list: %+v", out)
	}
}

func TestEndorsementsDecisionsSimulate(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	writer, reader := h.token("writer"), h.token("reader")
	h.mustJSON("POST", "/v1/principals", writer, map[string]any{"principalId": "boss", "principalType": "user",
		"baseTrustScore": 90}, http.StatusCreated, nil)
	h.register("intern", "user", "")
	var end struct {
		Index         uint64              `json:"index"`
		EndorsementID string              `json:"endorsementId"`
		Endorsement   fsm.EndorsementView `json:"endorsement"`
	}
	h.mustJSON("POST", "/v1/endorsements", writer, map[string]any{"endorserId": "boss", "endorseeId": "intern",
		"weight": 4, "reason": "mentor"}, http.StatusCreated, &end)
	if end.EndorsementID == "" || !end.Endorsement.Counted {
		t.Fatalf("endorsement: %+v", end)
	}
	if got := h.record("intern").TrustScore; got != 54 {
		t.Errorf("endorsed score %d, want 54", got)
	}
	h.mustJSON("GET", "/v1/endorsements/"+end.EndorsementID, reader, nil, http.StatusOK, nil)
	r := h.do("POST", "/v1/endorsements", writer, map[string]any{"endorserId": "boss", "endorseeId": "intern"})
	if p := r.problem(t); r.status != http.StatusConflict || p.Field != "endorseeId" {
		t.Errorf("second endorsement: %d %+v", r.status, p)
	}

	var dec fsm.Decision
	h.mustJSON("POST", "/v1/decisions", reader, map[string]any{"principalId": "intern", "action": "deploy",
		"sensitivity": "critical", "context": map[string]any{"resource": "prod"}}, http.StatusOK, &dec)
	if dec.Decision != "deny" || dec.TrustScore != 54 || len(dec.Reasons) == 0 {
		t.Errorf("decision: %+v", dec)
	}
	h.mustJSON("POST", "/v1/decisions", reader, map[string]any{"principalId": "ghost", "action": "read",
		"sensitivity": "low"}, http.StatusOK, &dec)
	if dec.Decision != "deny" {
		t.Errorf("unknown principal: %+v", dec)
	}

	before := h.state()
	var sim client.Simulation
	h.mustJSON("POST", "/v1/simulate", reader, map[string]any{"principalId": "intern",
		"signals": []any{map[string]any{"principalId": "intern", "event": "malware_found", "category": "context", "impact": -20}},
		"factors": map[string]any{"complianceStatus": map[string]any{"training_completed": true}},
	}, http.StatusOK, &sim)
	if sim.Before.TrustScore != 54 || sim.Baseline != sim.Before || sim.Record.TrustScore >= 54 || sim.Delta >= 0 || len(sim.Signals) != 1 ||
		sim.Signals[0].Status != fsm.StatusAccepted || sim.Factors == nil || sim.Factors.Status != "applied" {
		t.Errorf("simulation: %+v %+v", sim, sim.Factors)
	}
	if h.state() != before || h.record("intern").TrustScore != 54 {
		t.Error("a simulation wrote to the ledger")
	}

	var rev struct {
		Index uint64 `json:"index"`
	}
	h.mustJSON("DELETE", "/v1/endorsements/"+end.EndorsementID, writer, nil, http.StatusOK, &rev)
	if got := h.record("intern").TrustScore; got != 50 {
		t.Errorf("score after revocation %d, want 50", got)
	}
}

func TestAlertsAndReview(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.register("mallory", "user", "")
	writer, reader := h.token("writer"), h.token("reader")
	sigs := []any{}
	for i := range 6 {
		sigs = append(sigs, signal(fmt.Sprintf("f%d", i), "mallory", -4))
	}
	h.mustJSON("POST", "/v1/signals", writer, map[string]any{"signals": sigs}, http.StatusOK, nil)
	var alerts struct {
		Alerts []fsm.AlertView `json:"alerts"`
	}
	h.mustJSON("GET", "/v1/alerts?status=open&principalId=mallory", reader, nil, http.StatusOK, &alerts)
	if len(alerts.Alerts) == 0 {
		t.Fatal("no alert after a burst of failures")
	}
	id := alerts.Alerts[0].AlertID
	r := h.do("POST", "/v1/alerts/"+id+"/review", writer, map[string]any{"action": "dismiss"})
	if r.status != http.StatusForbidden {
		t.Errorf("writer review: %d", r.status)
	}
	var rev struct {
		Index uint64        `json:"index"`
		Alert fsm.AlertView `json:"alert"`
	}
	h.mustJSON("POST", "/v1/alerts/"+id+"/review", h.admin, map[string]any{"action": "confirm-compromised", "note": "phished"},
		http.StatusOK, &rev)
	if rev.Alert.Status != fsm.AlertConfirmedCompromised || rev.Alert.ReviewedBy != BootstrapTokenID {
		t.Errorf("review: %+v", rev.Alert)
	}
	var dec fsm.Decision
	h.mustJSON("POST", "/v1/decisions", reader, map[string]any{"principalId": "mallory", "action": "read", "sensitivity": "low"},
		http.StatusOK, &dec)
	if dec.Decision != "deny" {
		t.Errorf("compromised principal: %s", dec.Decision)
	}
}

func TestPartners(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	body := map[string]any{"issuer": "https://idp.example", "audience": "trustledger", "weight": 0.25, "maxInfluence": 12.5,
		"jwks": map[string]any{"keys": []any{map[string]any{"kty": "EC", "crv": "P-256", "kid": "k1",
			"x": "HkoaJ55jCnHOs8-sgfu0kGuEC_vmpskAFsL5nuY6b5Y", "y": "UYZvIabtCzOEiu5jJiLapIM4eJCCms8nV8gKWaZ9EUU"}}}}
	var put struct {
		Index   uint64          `json:"index"`
		Partner fsm.PartnerView `json:"partner"`
	}
	h.mustJSON("PUT", "/v1/federation/partners/idp", h.admin, body, http.StatusCreated, &put)
	if put.Partner.Weight != "0.25" || put.Partner.MaxInfluence != "12.5" || put.Partner.Status != "active" {
		t.Errorf("partner: %+v", put.Partner)
	}
	body["status"] = "suspended"
	h.mustJSON("PUT", "/v1/federation/partners/idp", h.admin, body, http.StatusOK, &put)
	if put.Partner.Status != "suspended" {
		t.Errorf("suspend: %+v", put.Partner)
	}
	r := h.do("PUT", "/v1/federation/partners/other", h.admin, body)
	if p := r.problem(t); r.status != http.StatusConflict || p.Field != "issuer" {
		t.Errorf("issuer clash: %d %+v", r.status, p)
	}
	var list struct {
		Partners []fsm.PartnerView `json:"partners"`
	}
	h.mustJSON("GET", "/v1/federation/partners", h.admin, nil, http.StatusOK, &list)
	if len(list.Partners) != 1 {
		t.Errorf("partners: %+v", list)
	}
	var tok struct {
		Token string `json:"token"`
	}
	h.mustJSON("POST", "/v1/tokens", h.admin, map[string]any{"role": "partner", "partnerId": "idp"}, http.StatusCreated, &tok)
	r = h.do("POST", "/v1/federation/events", tok.Token, "eyJ...", "Content-Type", "application/secevent+jwt")
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), `"err":"access_denied"`) {
		t.Errorf("SET push for a suspended partner: %d %s", r.status, r.body)
	}
	h.mustJSON("DELETE", "/v1/federation/partners/idp", h.admin, nil, http.StatusOK, nil)
	if r := h.do("GET", "/v1/federation/partners/idp", h.admin, nil); r.status != http.StatusNotFound {
		t.Errorf("deleted partner: %d", r.status)
	}
}
