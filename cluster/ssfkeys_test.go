package cluster

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/trustledger/trustledger/federation"
)

// testSET is the claims of a SET signed in these tests.
func testSET(jti string) map[string]any {
	return map[string]any{"iss": "https://trustledger.test", "aud": "https://receiver.test", "iat": time.Now().Unix(),
		"jti": jti, "events": map[string]any{"https://schemas.openid.net/secevent/caep/event-type/session-revoked": map[string]any{}}}
}

// signedSET is a SET signed with the node's current key of alg, and that
// key's kid.
func signedSET(t *testing.T, n *Node, alg, jti string) (tok, kid string) {
	t.Helper()
	key, kid, err := n.TransmitterSigner(alg)
	if err != nil {
		t.Fatalf("TransmitterSigner(%q): %v", alg, err)
	}
	tok, err = federation.Sign(key, kid, testSET(jti))
	if err != nil {
		t.Fatalf("sign a SET with the %s key: %v", alg, err)
	}
	return tok, kid
}

// verifySET checks tok with go-jose against the key of jwks its kid names;
// it returns the kid, or an error.
func verifySET(t *testing.T, jwks []byte, tok string) (string, error) {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(jwks, &set); err != nil {
		t.Fatalf("parse the JWKS: %v", err)
	}
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		t.Fatalf("parse the SET: %v", err)
	}
	h := jws.Signatures[0].Header
	keys := set.Key(h.KeyID)
	if len(keys) != 1 {
		return h.KeyID, errors.New("the JWKS has no key of the SET's kid")
	}
	if keys[0].Algorithm != h.Algorithm {
		return h.KeyID, errors.New("the JWKS key's alg " + keys[0].Algorithm + " is not the SET's " + h.Algorithm)
	}
	payload, err := jws.Verify(keys[0])
	if err != nil {
		return h.KeyID, err
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil || claims["jti"] == nil {
		return h.KeyID, errors.New("the verified payload is not the SET's claims")
	}
	return h.KeyID, nil
}

// jwksKids are the kids a JWKS lists, in its order.
func jwksKids(t *testing.T, jwks []byte) []string {
	t.Helper()
	var doc struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(jwks, &doc); err != nil {
		t.Fatalf("parse the JWKS %s: %v", jwks, err)
	}
	var kids []string
	for _, k := range doc.Keys {
		kids = append(kids, k.Kid)
	}
	return kids
}

// sortedKids returns kids sorted.
func sortedKids(kids ...string) []string { return slices.Sorted(slices.Values(kids)) }

// A node makes its transmitter keys at first start — RSA-2048 for RS256,
// the default, and P-256 for ES256, kid the RFC 7638 thumbprint — in a
// 0600 file of its identity directory, and finds the same keys there after
// a restart.
func TestTransmitterKeysGenerateAndReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := testConfig(t, "node1", dir, freeAddr(t), true)
	n := openNode(t, cfg)

	rs, rsKid, err := n.TransmitterSigner("")
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := rs.(*rsa.PrivateKey); !ok || k.N.BitLen() != 2048 {
		t.Fatalf("the default signer is a %T, want a 2048-bit *rsa.PrivateKey", rs)
	}
	if k, kid, err := n.TransmitterSigner("RS256"); err != nil || k != rs || kid != rsKid {
		t.Fatalf("RS256 is not the default signer: %v", err)
	}
	ec, ecKid, err := n.TransmitterSigner("ES256")
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := ec.(*ecdsa.PrivateKey); !ok || k.Curve != elliptic.P256() {
		t.Fatalf("the ES256 signer is a %T, want a P-256 *ecdsa.PrivateKey", ec)
	}
	for _, alg := range []string{"HS256", "EdDSA", "rs256", "PS256", "none"} {
		if _, _, err := n.TransmitterSigner(alg); !errors.Is(err, ErrTransmitterAlg) {
			t.Errorf("TransmitterSigner(%q): %v, want %v", alg, err, ErrTransmitterAlg)
		}
	}
	for _, c := range []struct {
		key crypto.Signer
		kid string
	}{{rs, rsKid}, {ec, ecKid}} {
		tp, err := (&jose.JSONWebKey{Key: c.key.Public()}).Thumbprint(crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if want := base64.RawURLEncoding.EncodeToString(tp); c.kid != want {
			t.Errorf("kid %q, want the RFC 7638 thumbprint %q", c.kid, want)
		}
	}
	jwks := n.TransmitterPublicJWKS()
	if got, want := jwksKids(t, jwks), sortedKids(rsKid, ecKid); !slices.Equal(got, want) {
		t.Fatalf("JWKS kids %v, want %v", got, want)
	}

	path := filepath.Join(dir, identityDir, transmitterKeyFile)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", transmitterKeyFile, fi.Mode().Perm())
	}
	raw, err := os.ReadFile(path) // #nosec G304 -- the test's own directory
	if err != nil {
		t.Fatal(err)
	}
	if got := bytes.Count(raw, []byte("-----BEGIN PRIVATE KEY-----")); got != 2 {
		t.Fatalf("%s holds %d PKCS #8 keys, want 2 (without encryption at rest it is plaintext PEM)", transmitterKeyFile, got)
	}

	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n = openNode(t, cfg)
	waitLeader(t, n)
	if _, kid, _ := n.TransmitterSigner(""); kid != rsKid {
		t.Errorf("RS256 kid after restart %q, want %q", kid, rsKid)
	}
	if _, kid, _ := n.TransmitterSigner("ES256"); kid != ecKid {
		t.Errorf("ES256 kid after restart %q, want %q", kid, ecKid)
	}
	if got := n.TransmitterPublicJWKS(); !bytes.Equal(got, jwks) {
		t.Errorf("JWKS after restart\n%s\nwant\n%s", got, jwks)
	}
	after, _ := os.ReadFile(path) // #nosec G304 -- the test's own directory
	if !bytes.Equal(after, raw) {
		t.Error("the restart rewrote the key file")
	}
}

// Rotation makes a new current pair and keeps the previous pair as
// retired, still published; the next rotation drops it. SETs signed just
// before a rotation still verify against the JWKS; the rotations persist.
func TestTransmitterKeysRotate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := testConfig(t, "node1", dir, freeAddr(t), true)
	cfg.Insecure = true // the keys do not depend on the cluster identity
	n := openNode(t, cfg)

	tok0, rs0 := signedSET(t, n, "RS256", "set-0")
	_, ec0 := signedSET(t, n, "ES256", "set-0e")
	if err := n.RotateTransmitterKeys(); err != nil {
		t.Fatal(err)
	}
	tok1, rs1 := signedSET(t, n, "RS256", "set-1")
	tok1e, ec1 := signedSET(t, n, "ES256", "set-1e")
	if rs1 == rs0 || ec1 == ec0 {
		t.Fatal("rotation kept the current keys")
	}
	jwks := n.TransmitterPublicJWKS()
	if got, want := jwksKids(t, jwks), sortedKids(rs0, ec0, rs1, ec1); !slices.Equal(got, want) {
		t.Fatalf("after one rotation the JWKS lists %v, want current and retired %v", got, want)
	}
	for _, tok := range []string{tok0, tok1, tok1e} {
		if kid, err := verifySET(t, jwks, tok); err != nil {
			t.Errorf("SET signed with %s: %v", kid, err)
		}
	}

	if err := n.RotateTransmitterKeys(); err != nil {
		t.Fatal(err)
	}
	_, rs2 := signedSET(t, n, "RS256", "set-2")
	_, ec2 := signedSET(t, n, "ES256", "set-2e")
	jwks = n.TransmitterPublicJWKS()
	if got, want := jwksKids(t, jwks), sortedKids(rs1, ec1, rs2, ec2); !slices.Equal(got, want) {
		t.Fatalf("after two rotations the JWKS lists %v, want %v (the first pair dropped)", got, want)
	}
	if _, err := verifySET(t, jwks, tok1); err != nil {
		t.Errorf("a SET signed before the last rotation: %v", err)
	}
	if _, err := verifySET(t, jwks, tok0); err == nil {
		t.Error("a SET signed with a dropped key still verifies")
	}

	raw, err := os.ReadFile(filepath.Join(dir, identityDir, transmitterKeyFile)) // #nosec G304 -- the test's own directory
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), rs0) || strings.Contains(string(raw), ec0) {
		t.Error("the key file still holds the dropped pair")
	}
	if got := bytes.Count(raw, []byte("-----BEGIN PRIVATE KEY-----")); got != 4 {
		t.Fatalf("the key file holds %d keys, want 4 (current and retired pairs)", got)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n = openNode(t, cfg)
	if got := n.TransmitterPublicJWKS(); !bytes.Equal(got, jwks) {
		t.Errorf("JWKS after restart\n%s\nwant\n%s", got, jwks)
	}
	if _, kid, _ := n.TransmitterSigner(""); kid != rs2 {
		t.Errorf("current RS256 kid after restart %q, want %q", kid, rs2)
	}

	// A node that has no keys yet rotates to its first pair: nothing is
	// retired.
	fresh := &transmitterKeys{path: filepath.Join(t.TempDir(), identityDir, transmitterKeyFile), log: slog.New(slog.DiscardHandler)}
	if err := fresh.rotate(); err != nil {
		t.Fatal(err)
	}
	if fresh.current == nil || fresh.retired != nil || len(jwksKids(t, fresh.jwks)) != 2 {
		t.Fatalf("the first rotation: %d keys published, retired %v", len(jwksKids(t, fresh.jwks)), fresh.retired.kids())
	}
	reloaded := &transmitterKeys{path: fresh.path, log: fresh.log}
	if err := reloaded.load(); err != nil || !bytes.Equal(reloaded.jwks, fresh.jwks) {
		t.Fatalf("reload the first rotation's keys: %v", err)
	}
}

// The JWKS is public keys only, with kid, alg and use; sorted by kid,
// compact; every key verifies a SET its signer signed with federation.Sign,
// and only that one; the federation receiver's strict parser takes it.
func TestTransmitterPublicJWKSHasNoPrivateMembers(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "node1", t.TempDir(), freeAddr(t), true)
	cfg.Insecure = true
	n := openNode(t, cfg)
	old := map[string]string{}
	for _, alg := range []string{"RS256", "ES256"} {
		tok, kid := signedSET(t, n, alg, "old-"+alg)
		old[kid] = tok
	}
	if err := n.RotateTransmitterKeys(); err != nil {
		t.Fatal(err)
	}
	toks := map[string]string{}
	for kid, tok := range old {
		toks[kid] = tok
	}
	for _, alg := range []string{"RS256", "ES256"} {
		tok, kid := signedSET(t, n, alg, "new-"+alg)
		toks[kid] = tok
	}

	jwks := n.TransmitterPublicJWKS()
	var compact bytes.Buffer
	if err := json.Compact(&compact, jwks); err != nil || !bytes.Equal(compact.Bytes(), jwks) {
		t.Errorf("the JWKS is not compact JSON: %s", jwks)
	}
	var doc struct {
		Keys []map[string]json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(jwks, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Keys) != 4 {
		t.Fatalf("%d keys, want 4", len(doc.Keys))
	}
	allowed := map[string][]string{"RSA": {"kty", "kid", "alg", "use", "n", "e"}, "EC": {"kty", "kid", "alg", "use", "crv", "x", "y"}}
	for _, k := range doc.Keys {
		var kty, alg, use string
		_ = json.Unmarshal(k["kty"], &kty)
		_ = json.Unmarshal(k["alg"], &alg)
		_ = json.Unmarshal(k["use"], &use)
		for _, priv := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
			if _, ok := k[priv]; ok {
				t.Errorf("a published key has the private member %q", priv)
			}
		}
		for m := range k {
			if !slices.Contains(allowed[kty], m) {
				t.Errorf("the %s key %s has the member %q", kty, k["kid"], m)
			}
		}
		if want := map[string]string{"RSA": "RS256", "EC": "ES256"}[kty]; alg != want || use != "sig" {
			t.Errorf("a %s key has alg %q use %q, want %q and sig", kty, alg, use, want)
		}
	}
	kids := jwksKids(t, jwks)
	if !slices.IsSorted(kids) {
		t.Errorf("kids not sorted: %v", kids)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(jwks, &set); err != nil {
		t.Fatal(err)
	}
	for _, k := range set.Keys {
		if !k.IsPublic() {
			t.Errorf("key %s is not public", k.KeyID)
		}
		tok, ok := toks[k.KeyID]
		if !ok {
			t.Fatalf("no SET was signed with key %s", k.KeyID)
		}
		if kid, err := verifySET(t, jwks, tok); err != nil || kid != k.KeyID {
			t.Errorf("key %s: the SET signed with it: kid %s, %v", k.KeyID, kid, err)
		}
		// Control: the SET does not verify with the other keys.
		jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range set.Keys {
			if o.KeyID == k.KeyID {
				continue
			}
			if _, err := jws.Verify(o); err == nil {
				t.Errorf("the SET signed with %s verifies with %s", k.KeyID, o.KeyID)
			}
		}
	}
	ks, err := federation.ParseKeySet(jwks)
	if err != nil || ks.Len() != 4 {
		t.Fatalf("federation.ParseKeySet: %v", err)
	}
}

// With encryption at rest the key file is sealed, and an at-rest key
// rotation reseals it with the new key; the keys survive both.
func TestTransmitterKeysSealedAtRestAndRewrapped(t *testing.T) {
	t.Parallel()
	oldKey, newKey := testKey(t), testKey(t)
	dir := t.TempDir()
	cfg := testConfig(t, "node1", dir, freeAddr(t), true)
	cfg.EncryptionKeys = [][]byte{oldKey}
	n := openNode(t, cfg)
	waitLeader(t, n)
	jwks := n.TransmitterPublicJWKS()
	path := filepath.Join(dir, identityDir, transmitterKeyFile)
	ok, _ := newAtRestKey(oldKey)
	nk, _ := newAtRestKey(newKey)
	raw, err := os.ReadFile(path) // #nosec G304 -- the test's own directory
	if err != nil {
		t.Fatal(err)
	}
	if !sealedWith(ok, raw) || bytes.Contains(raw, []byte("PRIVATE KEY")) || bytes.Contains(raw, []byte("RS256")) {
		t.Fatalf("%s is not sealed with the at-rest key", transmitterKeyFile)
	}

	if err := n.ReloadEncryptionKeys([][]byte{newKey, oldKey}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, func() bool {
		st := n.EncryptionStatus()
		return st.KeysInUse == 1 && !st.Rewrapping
	}, "the rewrap to finish")
	raw, _ = os.ReadFile(path) // #nosec G304 -- the test's own directory
	if !sealedWith(nk, raw) {
		t.Fatalf("%s was not resealed with the new at-rest key", transmitterKeyFile)
	}
	alone, _ := newSealer(newKey)
	plain, err := alone.readFile(path)
	if err != nil {
		t.Fatalf("open the resealed file with the new key alone: %v", err)
	}
	if cur, ret, err := decodeTransmitterKeys(plain); err != nil {
		t.Fatal(err)
	} else if got, _ := publicJWKS(cur, ret); !bytes.Equal(got, jwks) {
		t.Fatalf("the resealed file holds other keys:\n%s\nwant\n%s", got, jwks)
	}
	// A rotation of the transmitter keys seals with the new primary too.
	if err := n.RotateTransmitterKeys(); err != nil {
		t.Fatal(err)
	}
	jwks = n.TransmitterPublicJWKS()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	raw, _ = os.ReadFile(path) // #nosec G304 -- the test's own directory
	if !sealedWith(nk, raw) || bytes.Contains(raw, []byte("PRIVATE KEY")) {
		t.Fatalf("%s after the transmitter key rotation is not sealed with the new at-rest key", transmitterKeyFile)
	}
	if stale, total := notSealedWith(t, dir, newKey); stale != 0 || total == 0 {
		t.Fatalf("%d of %d records are not sealed with the new key", stale, total)
	}

	cfg.EncryptionKeys = [][]byte{newKey}
	n = openNode(t, cfg)
	if got := n.TransmitterPublicJWKS(); !bytes.Equal(got, jwks) {
		t.Errorf("JWKS after restart with the new at-rest key alone\n%s\nwant\n%s", got, jwks)
	}
}

// A key file that is not what this node writes fails the start, rather
// than being replaced with new keys.
func TestTransmitterKeyFileRefused(t *testing.T) {
	t.Parallel()
	pair, err := newTransmitterPair()
	if err != nil {
		t.Fatal(err)
	}
	good, err := encodeTransmitterKeys(pair, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cur, ret, err := decodeTransmitterKeys(good); err != nil || ret != nil ||
		cur[algRS256].kid != pair[algRS256].kid || cur[algES256].kid != pair[algES256].kid {
		t.Fatalf("decode what encode wrote: %v", err)
	}
	small, err := rsa.GenerateKey(rand.Reader, 1024) // #nosec G403 -- the key that must be refused
	if err != nil {
		t.Fatal(err)
	}
	smallKey := &transmitterKey{alg: algRS256, key: small, kid: "x", created: time.Now()}
	onlyRetiredRSA, _ := encodeTransmitterKeys(pair, transmitterPair{algRS256: pair[algRS256]})
	tooSmall, _ := encodeTransmitterKeys(transmitterPair{algRS256: smallKey, algES256: pair[algES256]}, nil)
	swapped, _ := encodeTransmitterKeys(transmitterPair{algRS256: &transmitterKey{alg: algRS256, key: pair[algES256].key,
		kid: pair[algES256].kid, created: time.Now()}, algES256: pair[algES256]}, nil)
	for name, data := range map[string][]byte{
		"empty":               nil,
		"one key":             good[:bytes.Index(good, []byte("-----END PRIVATE KEY-----"))+len("-----END PRIVATE KEY-----\n")],
		"two current pairs":   append(slices.Clone(good), good...),
		"half a retired pair": onlyRetiredRSA,
		"a relabelled kid":    bytes.Replace(good, []byte("Kid: "+pair[algRS256].kid), []byte("Kid: "+pair[algES256].kid), 1),
		"an unknown state":    bytes.Replace(good, []byte("State: current"), []byte("State: next"), 1),
		"an unknown alg":      bytes.Replace(good, []byte("Alg: ES256"), []byte("Alg: ES384"), 1),
		"trailing text":       append(slices.Clone(good), "junk\n"...),
		"RSA-1024":            tooSmall,
		"an EC key as RS256":  swapped,
	} {
		if _, _, err := decodeTransmitterKeys(data); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}

	dir := t.TempDir()
	cfg := testConfig(t, "node1", dir, freeAddr(t), true)
	cfg.Insecure = true
	n := openNode(t, cfg)
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, identityDir, transmitterKeyFile)
	if err := os.WriteFile(path, good[:len(good)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	if m, err := Open(cfg); err == nil || !strings.Contains(err.Error(), transmitterKeyFile) {
		if err == nil {
			_ = m.Close()
		}
		t.Fatalf("start with a damaged key file: %v, want an error naming it", err)
	}
}
