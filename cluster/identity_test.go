package cluster

import (
	"bytes"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trustledger/trustledger/fsm"
	"github.com/trustledger/trustledger/internal/pki"
)

// A bootstrapping node creates the cluster identity; restarted on its data
// directory it keeps it, and a joined node restarted keeps replicating
// over mutual TLS with its own.
func TestIdentitySurvivesRestart(t *testing.T) {
	t.Parallel()
	dir1, dir2 := t.TempDir(), t.TempDir()
	addr1, addr2 := freeAddr(t), freeAddr(t)
	n1 := openNode(t, testConfig(t, "node1", dir1, addr1, true))
	waitLeader(t, n1)
	caPEM, fp := n1.ClusterCA()
	if fp == "" || !n1.HasIdentity() || !strings.HasPrefix(fp, "sha256:") {
		t.Fatalf("bootstrap identity: %q %v", fp, n1.HasIdentity())
	}
	n2 := openNode(t, testConfig(t, "node2", dir2, addr2, false))
	if n2.HasIdentity() {
		t.Fatal("a joining node has an identity before it joined")
	}
	addVoter(t, n1, n2)
	mustApply(t, n1, &fsm.SetOrg{OrgID: "before", Base: fsm.Point})
	cert2, err := os.ReadFile(filepath.Join(dir2, identityDir, nodeCertFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []*Node{n2, n1} {
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
	}
	n1 = openNode(t, testConfig(t, "node1", dir1, addr1, true))
	n2 = openNode(t, testConfig(t, "node2", dir2, addr2, false))
	if pem, fp2 := n1.ClusterCA(); fp2 != fp || !bytes.Equal(pem, caPEM) {
		t.Fatalf("node1's CA changed at restart: %s, was %s", fp2, fp)
	}
	if _, fp2 := n2.ClusterCA(); fp2 != fp || !n2.HasIdentity() {
		t.Fatalf("node2's identity after restart: %s %v", fp2, n2.HasIdentity())
	}
	if again, _ := os.ReadFile(filepath.Join(dir2, identityDir, nodeCertFile)); !bytes.Equal(again, cert2) {
		t.Fatal("node2's certificate changed at restart")
	}
	var leader *Node
	eventually(t, 10*time.Second, func() bool {
		for _, n := range []*Node{n1, n2} {
			if n.IsLeader() {
				leader = n
				return true
			}
		}
		return false
	}, "a leader after the restart")
	res := mustApply(t, leader, &fsm.SetOrg{OrgID: "after", Base: fsm.Point})
	converged(t, []*Node{n1, n2}, res.Index)
}

// With encryption at rest the identity's keys are sealed on disk.
func TestIdentityKeysSealedAtRest(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := testConfig(t, "node1", dir, "127.0.0.1:0", true)
	cfg.EncryptionKeys = [][]byte{bytes.Repeat([]byte{3}, EncryptionKeySize)}
	n := openNode(t, cfg)
	waitLeader(t, n)
	for _, f := range []string{caKeyFile, nodeKeyFile, gossipKeyFile} {
		b, err := os.ReadFile(filepath.Join(dir, identityDir, f))
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 || b[0] != sealedFormat || bytes.Contains(b, []byte("PRIVATE KEY")) {
			t.Errorf("%s is not sealed", f)
		}
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopened with the key, the identity loads.
	n = openNode(t, cfg)
	if !n.HasIdentity() {
		t.Fatal("the sealed identity did not load")
	}
}

// InstallIdentity takes only an identity made for this node's pending key
// and id, from the pinned CA.
func TestInstallIdentityRefusesWhatDoesNotFit(t *testing.T) {
	t.Parallel()
	n1 := openLeader(t, t.TempDir(), "127.0.0.1:0")
	n2 := openNode(t, testConfig(t, "node2", t.TempDir(), "127.0.0.1:0", false))
	_, pin := n1.ClusterCA()

	if err := n2.InstallIdentity(IdentityGrant{NodeID: "node2"}, ""); !errors.Is(err, ErrIdentityMismatch) {
		t.Fatalf("no pending request: %v", err)
	}
	req, err := n2.NewIdentityRequest()
	if err != nil {
		t.Fatal(err)
	}
	grant := func(r IdentityRequest) IdentityGrant {
		g, err := n1.IssueIdentity(r)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	// Another node's certificate (its own key).
	n3 := openNode(t, testConfig(t, "node3", t.TempDir(), "127.0.0.1:0", false))
	req3, err := n3.NewIdentityRequest()
	if err != nil {
		t.Fatal(err)
	}
	g3 := grant(req3)
	g3.NodeID = "node2"
	if err := n2.InstallIdentity(g3, pin); !errors.Is(err, ErrIdentityMismatch) {
		t.Fatalf("a certificate for another key: %v", err)
	}
	// The right certificate, but a pin of another CA.
	other, err := pki.NewCA("other", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := n2.InstallIdentity(grant(req), pki.Fingerprint(other.Cert.Raw)); !errors.Is(err, ErrIdentityMismatch) {
		t.Fatalf("another CA pinned: %v", err)
	}
	// A certificate the grant's CA did not sign.
	g := grant(req)
	g.CACertificate = pki.EncodeCert(other.Cert.Raw)
	if err := n2.InstallIdentity(g, ""); !errors.Is(err, ErrIdentityMismatch) {
		t.Fatalf("a CA that did not sign the certificate: %v", err)
	}
	if n2.HasIdentity() {
		t.Fatal("a refused identity was installed")
	}
	if err := n2.InstallIdentity(grant(req), pin); err != nil {
		t.Fatalf("the right identity: %v", err)
	}
	// Once installed, another one is refused.
	other2 := grant(req)
	other2.CACertificate = pki.EncodeCert(other.Cert.Raw)
	if err := n2.InstallIdentity(other2, ""); !errors.Is(err, ErrIdentityExists) {
		t.Fatalf("a second identity: %v", err)
	}
	// Once node2 is a member, nobody gets a certificate for its id: it
	// would let the holder speak Raft as node2.
	addVoter(t, n1, n2)
	if _, err := n1.IssueIdentity(req); !errors.Is(err, ErrMemberConflict) {
		t.Fatalf("a certificate for a member's id: %v", err)
	}
	// The CA key goes to voters of the configuration only, from the
	// leader.
	if n2.HasCAKey() {
		t.Fatal("a joined voter holds the CA key before asking for it")
	}
	key, err := n1.CAKeyFor("node2")
	if err != nil {
		t.Fatalf("CA key for a voter: %v", err)
	}
	if _, err := n1.CAKeyFor("node3"); !errors.Is(err, ErrUnknownMember) {
		t.Fatalf("CA key for a node that only has a certificate: %v", err)
	}
	if err := n2.InstallCAKey([]byte("not a key")); err == nil || n2.HasCAKey() {
		t.Fatalf("a bad CA key installed: %v", err)
	}
	if err := n2.InstallCAKey(key); err != nil || !n2.HasCAKey() {
		t.Fatalf("install the CA key: %v", err)
	}
	// A follower does not sign.
	var nl *NotLeaderError
	if _, err := n2.IssueIdentity(req3); !errors.As(err, &nl) && !errors.Is(err, ErrNoLeader) {
		t.Fatalf("a follower signed: %v", err)
	}
}

// A connection to the Raft port that never completes its TLS handshake is
// closed at the handshake deadline.
func TestRaftHandshakeDeadline(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "node1", t.TempDir(), "127.0.0.1:0", true)
	cfg.handshakeTimeout = 300 * time.Millisecond
	n := openNode(t, cfg)
	waitLeader(t, n)
	conn, err := net.Dial("tcp", n.RaftAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err == nil {
		t.Fatal("the raft port sent data to a client that sent none")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("a silent raft connection stayed open %v", d)
	}
}
