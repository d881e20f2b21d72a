package federation

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/go-jose/go-jose/v4"
)

// Sign signs claims (a JWT claims set; any value that marshals to a JSON
// object) as a SET: compact JWS with typ secevent+jwt and kid, EdDSA for
// an ed25519.PrivateKey, ES256 for a P-256 *ecdsa.PrivateKey. It is what a
// partner — or trustctl federation send, or a test — uses to produce a SET
// this package verifies.
func Sign(key crypto.Signer, kid string, claims any) (string, error) {
	var alg jose.SignatureAlgorithm
	switch k := key.(type) {
	case ed25519.PrivateKey:
		alg = jose.EdDSA
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return "", errors.New("sign SET: EC keys must be on P-256 (ES256)")
		}
		alg = jose.ES256
	case *rsa.PrivateKey:
		if k.N.BitLen() < MinRSABits {
			return "", fmt.Errorf("sign SET: RSA keys must have %d bits or more", MinRSABits)
		}
		alg = jose.RS256
	default:
		return "", fmt.Errorf("sign SET: unsupported key type %T: use Ed25519, P-256 or RSA", key)
	}
	if kid == "" {
		return "", errors.New("sign SET: a kid is required")
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("sign SET: encode claims: %w", err)
	}
	opts := (&jose.SignerOptions{}).WithType("secevent+jwt").WithHeader(jose.HeaderKey("kid"), kid)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		return "", fmt.Errorf("sign SET: %w", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign SET: %w", err)
	}
	return jws.CompactSerialize()
}

// ParseSigningKey reads a partner's private key: a PEM "PRIVATE KEY"
// (PKCS #8, as openssl genpkey writes) or "EC PRIVATE KEY", or a private
// JWK. It returns the key and the kid the JWK names ("" for PEM). Only
// Ed25519, P-256 and RSA (2048 to 4096 bits) keys are accepted.
func ParseSigningKey(data []byte) (crypto.Signer, string, error) {
	if block, _ := pem.Decode(data); block != nil {
		var key any
		var err error
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		default:
			return nil, "", fmt.Errorf("PEM block %q is not a private key", block.Type)
		}
		if err != nil {
			return nil, "", fmt.Errorf("parse private key: %w", err)
		}
		s, err := signingKey(key)
		return s, "", err
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(data); err != nil {
		return nil, "", fmt.Errorf("not a PEM private key or a JWK: %w", err)
	}
	if jwk.IsPublic() {
		return nil, "", errors.New("the JWK is a public key; signing needs the private key")
	}
	s, err := signingKey(jwk.Key)
	return s, jwk.KeyID, err
}

func signingKey(key any) (crypto.Signer, error) {
	switch k := key.(type) {
	case ed25519.PrivateKey:
		return k, nil
	case *ecdsa.PrivateKey:
		if k.Curve == elliptic.P256() {
			return k, nil
		}
	case *rsa.PrivateKey:
		if b := k.N.BitLen(); b >= MinRSABits && b <= MaxRSABits {
			return k, nil
		}
	}
	return nil, fmt.Errorf("unsupported private key %T: use Ed25519, P-256 or RSA of %d to %d bits", key, MinRSABits, MaxRSABits)
}

// PublicJWK returns the public JWK of a signing key, with kid, for a
// partner's JWKS.
func PublicJWK(key crypto.Signer, kid string) (json.RawMessage, error) {
	if _, err := signingKey(key); err != nil {
		return nil, err
	}
	alg := jose.EdDSA
	switch key.(type) {
	case *ecdsa.PrivateKey:
		alg = jose.ES256
	case *rsa.PrivateKey:
		alg = jose.RS256
	}
	jwk := jose.JSONWebKey{Key: key.Public(), KeyID: kid, Algorithm: string(alg), Use: "sig"}
	return jwk.MarshalJSON()
}
