package federation

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"strings"

	"github.com/go-jose/go-jose/v4"

	"github.com/trustledger/trustledger/internal/input"
)

// MaxTokenBytes bounds a SET: larger bodies are refused before parsing.
const MaxTokenBytes = 64 << 10

// MediaType is the Content-Type of a pushed SET (RFC 8417 §7.2).
const MediaType = "application/secevent+jwt"

// Token is a SET parsed from its compact JWS form but not yet verified:
// nothing in it can be trusted until Verifier.Verify succeeds. It exposes
// what a recipient needs to choose the verification key.
type Token struct {
	// KeyID is the JWS header's kid.
	KeyID string
	// Algorithm is the JWS header's alg: "EdDSA", "ES256" or "RS256".
	Algorithm string
	// Issuer is the (unverified) iss claim.
	Issuer string

	jws    *jose.JSONWebSignature
	claims map[string]json.RawMessage
}

// Parse reads a SET in JWS compact serialization (RFC 7515 §7.1) — the
// body of an RFC 8935 push, surrounding white space ignored. It checks the
// header (alg EdDSA, ES256 or RS256, typ secevent+jwt, a kid, no crit) and that
// the payload is a JSON object with a string iss, and refuses anything
// else with an *Error: invalid_key for a missing kid or an algorithm that
// is not accepted, invalid_request for the rest.
func Parse(compact []byte) (*Token, error) { return parse(compact, checkSETType) }

// checkSETType accepts the typ of a SET only.
func checkSETType(typ string) error {
	if t := strings.ToLower(typ); t != "secevent+jwt" && t != MediaType {
		return refuse(ErrInvalidRequest, "typ must be \"secevent+jwt\" (RFC 8417 §2.3), not %q", clip(typ))
	}
	return nil
}

// parse is Parse with the header's typ checked by checkType.
func parse(compact []byte, checkType func(string) error) (*Token, error) {
	if len(compact) > MaxTokenBytes {
		return nil, refuse(ErrInvalidRequest, "the token exceeds %d bytes", MaxTokenBytes)
	}
	compact = bytes.TrimSpace(compact)
	parts := bytes.Split(compact, []byte("."))
	if len(parts) != 3 {
		return nil, refuse(ErrInvalidRequest, "not a JWS in compact serialization: want header.payload.signature, "+
			"got %d dot-separated parts", len(parts))
	}
	for i, p := range parts {
		if !isBase64URL(p) {
			return nil, refuse(ErrInvalidRequest, "JWS %s is not base64url without padding", partNames[i])
		}
	}
	hdr, hdrJSON, err := decodeObject(parts[0])
	if err != nil {
		return nil, refuse(ErrInvalidRequest, "the JWS header is not a JSON object")
	}
	if f := checkMembers(hdrJSON); f != nil {
		return nil, refuse(ErrInvalidRequest, "JWS header: %v (RFC 7515 §4: header parameter names must be unique)", f)
	}
	alg, algOK := stringMember(hdr, "alg")
	switch {
	case !algOK:
		return nil, refuse(ErrInvalidRequest, "the JWS header has no alg string")
	case alg != string(jose.EdDSA) && alg != string(jose.ES256) && alg != string(jose.RS256):
		return nil, refuse(ErrInvalidKey, "alg %q is not accepted: sign with EdDSA (Ed25519), ES256 (P-256) or RS256 (RSA, 2048 bits or more)", clip(alg))
	}
	typ, _ := stringMember(hdr, "typ")
	if err := checkType(typ); err != nil {
		return nil, err
	}
	kid, _ := stringMember(hdr, "kid")
	if kid == "" {
		return nil, refuse(ErrInvalidKey, "the JWS header has no kid: name the signing key registered in the partner's JWKS")
	}
	if _, ok := hdr["crit"]; ok {
		return nil, refuse(ErrInvalidRequest, "crit header parameters are not supported")
	}
	jws, err := jose.ParseSignedCompact(string(compact), acceptedAlgorithms)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, refuse(ErrInvalidRequest, "not a valid JWS: %v", err)
	}
	claims, claimsJSON, err := decodeObject(parts[1])
	if err != nil {
		return nil, refuse(ErrInvalidRequest, "the JWS payload is not a JSON object (a JWT claims set)")
	}
	if f := checkMembers(claimsJSON); f != nil {
		return nil, refuse(ErrInvalidRequest, "claims: %v (RFC 7519 §4: claim names must be unique)", f)
	}
	iss, ok := stringMember(claims, "iss")
	if !ok || iss == "" {
		return nil, refuse(ErrInvalidRequest, "iss is required and must be a string")
	}
	return &Token{KeyID: kid, Algorithm: alg, Issuer: iss, jws: jws, claims: claims}, nil
}

var partNames = [3]string{"header", "payload", "signature"}

func isBase64URL(b []byte) bool {
	for _, c := range b {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// decodeObject decodes base64url JSON that must be exactly one object;
// numbers keep their text (no float64). It returns the JSON text too.
func decodeObject(seg []byte) (map[string]json.RawMessage, []byte, error) {
	data := make([]byte, base64.RawURLEncoding.DecodedLen(len(seg)))
	n, err := base64.RawURLEncoding.Decode(data, seg)
	if err != nil {
		return nil, nil, err
	}
	m, err := decodeJSONObject(data[:n])
	return m, data[:n], err
}

// checkMembers checks the JSON text of a JWS header or claims set that
// decodeObject accepted: no object in it, at any depth, has a member twice
// (names compared exactly, as JOSE does), and every string is valid
// Unicode. encoding/json and go-jose both keep the last of two members of
// the same name, another parser may keep the first: a SET that says "iss"
// twice says two things.
func checkMembers(data []byte) *input.Fault {
	return input.CheckJSON(data, input.Options{})
}

func decodeJSONObject(data []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]json.RawMessage
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errNotObject
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errNotObject
	}
	return m, nil
}

type constError string

func (e constError) Error() string { return string(e) }

const errNotObject = constError("not a single JSON object")

// stringMember returns m[key] when it is a JSON string.
func stringMember(m map[string]json.RawMessage, key string) (string, bool) {
	raw, ok := m[key]
	if !ok {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// numberMember returns m[key] when it is a JSON number, as its text.
func numberMember(m map[string]json.RawMessage, key string) (string, bool) {
	raw, ok := m[key]
	if !ok {
		return "", false
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return "", false
	}
	var n json.Number
	if json.Unmarshal(raw, &n) != nil {
		return "", false
	}
	return n.String(), true
}

// clip shortens partner-supplied text quoted in descriptions.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
