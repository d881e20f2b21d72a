package federation

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// Partner registration accepts public Ed25519 and P-256 keys with unique
// kids, and nothing else — above all no private key material.
func TestParseKeySet(t *testing.T) {
	p := newTestPartner(t)
	ed, _ := PublicJWK(p.ed, "ed1")
	ec, _ := PublicJWK(p.ec, "ec1")
	edPriv, _ := (&jose.JSONWebKey{Key: p.ed, KeyID: "x"}).MarshalJSON()
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384JWK, _ := (&jose.JSONWebKey{Key: p384.Public(), KeyID: "x"}).MarshalJSON()
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsaJWK, _ := (&jose.JSONWebKey{Key: rsaKey.Public(), KeyID: "x"}).MarshalJSON()
	rsaPS, _ := (&jose.JSONWebKey{Key: rsaKey.Public(), KeyID: "x", Algorithm: "PS256"}).MarshalJSON()
	small, _ := rsa.GenerateKey(rand.Reader, 1024) // #nosec G403 -- the key the test expects refused
	smallJWK, _ := (&jose.JSONWebKey{Key: small.Public(), KeyID: "s"}).MarshalJSON()
	e3 := rsaKey.PublicKey
	e3.E = 3
	e3JWK, _ := (&jose.JSONWebKey{Key: &e3, KeyID: "e3"}).MarshalJSON()
	set := func(keys ...string) []byte { return []byte(`{"keys":[` + strings.Join(keys, ",") + `]}`) }
	var edMap map[string]any
	_ = json.Unmarshal(ed, &edMap)
	// edWith is the Ed25519 JWK with members changed (nil: removed).
	edWith := func(kv ...any) string {
		m := map[string]any{}
		for kk, vv := range edMap {
			m[kk] = vv
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
			} else {
				m[kv[i].(string)] = kv[i+1]
			}
		}
		b, _ := json.Marshal(m)
		return string(b)
	}

	good := []struct {
		name string
		jwks []byte
		n    int
	}{
		{"both kinds", set(string(ed), string(ec)), 2},
		{"RSA 2048 (RS256)", set(string(rsaJWK)), 1},
		{"empty", set(), 0},
		{"no use or alg", set(edWith("use", nil, "alg", nil)), 1},
	}
	for _, c := range good {
		ks, err := ParseKeySet(c.jwks)
		if err != nil || ks.Len() != c.n {
			t.Errorf("%s: %v (%d keys)", c.name, err, ks.Len())
		}
	}
	bad := []struct {
		name, want string
		jwks       []byte
	}{
		{"not a set", "JSON Web Key Set", []byte(`[]`)},
		{"no keys member", "JSON Web Key Set", []byte(`{}`)},
		{"private Ed25519", "private", set(string(edPriv))},
		{"symmetric", "private", set(`{"kty":"oct","k":"c2VjcmV0","kid":"h"}`)},
		{"RSA 1024", "2048 to 4096 bits", set(string(smallJWK))},
		{"RSA exponent 3", "exponent 65537", set(string(e3JWK))},
		{"RSA for PS256", "does not match", set(string(rsaPS))},
		{"RSA private", "private", set(`{"kty":"RSA","n":"AQAB","e":"AQAB","d":"AQAB","kid":"p"}`)},
		{"P-384", "P-256", set(string(p384JWK))},
		{"no kid", "kid is required", set(edWith("kid", nil))},
		{"duplicate kid", "used twice", set(string(ed), edWith("x", edMap["x"]))},
		{"use enc", "use must be", set(edWith("use", "enc"))},
		{"alg mismatch", "does not match", set(edWith("alg", "ES256"))},
		{"not on the curve", "usable JWK", set(`{"kty":"EC","crv":"P-256","kid":"e","x":"AQ","y":"Ag"}`)},
		{"key not an object", "JSON object", set(`5`)},
	}
	for _, c := range bad {
		if _, err := ParseKeySet(c.jwks); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
	}
}

// Signing keys load from PEM (openssl genpkey) and JWK; public keys and
// other algorithms are refused.
func TestParseSigningKey(t *testing.T) {
	p := newTestPartner(t)
	der, _ := x509.MarshalPKCS8PrivateKey(p.ed)
	edPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	ecDER, _ := x509.MarshalECPrivateKey(p.ec)
	ecPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER})
	ecJWK, _ := (&jose.JSONWebKey{Key: p.ec, KeyID: "ec1"}).MarshalJSON()
	pub, _ := PublicJWK(p.ed, "ed1")
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 1024) // #nosec G403 -- the key the test expects refused
	rsaDER, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	rsaPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: rsaDER})
	rsa2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	der2048, _ := x509.MarshalPKCS8PrivateKey(rsa2048)
	if k, _, err := ParseSigningKey(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der2048})); err != nil || !k.(*rsa.PrivateKey).Equal(rsa2048) {
		t.Errorf("RSA 2048 PEM: %v", err)
	}

	if k, kid, err := ParseSigningKey(edPEM); err != nil || kid != "" || !k.(ed25519.PrivateKey).Equal(p.ed) {
		t.Errorf("Ed25519 PEM: %v", err)
	}
	if k, _, err := ParseSigningKey(ecPEM); err != nil || !k.(*ecdsa.PrivateKey).Equal(p.ec) {
		t.Errorf("EC PEM: %v", err)
	}
	if _, kid, err := ParseSigningKey(ecJWK); err != nil || kid != "ec1" {
		t.Errorf("EC JWK: %v %q", err, kid)
	}
	for name, data := range map[string][]byte{"public JWK": pub, "RSA 1024": rsaPEM, "garbage": []byte("nope"),
		"certificate": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}})} {
		if _, _, err := ParseSigningKey(data); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := Sign(rsaKey, "r", map[string]any{}); err == nil {
		t.Error("Sign with RSA 1024: accepted")
	}
	if _, err := Sign(rsa2048, "r", map[string]any{}); err != nil {
		t.Errorf("Sign with RSA 2048: %v", err)
	}
	if _, err := Sign(p.ed, "", map[string]any{}); err == nil {
		t.Error("Sign without kid: accepted")
	}
}
