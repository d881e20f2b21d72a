package api

import (
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/trustledger/trustledger/federation"
	"github.com/trustledger/trustledger/internal/input"
)

// The input rules of docs/api.md ("Inputs"): identifiers, text, JSON
// bodies without repeated members, bounded sequence numbers, public-only
// partner keys. Each refused request answers the problem naming the field
// at fault and changes nothing: applied index, sequence and digest stay.
func TestInputRulesChangeNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.register("alice", "user", "")
	h.register("bob", "service", "")
	admin, reader, writer, auditor := h.admin, h.token("reader"), h.token("writer"), h.token("auditor")
	// sig is a valid signal with the member name replaced by value (a JSON
	// text), or with more members when name is "".
	sig := func(name, value string) string {
		m := []string{`"eventId":"e1"`, `"principalId":"alice"`, `"event":"login_ok"`, `"category":"authentication"`, `"impact":1`}
		for i, kv := range m {
			if strings.HasPrefix(kv, `"`+name+`":`) {
				m[i] = `"` + name + `":` + value
			}
		}
		if name == "" && value != "" {
			m = append(m, value)
		}
		return "{" + strings.Join(m, ",") + "}"
	}
	batch := func(signals ...string) string { return `{"signals":[` + strings.Join(signals, ",") + `]}` }
	principal := func(extra string) string { return `{"principalId":"x","principalType":"user"` + extra + `}` }
	okp := `{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"`
	partner := func(key string) string {
		return `{"issuer":"https://p9.example","audience":"a","weight":0.5,"maxInfluence":10,"jwks":{"keys":[` + key + `]}}`
	}

	cases := []struct {
		name         string
		token        string
		method, path string
		body         string
		status       int
		kind         ProblemKind
		field        string
		code         string
	}{
		// Control characters, bidi controls and invalid UTF-8 in identifiers.
		{"principal id with ESC", admin, "POST", "/v1/principals", `{"principalId":"a\u001b[2J","principalType":"user"}`, 400, ProblemInvalidField, "principalId", "invalid"},
		{"principal id with a bidi override", admin, "POST", "/v1/principals", "{\"principalId\":\"a\u202eb\",\"principalType\":\"user\"}", 400, ProblemInvalidField, "principalId", "invalid"},
		{"org id with invalid UTF-8", admin, "POST", "/v1/principals", principal(",\"orgId\":\"ac\xffme\""), 400, ProblemInvalidField, "orgId", "invalid"},
		{"endorser id with a C1 control", writer, "POST", "/v1/endorsements", "{\"endorserId\":\"alice\u009b\",\"endorseeId\":\"bob\"}", 400, ProblemInvalidField, "endorserId", "invalid"},
		{"token partner id with an isolate", admin, "POST", "/v1/tokens", "{\"role\":\"partner\",\"partnerId\":\"p\u2066\"}", 400, ProblemInvalidField, "partnerId", "invalid"},
		{"path id with ESC", reader, "GET", "/v1/principals/a%1B%5B2J", ``, 400, ProblemInvalidField, "principalId", "invalid"},
		{"path id with a bidi mark", admin, "PUT", "/v1/orgs/acme%E2%80%8F", `{"baseTrustScore":60}`, 400, ProblemInvalidField, "orgId", "invalid"},

		// ... in event names, event ids and the other names.
		{"event name ESC[2J", writer, "POST", "/v1/signals", sig("event", `"login\u001b[2J"`), 400, ProblemInvalidField, "event", "invalid"},
		{"event name ESC[2J in a batch", writer, "POST", "/v1/signals", batch(sig("", ""), sig("event", `"\u001b[2J"`)), 400, ProblemInvalidField, "signals[1].event", "invalid"},
		{"event name with a newline", writer, "POST", "/v1/signals", sig("event", `"login\nok"`), 400, ProblemInvalidField, "event", "invalid"},
		{"event name with a tab", writer, "POST", "/v1/signals", sig("event", `"login\tok"`), 400, ProblemInvalidField, "event", "invalid"},
		{"event name with a raw C1 CSI", writer, "POST", "/v1/signals", sig("event", "\"x\u009b2J\""), 400, ProblemInvalidField, "event", "invalid"},
		{"event name with invalid UTF-8", writer, "POST", "/v1/signals", sig("event", "\"log\xc3in\""), 400, ProblemInvalidField, "event", "invalid"},
		{"event name with an unpaired surrogate", writer, "POST", "/v1/signals", sig("event", `"\ud800"`), 400, ProblemInvalidField, "event", "invalid"},
		{"event id with a bidi override", writer, "POST", "/v1/signals", sig("eventId", `"e\u202e1"`), 400, ProblemInvalidField, "eventId", "invalid"},
		{"event id with a line separator", writer, "POST", "/v1/signals", sig("eventId", `"e\u2028"`), 400, ProblemInvalidField, "eventId", "invalid"},
		{"decision action with DEL", reader, "POST", "/v1/decisions", `{"principalId":"alice","action":"read\u007f","sensitivity":"low"}`, 400, ProblemInvalidField, "action", "invalid"},
		{"permission name with ESC", admin, "PUT", "/v1/policy", `{"decision":{"permissions":[{"name":"re\u001bad","minScore":30}]}}`, 400, ProblemInvalidField, "decision.permissions[0].name", "invalid"},
		{"rule key with a bidi embedding", admin, "PUT", "/v1/policy", `{"rules":[{"component":"context","key":"tor\u202a","op":"has","points":-4}]}`, 400, ProblemInvalidField, "rules[0].key", "invalid"},
		{"partner issuer with a newline", admin, "PUT", "/v1/federation/partners/p9", strings.Replace(partner(okp+`}`), "https://p9.example", `https://p9.example\n`, 1), 400, ProblemInvalidField, "issuer", "invalid"},
		{"member name with ESC", admin, "POST", "/v1/principals", principal(`,"\u001b[2J":1`), 400, ProblemInvalidField, `\u001b[2J`, "invalid"},

		// ... in free text: names, reasons, notes, descriptions, metadata.
		{"org name with a bidi override", admin, "PUT", "/v1/orgs/acme", `{"baseTrustScore":60,"name":"Acme \u202eproC"}`, 400, ProblemInvalidField, "name", "invalid"},
		{"endorsement reason with a newline", writer, "POST", "/v1/endorsements", `{"endorserId":"alice","endorseeId":"bob","reason":"line one\nline two"}`, 400, ProblemInvalidField, "reason", "invalid"},
		{"endorsement reason with CR", writer, "POST", "/v1/endorsements", `{"endorserId":"alice","endorseeId":"bob","reason":"ok\roverwritten"}`, 400, ProblemInvalidField, "reason", "invalid"},
		{"review note with ESC", admin, "POST", "/v1/alerts/alt-1-0/review", `{"action":"dismiss","note":"\u001b]0;owned\u0007"}`, 400, ProblemInvalidField, "note", "invalid"},
		{"token description with BEL", admin, "POST", "/v1/tokens", `{"role":"reader","description":"ring\u0007"}`, 400, ProblemInvalidField, "description", "invalid"},
		{"metadata value with ESC", admin, "POST", "/v1/principals", principal(`,"metadata":{"dept":"ops\u001b[31m"}`), 400, ProblemInvalidField, "metadata.dept", "invalid"},
		{"metadata value with a newline", admin, "POST", "/v1/principals", principal(`,"metadata":{"note":"a\nb"}`), 400, ProblemInvalidField, "metadata.note", "invalid"},
		{"metadata key with a bidi override", admin, "POST", "/v1/principals", principal(",\"metadata\":{\"k\u202e\":1}"), 400, ProblemInvalidField, `metadata.k\u202e`, "invalid"},
		{"metadata in a string, value with ESC", admin, "POST", "/v1/principals", principal(`,"metadata":"{\"dept\":\"\\u001b[2J\"}"`), 400, ProblemInvalidField, "metadata.dept", "invalid"},
		{"signal attribute with invalid UTF-8", writer, "POST", "/v1/signals", sig("", "\"attributes\":{\"ip\":\"10.0.0.1\xff\"}"), 400, ProblemInvalidField, "attributes.ip", "invalid"},
		{"risk indicator with ESC", writer, "PUT", "/v1/principals/alice/factors", `{"riskIndicators":["new_device","\u001b[2J"]}`, 400, ProblemInvalidField, "riskIndicators[1]", "invalid"},
		{"imported signal event with ESC", admin, "POST", "/v1/import", `{"principalId":"imp","principalType":"user","trustScore":50,"negativeSignals":[{"event":"x\u001b[2J","timestamp":"2026-01-01T00:00:00Z","impact":-5}]}`, 400, ProblemInvalidField, "negativeSignals[0].event", "invalid"},
		{"imported federated source with a bidi override", admin, "POST", "/v1/import", `{"principalId":"imp","principalType":"user","trustScore":50,"federatedTrust":{"idp\u202e":70}}`, 400, ProblemInvalidField, `federatedTrust.idp\u202e`, "invalid"},

		// Dot-only ids, wherever ids are checked.
		{"principal id .", admin, "POST", "/v1/principals", `{"principalId":".","principalType":"user"}`, 400, ProblemInvalidField, "principalId", "invalid"},
		{"principal id ..", admin, "POST", "/v1/principals", `{"principalId":"..","principalType":"user"}`, 400, ProblemInvalidField, "principalId", "invalid"},
		{"principal id ...", admin, "POST", "/v1/principals", `{"principalId":"...","principalType":"user"}`, 400, ProblemInvalidField, "principalId", "invalid"},
		{"org id ..", admin, "POST", "/v1/principals", principal(`,"orgId":".."`), 400, ProblemInvalidField, "orgId", "invalid"},
		{"org path ...", admin, "PUT", "/v1/orgs/...", `{"baseTrustScore":60}`, 400, ProblemInvalidField, "orgId", "invalid"},
		{"principal path escaped ..", reader, "GET", "/v1/principals/%2E%2E", ``, 400, ProblemInvalidField, "principalId", "invalid"},
		{"endorsee id .", writer, "POST", "/v1/endorsements", `{"endorserId":"alice","endorseeId":"."}`, 400, ProblemInvalidField, "endorseeId", "invalid"},
		{"token id ...", admin, "POST", "/v1/tokens", `{"role":"reader","id":"..."}`, 400, ProblemInvalidField, "id", "invalid"},
		{"token org ..", admin, "POST", "/v1/tokens", `{"role":"writer","orgs":[".."]}`, 400, ProblemInvalidField, "orgs[0]", "invalid"},
		{"partner path ...", admin, "PUT", "/v1/federation/partners/...", partner(okp + `}`), 400, ProblemInvalidField, "partnerId", "invalid"},
		{"signal principal ..", writer, "POST", "/v1/signals", sig("principalId", `".."`), 400, ProblemInvalidField, "principalId", "invalid"},
		{"alert filter principal ...", reader, "GET", "/v1/alerts?principalId=...", ``, 400, ProblemInvalidParameter, "principalId", "invalid"},
		{"import principal ..", admin, "POST", "/v1/import", `{"principalId":"..","principalType":"user","trustScore":50}`, 400, ProblemInvalidField, "principalId", "invalid"},
		{"cluster node id ...", admin, "POST", "/v1/cluster/join", `{"nodeId":"...","raftAddr":"127.0.0.1:9","apiAddr":"http://127.0.0.1:9"}`, 400, ProblemInvalidField, "nodeId", "invalid"},

		// Duplicate members, at any depth, in every decoding path.
		{"principal id twice", admin, "POST", "/v1/principals", `{"principalId":"x","principalType":"user","principalId":"y"}`, 400, ProblemInvalidField, "principalId", "duplicate"},
		{"a name twice in another case", admin, "POST", "/v1/principals", `{"principalId":"x","principalType":"user","PrincipalID":"y"}`, 400, ProblemInvalidField, "PrincipalID", "duplicate"},
		{"a name twice through an escape", admin, "POST", "/v1/principals", `{"principalId":"x","principalType":"user","\u0070rincipalId":"y"}`, 400, ProblemInvalidField, "principalId", "duplicate"},
		{"metadata member twice", admin, "POST", "/v1/principals", principal(`,"metadata":{"a":{"b":1,"b":2}}`), 400, ProblemInvalidField, "metadata.a.b", "duplicate"},
		{"metadata in a string, member twice", admin, "POST", "/v1/principals", principal(`,"metadata":"{\"a\":1,\"a\":2}"`), 400, ProblemInvalidField, "metadata.a", "duplicate"},
		{"signal impact twice", writer, "POST", "/v1/signals", sig("", `"impact":-100`), 400, ProblemInvalidField, "impact", "duplicate"},
		{"batch signal principal twice", writer, "POST", "/v1/signals", batch(sig("", ""), sig("", `"principalId":"bob"`)), 400, ProblemInvalidField, "signals[1].principalId", "duplicate"},
		{"signals twice", writer, "POST", "/v1/signals", `{"signals":[` + sig("", "") + `],"signals":[]}`, 400, ProblemInvalidField, "signals", "duplicate"},
		{"attributes member twice", writer, "POST", "/v1/signals", batch(sig("", `"attributes":{"ip":"a","ip":"b"}`)), 400, ProblemInvalidField, "signals[0].attributes.ip", "duplicate"},
		{"simulated signal member twice", reader, "POST", "/v1/simulate", `{"principalId":"alice","signals":[{"principalId":"alice","event":"x","category":"context","impact":1,"impact":-1}]}`, 400, ProblemInvalidField, "signals[0].impact", "duplicate"},
		{"policy member twice", admin, "PUT", "/v1/policy", `{"sharpDrop":20,"sharpDrop":99}`, 400, ProblemInvalidField, "sharpDrop", "duplicate"},
		{"import records twice", admin, "POST", "/v1/import", `{"records":[],"records":[{"principalId":"imp","principalType":"user","trustScore":50}]}`, 400, ProblemInvalidField, "records", "duplicate"},
		{"import record member twice", admin, "POST", "/v1/import", `[{"principalId":"imp","principalType":"user","trustScore":50,"trustScore":90}]`, 400, ProblemInvalidField, "records[0].trustScore", "duplicate"},
		{"partner JWK member twice", admin, "PUT", "/v1/federation/partners/p9", partner(okp + `,"x":"AAAA"}`), 400, ProblemInvalidField, "jwks.keys[0].x", "duplicate"},
		{"review action twice", admin, "POST", "/v1/alerts/alt-1-0/review", `{"action":"dismiss","action":"confirm-safe"}`, 400, ProblemInvalidField, "action", "duplicate"},

		// Sequence numbers within [0, 2^63-1]: 2^64-1 used to replay from the start.
		{"ledger after 2^64-1", auditor, "GET", "/v1/ledger?after=18446744073709551615", ``, 400, ProblemInvalidParameter, "after", "invalid"},
		{"ledger after 2^63", auditor, "GET", "/v1/ledger?after=9223372036854775808", ``, 400, ProblemInvalidParameter, "after", "invalid"},
		{"ledger after beyond uint64", auditor, "GET", "/v1/ledger?after=18446744073709551616", ``, 400, ProblemInvalidParameter, "after", "invalid"},
		{"stream after 2^64-1", auditor, "GET", "/v1/ledger/stream?after=18446744073709551615", ``, 400, ProblemInvalidParameter, "after", "invalid"},
		{"blocking read index 2^64-1", auditor, "GET", "/v1/ledger?index=18446744073709551615&wait=1s", ``, 400, ProblemInvalidParameter, "index", "invalid"},
		{"ledger after negative", auditor, "GET", "/v1/ledger?after=-1", ``, 400, ProblemInvalidParameter, "after", "invalid"},
		{"principal events after 2^64-1", reader, "GET", "/v1/principals/alice/events?after=18446744073709551615", ``, 400, ProblemInvalidParameter, "after", "invalid"},

		// Partner JWKs: the public members of their key type only.
		{"JWK with an upper-case private D", admin, "PUT", "/v1/federation/partners/p9", partner(okp + `,"D":"c2VjcmV0"}`), 400, ProblemInvalidField, "jwks", "invalid"},
		{"JWK with a private d", admin, "PUT", "/v1/federation/partners/p9", partner(okp + `,"d":"c2VjcmV0"}`), 400, ProblemInvalidField, "jwks", "invalid"},
		{"JWK with x5c", admin, "PUT", "/v1/federation/partners/p9", partner(okp + `,"x5c":["MIIB"]}`), 400, ProblemInvalidField, "jwks", "invalid"},
		{"JWK with a member in another case", admin, "PUT", "/v1/federation/partners/p9", partner(okp + `,"Use":"sig"}`), 400, ProblemInvalidField, "jwks", "invalid"},
		{"OKP JWK with y", admin, "PUT", "/v1/federation/partners/p9", partner(okp + `,"y":"AAAA"}`), 400, ProblemInvalidField, "jwks", "invalid"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := h.state()
			var body any
			if c.body != "" {
				body = c.body
			}
			r := h.do(c.method, c.path, c.token, body)
			p := r.problem(t)
			if r.status != c.status || p.Status != c.status || p.Type != c.kind.URI() || p.Field != c.field || p.Code != c.code {
				t.Errorf("got %d %s field %q code %q (%s), want %d %s field %q code %q", r.status, p.Type, p.Field, p.Code,
					p.Detail, c.status, c.kind.URI(), c.field, c.code)
			}
			if p.Detail == "" || !strings.Contains(p.Detail, c.field) {
				t.Errorf("detail %q does not name the field %q", p.Detail, c.field)
			}
			if input.CheckText(p.Detail) != nil || input.CheckText(p.Field) != nil {
				t.Errorf("the problem echoes a character the rules refuse: %q", r.body)
			}
			if after := h.state(); after != before {
				t.Errorf("ledger changed: %+v → %+v", before, after)
			}
		})
	}
}

// What the rules let through: text with non-ASCII letters, a JSON
// document sent as an indented string, ids with dots among other
// characters, the largest sequence number.
func TestInputRulesAccept(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.mustJSON("PUT", "/v1/orgs/a.b", h.admin, map[string]any{"baseTrustScore": 60, "name": "Zoë & Søn — 東京 👩‍💻"}, http.StatusCreated, nil)
	h.mustJSON("POST", "/v1/principals", h.admin, `{"principalId":".alice.","principalType":"user","orgId":"a.b",`+
		`"metadata":"{\n\t\"dept\": \"ops\",\r\n\t\"site\": \"Zürich\"\n}"}`, http.StatusCreated, nil)
	if got := string(h.record(".alice.").Metadata); got != `{"dept":"ops","site":"Zürich"}` {
		t.Errorf("metadata %s", got)
	}
	h.mustJSON("POST", "/v1/signals", h.token("writer"), map[string]any{"eventId": "é-1", "principalId": ".alice.",
		"event": "connexion réussie", "category": "authentication", "impact": 1}, http.StatusOK, nil)
	h.mustJSON("GET", "/v1/ledger?after=9223372036854775807", h.token("auditor"), nil, http.StatusOK, nil)
}

// A SET with a member given twice, in its header or its claims, is
// refused with the RFC 8935 invalid_request error and writes nothing; the
// same SET without the second member is accepted.
func TestSETDuplicateMembersChangeNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.register("alice", "user", "")
	p := h.addPartner("p1", nil)
	raw := func(header, claims string) string {
		in := b64url([]byte(header)) + "." + b64url([]byte(claims))
		return in + "." + b64url(ed25519.Sign(p.ed, []byte(in)))
	}
	claimsJSON := func(jti, extra string) string {
		b, _ := json.Marshal(p.claims(jti, "alice", federation.EventTrustAssessment, assessment(40)))
		return strings.TrimSuffix(string(b), "}") + extra + "}"
	}
	hdr := `{"alg":"EdDSA","typ":"secevent+jwt","kid":"ed1"}`
	cases := []struct{ name, set, want string }{
		{"iss twice", raw(hdr, claimsJSON("d1", `,"iss":"https://other.example"`)), `"iss"`},
		{"sub_id twice", raw(hdr, claimsJSON("d2", `,"sub_id":{"format":"opaque","id":"bob"}`)), `"sub_id"`},
		{"score twice", raw(hdr, strings.Replace(claimsJSON("d3", ""), `"score":40`, `"score":40,"score":100`, 1)), `"score"`},
		{"alg twice in the header", raw(`{"alg":"EdDSA","typ":"secevent+jwt","kid":"ed1","alg":"none"}`, claimsJSON("d4", "")), `"alg"`},
	}
	for _, c := range cases {
		before := h.state()
		r := h.push(p.token, c.set)
		e := r.setError(t)
		if r.status != http.StatusBadRequest || e.Code != federation.ErrInvalidRequest || !strings.Contains(e.Description, c.want) {
			t.Errorf("%s: %d %+v, want 400 invalid_request naming %s", c.name, r.status, e, c.want)
		}
		if after := h.state(); after != before {
			t.Errorf("%s: ledger changed: %+v → %+v", c.name, before, after)
		}
	}
	if r := h.push(p.token, raw(hdr, claimsJSON("ok", ""))); r.status != http.StatusAccepted {
		t.Fatalf("the control SET: %d %s", r.status, r.body)
	}
}
