package api

import (
	"context"
	"crypto/ed25519"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trustledger/trustledger/federation"
	"github.com/trustledger/trustledger/fsm"
)

// A valid SET signed with each accepted algorithm is accepted (202, the
// index it committed at) and moves the score as docs/scoring.md §9 says:
// influence = clamp(weight × (assessment − local score), ±maxInfluence).
func TestSETAcceptedMovesScore(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	p := h.addPartner("p1", map[string]any{"weight": 0.5, "maxInfluence": 10})
	for _, c := range []struct {
		alg, principal string
		score          any
		want           string // the score as the record shows it
		influence      string
		delta          int64
	}{
		{"EdDSA", "alice", 20, "20", "-10", -10},  // 0.5 × (20 − 50) = −15, capped at −10
		{"ES256", "bob", 62.5, "62.5", "6.25", 6}, // 0.5 × (62.5 − 50) = +6.25
	} {
		t.Run(c.alg, func(t *testing.T) {
			h.register(c.principal, "user", "")
			before := h.record(c.principal)
			until := time.Now().Unix() + 3600
			r := h.push(p.token, p.sign(t, c.alg, p.claims("jti-"+c.alg, c.principal, federation.EventTrustAssessment,
				map[string]any{"score": c.score, "validUntil": until})))
			if r.status != http.StatusAccepted || len(r.body) != 0 {
				t.Fatalf("push: %d %s", r.status, r.body)
			}
			if idx, err := strconv.ParseUint(r.header.Get(HeaderIndex), 10, 64); err != nil || idx == 0 || idx > h.node.AppliedIndex() {
				t.Errorf("%s: %q", HeaderIndex, r.header.Get(HeaderIndex))
			}
			after := h.record(c.principal)
			fed, ok := after.FederatedTrust["p1"]
			if !ok || fed.Score.String() != c.want ||
				fed.Weight != "0.5" || fed.MaxInfluence != "10" || !fed.Counted || fed.Influence.String() != c.influence ||
				fed.ValidUntil != fsm.FormatTime(until*1000) || fed.Source != "partner" {
				t.Errorf("federatedTrust: %+v", after.FederatedTrust)
			}
			if after.TrustScore != before.TrustScore+c.delta {
				t.Errorf("trustScore %d → %d, want a change of %d", before.TrustScore, after.TrustScore, c.delta)
			}
			entries, err := h.node.PrincipalEntries(c.principal, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			last := entries[len(entries)-1]
			if last.Kind != "federated_event" || last.Status != "applied" || !strings.Contains(string(entryView(last).Command), `"jti":"jti-`+c.alg) {
				t.Errorf("ledger entry: %+v", last)
			}
		})
	}
}

// CAEP and RISC events have their documented effects over HTTP; unknown
// event types are acknowledged and change nothing.
func TestSETEventEffects(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.register("carol", "user", "")
	p := h.addPartner("p1", nil)
	n := 0
	push := func(event string, payload map[string]any) {
		t.Helper()
		n++
		r := h.push(p.token, p.sign(t, "EdDSA", p.claims("e"+strconv.Itoa(n), "carol", event, payload)))
		if r.status != http.StatusAccepted {
			t.Fatalf("%s: %d %s", event, r.status, r.body)
		}
	}
	alerts := func() []fsm.AlertView { return h.node.Ledger().Alerts("", "carol") }

	push(federation.EventCredentialCompromise, map[string]any{"credential_type": "password"})
	fed, ok := h.federated("carol", "p1")
	if !ok || fed.Score != "0" || !fed.Counted {
		t.Errorf("credential compromise: %+v", fed)
	}
	if a := alerts(); len(a) != 1 || a[0].Type != federation.AlertCredentialCompromise || a[0].Severity != "high" {
		t.Errorf("credential compromise alert: %+v", a)
	}
	push(federation.EventAccountEnabled, map[string]any{})
	if fed, ok := h.federated("carol", "p1"); ok {
		t.Errorf("account enabled left an assessment: %+v", fed)
	}
	push(federation.EventSessionRevoked, map[string]any{})
	if _, ok := h.federated("carol", "p1"); ok || len(alerts()) != 2 || alerts()[1].Severity != "low" {
		t.Errorf("session revoked: %+v", alerts())
	}
	push(federation.EventDeviceComplianceChange, map[string]any{"previous_status": "compliant", "current_status": "not-compliant"})
	if fed, _ := h.federated("carol", "p1"); fed.Score != "20" || len(alerts()) != 3 {
		t.Errorf("device not compliant: %+v %+v", fed, alerts())
	}
	push(federation.EventRiskLevelChange, map[string]any{"principal": "USER", "current_level": "LOW"})
	if fed, _ := h.federated("carol", "p1"); fed.Score != "85" {
		t.Errorf("risk low: %+v", fed)
	}

	before := h.state()
	for i := 0; i < 2; i++ { // also when replayed: nothing was recorded
		c := p.claims("unknown-1", "carol", "https://events.example/secevent/coffee-break", map[string]any{"state": "x"})
		delete(c, "sub_id")
		if r := h.push(p.token, p.sign(t, "ES256", c)); r.status != http.StatusAccepted || r.header.Get(HeaderIndex) != "" {
			t.Errorf("unknown event: %d %s", r.status, r.body)
		}
	}
	if h.state() != before {
		t.Error("an unknown event type changed the ledger")
	}
	// An SSF verification event is recorded on the partner, once.
	for i, want := range []int{http.StatusAccepted, http.StatusBadRequest} {
		c := p.claims("verify-1", "carol", federation.EventVerification, map[string]any{"state": "st-9"})
		delete(c, "sub_id")
		if r := h.push(p.token, p.sign(t, "ES256", c)); r.status != want {
			t.Errorf("verification, delivery %d: %d %s", i+1, r.status, r.body)
		}
	}
	if v, _ := h.node.Ledger().Partner("p1"); v.SSF == nil || v.SSF.Verification != "st-9" || v.SSF.VerifiedAt == "" {
		t.Errorf("partner after verification: %+v", v)
	}

	// A suspended partner's assessment stops counting.
	scored := h.record("carol").TrustScore
	h.mustJSON("PUT", "/v1/federation/partners/p1", h.admin, map[string]any{"issuer": p.issuer, "audience": setAudience,
		"weight": 0.25, "maxInfluence": 10, "status": "suspended", "jwks": map[string]any{"keys": []any{}}}, http.StatusOK, nil)
	rec := h.record("carol")
	if fed := rec.FederatedTrust["p1"]; fed.Counted || fed.Influence != "0" || rec.TrustScore == scored {
		t.Errorf("suspended partner still counts: %+v, score %d (was %d)", fed, rec.TrustScore, scored)
	}
}

// Every refused SET gets the right RFC 8935 code and changes nothing: the
// applied index, the sequence and the state digest stay the same.
func TestSETRefusedChangesNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.register("alice", "user", "")
	p1 := h.addPartner("p1", nil)
	p2 := h.addPartner("p2", nil)
	p3 := h.addPartner("p3", nil)
	h.mustJSON("PUT", "/v1/federation/partners/p3", h.admin, map[string]any{"issuer": p3.issuer, "audience": setAudience,
		"weight": 0.25, "maxInfluence": 10, "status": "suspended", "jwks": map[string]any{"keys": []any{}}}, http.StatusOK, nil)
	p4 := h.addPartner("p4", nil)
	h.mustJSON("DELETE", "/v1/federation/partners/p4", h.admin, nil, http.StatusOK, nil)

	good := func(jti string) map[string]any {
		return p1.claims(jti, "alice", federation.EventTrustAssessment, assessment(30))
	}
	with := func(c map[string]any, k string, v any) map[string]any {
		c[k] = v
		return c
	}
	// A SET accepted once, to replay.
	replayed := p1.sign(t, "EdDSA", good("once"))
	if r := h.push(p1.token, replayed); r.status != http.StatusAccepted {
		t.Fatalf("first delivery: %d %s", r.status, r.body)
	}
	valid := p1.sign(t, "EdDSA", good("fresh"))
	sig := valid[strings.LastIndexByte(valid, '.')+1:]
	badSig := valid[:len(valid)-len(sig)] + strings.Map(func(r rune) rune {
		if r == 'A' {
			return 'B'
		}
		return 'A'
	}, sig[:4]) + sig[4:]
	now := time.Now().Unix()
	expired := good("expired")
	expired["iat"], expired["events"] = now-7200, map[string]any{federation.EventTrustAssessment: map[string]any{"score": 30, "validUntil": now - 3600}}
	hdr := map[string]any{"alg": "EdDSA", "typ": "secevent+jwt", "kid": "nope"}

	cases := []struct {
		name, token, body string
		contentType       string
		code              string
	}{
		{"bad signature", p1.token, badSig, "", federation.ErrAuthenticationFailed},
		{"signed by another partner's key", p1.token, p2.sign(t, "EdDSA", good("k2")), "", federation.ErrAuthenticationFailed},
		{"unknown kid", p1.token, forge(hdr, good("kid"), func(in []byte) []byte { return ed25519.Sign(p1.ed, in) }), "", federation.ErrInvalidKey},
		{"alg none", p1.token, none(good("none")), "", federation.ErrInvalidKey},
		{"HS256 with the public key as secret", p1.token, p1.hs256(good("hs")), "", federation.ErrInvalidKey},
		{"wrong iss", p1.token, p1.sign(t, "EdDSA", with(good("iss"), "iss", "https://evil.example")), "", federation.ErrInvalidIssuer},
		{"wrong aud", p1.token, p1.sign(t, "ES256", with(good("aud"), "aud", "https://elsewhere.example")), "", federation.ErrInvalidAudience},
		{"iat too old", p1.token, p1.sign(t, "EdDSA", with(good("old"), "iat", now-8*24*3600)), "", federation.ErrInvalidRequest},
		{"iat in the future", p1.token, p1.sign(t, "EdDSA", with(good("future"), "iat", now+600)), "", federation.ErrInvalidRequest},
		{"replayed jti", p1.token, replayed, "", federation.ErrInvalidRequest},
		{"replayed jti, re-signed with the other key", p1.token, p1.sign(t, "ES256", good("once")), "", federation.ErrInvalidRequest},
		{"suspended partner", p3.token, p3.sign(t, "EdDSA", p3.claims("s", "alice", federation.EventTrustAssessment, assessment(30))), "", federation.ErrAccessDenied},
		{"removed partner", p4.token, p4.sign(t, "EdDSA", p4.claims("r", "alice", federation.EventTrustAssessment, assessment(30))), "", federation.ErrAccessDenied},
		{"token of another partner", p2.token, valid, "", federation.ErrAccessDenied},
		{"admin token", h.admin, valid, "", federation.ErrAccessDenied},
		{"malformed JWT", p1.token, "not-a-jwt", "", federation.ErrInvalidRequest},
		{"malformed JWT, three parts", p1.token, "a.b.c", "", federation.ErrInvalidRequest},
		{"JWS JSON serialization", p1.token, `{"payload":"e30","signatures":[]}`, "", federation.ErrInvalidRequest},
		{"oversize body", p1.token, valid + strings.Repeat("A", federation.MaxTokenBytes), "", federation.ErrInvalidRequest},
		{"wrong content type", p1.token, valid, "application/json", federation.ErrInvalidRequest},
		{"unknown subject", p1.token, p1.sign(t, "EdDSA", p1.claims("u", "nobody", federation.EventSessionRevoked, map[string]any{})), "", federation.ErrInvalidRequest},
		{"assessment already expired", p1.token, p1.sign(t, "EdDSA", expired), "", federation.ErrInvalidRequest},
		{"bad event payload", p1.token, p1.sign(t, "EdDSA", p1.claims("b", "alice", federation.EventRiskLevelChange, map[string]any{"current_level": "dire"})), "", federation.ErrInvalidRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := h.state()
			ct := c.contentType
			if ct == "" {
				ct = federation.MediaType
			}
			r := h.push(c.token, c.body, "Content-Type", ct)
			if r.status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", r.status, r.body)
			}
			if e := r.setError(t); e.Code != c.code {
				t.Errorf("err %s (%s), want %s", e.Code, e.Description, c.code)
			} else if c.name == "replayed jti" && e.Description != "jti already used" {
				t.Errorf("replay description %q", e.Description)
			}
			if after := h.state(); after != before {
				t.Errorf("the ledger changed: %+v → %+v", before, after)
			}
		})
	}
	if fed, _ := h.federated("alice", "p1"); fed.Score != "30" {
		t.Errorf("the accepted assessment: %+v", fed)
	}
	// Every refusal is counted under its RFC 8935 code, and only those.
	_, text := metricsSize(t, h)
	for _, code := range []string{"invalid_request", "invalid_key", "access_denied"} {
		if !strings.Contains(text, `trustledger_federation_set_refusals_total{code="`+code+`"}`) {
			t.Errorf("no refusals counted with code %s", code)
		}
	}
	if strings.Contains(text, `set_refusals_total{code="other"}`) {
		t.Error("a refusal outside RFC 8935's codes")
	}
}

// A partner pushing faster than its rate limit gets 429 with Retry-After
// (a problem, not an RFC 8935 error: it is not about the SET).
func TestSETRateLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	p := h.addPartner("p1", map[string]any{"rateLimit": 1})
	c := p.claims("x", "nobody", "urn:example:ignored", map[string]any{})
	set := p.sign(t, "EdDSA", c)
	if r := h.push(p.token, set); r.status != http.StatusAccepted {
		t.Fatalf("first: %d %s", r.status, r.body)
	}
	r := h.push(p.token, set)
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "1" {
		t.Fatalf("second within the second: %d Retry-After %q %s", r.status, r.header.Get("Retry-After"), r.body)
	}
	if pr := r.problem(t); pr.Type != ProblemRateLimited.URI() {
		t.Errorf("problem: %+v", pr)
	}
	// Counted: one SET ignored (no event type acted on), one refused by
	// the partner's rate limit; a SET refused as a replay, by its code.
	_, text := metricsSize(t, h)
	for _, want := range []string{`trustledger_federation_sets_total{outcome="ignored"} 1`,
		`trustledger_federation_sets_total{outcome="accepted"} 0`, `trustledger_api_rate_limited_total{limit="partner_sets"} 1`} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// A replayed jti is refused after the node restarts on the same data: the
// dedup index is replicated state, not memory.
func TestSETReplayAfterRestart(t *testing.T) {
	t.Parallel()
	dir, addr := t.TempDir(), freeAddr(t)
	h, stop := openHarnessAt(t, dir, addr)
	h.register("alice", "user", "")
	p := h.addPartner("p1", nil)
	set := p.sign(t, "ES256", p.claims("restart-1", "alice", federation.EventTrustAssessment, assessment(80)))
	if r := h.push(p.token, set); r.status != http.StatusAccepted {
		t.Fatalf("first delivery: %d %s", r.status, r.body)
	}
	applied := h.node.AppliedIndex()
	stop()

	h, _ = openHarnessAt(t, dir, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := h.node.WaitForIndex(ctx, applied); err != nil {
		t.Fatal(err)
	}
	before := h.state()
	r := h.push(p.token, set)
	if e := r.setError(t); r.status != http.StatusBadRequest || e.Code != federation.ErrInvalidRequest || e.Description != "jti already used" {
		t.Fatalf("replay after restart: %d %+v", r.status, e)
	}
	if h.state() != before {
		t.Error("the replay changed the ledger")
	}
	if fed, _ := h.federated("alice", "p1"); fed.Score != "80" {
		t.Errorf("assessment after restart: %+v", fed)
	}
}
