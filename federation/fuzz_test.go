package federation

import (
	"encoding/json"
	"testing"

	"github.com/trustledger/trustledger/fsm"
)

// FuzzParse: arbitrary bytes never panic the SET parser, verifier or
// mapper, and whatever they refuse is an *Error with an RFC 8935 code.
func FuzzParse(f *testing.F) {
	p := newTestPartner(f)
	for i, ev := range EventTypes() {
		c := claims("seed")
		c["events"] = map[string]any{ev: map[string]any{"score": 50, "validUntil": testNow.Unix() + 60,
			"current_status": "compliant", "current_level": "HIGH", "namespace": "NIST-AAL"}}
		alg := "EdDSA"
		if i%2 == 1 {
			alg = "ES256"
		}
		f.Add([]byte(p.signed(f, alg, c)))
	}
	f.Add([]byte(unsigned(f, claims("n"))))
	f.Add([]byte(p.hs256WithPublicKey(f, claims("h"))))
	f.Add([]byte("eyJhbGciOiJFZERTQSJ9.e30."))
	f.Add([]byte(""))
	var v Verifier
	codes := map[string]bool{ErrInvalidRequest: true, ErrInvalidKey: true, ErrInvalidIssuer: true, ErrInvalidAudience: true,
		ErrAuthenticationFailed: true, ErrAccessDenied: true}
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := Parse(data)
		if err != nil {
			if e, ok := err.(*Error); !ok || !codes[e.Code] {
				t.Fatalf("Parse: %v", err)
			}
			return
		}
		set, err := v.Verify(tok, p.view, Window{Now: testNow})
		if err != nil {
			if e, ok := err.(*Error); !ok || !codes[e.Code] {
				t.Fatalf("Verify: %v", err)
			}
			return
		}
		if _, err := set.Command("p1"); err != nil {
			if e, ok := err.(*Error); !ok || e.Code != ErrInvalidRequest {
				t.Fatalf("Command: %v", err)
			}
		}
	})
}

// FuzzClaims: any claims set, validly signed, is verified and mapped
// without panicking; refusals carry an RFC 8935 code.
func FuzzClaims(f *testing.F) {
	p := newTestPartner(f)
	for _, ev := range EventTypes() {
		c := claims("seed")
		c["events"] = map[string]any{ev: map[string]any{"score": 50, "validUntil": testNow.Unix() + 60,
			"current_status": "compliant", "current_level": "HIGH", "namespace": "NIST-AAL",
			"subject": map[string]any{"format": "email", "email": "a@b.c"}}}
		b, _ := json.Marshal(c)
		f.Add(b)
	}
	f.Add([]byte(`{"iss":"` + testIssuer + `","aud":"` + testAudience + `","iat":1795420800,"jti":"x","events":{}}`))
	hdr := map[string]any{"alg": "EdDSA", "typ": "secevent+jwt", "kid": "ed1"}
	var v Verifier
	f.Fuzz(func(t *testing.T, payload []byte) {
		tok, err := Parse([]byte(p.craftedRaw(t, hdr, payload)))
		var cmd *fsm.FederatedEvent
		if err == nil {
			var set *SET
			if set, err = v.Verify(tok, p.view, Window{Now: testNow}); err == nil {
				cmd, err = set.Command("p1")
			}
		}
		if _, ok := err.(*Error); err != nil && !ok {
			t.Fatalf("not an *Error: %v", err)
		}
		// Whatever maps, maps within bounds: a score of 0-100 valid for at
		// most MaxAssessmentValidity after iat, a valid principal id.
		if err == nil && cmd != nil {
			if cmd.Score.Set && (cmd.Score.V < 0 || cmd.Score.V > 100*fsm.Point || cmd.ValidUntil <= cmd.IssuedAt ||
				cmd.ValidUntil > cmd.IssuedAt+MaxAssessmentValidity) {
				t.Fatalf("out of bounds: %+v", cmd)
			}
			if !fsm.ValidID(cmd.PrincipalID) || cmd.EventID == "" || (cmd.Score.Set && cmd.Clear) {
				t.Fatalf("bad command: %+v", cmd)
			}
		}
	})
}
