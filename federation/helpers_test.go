package federation

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trustledger/trustledger/fsm"
)

// testNow is the clock of the tests (a fixed instant keeps them exact).
var testNow = time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)

const (
	testIssuer   = "https://idp.partner.example"
	testAudience = "https://trustledger.example"
)

// testPartner is a registered partner with an Ed25519 key (kid "ed1") and
// a P-256 key (kid "ec1").
type testPartner struct {
	view fsm.PartnerView
	ed   ed25519.PrivateKey
	ec   *ecdsa.PrivateKey
	rsa  *rsa.PrivateKey
}

// testRSAKey is one 2048-bit RSA key for every test partner (generating
// one is slow).
var testRSAKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func newTestPartner(t testing.TB) *testPartner {
	t.Helper()
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edJWK, err := PublicJWK(ed, "ed1")
	if err != nil {
		t.Fatal(err)
	}
	ecJWK, err := PublicJWK(ec, "ec1")
	if err != nil {
		t.Fatal(err)
	}
	rsaJWK, err := PublicJWK(testRSAKey(), "rsa1")
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := json.Marshal(map[string]any{"keys": []json.RawMessage{edJWK, ecJWK, rsaJWK}})
	return &testPartner{ed: ed, ec: ec, rsa: testRSAKey(), view: fsm.PartnerView{PartnerID: "p1", Issuer: testIssuer, Audience: testAudience,
		JWKS: jwks, Weight: "0.5", MaxInfluence: "10", Status: "active"}}
}

// claims returns a valid claims set about principal alice with one
// trust-assessment event.
func claims(jti string) map[string]any {
	iat := testNow.Unix()
	return map[string]any{
		"iss": testIssuer, "aud": testAudience, "iat": iat, "jti": jti,
		"sub_id": map[string]any{"format": "opaque", "id": "alice"},
		"events": map[string]any{EventTrustAssessment: map[string]any{"score": 42.5, "validUntil": iat + 3600}},
	}
}

// signed signs c with the partner's key for alg ("EdDSA" or "ES256").
func (p *testPartner) signed(t testing.TB, alg string, c map[string]any) string {
	t.Helper()
	var (
		tok string
		err error
	)
	switch alg {
	case "ES256":
		tok, err = Sign(p.ec, "ec1", c)
	case "RS256":
		tok, err = Sign(p.rsa, "rsa1", c)
	default:
		tok, err = Sign(p.ed, "ed1", c)
	}
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func b64JSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b64(b)
}

// crafted signs a hand-made header and claims with the partner's Ed25519
// key, for tokens go-jose would not produce.
func (p *testPartner) crafted(t testing.TB, header map[string]any, c map[string]any) string {
	t.Helper()
	input := b64JSON(t, header) + "." + b64JSON(t, c)
	return input + "." + b64(ed25519.Sign(p.ed, []byte(input)))
}

// hs256WithPublicKey is the classic algorithm-confusion forgery: HS256
// keyed with the partner's public key bytes.
func (p *testPartner) hs256WithPublicKey(t testing.TB, c map[string]any) string {
	t.Helper()
	input := b64JSON(t, map[string]any{"alg": "HS256", "typ": "secevent+jwt", "kid": "ed1"}) + "." + b64JSON(t, c)
	mac := hmac.New(sha256.New, p.ed.Public().(ed25519.PublicKey))
	mac.Write([]byte(input))
	return input + "." + b64(mac.Sum(nil))
}

// unsigned is an alg "none" token.
func unsigned(t testing.TB, c map[string]any) string {
	t.Helper()
	return b64JSON(t, map[string]any{"alg": "none", "typ": "secevent+jwt", "kid": "ed1"}) + "." + b64JSON(t, c) + "."
}

// tamper flips one character of the token's signature.
func tamper(tok string) string {
	i := strings.LastIndexByte(tok, '.') + 5
	c := byte('A')
	if tok[i] == 'A' {
		c = 'B'
	}
	return tok[:i] + string(c) + tok[i+1:]
}

// verify runs Parse, Verify and Command as the API does.
func verify(p fsm.PartnerView, token string) (*SET, *fsm.FederatedEvent, error) {
	var v Verifier
	tok, err := Parse([]byte(token))
	if err != nil {
		return nil, nil, err
	}
	set, err := v.Verify(tok, p, Window{Now: testNow})
	if err != nil {
		return nil, nil, err
	}
	cmd, err := set.Command(p.PartnerID)
	return set, cmd, err
}

func signEd(p *testPartner, input string) []byte { return ed25519.Sign(p.ed, []byte(input)) }
