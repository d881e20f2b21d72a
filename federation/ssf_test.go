package federation

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/trustledger/trustledger/fsm"
)

// Subject aliases map email and iss_sub subjects to principal ids; iss_sub
// subjects spelled with "issuer" (as some libraries emit them) are read.
func TestSubjectAliases(t *testing.T) {
	p := newTestPartner(t)
	view := p.view
	view.SubjectAliases = map[string]string{"email:alice@example.com": "alice", "iss_sub:https://idp.example 42": "bob"}
	for _, c := range []struct {
		sub  map[string]any
		want string
	}{
		{map[string]any{"format": "email", "email": "alice@example.com"}, "alice"},
		{map[string]any{"format": "iss_sub", "iss": "https://idp.example", "sub": "42"}, "bob"},
		{map[string]any{"format": "iss_sub", "issuer": "https://idp.example", "sub": "42"}, "bob"},
		{map[string]any{"format": "iss_sub", "issuer": testIssuer, "sub": "carol"}, "carol"},
		{map[string]any{"format": "email", "email": "dave@example.com"}, "dave@example.com"},
	} {
		cl := claims("j-" + c.want)
		cl["sub_id"] = c.sub
		tok, err := Parse([]byte(p.signed(t, "ES256", cl)))
		if err != nil {
			t.Fatal(err)
		}
		var v Verifier
		set, err := v.Verify(tok, view, Window{Now: testNow})
		if err != nil {
			t.Fatal(err)
		}
		cmd, err := set.CommandFor(view)
		if err != nil || cmd.PrincipalID != c.want {
			t.Errorf("%v: principal %v, %v; want %s", c.sub, cmd, err, c.want)
		}
	}
	// Without the alias, another issuer's iss_sub subject is refused.
	cl := claims("j-x")
	cl["sub_id"] = map[string]any{"format": "iss_sub", "iss": "https://idp.example", "sub": "42"}
	if _, _, err := verify(p.view, p.signed(t, "ES256", cl)); err == nil {
		t.Fatal("another issuer's iss_sub subject without an alias was accepted")
	}
}

// SSF's own events are recorded: verification with its state,
// stream-updated with its status; anything else about the stream is not
// one of them.
func TestStreamEvents(t *testing.T) {
	p := newTestPartner(t)
	for _, c := range []struct {
		typ     string
		payload map[string]any
		want    *fsm.PartnerStreamEvent
		fails   bool
	}{
		{EventVerification, map[string]any{"state": "abc"}, &fsm.PartnerStreamEvent{Type: "verification", State: "abc"}, false},
		{EventVerification, map[string]any{}, &fsm.PartnerStreamEvent{Type: "verification"}, false},
		{EventVerification, map[string]any{"state": 5}, nil, true},
		{EventStreamUpdated, map[string]any{"status": "paused", "reason": "maintenance"}, &fsm.PartnerStreamEvent{Type: "stream-updated", Status: "paused", Reason: "maintenance"}, false},
		{EventStreamUpdated, map[string]any{"status": "asleep"}, nil, true},
		{EventTrustAssessment, map[string]any{"score": 50, "validUntil": testNow.Unix() + 60}, nil, false},
	} {
		cl := claims("j1")
		cl["events"] = map[string]any{c.typ: c.payload}
		tok, err := Parse([]byte(p.signed(t, "EdDSA", cl)))
		if err != nil {
			t.Fatal(err)
		}
		var v Verifier
		set, err := v.Verify(tok, p.view, Window{Now: testNow})
		if err != nil {
			t.Fatal(err)
		}
		got, err := set.StreamEvent("p1")
		if (err != nil) != c.fails {
			t.Errorf("%s %v: error %v", c.typ, c.payload, err)
			continue
		}
		if c.want == nil {
			if got != nil {
				t.Errorf("%s: %+v, want none", c.typ, got)
			}
			continue
		}
		if got == nil || got.Type != c.want.Type || got.State != c.want.State || got.Status != c.want.Status ||
			got.Reason != c.want.Reason || got.EventID != "j1" || got.PartnerID != "p1" {
			t.Errorf("%s: %+v, want %+v", c.typ, got, c.want)
		}
	}
}

// A fetched JWKS keeps the usable public keys and nothing else of them.
func TestPublicKeySet(t *testing.T) {
	p := newTestPartner(t)
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(p.view.JWKS, &set); err != nil {
		t.Fatal(err)
	}
	set.Keys[0]["x-note"] = "vendor data"                                                     // an extra member
	set.Keys = append(set.Keys, map[string]any{"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}) // a symmetric key
	set.Keys = append(set.Keys, map[string]any{"kty": "EC", "crv": "P-384", "kid": "p384",
		"x": "AAAA", "y": "AAAA"}) // an unusable curve
	raw, _ := json.Marshal(set)
	out, err := PublicKeySet(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"x-note", `"k"`, "hmac", "p384"} {
		if strings.Contains(string(out), bad) {
			t.Errorf("the kept set carries %s: %s", bad, out)
		}
	}
	ks, err := ParseKeySet(out)
	if err != nil || ks.Len() != 3 {
		t.Fatalf("kept %d keys (%v): %s", ks.Len(), err, out)
	}
	if _, err := PublicKeySet([]byte(`[1]`)); err == nil {
		t.Fatal("not a JWKS, yet accepted")
	}
}
