package cluster

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func gossipTestKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, GossipKeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// A keyring set on a node is what its gossip runs with, is saved sealed in
// the identity directory, and is what the node comes back with after a
// restart on its data directory.
func TestSetGossipKeysPersistsSealed(t *testing.T) {
	t.Parallel()
	dir, addr, gaddr := t.TempDir(), freeAddr(t), freeAddr(t)
	cfg := testConfig(t, "node1", dir, addr, true)
	cfg.GossipAddr = gaddr
	cfg.EncryptionKeys = [][]byte{bytes.Repeat([]byte{7}, 32)}
	n := openNode(t, cfg)
	waitLeader(t, n)

	before, err := n.GossipKeys()
	if err != nil {
		t.Fatal(err)
	}
	if len(before) != 1 || !slices.Equal(n.GossipKeyIDs(), []string{GossipKeyID(before[0])}) {
		t.Fatalf("bootstrap keyring: %d keys, running %v", len(before), n.GossipKeyIDs())
	}
	k := gossipTestKey(t)
	steps := [][][]byte{
		{before[0], k}, // add
		{k, before[0]}, // make primary
		{k},            // drop the old key
	}
	for _, keys := range steps {
		if err := n.SetGossipKeys(keys); err != nil {
			t.Fatalf("SetGossipKeys(%v): %v", keyIDs(keys), err)
		}
		if got := n.GossipKeyIDs(); !slices.Equal(got, keyIDs(keys)) {
			t.Fatalf("running keyring %v, want %v", got, keyIDs(keys))
		}
		got, err := n.GossipKeys()
		if err != nil || !slices.EqualFunc(got, keys, bytes.Equal) {
			t.Fatalf("GossipKeys = %v, %v; want %v", keyIDs(got), err, keyIDs(keys))
		}
	}

	raw, err := os.ReadFile(filepath.Join(dir, identityDir, gossipKeyFile)) // #nosec G304 -- the test's own directory
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range [][]byte{k, before[0]} {
		if bytes.Contains(raw, key) || bytes.Contains(raw, []byte(base64.StdEncoding.EncodeToString(key))) {
			t.Fatal("the gossip keyring is stored in the clear with encryption at rest on")
		}
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}

	n2 := openNode(t, cfg)
	waitLeader(t, n2)
	if got := n2.GossipKeyIDs(); !slices.Equal(got, []string{GossipKeyID(k)}) {
		t.Fatalf("after restart the keyring is %v, want [%s]", got, GossipKeyID(k))
	}
}

// Keyrings that cannot be installed, and nodes whose keys are not the
// cluster's, are refused without changing anything.
func TestSetGossipKeysRefuses(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "node1", t.TempDir(), "127.0.0.1:0", true)
	cfg.GossipAddr = "127.0.0.1:0"
	n := openNode(t, cfg)
	waitLeader(t, n)
	was := n.GossipKeyIDs()
	k := gossipTestKey(t)
	nine := make([][]byte, 9)
	for i := range nine {
		nine[i] = gossipTestKey(t)
	}
	for name, keys := range map[string][][]byte{
		"none":      nil,
		"too many":  nine,
		"short key": {k[:15]},
		"twice":     {k, bytes.Clone(k)},
	} {
		if err := n.SetGossipKeys(keys); !errors.Is(err, ErrInvalidGossipKeys) {
			t.Errorf("%s: %v, want ErrInvalidGossipKeys", name, err)
		}
	}
	if got := n.GossipKeyIDs(); !slices.Equal(got, was) {
		t.Errorf("refused keyrings changed the running keyring: %v, was %v", got, was)
	}

	for name, tune := range map[string]func(*Config){
		"insecure":            func(c *Config) { c.Insecure = true },
		"operator gossip key": func(c *Config) { c.Insecure, c.GossipKey = true, gossipTestKey(t) },
	} {
		cfg := testConfig(t, "solo", t.TempDir(), "127.0.0.1:0", true)
		cfg.GossipAddr = "127.0.0.1:0"
		tune(&cfg)
		n := openNode(t, cfg)
		if err := n.SetGossipKeys([][]byte{k}); !errors.Is(err, ErrGossipKeysFixed) {
			t.Errorf("%s: SetGossipKeys: %v, want ErrGossipKeysFixed", name, err)
		}
		if _, err := n.GossipKeys(); !errors.Is(err, ErrGossipKeysFixed) {
			t.Errorf("%s: GossipKeys: %v, want ErrGossipKeysFixed", name, err)
		}
	}
}
