package cluster

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Shared Signals transmitter keys (docs/operations.md, "The data
// directory"). The leader signs the Security Event Tokens it pushes to SSF
// receivers with keys of its own: every node holds its own pair, made the
// first time it is asked for one (TransmitterSigner,
// TransmitterPublicJWKS, RotateTransmitterKeys) and loaded at every start
// after, and no private key is ever replicated. Only the public
// keys are published (TransmitterPublicJWKS), so that the cluster's JWKS
// lists every member's keys and a receiver verifies a SET whichever node
// signed it.
//
// A pair is an RSA-2048 key (RS256, the default: the CAEP
// Interoperability Profile requires it of transmitters) and a P-256 key
// (ES256). Rotation (RotateTransmitterKeys) makes a new current pair and
// keeps the previous one as retired, still published, so that SETs signed
// just before verify; the pair retired before it is dropped. A key's kid
// is its RFC 7638 JWK thumbprint (SHA-256, base64url).
//
// The keys live in <data-dir>/identity/transmitter.keys: PKCS #8 PEM
// blocks, each with the headers Alg (RS256, ES256), State (current,
// retired), Kid and Created, written with the node's sealer (sealed when
// encryption at rest is on, mode 0600, replaced atomically) and resealed
// by an at-rest key rotation like the other identity files.

// transmitterKeyFile holds the node's transmitter keys, in the identity
// directory.
const transmitterKeyFile = "transmitter.keys"

// The signature algorithms of the transmitter keys.
const (
	algRS256 = "RS256"
	algES256 = "ES256"
)

// transmitterAlgs are the algorithms of a pair, the default first.
var transmitterAlgs = []string{algRS256, algES256}

const (
	// transmitterRSABits is the size of the RSA keys made here (CAEP
	// Interoperability Profile: 2048 or more).
	transmitterRSABits = 2048
	// maxTransmitterRSABits bounds the RSA keys a key file may hold (as
	// receivers bound what they verify).
	maxTransmitterRSABits = 4096
)

const (
	stateCurrent = "current"
	stateRetired = "retired"
)

// ErrTransmitterAlg: a transmitter signer was asked for an algorithm the
// node has no key of.
var ErrTransmitterAlg = errors.New("unsupported transmitter signing algorithm: use RS256 or ES256")

// transmitterKey is one signing key.
type transmitterKey struct {
	alg     string
	key     crypto.Signer // *rsa.PrivateKey (RS256) or *ecdsa.PrivateKey (ES256)
	kid     string
	created time.Time
}

// transmitterPair is one key per algorithm, made together.
type transmitterPair map[string]*transmitterKey

// transmitterKeys holds the node's transmitter keys: the current pair and
// at most one retired pair.
type transmitterKeys struct {
	path string
	seal *sealer
	log  *slog.Logger

	mu      sync.Mutex
	current transmitterPair // nil until loaded or made
	retired transmitterPair // nil when none
	jwks    []byte          // the public keys, as TransmitterPublicJWKS returns them
}

// newTransmitterKey makes a key for alg.
func newTransmitterKey(alg string, now time.Time) (*transmitterKey, error) {
	var key crypto.Signer
	var err error
	switch alg {
	case algRS256:
		key, err = rsa.GenerateKey(rand.Reader, transmitterRSABits)
	case algES256:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return nil, ErrTransmitterAlg
	}
	if err != nil {
		return nil, fmt.Errorf("generate %s transmitter key: %w", alg, err)
	}
	return transmitterKeyOf(alg, key, now)
}

// transmitterKeyOf checks key against alg and computes its kid.
func transmitterKeyOf(alg string, key any, created time.Time) (*transmitterKey, error) {
	var signer crypto.Signer
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if alg != algRS256 {
			break
		}
		if b := k.N.BitLen(); b < transmitterRSABits || b > maxTransmitterRSABits {
			return nil, fmt.Errorf("RS256 key of %d bits; want %d to %d", b, transmitterRSABits, maxTransmitterRSABits)
		}
		signer = k
	case *ecdsa.PrivateKey:
		if alg != algES256 {
			break
		}
		if k.Curve != elliptic.P256() {
			return nil, errors.New("ES256 key not on P-256")
		}
		signer = k
	}
	if signer == nil {
		return nil, fmt.Errorf("a %T is not an %s key", key, alg)
	}
	tp, err := (&jose.JSONWebKey{Key: signer.Public()}).Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("%s key thumbprint: %w", alg, err)
	}
	return &transmitterKey{alg: alg, key: signer, kid: base64.RawURLEncoding.EncodeToString(tp), created: created.UTC()}, nil
}

// newTransmitterPair makes one key of each algorithm.
func newTransmitterPair() (transmitterPair, error) {
	now := time.Now().UTC().Truncate(time.Second)
	p := transmitterPair{}
	for _, alg := range transmitterAlgs {
		k, err := newTransmitterKey(alg, now)
		if err != nil {
			return nil, err
		}
		p[alg] = k
	}
	return p, nil
}

// kids lists a pair's kids in the order of transmitterAlgs.
func (p transmitterPair) kids() []string {
	var out []string
	for _, alg := range transmitterAlgs {
		if k := p[alg]; k != nil {
			out = append(out, k.kid)
		}
	}
	return out
}

// encodeTransmitterKeys is the key file's content: the current pair, then
// the retired one.
func encodeTransmitterKeys(current, retired transmitterPair) ([]byte, error) {
	var b bytes.Buffer
	for _, set := range []struct {
		state string
		pair  transmitterPair
	}{{stateCurrent, current}, {stateRetired, retired}} {
		for _, alg := range transmitterAlgs {
			k := set.pair[alg]
			if k == nil {
				continue
			}
			der, err := x509.MarshalPKCS8PrivateKey(k.key)
			if err != nil {
				return nil, fmt.Errorf("encode %s transmitter key: %w", alg, err)
			}
			blk := &pem.Block{Type: "PRIVATE KEY", Bytes: der, Headers: map[string]string{
				"Alg": alg, "State": set.state, "Kid": k.kid, "Created": k.created.Format(time.RFC3339)}}
			if err := pem.Encode(&b, blk); err != nil {
				return nil, err
			}
		}
	}
	return b.Bytes(), nil
}

// decodeTransmitterKeys parses the key file: a complete current pair and
// either a complete retired pair or none.
func decodeTransmitterKeys(data []byte) (current, retired transmitterPair, err error) {
	pairs := map[string]transmitterPair{stateCurrent: {}, stateRetired: {}}
	for n := 1; ; n++ {
		var blk *pem.Block
		blk, data = pem.Decode(data)
		if blk == nil {
			if len(bytes.TrimSpace(data)) > 0 {
				return nil, nil, fmt.Errorf("transmitter keys: data after key %d is not a PEM block", n-1)
			}
			break
		}
		if blk.Type != "PRIVATE KEY" {
			return nil, nil, fmt.Errorf("transmitter keys: block %d is a %q, not a PRIVATE KEY", n, blk.Type)
		}
		alg, state := blk.Headers["Alg"], blk.Headers["State"]
		pair, ok := pairs[state]
		if !ok {
			return nil, nil, fmt.Errorf("transmitter keys: key %d has state %q; want current or retired", n, state)
		}
		if !slices.Contains(transmitterAlgs, alg) {
			return nil, nil, fmt.Errorf("transmitter keys: key %d has alg %q; want RS256 or ES256", n, alg)
		}
		if pair[alg] != nil {
			return nil, nil, fmt.Errorf("transmitter keys: two %s %s keys", state, alg)
		}
		created, err := time.Parse(time.RFC3339, blk.Headers["Created"])
		if err != nil {
			return nil, nil, fmt.Errorf("transmitter keys: key %d: created: %w", n, err)
		}
		raw, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("transmitter keys: key %d: %w", n, err)
		}
		k, err := transmitterKeyOf(alg, raw, created)
		if err != nil {
			return nil, nil, fmt.Errorf("transmitter keys: key %d: %w", n, err)
		}
		if kid := blk.Headers["Kid"]; kid != k.kid {
			return nil, nil, fmt.Errorf("transmitter keys: key %d is labelled kid %q but its thumbprint is %q", n, kid, k.kid)
		}
		pair[alg] = k
	}
	current, retired = pairs[stateCurrent], pairs[stateRetired]
	if len(current) != len(transmitterAlgs) {
		return nil, nil, fmt.Errorf("transmitter keys: %d current keys; want one of each of %s", len(current), strings.Join(transmitterAlgs, ", "))
	}
	switch len(retired) {
	case 0:
		retired = nil
	case len(transmitterAlgs):
	default:
		return nil, nil, fmt.Errorf("transmitter keys: %d retired keys; want none or one of each of %s", len(retired), strings.Join(transmitterAlgs, ", "))
	}
	return current, retired, nil
}

// load reads the key file, if there is one.
func (t *transmitterKeys) load() error {
	b, err := t.seal.readFile(t.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read transmitter keys: %w", err)
	}
	cur, ret, err := decodeTransmitterKeys(b)
	if err != nil {
		return fmt.Errorf("%s: %w", t.path, err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.install(cur, ret)
}

// install makes cur and ret the keys in memory (t.mu held).
func (t *transmitterKeys) install(cur, ret transmitterPair) error {
	jwks, err := publicJWKS(cur, ret)
	if err != nil {
		return err
	}
	t.current, t.retired, t.jwks = cur, ret, jwks
	return nil
}

// save writes cur and ret to the key file (t.mu held).
func (t *transmitterKeys) save(cur, ret transmitterPair) error {
	data, err := encodeTransmitterKeys(cur, ret)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(t.path), 0o700); err != nil {
		return fmt.Errorf("create identity directory: %w", err)
	}
	if err := t.seal.writeFile(t.path, data); err != nil {
		return fmt.Errorf("write transmitter keys: %w", err)
	}
	return nil
}

// ensure makes and saves the first pair when there is none yet: on the
// first use of the keys, under t.mu, so that callers meanwhile wait for
// it and only one pair is made.
func (t *transmitterKeys) ensure() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.current != nil {
		return nil
	}
	p, err := newTransmitterPair()
	if err != nil {
		return err
	}
	if err := t.save(p, nil); err != nil {
		return err
	}
	if err := t.install(p, nil); err != nil {
		return err
	}
	t.log.Info("created this node's SSF transmitter signing keys", "kids", p.kids())
	return nil
}

// rotate makes a new current pair; the current one becomes the retired
// one, and the retired one goes (on a node without keys yet, the new pair
// is the first). The file is written before anything changes in memory: a
// failed write leaves the keys as they were.
func (t *transmitterKeys) rotate() error {
	// Made before taking the lock, so that signing goes on meanwhile.
	p, err := newTransmitterPair()
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	retired, dropped := t.current, t.retired
	if err := t.save(p, retired); err != nil {
		return err
	}
	if err := t.install(p, retired); err != nil {
		return err
	}
	t.log.Info("rotated this node's SSF transmitter signing keys", "kids", p.kids(), "retired_kids", retired.kids(),
		"dropped_kids", dropped.kids())
	return nil
}

// signer returns the current key of alg ("" for RS256).
func (t *transmitterKeys) signer(alg string) (crypto.Signer, string, error) {
	if alg == "" {
		alg = algRS256
	}
	if !slices.Contains(transmitterAlgs, alg) {
		return nil, "", fmt.Errorf("%w (got %q)", ErrTransmitterAlg, alg)
	}
	if err := t.ensure(); err != nil {
		return nil, "", err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	k := t.current[alg]
	return k.key, k.kid, nil
}

// publicJWKS returns the JWKS of the public halves of the keys of cur and
// ret: kid, alg and use "sig", sorted by kid, compact.
func publicJWKS(cur, ret transmitterPair) ([]byte, error) {
	var keys []jose.JSONWebKey
	for _, p := range []transmitterPair{cur, ret} {
		for _, k := range p {
			keys = append(keys, jose.JSONWebKey{Key: k.key.Public(), KeyID: k.kid, Algorithm: k.alg, Use: "sig"})
		}
	}
	slices.SortFunc(keys, func(a, b jose.JSONWebKey) int { return strings.Compare(a.KeyID, b.KeyID) })
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
	if err != nil {
		return nil, fmt.Errorf("encode transmitter JWKS: %w", err)
	}
	return b, nil
}

// openTransmitterKeys loads this node's transmitter keys when it has
// them: a key file that does not load fails the start. A node without
// keys makes them on first use (ensure) rather than here: an RSA-2048 key
// takes tens of milliseconds, up to a few hundred, to generate, and most
// nodes (every node of a test) never sign a SET.
func (n *Node) openTransmitterKeys() error {
	n.tx = &transmitterKeys{path: filepath.Join(n.ident.dir, transmitterKeyFile), seal: n.ident.seal, log: n.log}
	return n.tx.load()
}

// TransmitterSigner returns this node's current key for signing SETs as an
// SSF transmitter, and its kid: alg is "RS256" (the default, when "") or
// "ES256" (else ErrTransmitterAlg). The key is a *rsa.PrivateKey or
// *ecdsa.PrivateKey, as federation.Sign takes it. The node's first call
// makes its keys.
func (n *Node) TransmitterSigner(alg string) (crypto.Signer, string, error) {
	return n.tx.signer(alg)
}

// TransmitterPublicJWKS returns this node's transmitter public keys, the
// current pair and the retired one, as a JWKS ({"keys":[...]}, each with
// kid, alg and use "sig", sorted by kid, compact JSON). It holds no private
// member; the caller may keep the slice. The node's first call makes its
// keys; should that fail (the key file cannot be written), the error is
// logged and the set is empty.
func (n *Node) TransmitterPublicJWKS() []byte {
	if err := n.tx.ensure(); err != nil {
		n.log.Error("no SSF transmitter keys", "error", err)
		return []byte(`{"keys":[]}`)
	}
	n.tx.mu.Lock()
	defer n.tx.mu.Unlock()
	return bytes.Clone(n.tx.jwks)
}

// RotateTransmitterKeys makes a new pair of transmitter keys current. The
// pair it replaces is kept as retired, still published by
// TransmitterPublicJWKS, so that SETs signed just before verify; the pair
// retired before goes. The key file is replaced atomically.
func (n *Node) RotateTransmitterKeys() error { return n.tx.rotate() }
