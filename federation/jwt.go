package federation

import (
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/trustledger/trustledger/fsm"
)

// A gateway may name the principal it asks about (GET /v1/authz) with the
// user's own token instead of a header: a JWT signed by an identity
// provider registered as a federation partner (its issuer, audience and
// JWKS). The token's sub is the principal.

// ParseJWT reads a user's JWT in JWS compact serialization. Its typ must be
// absent, "JWT" or "at+jwt" (RFC 9068): a Security Event Token
// (secevent+jwt) is not a user's token, whatever it says (RFC 8725 §3.11).
func ParseJWT(compact []byte) (*Token, error) {
	return parse(compact, func(typ string) error {
		switch strings.ToLower(typ) {
		case "", "jwt", "at+jwt", "application/at+jwt":
			return nil
		}
		return refuse(ErrInvalidRequest, "typ %q is not a user's token (JWT or at+jwt)", clip(typ))
	})
}

// JWTSkew is how far a user token's nbf and iat may be ahead of the clock.
const JWTSkew = time.Minute

// VerifyJWT checks a parsed user token against partner p: the signature
// (the key of p's JWKS named by kid), iss (p's issuer), aud (contains p's
// audience), exp (required, not passed), nbf and iat (when present, not
// ahead of now by more than JWTSkew), and sub (required, a principal id).
// It returns sub. Every refusal is an *Error.
func (v *Verifier) VerifyJWT(tok *Token, p fsm.PartnerView, now time.Time) (string, error) {
	if tok.Issuer != p.Issuer {
		return "", refuse(ErrInvalidIssuer, "iss %q is not the issuer registered for partner %q", clip(tok.Issuer), p.PartnerID)
	}
	key, ok := v.keys.get(p.PartnerID, p.JWKS).lookup(tok.KeyID, jose.SignatureAlgorithm(tok.Algorithm))
	if !ok {
		return "", refuse(ErrInvalidKey, "partner %q has no %s key with kid %q", p.PartnerID, tok.Algorithm, clip(tok.KeyID))
	}
	if _, err := tok.jws.Verify(key); err != nil {
		return "", refuse(ErrAuthenticationFailed, "the signature does not verify with key %q", clip(tok.KeyID))
	}
	c := tok.claims
	aud, ok := audience(c["aud"])
	if !ok || !containsString(aud, p.Audience) {
		return "", refuse(ErrInvalidAudience, "aud must contain %q, the audience registered for partner %q", p.Audience, p.PartnerID)
	}
	ms := now.UnixMilli()
	exp, ok := numericDate(c, "exp")
	if !ok {
		return "", refuse(ErrInvalidRequest, "exp is required: a NumericDate")
	}
	if exp <= ms {
		return "", refuse(ErrInvalidRequest, "the token expired at %s", fsm.FormatTime(exp))
	}
	for _, name := range []string{"nbf", "iat"} {
		if _, present := c[name]; !present {
			continue
		}
		t, ok := numericDate(c, name)
		if !ok || t > ms+JWTSkew.Milliseconds() {
			return "", refuse(ErrInvalidRequest, "%s must be a NumericDate not ahead of now", name)
		}
	}
	sub, ok := stringMember(c, "sub")
	if !ok || sub == "" {
		return "", refuse(ErrInvalidRequest, "sub is required: the principal id")
	}
	return sub, nil
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
