package federation

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// A SET signed with each accepted algorithm verifies and maps to the
// assessment it carries.
func TestVerifyAcceptsEachAlgorithm(t *testing.T) {
	p := newTestPartner(t)
	for _, alg := range []string{"EdDSA", "ES256", "RS256"} {
		t.Run(alg, func(t *testing.T) {
			set, cmd, err := verify(p.view, p.signed(t, alg, claims("jti-"+alg)))
			if err != nil {
				t.Fatal(err)
			}
			if set.Algorithm != alg || set.ID != "jti-"+alg || set.Issuer != testIssuer || set.IssuedAt != testNow.UnixMilli() {
				t.Errorf("set: %+v", set)
			}
			if cmd.PrincipalID != "alice" || cmd.PartnerID != "p1" || cmd.EventID != "jti-"+alg ||
				cmd.Score.V != 42_500_000 || cmd.ValidUntil != testNow.UnixMilli()+3_600_000 {
				t.Errorf("command: %+v", cmd)
			}
		})
	}
}

// Every malformed, forged or misaddressed SET is refused with the RFC 8935
// code that says why.
func TestVerifyRefuses(t *testing.T) {
	p := newTestPartner(t)
	good := claims("j1")
	with := func(k string, v any) map[string]any {
		c := map[string]any{}
		for kk, vv := range good {
			c[kk] = vv
		}
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	hdr := func(extra ...any) map[string]any {
		h := map[string]any{"alg": "EdDSA", "typ": "secevent+jwt", "kid": "ed1"}
		for i := 0; i+1 < len(extra); i += 2 {
			if extra[i+1] == nil {
				delete(h, extra[i].(string))
			} else {
				h[extra[i].(string)] = extra[i+1]
			}
		}
		return h
	}
	valid := p.signed(t, "EdDSA", good)
	parts := strings.Split(valid, ".")
	otherKey := newTestPartner(t)

	cases := []struct {
		name  string
		token string
		code  string
	}{
		{"bad signature", tamper(valid), ErrAuthenticationFailed},
		{"signed by another key with the same kid", otherKey.signed(t, "EdDSA", good), ErrAuthenticationFailed},
		{"signature of other claims", parts[0] + "." + b64JSON(t, with("jti", "j2")) + "." + parts[2], ErrAuthenticationFailed},
		{"unknown kid", p.crafted(t, hdr("kid", "nope"), good), ErrInvalidKey},
		{"no kid", p.crafted(t, hdr("kid", nil), good), ErrInvalidKey},
		{"EdDSA header naming the EC key", p.crafted(t, hdr("kid", "ec1"), good), ErrInvalidKey},
		{"alg none", unsigned(t, good), ErrInvalidKey},
		{"alg none with a signature", p.crafted(t, hdr("alg", "none"), good), ErrInvalidKey},
		{"HS256 keyed with the public key", p.hs256WithPublicKey(t, good), ErrInvalidKey},
		{"RS256", p.crafted(t, hdr("alg", "RS256"), good), ErrInvalidKey},
		{"ES384", p.crafted(t, hdr("alg", "ES384"), good), ErrInvalidKey},
		{"lower-case alg", p.crafted(t, hdr("alg", "eddsa"), good), ErrInvalidKey},
		{"no alg", p.crafted(t, hdr("alg", nil), good), ErrInvalidRequest},
		{"no typ", p.crafted(t, hdr("typ", nil), good), ErrInvalidRequest},
		{"typ JWT", p.crafted(t, hdr("typ", "JWT"), good), ErrInvalidRequest},
		{"crit header", p.crafted(t, hdr("crit", []string{"exp"}, "exp", 1), good), ErrInvalidRequest},
		{"wrong iss", p.signed(t, "EdDSA", with("iss", "https://evil.example")), ErrInvalidIssuer},
		{"wrong aud", p.signed(t, "EdDSA", with("aud", "https://someone-else.example")), ErrInvalidAudience},
		{"aud list without us", p.signed(t, "EdDSA", with("aud", []string{"a", "b"})), ErrInvalidAudience},
		{"no aud", p.signed(t, "EdDSA", with("aud", nil)), ErrInvalidAudience},
		{"aud a number", p.signed(t, "EdDSA", with("aud", 5)), ErrInvalidAudience},
		{"iat too old", p.signed(t, "EdDSA", with("iat", testNow.Unix()-8*24*3600)), ErrInvalidRequest},
		{"iat in the future", p.signed(t, "EdDSA", with("iat", testNow.Unix()+6*60)), ErrInvalidRequest},
		{"no iat", p.signed(t, "EdDSA", with("iat", nil)), ErrInvalidRequest},
		{"iat a string", p.signed(t, "EdDSA", with("iat", "1700000000")), ErrInvalidRequest},
		{"iat negative", p.signed(t, "EdDSA", with("iat", -1)), ErrInvalidRequest},
		{"expired", p.signed(t, "EdDSA", with("exp", testNow.Unix()-1)), ErrInvalidRequest},
		{"no jti", p.signed(t, "EdDSA", with("jti", nil)), ErrInvalidRequest},
		{"empty jti", p.signed(t, "EdDSA", with("jti", "")), ErrInvalidRequest},
		{"jti too long", p.signed(t, "EdDSA", with("jti", strings.Repeat("j", 257))), ErrInvalidRequest},
		{"jti with a control character", p.signed(t, "EdDSA", with("jti", "a\nb")), ErrInvalidRequest},
		{"jti a number", p.signed(t, "EdDSA", with("jti", 7)), ErrInvalidRequest},
		{"no iss", p.signed(t, "EdDSA", with("iss", nil)), ErrInvalidRequest},
		{"no events", p.signed(t, "EdDSA", with("events", nil)), ErrInvalidRequest},
		{"empty events", p.signed(t, "EdDSA", with("events", map[string]any{})), ErrInvalidRequest},
		{"events an array", p.signed(t, "EdDSA", with("events", []string{EventTrustAssessment})), ErrInvalidRequest},
		{"event payload not an object", p.signed(t, "EdDSA", with("events", map[string]any{EventTrustAssessment: 1})), ErrInvalidRequest},
		{"sub_id of an unknown format", p.signed(t, "EdDSA", with("sub_id", map[string]any{"format": "phone_number", "phone_number": "+1"})), ErrInvalidRequest},
		{"sub_id without format", p.signed(t, "EdDSA", with("sub_id", map[string]any{"id": "alice"})), ErrInvalidRequest},
		{"sub_id a string", p.signed(t, "EdDSA", with("sub_id", "alice")), ErrInvalidRequest},
		{"empty body", "", ErrInvalidRequest},
		{"one part", "abc", ErrInvalidRequest},
		{"two parts", parts[0] + "." + parts[1], ErrInvalidRequest},
		{"four parts", valid + ".x", ErrInvalidRequest},
		{"padded base64", parts[0] + "=." + parts[1] + "." + parts[2], ErrInvalidRequest},
		{"standard base64", parts[0] + "." + parts[1] + "." + strings.NewReplacer("-", "+", "_", "/").Replace(parts[2]) + "+/", ErrInvalidRequest},
		{"header not JSON", b64([]byte("{nope")) + "." + parts[1] + "." + parts[2], ErrInvalidRequest},
		{"header an array", b64([]byte(`["EdDSA"]`)) + "." + parts[1] + "." + parts[2], ErrInvalidRequest},
		{"payload not JSON", p.craftedRaw(t, hdr(), []byte("not json")), ErrInvalidRequest},
		{"payload an array", p.craftedRaw(t, hdr(), []byte(`[1]`)), ErrInvalidRequest},
		{"payload with trailing data", p.craftedRaw(t, hdr(), []byte(`{"iss":"x"} {}`)), ErrInvalidRequest},
		{"JSON serialization", `{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`, ErrInvalidRequest},
		{"oversize", valid + strings.Repeat(" ", MaxTokenBytes), ErrInvalidRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := verify(p.view, c.token)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("want an *Error %s, got %v", c.code, err)
			}
			if e.Code != c.code {
				t.Errorf("code %s (%s), want %s", e.Code, e.Description, c.code)
			}
			if e.Description == "" {
				t.Error("no description")
			}
		})
	}
}

// craftedRaw signs a header and raw payload bytes with the Ed25519 key.
func (p *testPartner) craftedRaw(t testing.TB, header map[string]any, payload []byte) string {
	t.Helper()
	hb, _ := json.Marshal(header)
	input := b64(hb) + "." + b64(payload)
	return input + "." + b64(signEd(p, input))
}

// Surrounding white space (a trailing newline from a file) is ignored;
// typ may carry the application/ prefix; aud may be a list.
func TestVerifyTolerates(t *testing.T) {
	p := newTestPartner(t)
	c := claims("j1")
	c["aud"] = []string{"https://other.example", testAudience}
	if _, _, err := verify(p.view, "\n "+p.signed(t, "ES256", c)+"\r\n"); err != nil {
		t.Errorf("white space, aud list: %v", err)
	}
	tok := p.crafted(t, map[string]any{"alg": "EdDSA", "typ": "application/secevent+jwt", "kid": "ed1"}, claims("j2"))
	if _, _, err := verify(p.view, tok); err != nil {
		t.Errorf("typ application/secevent+jwt: %v", err)
	}
	c = claims("j3")
	c["iat"] = json.Number("1795420800.999") // fractional NumericDate, no float64 anywhere
	c["exp"] = testNow.Unix() + 60
	set, _, err := verify(p.view, p.signed(t, "EdDSA", c))
	if err != nil || set.IssuedAt != 1795420800999 {
		t.Errorf("fractional iat: %v %+v", err, set)
	}
}

// A partner's JWKS is read leniently at verification (unusable keys are
// skipped) and the cache follows key rotation.
func TestVerifierFollowsKeyRotation(t *testing.T) {
	p := newTestPartner(t)
	var v Verifier
	tok, err := Parse([]byte(p.signed(t, "EdDSA", claims("j1"))))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(tok, p.view, Window{Now: testNow}); err != nil {
		t.Fatal(err)
	}
	rotated := p.view
	ec, _ := PublicJWK(p.ec, "ec1")
	rotated.JWKS, _ = json.Marshal(map[string]any{"keys": []any{map[string]any{"kty": "oct", "k": "c2VjcmV0", "kid": "ed1"}, json.RawMessage(ec)}})
	var e *Error
	if _, err := v.Verify(tok, rotated, Window{Now: testNow}); !errors.As(err, &e) || e.Code != ErrInvalidKey {
		t.Errorf("after rotating ed1 out: %v", err)
	}
}

// RS256 is verified with the partner's RSA key only: an RS256 header that
// names the partner's P-256 key, or an RSA-PSS or HMAC signature made with
// the RSA key's public parameters, is refused.
func TestVerifyRS256KeyConfusion(t *testing.T) {
	p := newTestPartner(t)
	good := p.signed(t, "RS256", claims("jti-rs"))
	parts := strings.Split(good, ".")
	hdr := func(h map[string]any) string { b, _ := json.Marshal(h); return b64(b) }
	for name, tok := range map[string]string{
		"RS256 naming the EC key": hdr(map[string]any{"alg": "RS256", "typ": "secevent+jwt", "kid": "ec1"}) + "." + parts[1] + "." + parts[2],
		"PS256":                   hdr(map[string]any{"alg": "PS256", "typ": "secevent+jwt", "kid": "rsa1"}) + "." + parts[1] + "." + parts[2],
		"HS256 with the RSA key":  hdr(map[string]any{"alg": "HS256", "typ": "secevent+jwt", "kid": "rsa1"}) + "." + parts[1] + "." + parts[2],
	} {
		if _, _, err := verify(p.view, tok); err == nil {
			t.Errorf("%s: verified", name)
		}
	}
	if _, _, err := verify(p.view, good); err != nil {
		t.Fatalf("the RS256 SET itself: %v", err)
	}
}
