package federation

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/go-jose/go-jose/v4"

	"github.com/trustledger/trustledger/internal/input"
)

// Accepted signature algorithms: EdDSA, ES256, and RS256, which the CAEP
// Interoperability Profile requires of receivers (with keys of 2048 bits or
// more). Nothing else is ever passed to go-jose, so "none", HMAC (including
// HMAC keyed with a public key), RSA-PSS and the other curves are refused
// while parsing.
var acceptedAlgorithms = []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256, jose.RS256}

// RSA verification keys: at least MinRSABits (CAEP Interoperability
// Profile), at most MaxRSABits (what a verification may cost), exponent
// 65537.
const (
	MinRSABits = 2048
	MaxRSABits = 4096
)

// privateMembers are JWK members that carry private or symmetric key
// material (RFC 7518 §6, RFC 8037), in lower case: they are refused in any
// case.
var privateMembers = []string{"d", "k", "p", "q", "dp", "dq", "qi", "oth", "priv"}

// publicMembers are the members a public key of each accepted type may
// have, exactly as spelled: its public parameters (RFC 8037 §2 for OKP,
// RFC 7518 §6.2.1 for EC) and kid, use, alg and key_ops (RFC 7517 §4).
// Anything else — a private parameter, the X.509 members, a member in
// another case ("D", "Kid") — is refused, so what is registered, stored
// and replicated is the public key and nothing more.
var publicMembers = map[string][]string{
	"OKP": {"kty", "crv", "x", "kid", "use", "alg", "key_ops"},
	"EC":  {"kty", "crv", "x", "y", "kid", "use", "alg", "key_ops"},
	"RSA": {"kty", "n", "e", "kid", "use", "alg", "key_ops"},
}

// KeySet is a partner's verification keys, parsed from its registered
// JSON Web Key Set.
type KeySet struct {
	keys []verificationKey
}

type verificationKey struct {
	kid string
	alg jose.SignatureAlgorithm // the algorithm the key type implies
	key any                     // ed25519.PublicKey, *ecdsa.PublicKey (P-256) or *rsa.PublicKey
}

// Len returns the number of usable keys.
func (s *KeySet) Len() int { return len(s.keys) }

// ParseKeySet parses a JWKS ({"keys": [JWK, ...]}) strictly, as partner
// registration needs: every key must be a public Ed25519 (kty OKP, crv
// Ed25519), P-256 (kty EC, crv P-256) or RSA (kty RSA, 2048 to 4096 bits,
// exponent 65537) key with a kid unique in the set; "use", when present,
// must be "sig" and "alg", when present, must be the key type's algorithm
// (EdDSA, ES256 or RS256). Private or symmetric key material
// is refused, so a partner's secret never reaches the replicated state, and
// so is any member that is not a public member of the key's type, exactly
// as spelled (see publicMembers), and any member given twice.
// An empty set is valid (the partner cannot deliver until it has a key).
func ParseKeySet(jwks []byte) (*KeySet, error) {
	if f := input.CheckJSON(jwks, input.Options{}); f != nil {
		return nil, fmt.Errorf("%v", f) // a member twice: encoding/json and go-jose keep the last, others the first
	}
	raws, err := splitKeySet(jwks)
	if err != nil {
		return nil, err
	}
	s := &KeySet{}
	seen := map[string]bool{}
	for i, raw := range raws {
		k, err := parseKey(raw, true)
		if err != nil {
			return nil, fmt.Errorf("keys[%d]: %w", i, err)
		}
		if seen[k.kid] {
			return nil, fmt.Errorf("keys[%d]: kid %q is used twice", i, k.kid)
		}
		seen[k.kid] = true
		s.keys = append(s.keys, k)
	}
	return s, nil
}

// usableKeys parses a stored JWKS leniently: keys ParseKeySet would refuse
// are skipped (a JWKS registered before the strict check may hold some).
func usableKeys(jwks []byte) *KeySet {
	s := &KeySet{}
	raws, err := splitKeySet(jwks)
	if err != nil {
		return s
	}
	for _, raw := range raws {
		if k, err := parseKey(raw, false); err == nil {
			s.keys = append(s.keys, k)
		}
	}
	return s
}

func splitKeySet(jwks []byte) ([]json.RawMessage, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(jwks, &set); err != nil || set.Keys == nil {
		return nil, fmt.Errorf("not a JSON Web Key Set: want {\"keys\": [JWK, ...]}")
	}
	return set.Keys, nil
}

// parseKey parses one JWK. strict is for registration (checkMemberNames);
// without it, for keys already registered, only the checks that applied
// when they were registered are made, so a partner keeps verifying with
// the keys it had.
func parseKey(raw json.RawMessage, strict bool) (verificationKey, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil || members == nil {
		return verificationKey{}, fmt.Errorf("not a JSON object")
	}
	if strict {
		if err := checkMemberNames(members); err != nil {
			return verificationKey{}, err
		}
	} else {
		for _, m := range privateMembers {
			if _, ok := members[m]; ok {
				return verificationKey{}, fmt.Errorf("holds private or symmetric key material (%q)", m)
			}
		}
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(raw); err != nil {
		return verificationKey{}, fmt.Errorf("not a usable JWK: %v", err)
	}
	k := verificationKey{kid: jwk.KeyID}
	switch pub := jwk.Key.(type) {
	case ed25519.PublicKey:
		k.alg, k.key = jose.EdDSA, pub
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() {
			return verificationKey{}, fmt.Errorf("EC keys must be on P-256 (ES256), not %s", pub.Curve.Params().Name)
		}
		k.alg, k.key = jose.ES256, pub
	case *rsa.PublicKey:
		if bits := pub.N.BitLen(); bits < MinRSABits || bits > MaxRSABits {
			return verificationKey{}, fmt.Errorf("RSA keys must have %d to %d bits, not %d", MinRSABits, MaxRSABits, bits)
		}
		if pub.E != 65537 {
			return verificationKey{}, fmt.Errorf("RSA keys must have the exponent 65537, not %d", pub.E)
		}
		k.alg, k.key = jose.RS256, pub
	default:
		return verificationKey{}, fmt.Errorf("kty must be OKP (Ed25519), EC (P-256) or RSA (RS256)")
	}
	switch {
	case k.kid == "":
		return verificationKey{}, fmt.Errorf("kid is required: SETs name their key by kid")
	case jwk.Use != "" && jwk.Use != "sig":
		return verificationKey{}, fmt.Errorf("use must be \"sig\", not %q", jwk.Use)
	case jwk.Algorithm != "" && jwk.Algorithm != string(k.alg):
		return verificationKey{}, fmt.Errorf("alg %q does not match the key type (%s)", jwk.Algorithm, k.alg)
	}
	return k, nil
}

// checkMemberNames checks the members of one JWK: no private or symmetric
// key material in any case, and only the public members of its kty
// (publicMembers), exactly as spelled; key_ops, when present, is
// ["verify"].
func checkMemberNames(members map[string]json.RawMessage) error {
	for _, name := range sortedNames(members) {
		if slices.Contains(privateMembers, strings.ToLower(name)) {
			return fmt.Errorf("holds private or symmetric key material (%q); register the public key only", clip(name))
		}
	}
	var kty string
	if json.Unmarshal(members["kty"], &kty) != nil || publicMembers[kty] == nil {
		return fmt.Errorf("kty must be OKP (Ed25519), EC (P-256) or RSA (RS256)")
	}
	allowed := publicMembers[kty]
	for _, name := range sortedNames(members) {
		if !slices.Contains(allowed, name) {
			return fmt.Errorf("member %q is not a member of a public %s key; a public %s key has only %s (names are case-sensitive)",
				clip(name), kty, kty, strings.Join(allowed, ", "))
		}
	}
	if ops, ok := members["key_ops"]; ok {
		var list []string
		if json.Unmarshal(ops, &list) != nil || len(list) != 1 || list[0] != "verify" {
			return fmt.Errorf("key_ops, when present, must be [\"verify\"]: the key only verifies SETs")
		}
	}
	return nil
}

func sortedNames(m map[string]json.RawMessage) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// lookup returns the key named kid that signs with alg.
func (s *KeySet) lookup(kid string, alg jose.SignatureAlgorithm) (any, bool) {
	for _, k := range s.keys {
		if k.kid == kid && k.alg == alg {
			return k.key, true
		}
	}
	return nil, false
}

// keyCache holds each partner's parsed keys, reparsed when the registered
// JWKS changes. It holds at most one entry per partner it has seen.
type keyCache struct {
	mu sync.Mutex
	m  map[string]cachedKeys
}

type cachedKeys struct {
	jwks []byte
	set  *KeySet
}

func (c *keyCache) get(partnerID string, jwks []byte) *KeySet {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[partnerID]; ok && bytes.Equal(e.jwks, jwks) {
		return e.set
	}
	set := usableKeys(jwks)
	if c.m == nil {
		c.m = map[string]cachedKeys{}
	}
	c.m[partnerID] = cachedKeys{jwks: bytes.Clone(jwks), set: set}
	return set
}

// MaxFetchedKeys bounds the keys kept of a fetched JWKS.
const MaxFetchedKeys = 32

// PublicKeySet reads a JWKS a transmitter publishes (its jwks_uri) and
// returns the set of its usable keys — public Ed25519, P-256 and RSA keys
// with a kid (see parseKey) — re-encoded with their public members, kid,
// alg and use only: what registration stores, whatever else the
// transmitter's JWKS carries (x5c, other key types). A set without a
// usable key is valid (the partner cannot deliver until a refresh finds
// one), one that is not a JWKS is not.
func PublicKeySet(jwks []byte) ([]byte, error) {
	raws, err := splitKeySet(jwks)
	if err != nil {
		return nil, err
	}
	out := []json.RawMessage{}
	seen := map[string]bool{}
	for _, raw := range raws {
		k, err := parseKey(raw, false)
		if err != nil || seen[k.kid] || len(out) == MaxFetchedKeys {
			continue
		}
		seen[k.kid] = true
		b, err := (&jose.JSONWebKey{Key: k.key, KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"}).MarshalJSON()
		if err != nil {
			continue
		}
		out = append(out, b)
	}
	return json.Marshal(map[string]any{"keys": out})
}
