package federation

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// rawSigned signs a header and claims given as JSON text, byte for byte,
// with the partner's Ed25519 key: duplicate members survive, as an
// attacker would send them.
func (p *testPartner) rawSigned(header, claims string) string {
	in := b64([]byte(header)) + "." + b64([]byte(claims))
	return in + "." + b64(ed25519.Sign(p.ed, []byte(in)))
}

// claimsJSON is claims("d1") as JSON text with extra members spliced in
// at the top level (extra starts with a comma).
func claimsJSON(t *testing.T, extra string) string {
	t.Helper()
	b, err := json.Marshal(claims("d1"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(string(b), "}") + extra + "}"
}

// A SET whose header or claims give a member twice is refused with
// invalid_request, whichever value each copy holds: encoding/json and
// go-jose keep the last, another parser the first.
func TestSETDuplicateMembers(t *testing.T) {
	t.Parallel()
	p := newTestPartner(t)
	hdr := `{"alg":"EdDSA","typ":"secevent+jwt","kid":"ed1"}`
	cases := []struct {
		name, header, claims, want string
	}{
		{"iss twice", hdr, claimsJSON(t, `,"iss":"https://attacker.example"`), `"iss"`},
		{"iss twice, same value", hdr, claimsJSON(t, `,"iss":"`+testIssuer+`"`), `"iss"`},
		{"jti twice", hdr, claimsJSON(t, `,"jti":"d2"`), `"jti"`},
		{"aud twice through an escape", hdr, claimsJSON(t, `,"\u0061ud":"x"`), `"aud"`},
		{"sub_id member twice", hdr, claimsJSON(t, `,"x":{"format":"opaque","id":"a","id":"b"}`), `x.id`},
		{"event payload member twice", hdr, strings.Replace(claimsJSON(t, ""), `"score":42.5`, `"score":42.5,"score":0`, 1), `score`},
		{"event type twice", hdr, strings.Replace(claimsJSON(t, ""), `"events":{`,
			`"events":{"`+EventSessionRevoked+`":{},"`+EventSessionRevoked+`":{},`, 1), "session-revoked"},
		{"alg twice", `{"alg":"EdDSA","typ":"secevent+jwt","kid":"ed1","alg":"ES256"}`, claimsJSON(t, ""), `"alg"`},
		{"kid twice", `{"alg":"EdDSA","typ":"secevent+jwt","kid":"ed1","kid":"ec1"}`, claimsJSON(t, ""), `"kid"`},
		{"typ twice", `{"alg":"EdDSA","typ":"JWT","typ":"secevent+jwt","kid":"ed1"}`, claimsJSON(t, ""), `"typ"`},
		{"invalid UTF-8 in a claim", hdr, claimsJSON(t, ",\"note\":\"\xff\""), "invalid UTF-8"},
	}
	for _, c := range cases {
		_, _, err := verify(p.view, p.rawSigned(c.header, c.claims))
		var e *Error
		if !errors.As(err, &e) || e.Code != ErrInvalidRequest || !strings.Contains(e.Description, c.want) {
			t.Errorf("%s: %v, want invalid_request naming %s", c.name, err, c.want)
		}
	}
	// The same tokens without the second member verify: the refusal is
	// the duplicate's.
	if _, _, err := verify(p.view, p.rawSigned(hdr, claimsJSON(t, ""))); err != nil {
		t.Fatalf("control SET: %v", err)
	}
	// Names are compared exactly, as JOSE does: "ISS" is another claim.
	if _, _, err := verify(p.view, p.rawSigned(hdr, claimsJSON(t, `,"ISS":"x"`))); err != nil {
		t.Fatalf("a claim differing in case only: %v", err)
	}
}

// Partner JWKs hold only the public members of their key type, exactly
// as spelled; private members are refused in any case.
func TestParseKeySetMembers(t *testing.T) {
	t.Parallel()
	p := newTestPartner(t)
	ed, _ := PublicJWK(p.ed, "ed1")
	ec, _ := PublicJWK(p.ec, "ec1")
	with := func(jwk json.RawMessage, extra string) string {
		return strings.TrimSuffix(string(jwk), "}") + extra + "}"
	}
	set := func(keys ...string) []byte { return []byte(`{"keys":[` + strings.Join(keys, ",") + `]}`) }
	good := map[string][]byte{
		"Ed25519":                  set(string(ed)),
		"P-256":                    set(string(ec)),
		"key_ops verify":           set(with(ed, `,"key_ops":["verify"]`)),
		"other members of the set": []byte(`{"keys":[` + string(ed) + `],"comment":"the set may have other members"}`),
	}
	for name, jwks := range good {
		if _, err := ParseKeySet(jwks); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	bad := []struct {
		name, want string
		jwks       []byte
	}{
		{"upper-case D", "private", set(with(ed, `,"D":"c2VjcmV0"`))},
		{"mixed-case Dp", "private", set(with(ec, `,"Dp":"c2VjcmV0"`))},
		{"upper-case K", "private", set(with(ed, `,"K":"c2VjcmV0"`))},
		{"PRIV", "private", set(with(ed, `,"PRIV":"c2VjcmV0"`))},
		{"Kid in another case", `"Kid"`, set(with(ed, `,"Kid":"other"`))},
		{"X in upper case", `"X"`, set(with(ed, `,"X":"AAAA"`))},
		{"y on an OKP key", `"y"`, set(with(ed, `,"y":"AAAA"`))},
		{"x5c", `"x5c"`, set(with(ed, `,"x5c":["MIIB"]`))},
		{"x5u", `"x5u"`, set(with(ec, `,"x5u":"https://attacker.example/cert"`))},
		{"ext", `"ext"`, set(with(ed, `,"ext":true`))},
		{"an unknown member", `"comment"`, set(with(ed, `,"comment":"hi"`))},
		{"key_ops sign", "key_ops", set(with(ed, `,"key_ops":["sign"]`))},
		{"key_ops not an array", "key_ops", set(with(ed, `,"key_ops":"verify"`))},
		{"x twice", `"x"`, set(with(ed, `,"x":"AAAA"`))},
		{"keys twice", `"keys"`, []byte(`{"keys":[],"keys":[` + string(ed) + `]}`)},
		{"kty in lower case", "kty must be", set(strings.Replace(string(ed), `"OKP"`, `"okp"`, 1))},
	}
	for _, c := range bad {
		if _, err := ParseKeySet(c.jwks); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %s", c.name, err, c.want)
		}
	}
}

// A key registered before the member rule, with a member it now refuses,
// keeps verifying: the stored JWKS is parsed leniently.
func TestStoredKeyWithExtraMembersStillVerifies(t *testing.T) {
	t.Parallel()
	p := newTestPartner(t)
	ed, _ := PublicJWK(p.ed, "ed1")
	p.view.JWKS = []byte(`{"keys":[` + strings.TrimSuffix(string(ed), "}") + `,"D":"c2VjcmV0","ext":true}]}`)
	if _, err := ParseKeySet(p.view.JWKS); err == nil {
		t.Fatal("ParseKeySet accepts the key; the test needs one it refuses")
	}
	if _, _, err := verify(p.view, p.signed(t, "EdDSA", claims("old-key"))); err != nil {
		t.Fatalf("a SET signed with the stored key: %v", err)
	}
}

// A subject that names a dot-only principal id is refused like any other
// invalid id.
func TestSETDotOnlySubject(t *testing.T) {
	t.Parallel()
	p := newTestPartner(t)
	for _, id := range []string{".", "..", "..."} {
		c := claims("dots-" + id)
		c["sub_id"] = map[string]any{"format": "opaque", "id": id}
		_, _, err := verify(p.view, p.signed(t, "EdDSA", c))
		var e *Error
		if !errors.As(err, &e) || e.Code != ErrInvalidRequest || !strings.Contains(e.Description, "not a principal id") {
			t.Errorf("subject %q: %v, want invalid_request", id, err)
		}
	}
}
