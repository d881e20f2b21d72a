package cluster

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
)

// Credentials the cluster keeps for calls to others — the Authorization
// header an SSF receiver asked its SETs to be pushed with, the token a
// partner's transmitter gave for its stream — travel in ledger entries,
// and ledger entries are served to auditors as they were written (their
// Merkle leaves). So they are sealed before they are proposed: AES-256-GCM
// under a key derived (HKDF-SHA-256) from the checkpoint signer key, which
// every voter holds and nothing else does (docs/threat-model.md). Only a
// voter — any voter, as any may lead — opens them.

// credentialPrefix marks a sealed credential and its format.
const credentialPrefix = "sealed:v1:"

var credentialAAD = []byte("trustledger credential v1")

// ErrNoCredentialKey is the refusal to seal or open a credential on a node
// without the checkpoint key (a read replica, a voter that has not fetched
// it yet).
var ErrNoCredentialKey = errors.New("this node holds no checkpoint key to seal or open credentials with; ask a voter")

func (n *Node) credentialAEAD() (cipher.AEAD, error) {
	n.ckpt.mu.Lock()
	skey := n.ckpt.skey
	n.ckpt.mu.Unlock()
	if skey == "" {
		return nil, ErrNoCredentialKey
	}
	key, err := hkdf.Key(sha256.New, []byte(skey), nil, "trustledger credential sealing key", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// SealCredential seals a credential for a ledger entry.
func (n *Node) SealCredential(plain string) (string, error) {
	if plain == "" {
		return "", nil
	}
	aead, err := n.credentialAEAD()
	if err != nil {
		return "", err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := aead.Seal(nonce, nonce, []byte(plain), credentialAAD)
	return credentialPrefix + base64.RawURLEncoding.EncodeToString(out), nil
}

// OpenCredential opens a credential SealCredential sealed.
func (n *Node) OpenCredential(sealed string) (string, error) {
	if sealed == "" {
		return "", nil
	}
	rest, ok := strings.CutPrefix(sealed, credentialPrefix)
	if !ok {
		return "", errors.New("not a sealed credential")
	}
	data, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return "", errors.New("not a sealed credential")
	}
	aead, err := n.credentialAEAD()
	if err != nil {
		return "", err
	}
	if len(data) < aead.NonceSize() {
		return "", errors.New("not a sealed credential")
	}
	plain, err := aead.Open(nil, data[:aead.NonceSize()], data[aead.NonceSize():], credentialAAD)
	if err != nil {
		return "", errors.New("the credential does not open with this cluster's key")
	}
	return string(plain), nil
}
