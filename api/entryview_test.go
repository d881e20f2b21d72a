package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/trustledger/trustledger/api/client"
	"github.com/trustledger/trustledger/fsm"
)

// Ledger entries speak the API's language: its field names, points (not
// micro-points), category names, RFC 3339 times; unset optional values
// left out; a token's secret hash never shown.
func TestEntriesRenderInTheAPIsLanguage(t *testing.T) {
	t.Parallel()
	at := int64(1_767_225_600_000) // 2026-01-01T00:00:00Z
	for _, c := range []struct {
		cmd  fsm.Command
		want string
	}{
		{&fsm.RegisterPrincipal{PrincipalID: "alice", PrincipalType: "user", OrgID: "acme", Max: fsm.Some(90 * fsm.Point),
			DecayRate: fsm.Some(fsm.Point / 2), Metadata: []byte(`{"dept": "sales"}`)},
			`{"principalId":"alice","principalType":"user","orgId":"acme","maxTrustScore":90,"trustDecayRate":0.5,"inactive":false,"metadata":{"dept":"sales"}}`},
		{&fsm.SetOrg{OrgID: "acme", Name: "Acme", Base: 70_250_000},
			`{"orgId":"acme","name":"Acme","baseTrustScore":70.25}`},
		{&fsm.RecordSignals{Signals: []fsm.Signal{{EventID: "e1", PrincipalID: "alice", Event: "mfa_failed", Category: 0, Impact: -15 * fsm.Point / 10, ObservedAt: at}}},
			`{"signals":[{"eventId":"e1","principalId":"alice","event":"mfa_failed","category":"authentication","impact":-1.5,"observedAt":"2026-01-01T00:00:00Z"}]}`},
		{&fsm.AddEndorsement{EndorserID: "bob", EndorseeID: "alice", Weight: fsm.Some(5 * fsm.Point), ExpiresAt: at},
			`{"endorserId":"bob","endorseeId":"alice","weight":5,"expiresAt":"2026-01-01T00:00:00Z"}`},
		{&fsm.UpsertPartner{PartnerID: "p1", Issuer: "https://idp", Audience: "tl", JWKS: []byte(`{"keys":[]}`), Weight: 250_000, MaxInfluence: 10 * fsm.Point},
			`{"partnerId":"p1","issuer":"https://idp","audience":"tl","jwks":{"keys":[]},"weight":0.25,"maxInfluence":10,"suspended":false,"rateLimit":0}`},
		{&fsm.CreateToken{TokenID: "tok1", Hash: []byte("0123456789abcdef0123456789abcdef"), Role: "writer", Orgs: []string{"acme"}},
			`{"id":"tok1","secretHash":"redacted","role":"writer","orgs":["acme"]}`},
		{&fsm.FederatedEvent{EventID: "j1", PartnerID: "p1", PrincipalID: "alice", IssuedAt: at, Score: fsm.Some(40 * fsm.Point), ValidUntil: at},
			`{"jti":"j1","partnerId":"p1","principalId":"alice","issuedAt":"2026-01-01T00:00:00Z","score":40,"validUntil":"2026-01-01T00:00:00Z","clear":false}`},
		{&fsm.UpsertPartner{PartnerID: "p2", Issuer: "https://a", Audience: "s1", JWKS: []byte(`{"keys":[]}`),
			SSF: fsm.PartnerSSF{ConfigURL: "https://a/.well-known/ssf-configuration", StreamID: "s1", Delivery: "poll", PollURL: "https://a/p", Auth: "Bearer t"}},
			`{"partnerId":"p2","issuer":"https://a","audience":"s1","jwks":{"keys":[]},"weight":0,"maxInfluence":0,"suspended":false,"rateLimit":0,"ssf":{"configurationUrl":"https://a/.well-known/ssf-configuration","streamId":"s1","delivery":"poll","pollUrl":"https://a/p","auth":"redacted"}}`},
		{&fsm.PutStream{StreamID: "s1", Op: "create", Set: 31, Method: fsm.DeliveryPush, Endpoint: "https://rp/ssf", AuthHeader: "Bearer secret"},
			`{"streamId":"s1","op":"create","set":31,"method":"urn:ietf:rfc:8935","endpoint":"https://rp/ssf","authorizationHeader":"redacted","minVerify":0}`},
	} {
		if got := string(renderCommand(c.cmd)); got != c.want {
			t.Errorf("%s rendered as\n%s\nwant\n%s", c.cmd.Kind(), got, c.want)
		}
	}
	p := fsm.DefaultPolicy()
	var doc struct{ Policy map[string]json.RawMessage }
	if err := json.Unmarshal(renderCommand(&fsm.SetPolicy{Policy: p}), &doc); err != nil || doc.Policy["thresholds"] == nil {
		t.Errorf("set_policy should render as GET /v1/policy shows the policy: %v %v", err, doc)
	}
}

// Every kind of command renders as a JSON object whose keys are lower
// camel case: no Go field name reaches the wire.
func TestEveryCommandRendersAsAPIJSON(t *testing.T) {
	t.Parallel()
	all := []fsm.Command{&fsm.RegisterPrincipal{}, &fsm.UpdatePrincipal{}, &fsm.SetOrg{}, &fsm.RecordSignals{Signals: []fsm.Signal{{}}},
		&fsm.ReportFactors{}, &fsm.AddEndorsement{}, &fsm.RevokeEndorsement{}, &fsm.RecordAssessment{}, &fsm.UpsertPartner{},
		&fsm.RemovePartner{}, &fsm.SetPolicy{Policy: fsm.DefaultPolicy()}, &fsm.AddModifier{}, &fsm.ReviewAlert{}, &fsm.CreateToken{},
		&fsm.RevokeToken{}, &fsm.ImportRecord{Positive: []fsm.ImportedSignal{{}}, History: []fsm.ImportedPoint{{}}}, &fsm.FederatedEvent{},
		&fsm.RemoveModifier{}, &fsm.PutStream{Requested: []string{"x"}}, &fsm.DeleteStream{}, &fsm.SetStreamStatus{},
		&fsm.StreamSubject{}, &fsm.VerifyStream{}, &fsm.StreamDelivery{Acks: []uint64{1}}, &fsm.PublishKeys{JWKS: []byte(`{"keys":[]}`)},
		&fsm.PartnerStreamEvent{}, &fsm.UpsertPartner{SSF: fsm.PartnerSSF{Auth: "x"}, Aliases: []fsm.SubjectAlias{{}}}}
	kinds := map[fsm.Kind]bool{}
	for _, cmd := range all {
		kinds[cmd.Kind()] = true
		out := renderCommand(cmd)
		var v any
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("%s rendered as %s: %v", cmd.Kind(), out, err)
		}
		checkKeys(t, cmd.Kind(), v)
	}
	for k := fsm.KindRegisterPrincipal; k <= fsm.KindLast; k++ {
		if !kinds[k] {
			t.Errorf("%s is not covered", k)
		}
	}
}

func checkKeys(t *testing.T, k fsm.Kind, v any) {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		for key, sub := range v {
			if key == "" || strings.ToLower(key[:1]) != key[:1] || strings.Contains(key, "ID") {
				t.Errorf("%s renders key %q: want the API's lower camel case", k, key)
			}
			checkKeys(t, k, sub)
		}
	case []any:
		for _, sub := range v {
			checkKeys(t, k, sub)
		}
	}
}

// Through the API: /v1/ledger serves the rendered command.
func TestLedgerServesRenderedCommands(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.register("alice", "user", "")
	var page struct {
		Entries []client.LedgerEntry `json:"entries"`
	}
	h.mustJSON("GET", "/v1/ledger", h.token("auditor"), nil, http.StatusOK, &page)
	var found bool
	for _, e := range page.Entries {
		if e.Kind == "register_principal" {
			found = strings.Contains(string(e.Command), `"principalId":"alice"`) && strings.Contains(string(e.Command), `"principalType":"user"`)
		}
		if strings.Contains(string(e.Command), `"PrincipalID":`) || strings.Contains(string(e.Command), `"Hash":`) {
			t.Errorf("entry %d shows Go field names: %s", e.Sequence, e.Command)
		}
	}
	if !found {
		t.Fatalf("no register_principal entry rendered for alice: %+v", page.Entries)
	}
}
