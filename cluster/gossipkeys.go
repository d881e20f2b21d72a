package cluster

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/hashicorp/memberlist"
)

// Gossip key rotation (docs/operations.md, "Rotating the gossip key").
// The gossip keyring is part of the cluster identity: created at
// bootstrap, handed to joiners, kept in <data-dir>/identity/gossip.keys
// (sealed when encryption at rest is on). The leader rotates it on every
// member in three phases, as serf's key manager does — add the new key,
// make it primary, remove the old ones — each phase a SetGossipKeys on
// every member, so that no two members are ever without a key in common.

// Gossip keyring errors.
var (
	// ErrGossipKeysFixed: this node's gossip keys are not the cluster's
	// to change: it runs insecure, gossip is unencrypted, or the key comes
	// from the operator (Config.GossipKey, trustd --gossip-key-file).
	ErrGossipKeysFixed = errors.New("this node's gossip keys cannot be changed through the cluster")
	// ErrInvalidGossipKeys: a keyring that cannot be installed.
	ErrInvalidGossipKeys = errors.New("invalid gossip keyring")
)

// MaxGossipKeys is the most keys a gossip keyring holds: a primary and
// keys being rotated.
const MaxGossipKeys = maxGossipKeys

// GossipKeyID names a gossip key without revealing it: the first 8 hex
// digits of its SHA-256.
func GossipKeyID(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:4])
}

// GossipKeyIDs returns the ids (GossipKeyID) of the keys gossip runs
// with now, the primary first; nil when gossip is off or unencrypted.
func (n *Node) GossipKeyIDs() []string {
	g := n.gossipNow()
	if g == nil || g.ring == nil {
		return nil
	}
	return keyIDs(g.ring.GetKeys())
}

func keyIDs(keys [][]byte) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = GossipKeyID(k)
	}
	return out
}

// checkGossipKeysManaged reports whether the node's gossip keyring is the
// cluster identity's, which SetGossipKeys may change.
func (n *Node) checkGossipKeysManaged() (*identityState, error) {
	switch {
	case n.cfg.Insecure:
		return nil, fmt.Errorf("%w: it runs insecure (--insecure)", ErrGossipKeysFixed)
	case len(n.cfg.GossipKey) > 0:
		return nil, fmt.Errorf("%w: its gossip key is the operator's (--gossip-key-file); change the file on every node instead", ErrGossipKeysFixed)
	case n.cfg.RaftTLS != nil:
		return nil, fmt.Errorf("%w: it uses the operator's PKI and gossips unencrypted", ErrGossipKeysFixed)
	}
	st := n.ident.current()
	if st == nil || st.cert == nil {
		return nil, ErrNoIdentity
	}
	return st, nil
}

// GossipKeys returns a copy of the node's gossip keyring, the primary
// first: the keys gossip runs with, or, while gossip is off, the keys it
// will start with. It fails with ErrGossipKeysFixed when the keyring is
// not the cluster's to change (see SetGossipKeys).
func (n *Node) GossipKeys() ([][]byte, error) {
	st, err := n.checkGossipKeysManaged()
	if err != nil {
		return nil, err
	}
	keys := st.gossipKeys
	if g := n.gossipNow(); g != nil && g.ring != nil {
		keys = g.ring.GetKeys()
	}
	return cloneKeys(keys), nil
}

// SetGossipKeys replaces the node's gossip keyring with keys, the first
// the primary (gossip encrypts with it and decrypts with any of them). The
// keyring is saved in the identity directory first, sealed when
// encryption at rest is on, so a restarted node comes back with it; then
// the running gossip switches to it. The keys must be 1 to 8 distinct
// AES keys (16, 24 or 32 bytes). Only a node whose keyring is the cluster
// identity's accepts it: ErrGossipKeysFixed when it runs insecure, with
// the operator's PKI or with the operator's gossip key; ErrNoIdentity
// before it has joined.
func (n *Node) SetGossipKeys(keys [][]byte) error {
	if err := validGossipKeys(keys); err != nil {
		return err
	}
	keys = cloneKeys(keys)
	n.gossipMu.Lock() // no gossip starts with the old keys meanwhile
	defer n.gossipMu.Unlock()
	if n.isClosed() {
		return ErrClosed
	}
	st, err := n.checkGossipKeysManaged()
	if err != nil {
		return err
	}
	if err := n.ident.saveGossipKeys(keys); err != nil {
		return err
	}
	next := *st
	next.gossipKeys = keys
	n.ident.mu.Lock()
	n.ident.state = &next
	n.ident.mu.Unlock()
	if g := n.gossipNow(); g != nil {
		if err := g.useKeys(keys); err != nil {
			// Keep what is on disk and what gossip runs with the same.
			if rerr := n.ident.saveGossipKeys(st.gossipKeys); rerr != nil {
				n.log.Error("restoring the gossip keyring after a failed change", "error", rerr)
			}
			n.ident.mu.Lock()
			n.ident.state = st
			n.ident.mu.Unlock()
			return err
		}
	}
	n.log.Info("gossip keyring changed", "primary", GossipKeyID(keys[0]), "keys", keyIDs(keys))
	return nil
}

// validGossipKeys checks a keyring SetGossipKeys is given.
func validGossipKeys(keys [][]byte) error {
	if len(keys) == 0 || len(keys) > maxGossipKeys {
		return fmt.Errorf("%w: %d keys; want 1 to %d", ErrInvalidGossipKeys, len(keys), maxGossipKeys)
	}
	for i, k := range keys {
		if err := memberlist.ValidateKey(k); err != nil {
			return fmt.Errorf("%w: key %d: %w", ErrInvalidGossipKeys, i, err)
		}
		for _, prev := range keys[:i] {
			if bytes.Equal(prev, k) {
				return fmt.Errorf("%w: key %d (%s) is listed twice", ErrInvalidGossipKeys, i, GossipKeyID(k))
			}
		}
	}
	return nil
}

func cloneKeys(keys [][]byte) [][]byte {
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = bytes.Clone(k)
	}
	return out
}

// saveGossipKeys writes the keyring file of the identity directory as
// save does: sealed when encryption at rest is on, 0600, synced and
// renamed into place.
func (i *identity) saveGossipKeys(keys [][]byte) error {
	if err := i.seal.writeFile(filepath.Join(i.dir, gossipKeyFile), encodeKeyring(keys)); err != nil {
		return fmt.Errorf("save the gossip keyring: %w", err)
	}
	return nil
}
