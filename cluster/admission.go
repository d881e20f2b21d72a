package cluster

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
	"github.com/trustledger/trustledger/internal/pki"
)

// Admission: how a node gets the cluster identity (identity.go) when it
// joins — its certificate request, the leader signing it, the joiner
// installing the grant — and how a voter gets the CA key.

// IdentityRequest is what a node asks the cluster for when it joins.
type IdentityRequest struct {
	// NodeID is the node's id; the certificate will name it.
	NodeID string
	// CSR is the node's PEM certificate request (its public key and the
	// hosts its API is reached at).
	CSR []byte
	// Voter tells whether the node joins as a voter.
	Voter bool
}

// IdentityGrant is the identity the cluster hands a joining node.
type IdentityGrant struct {
	NodeID string
	// Certificate is the node's PEM certificate; CACertificate the cluster
	// CA's. The CA key is not part of it: a voter fetches it from the
	// leader once it is a member (CAKeyFor).
	Certificate, CACertificate []byte
	// GossipKeys is the gossip keyring, the primary key first.
	GossipKeys [][]byte
	// Members are the node ids of the Raft configuration.
	Members []string
}

// HasIdentity reports whether the node holds a certificate (its own, the
// operator's, or none needed when insecure).
func (n *Node) HasIdentity() bool {
	if n.cfg.Insecure {
		return true
	}
	st := n.ident.current()
	return st != nil && st.cert != nil
}

// ClusterCA returns the cluster CA certificate (PEM) and its fingerprint;
// both empty when the node has none (insecure, or not joined yet, or an
// operator's PKI).
func (n *Node) ClusterCA() (pemBytes []byte, fingerprint string) {
	st := n.ident.current()
	if st == nil || st.byo {
		return nil, ""
	}
	return st.caPEM, st.fingerprint
}

// NewIdentityRequest returns this node's certificate request for joining
// a cluster. The private key stays in memory until InstallIdentity.
func (n *Node) NewIdentityRequest() (IdentityRequest, error) {
	if n.cfg.Insecure || n.cfg.RaftTLS != nil {
		return IdentityRequest{}, errors.New("this node uses no automatic identity")
	}
	if n.HasIdentity() {
		return IdentityRequest{}, ErrIdentityExists
	}
	key, err := n.ident.pendingKey()
	if err != nil {
		return IdentityRequest{}, err
	}
	csr, err := pki.NewCSR(key, n.cfg.NodeID, identityHosts(n.cfg))
	if err != nil {
		return IdentityRequest{}, err
	}
	return IdentityRequest{NodeID: n.cfg.NodeID, CSR: csr, Voter: n.cfg.Voter}, nil
}

// IssueIdentity signs a joining node's certificate request and returns
// its identity (docs/operations.md, "Joining"). It runs on the leader;
// elsewhere it answers *NotLeaderError or ErrNoLeader so the caller can
// forward. The caller has authenticated the request (operator role); the
// certificate names req.NodeID whatever the request says.
func (n *Node) IssueIdentity(req IdentityRequest) (IdentityGrant, error) {
	if n.isClosed() {
		return IdentityGrant{}, ErrClosed
	}
	if !n.IsLeader() {
		return IdentityGrant{}, n.notLeader()
	}
	st := n.ident.current()
	if st == nil || st.ca == nil {
		return IdentityGrant{}, ErrNoClusterCA
	}
	if err := (Peer{ID: req.NodeID, RaftAddr: "x:1"}).Validate(); err != nil {
		return IdentityGrant{}, fmt.Errorf("%w: %w", ErrInvalidPeer, err)
	}
	conf, err := n.configuration()
	if err != nil {
		return IdentityGrant{}, err
	}
	for _, s := range conf.Servers {
		// A certificate for a member's id would let its holder speak Raft
		// as that member.
		if string(s.ID) == req.NodeID {
			return IdentityGrant{}, fmt.Errorf("%w: node %s is a member of the cluster; it keeps its certificate in its data directory. "+
				"To give it a new one (a lost data directory), remove it first (trustctl cluster remove %s)",
				ErrMemberConflict, req.NodeID, req.NodeID)
		}
	}
	csr, err := pki.ParseCSR(req.CSR)
	if err != nil {
		return IdentityGrant{}, fmt.Errorf("%w: csr: %w", ErrInvalidPeer, err)
	}
	certPEM, err := st.ca.SignNode(csr, req.NodeID, time.Now())
	if err != nil {
		return IdentityGrant{}, fmt.Errorf("%w: csr: %w", ErrInvalidPeer, err)
	}
	g := IdentityGrant{NodeID: req.NodeID, Certificate: certPEM, CACertificate: st.caPEM,
		GossipKeys: st.gossipKeys}
	for _, s := range conf.Servers {
		g.Members = append(g.Members, string(s.ID))
	}
	n.log.Info("issued a node certificate", "member", req.NodeID, "voter", req.Voter)
	return g, nil
}

// InstallIdentity takes the identity the cluster granted this node: its
// certificate must be for this node's id and pending key, and chain to
// the granted CA, whose fingerprint must equal pin when pin is given (the
// CA the joiner verified the cluster with). The identity is saved, and
// gossip starts with the granted keyring.
func (n *Node) InstallIdentity(g IdentityGrant, pin string) error {
	n.ident.installMu.Lock()
	defer n.ident.installMu.Unlock()
	if n.HasIdentity() {
		if st := n.ident.current(); st != nil && bytes.Equal(st.caPEM, g.CACertificate) && g.NodeID == n.cfg.NodeID {
			return nil // the same cluster again (a retried join)
		}
		return ErrIdentityExists
	}
	n.ident.mu.Lock()
	key := n.ident.pending
	n.ident.mu.Unlock()
	if key == nil {
		return fmt.Errorf("%w: no certificate request is pending", ErrIdentityMismatch)
	}
	if g.NodeID != n.cfg.NodeID {
		return fmt.Errorf("%w: it is for node %q, this is %q", ErrIdentityMismatch, g.NodeID, n.cfg.NodeID)
	}
	caCert, err := pki.ParseCert(g.CACertificate)
	if err != nil {
		return fmt.Errorf("%w: CA certificate: %w", ErrIdentityMismatch, err)
	}
	if fp := pki.Fingerprint(caCert.Raw); pin != "" && fp != pin {
		return fmt.Errorf("%w: the cluster CA is %s, not the pinned %s", ErrIdentityMismatch, fp, pin)
	}
	cert, err := pki.ParseCert(g.Certificate)
	if err != nil {
		return fmt.Errorf("%w: certificate: %w", ErrIdentityMismatch, err)
	}
	if !publicKeyEqual(cert.PublicKey, key.Public()) {
		return fmt.Errorf("%w: the certificate is not for this node's key", ErrIdentityMismatch)
	}
	roots := x509.NewCertPool()
	roots.AddCert(caCert)
	id, _, err := pki.VerifyNode([][]byte{cert.Raw}, roots, x509.ExtKeyUsageClientAuth, false, time.Now())
	if err != nil || id != n.cfg.NodeID {
		return fmt.Errorf("%w: the certificate does not chain to the CA or names another node: %v", ErrIdentityMismatch, err)
	}
	keys := g.GossipKeys
	if len(keys) == 0 || len(keys) > maxGossipKeys {
		return fmt.Errorf("%w: %d gossip keys", ErrIdentityMismatch, len(keys))
	}
	keyPEM, err := pki.EncodeKey(key)
	if err != nil {
		return err
	}
	st, err := newIdentityState(g.CACertificate, g.Certificate, keyPEM, keys, nil)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrIdentityMismatch, err)
	}
	if err := n.ident.save(st, keyPEM); err != nil {
		return err
	}
	n.ident.mu.Lock()
	n.ident.state, n.ident.pending = st, nil
	for _, m := range g.Members {
		n.ident.expected[m] = true
	}
	n.ident.mu.Unlock()
	n.log.Info("installed the cluster identity", "ca_fingerprint", st.fingerprint)
	if g := n.gossipNow(); g != nil {
		return g.useKeys(keys)
	}
	return n.startGossip()
}

func publicKeyEqual(a, b crypto.PublicKey) bool {
	ae, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ae.Equal(b)
}

// EnrollmentKey returns the fingerprint of the key this node will ask the
// cluster to certify ("" once it has an identity, or when it needs none).
// The node logs it at start; an operator enrolling it with trustctl
// cluster join may compare it.
func (n *Node) EnrollmentKey() string {
	if n.HasIdentity() || n.cfg.Insecure || n.cfg.RaftTLS != nil {
		return ""
	}
	key, err := n.ident.pendingKey()
	if err != nil {
		return ""
	}
	fp, err := pki.KeyFingerprint(key.Public())
	if err != nil {
		return ""
	}
	return fp
}

// HasCAKey reports whether this node can sign node certificates.
func (n *Node) HasCAKey() bool {
	st := n.ident.current()
	return st != nil && st.ca != nil
}

// CAKeyFor returns the cluster CA key (PEM) for voter id, so that whichever
// voter leads can admit nodes. It runs on the leader, and only for a voter
// of the Raft configuration (the caller has checked id's certificate):
// the key goes to members, never to a node that only asked for a
// certificate.
func (n *Node) CAKeyFor(id string) ([]byte, error) {
	if !n.IsLeader() {
		return nil, n.notLeader()
	}
	st := n.ident.current()
	if st == nil || st.ca == nil {
		return nil, ErrNoClusterCA
	}
	conf, err := n.configuration()
	if err != nil {
		return nil, err
	}
	for _, s := range conf.Servers {
		if string(s.ID) == id && s.Suffrage == raft.Voter {
			n.log.Info("handing the cluster CA key to a voter", "member", id)
			return pki.EncodeKey(st.ca.Key)
		}
	}
	return nil, fmt.Errorf("%w: %s is not a voter of the Raft configuration", ErrUnknownMember, id)
}

// InstallCAKey takes the cluster CA key a leader handed this voter; it
// must belong to the node's cluster CA. It is saved (sealed with the
// encryption key at rest) with the identity.
func (n *Node) InstallCAKey(keyPEM []byte) error {
	n.ident.installMu.Lock()
	defer n.ident.installMu.Unlock()
	st := n.ident.current()
	if st == nil || st.cert == nil || st.byo {
		return ErrNoIdentity
	}
	if st.ca != nil {
		return nil
	}
	ca, err := pki.LoadCA(st.caPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrIdentityMismatch, err)
	}
	next := *st
	next.ca = ca
	signer, ok := st.cert.PrivateKey.(crypto.Signer)
	if !ok {
		return errors.New("the node key cannot sign")
	}
	nodeKey, err := pki.EncodeKey(signer)
	if err != nil {
		return err
	}
	if err := n.ident.save(&next, nodeKey); err != nil {
		return err
	}
	n.ident.mu.Lock()
	n.ident.state = &next
	n.ident.mu.Unlock()
	n.log.Info("received the cluster CA key: this voter can admit nodes when it leads")
	return nil
}
