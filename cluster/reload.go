package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/trustledger/trustledger/internal/pki"
)

// ReloadCertificate replaces this node's certificate under an operator's
// own PKI (Config.RaftTLS), without a restart: Raft connections made from
// now on present cert, those open keep theirs. cert must chain to the
// CA the node verifies peers against (Config.RaftTLS.RootCAs) and name
// this node's id; otherwise nothing changes. With the cluster's own
// identity there is nothing to reload (the node certificate is the
// cluster's, renewed through it).
func (n *Node) ReloadCertificate(cert tls.Certificate) error {
	if n.cfg.RaftTLS == nil {
		return errors.New("certificate reload needs an operator's PKI (--tls-cert-file)")
	}
	n.ident.mu.Lock()
	defer n.ident.mu.Unlock()
	cur := n.ident.state
	if cur == nil || !cur.byo {
		return errors.New("this node has no operator certificate to replace")
	}
	id, leaf, err := pki.VerifyNode(cert.Certificate, cur.roots, x509.ExtKeyUsageAny, true, time.Now())
	if err != nil {
		return fmt.Errorf("the new certificate: %w", err)
	}
	if id != n.cfg.NodeID {
		return fmt.Errorf("the new certificate names node %q, not this node %q", id, n.cfg.NodeID)
	}
	next := *cur
	cert.Leaf = leaf
	next.cert = &cert
	n.ident.state = &next
	n.log.Info("reloaded the node certificate", "serial", leaf.SerialNumber.String(), "not_after", leaf.NotAfter.Format(time.RFC3339))
	return nil
}
