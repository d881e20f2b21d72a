package api

import (
	"strings"
	"testing"
)

// Bad input is refused with the right status, problem type and field, and
// changes nothing: the applied index and the state digest stay the same.
func TestBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.register("alice", "user", "")
	h.register("bob", "service", "")
	admin, reader, writer := h.admin, h.token("reader"), h.token("writer")
	sig := `{"eventId":"e1","principalId":"alice","event":"login_ok","category":"authentication","impact":1}`
	huge := `{"principalId":"big","principalType":"user","metadata":{"pad":"` + strings.Repeat("x", 2<<20) + `"}}`

	cases := []struct {
		name         string
		token        string
		method, path string
		body         string
		contentType  string
		status       int
		kind         ProblemKind
		field        string
	}{
		{"malformed JSON", admin, "POST", "/v1/principals", `{"principalId":`, "", 400, ProblemMalformedJSON, ""},
		{"empty body", admin, "POST", "/v1/principals", ``, "", 400, ProblemMalformedJSON, ""},
		{"trailing data", admin, "POST", "/v1/principals", `{"principalId":"x","principalType":"user"} {}`, "", 400, ProblemMalformedJSON, ""},
		{"not an object", admin, "POST", "/v1/principals", `[1,2]`, "", 400, ProblemInvalidField, ""},
		{"unknown field", admin, "POST", "/v1/principals", `{"principalId":"x","principalType":"user","colour":"red"}`, "", 400, ProblemUnknownField, "colour"},
		{"wrong type", admin, "POST", "/v1/principals", `{"principalId":"x","principalType":5}`, "", 400, ProblemInvalidField, "principalType"},
		{"number as a string", admin, "POST", "/v1/principals", `{"principalId":"x","principalType":"user","baseTrustScore":"50"}`, "", 400, ProblemInvalidField, "baseTrustScore"},
		{"score above 100", admin, "POST", "/v1/principals", `{"principalId":"x","principalType":"user","baseTrustScore":100.5}`, "", 400, ProblemInvalidField, "baseTrustScore"},
		{"negative rate", admin, "POST", "/v1/principals", `{"principalId":"x","principalType":"user","trustDecayRate":-0.1}`, "", 400, ProblemInvalidField, "trustDecayRate"},
		{"bad principal type", admin, "POST", "/v1/principals", `{"principalId":"x","principalType":"robot"}`, "", 400, ProblemInvalidField, "principalType"},
		{"bad identifier", admin, "POST", "/v1/principals", `{"principalId":"a b","principalType":"user"}`, "", 400, ProblemInvalidField, "principalId"},
		{"missing principal type", admin, "POST", "/v1/principals", `{"principalId":"x"}`, "", 400, ProblemInvalidField, "principalType"},
		{"min above max", admin, "POST", "/v1/principals", `{"principalId":"x","principalType":"user","minTrustScore":60,"maxTrustScore":50}`, "", 400, ProblemInvalidField, "minTrustScore"},
		{"metadata not an object", admin, "POST", "/v1/principals", `{"principalId":"x","principalType":"user","metadata":[1]}`, "", 400, ProblemInvalidField, "metadata"},
		{"metadata string not JSON", admin, "POST", "/v1/principals", `{"principalId":"x","principalType":"user","metadata":"{nope"}`, "", 400, ProblemInvalidField, "metadata"},
		{"oversize body", admin, "POST", "/v1/principals", huge, "", 413, ProblemTooLarge, ""},
		{"wrong media type", admin, "POST", "/v1/principals", `{"principalId":"x","principalType":"user"}`, "text/plain", 415, ProblemUnsupportedMedia, ""},
		{"existing principal", admin, "POST", "/v1/principals", `{"principalId":"alice","principalType":"user"}`, "", 409, ProblemConflict, "principalId"},
		{"unknown principal update", admin, "PATCH", "/v1/principals/nobody", `{"isActive":false}`, "", 404, ProblemNotFound, "principalId"},
		{"base is not updatable", admin, "PATCH", "/v1/principals/alice", `{"baseTrustScore":10}`, "", 400, ProblemUnknownField, "baseTrustScore"},
		{"update min above kept max", admin, "PATCH", "/v1/principals/alice", `{"minTrustScore":100,"maxTrustScore":90}`, "", 400, ProblemInvalidField, "minTrustScore"},
		{"unknown principal read", reader, "GET", "/v1/principals/nobody", ``, "", 404, ProblemNotFound, "principalId"},
		{"unknown principal factors", writer, "PUT", "/v1/principals/nobody/factors", `{"riskIndicators":["new_device"]}`, "", 404, ProblemNotFound, "principalId"},
		{"no factor report", writer, "PUT", "/v1/principals/alice/factors", `{}`, "", 400, ProblemInvalidField, "factors"},
		{"risk indicators not an array", writer, "PUT", "/v1/principals/alice/factors", `{"riskIndicators":{"a":1}}`, "", 400, ProblemInvalidField, "riskIndicators"},
		{"factor report is a number", writer, "PUT", "/v1/principals/alice/factors", `{"behaviorMetrics":5}`, "", 400, ProblemInvalidField, "behaviorMetrics"},

		{"signal bad category", writer, "POST", "/v1/signals", strings.Replace(sig, "authentication", "mood", 1), "", 400, ProblemInvalidField, "category"},
		{"signal impact too high", writer, "POST", "/v1/signals", strings.Replace(sig, `"impact":1`, `"impact":100.000001`, 1), "", 400, ProblemInvalidField, "impact"},
		{"signal impact too low", writer, "POST", "/v1/signals", strings.Replace(sig, `"impact":1`, `"impact":-101`, 1), "", 400, ProblemInvalidField, "impact"},
		{"signal impact beyond milli-points", writer, "POST", "/v1/signals", strings.Replace(sig, `"impact":1`, `"impact":1.0005`, 1), "", 400, ProblemInvalidField, "impact"},
		{"signal impact as string", writer, "POST", "/v1/signals", `{"signals":[` + strings.Replace(sig, `"impact":1`, `"impact":"1"`, 1) + `]}`, "", 400, ProblemInvalidField, "signals[0].impact"},
		{"signal missing eventId", writer, "POST", "/v1/signals", `{"signals":[` + sig + `,` + strings.Replace(sig, `"eventId":"e1",`, ``, 1) + `]}`, "", 400, ProblemInvalidField, "signals[1].eventId"},
		{"signal missing impact", writer, "POST", "/v1/signals", strings.Replace(sig, `,"impact":1`, ``, 1), "", 400, ProblemInvalidField, "impact"},
		{"signal unknown field", writer, "POST", "/v1/signals", `{"signals":[` + strings.Replace(sig, `}`, `,"severity":3}`, 1) + `]}`, "", 400, ProblemUnknownField, "signals[0].severity"},
		{"batch with extra key", writer, "POST", "/v1/signals", `{"signals":[` + sig + `],"dryRun":true}`, "", 400, ProblemUnknownField, "dryRun"},
		{"signals not an array", writer, "POST", "/v1/signals", `{"signals":{}}`, "", 400, ProblemInvalidField, "signals"},
		{"empty batch", writer, "POST", "/v1/signals", `{"signals":[]}`, "", 400, ProblemInvalidField, "signals"},
		{"signal bad observedAt", writer, "POST", "/v1/signals", strings.Replace(sig, `}`, `,"observedAt":"yesterday"}`, 1), "", 400, ProblemInvalidField, "observedAt"},
		{"signal attributes not an object", writer, "POST", "/v1/signals", strings.Replace(sig, `}`, `,"attributes":[1]}`, 1), "", 400, ProblemInvalidField, "attributes"},
		{"signal malformed in batch", writer, "POST", "/v1/signals", `{"signals":[` + sig + `,{"eventId":}]}`, "", 400, ProblemMalformedJSON, ""},

		{"self endorsement", writer, "POST", "/v1/endorsements", `{"endorserId":"alice","endorseeId":"alice"}`, "", 400, ProblemInvalidField, "endorseeId"},
		{"endorsement weight zero", writer, "POST", "/v1/endorsements", `{"endorserId":"alice","endorseeId":"bob","weight":0}`, "", 400, ProblemInvalidField, "weight"},
		{"endorsement weight above policy", writer, "POST", "/v1/endorsements", `{"endorserId":"alice","endorseeId":"bob","weight":50}`, "", 400, ProblemInvalidField, "weight"},
		{"endorsement expired", writer, "POST", "/v1/endorsements", `{"endorserId":"alice","endorseeId":"bob","expiresAt":"2001-01-01T00:00:00Z"}`, "", 400, ProblemInvalidField, "expiresAt"},
		{"unknown endorser", writer, "POST", "/v1/endorsements", `{"endorserId":"nobody","endorseeId":"bob"}`, "", 404, ProblemNotFound, "endorserId"},
		{"unknown endorsement", writer, "DELETE", "/v1/endorsements/end-999", ``, "", 404, ProblemNotFound, "endorsementId"},

		{"bad sensitivity", reader, "POST", "/v1/decisions", `{"principalId":"alice","action":"read","sensitivity":"extreme"}`, "", 400, ProblemInvalidField, "sensitivity"},
		{"decision without action", reader, "POST", "/v1/decisions", `{"principalId":"alice","sensitivity":"low"}`, "", 400, ProblemInvalidField, "action"},
		{"simulate unknown principal", reader, "POST", "/v1/simulate", `{"principalId":"nobody"}`, "", 404, ProblemNotFound, "principalId"},
		{"simulate bad signal", reader, "POST", "/v1/simulate", `{"principalId":"alice","signals":[{"principalId":"alice","event":"x","category":"context","impact":500}]}`, "", 400, ProblemInvalidField, "signals[0].impact"},

		{"org without baseline", admin, "PUT", "/v1/orgs/acme", `{"name":"Acme"}`, "", 400, ProblemInvalidField, "baseTrustScore"},
		{"unknown org", reader, "GET", "/v1/orgs/nope", ``, "", 404, ProblemNotFound, "orgId"},
		{"review unknown alert", admin, "POST", "/v1/alerts/alt-1-0/review", `{"action":"dismiss"}`, "", 404, ProblemNotFound, "alertId"},
		{"review bad action", admin, "POST", "/v1/alerts/alt-1-0/review", `{"action":"ignore"}`, "", 400, ProblemInvalidField, "action"},

		{"partner jwks without keys", admin, "PUT", "/v1/federation/partners/p9", `{"issuer":"i","audience":"a","jwks":{},"weight":0.5,"maxInfluence":10}`, "", 400, ProblemInvalidField, "jwks"},
		{"partner weight above 1", admin, "PUT", "/v1/federation/partners/p9", `{"issuer":"i","audience":"a","jwks":{"keys":[]},"weight":1.5,"maxInfluence":10}`, "", 400, ProblemInvalidField, "weight"},
		{"partner bad status", admin, "PUT", "/v1/federation/partners/p9", `{"issuer":"i","audience":"a","jwks":{"keys":[]},"weight":0.5,"maxInfluence":10,"status":"paused"}`, "", 400, ProblemInvalidField, "status"},
		{"unknown partner", admin, "DELETE", "/v1/federation/partners/p9", ``, "", 404, ProblemNotFound, "partnerId"},

		{"policy caps not 100", admin, "PUT", "/v1/policy", `{"caps":{"context":9}}`, "", 400, ProblemInvalidField, "caps"},
		{"policy bad duration", admin, "PUT", "/v1/policy", `{"decayGrace":"forever"}`, "", 400, ProblemInvalidField, "decayGrace"},
		{"policy fractional integer", admin, "PUT", "/v1/policy", `{"escalationStep":1.5}`, "", 400, ProblemInvalidField, "escalationStep"},
		{"policy unknown field", admin, "PUT", "/v1/policy", `{"decision":{"deny":{}}}`, "", 400, ProblemUnknownField, "deny"},
		{"policy stale version", admin, "PUT", "/v1/policy", `{"version":7,"sharpDrop":20}`, "", 409, ProblemConflict, "version"},
		{"policy bad rule", admin, "PUT", "/v1/policy", `{"rules":[{"component":"behavior","key":"k","op":"gte","value":"high","points":1}]}`, "", 400, ProblemInvalidField, "rules[0].value"},

		{"token bad role", admin, "POST", "/v1/tokens", `{"role":"root"}`, "", 400, ProblemInvalidField, "role"},
		{"partner token without partner", admin, "POST", "/v1/tokens", `{"role":"partner"}`, "", 400, ProblemInvalidField, "partnerId"},
		{"reader token with orgs", admin, "POST", "/v1/tokens", `{"role":"reader","orgs":["acme"]}`, "", 400, ProblemInvalidField, "orgs"},
		{"unknown token", admin, "DELETE", "/v1/tokens/tok-nope", ``, "", 404, ProblemNotFound, "id"},

		{"import empty principal id", admin, "POST", "/v1/import", `{"principalId":"","principalType":"user","trustScore":50}`, "", 400, ProblemInvalidField, "principalId"},
		{"import empty principal type", admin, "POST", "/v1/import", `{"principalId":"x","principalType":"","trustScore":50}`, "", 400, ProblemInvalidField, "principalType"},
		{"import bad type", admin, "POST", "/v1/import", `{"@type":"Person","principalId":"x","principalType":"user","trustScore":50}`, "", 400, ProblemInvalidField, "@type"},
		{"import unknown property", admin, "POST", "/v1/import", `{"principalId":"x","principalType":"user","trustScore":50,"karma":3}`, "", 400, ProblemUnknownField, "karma"},
		{"import score above max", admin, "POST", "/v1/import", `{"principalId":"x","principalType":"user","trustScore":96,"maxTrustScore":95}`, "", 400, ProblemInvalidField, "trustScore"},
		{"import components above cap", admin, "POST", "/v1/import", `{"principalId":"x","principalType":"user","trustScore":50,"scoreComponents":{"authentication":30,"behavior":10,"compliance":5,"history":5,"context":0}}`, "", 400, ProblemInvalidField, "scoreComponents.authentication"},

		{"bad limit", reader, "GET", "/v1/principals?limit=0", ``, "", 400, ProblemInvalidParameter, "limit"},
		{"bad level filter", reader, "GET", "/v1/principals?level=great", ``, "", 400, ProblemInvalidParameter, "level"},
		{"bad cursor", reader, "GET", "/v1/principals?cursor=!!", ``, "", 400, ProblemInvalidParameter, "cursor"},
		{"bad consistency", reader, "GET", "/v1/principals/alice?consistency=eventual", ``, "", 400, ProblemInvalidParameter, "consistency"},
		{"bad at", reader, "GET", "/v1/principals/alice?at=yesterday", ``, "", 400, ProblemInvalidParameter, "at"},
		{"bad wait", reader, "GET", "/v1/principals/alice?index=1&wait=soon", ``, "", 400, ProblemInvalidParameter, "wait"},

		{"no token", "", "POST", "/v1/principals", `{"principalId":"x","principalType":"user"}`, "", 401, ProblemUnauthorized, ""},
		{"unknown token", "tl_guess", "POST", "/v1/signals", sig, "", 401, ProblemUnauthorized, ""},
		{"reader writes", reader, "POST", "/v1/principals", `{"principalId":"x","principalType":"user"}`, "", 403, ProblemForbidden, ""},
		{"writer sets org", writer, "PUT", "/v1/orgs/acme", `{"baseTrustScore":60}`, "", 403, ProblemForbidden, ""},
		{"partner reads", h.token("partner"), "GET", "/v1/principals/alice", ``, "", 403, ProblemForbidden, ""},
		{"auditor writes signals", h.token("auditor"), "POST", "/v1/signals", sig, "", 403, ProblemForbidden, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := h.state()
			var headers []string
			if c.contentType != "" {
				headers = []string{"Content-Type", c.contentType}
			}
			var body any
			if c.body != "" {
				body = c.body
			}
			r := h.do(c.method, c.path, c.token, body, headers...)
			p := r.problem(t)
			if r.status != c.status || p.Status != c.status || p.Type != c.kind.URI() || p.Field != c.field {
				t.Errorf("got %d %s field %q (%s), want %d %s field %q", r.status, p.Type, p.Field, p.Detail,
					c.status, c.kind.URI(), c.field)
			}
			if p.Title == "" || p.Detail == "" {
				t.Errorf("problem without title or detail: %+v", p)
			}
			if after := h.state(); after != before {
				t.Errorf("ledger changed: %+v → %+v", before, after)
			}
		})
	}
}
