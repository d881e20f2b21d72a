package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/trustledger/trustledger/internal/pki"
)

// checkRaftTLS checks an operator's TLS configuration of the Raft
// transport: the node's certificate, and the CAs that peers' certificates
// are verified against.
func checkRaftTLS(c *tls.Config) error {
	var errs []error
	if len(c.Certificates) == 0 {
		errs = append(errs, errors.New("RaftTLS: no certificate"))
	}
	if c.RootCAs == nil {
		errs = append(errs, errors.New("RaftTLS: RootCAs is required (the CA of the nodes' certificates)"))
	}
	if c.InsecureSkipVerify {
		errs = append(errs, errors.New("RaftTLS: InsecureSkipVerify is not allowed"))
	}
	return errors.Join(errs...)
}

// errPeerRefused is wrapped by every refusal of a peer's certificate.
var errPeerRefused = errors.New("peer refused")

// verifyPeer checks a peer's certificate chain against the cluster CA and
// returns the node id it names.
func (n *Node) verifyPeer(st *identityState, rawCerts [][]byte, usage x509.ExtKeyUsage) (string, error) {
	if st == nil || st.roots == nil {
		return "", fmt.Errorf("%w: %w", errPeerRefused, ErrNoIdentity)
	}
	if st.byo {
		usage = x509.ExtKeyUsageAny // an operator's PKI may not set key usages
	}
	id, _, err := pki.VerifyNode(rawCerts, st.roots, usage, st.byo, time.Now())
	if err != nil {
		return "", fmt.Errorf("%w: %w", errPeerRefused, err)
	}
	return id, nil
}

// isRaftPeer reports whether node id may talk Raft with this node: it is
// in the latest Raft configuration, or the cluster this node is joining
// named it, or this node has no configuration yet (it is waiting to be
// added, and learns the configuration from the leader that adds it; the
// certificate already proves the peer was admitted to the cluster).
func (n *Node) isRaftPeer(id string) bool {
	if id == "" {
		return false
	}
	if r := n.raftRef.Load(); r != nil {
		servers := r.GetConfiguration().Configuration().Servers
		if len(servers) == 0 {
			return true
		}
		for _, s := range servers {
			if string(s.ID) == id {
				return true
			}
		}
	}
	return n.ident.isExpected(id)
}

// raftServerAt returns the id of the server the Raft configuration has at
// address.
func (n *Node) raftServerAt(address raft.ServerAddress) (string, bool) {
	r := n.raftRef.Load()
	if r == nil {
		return "", false
	}
	for _, s := range r.GetConfiguration().Configuration().Servers {
		if s.Address == address {
			return string(s.ID), true
		}
	}
	return "", false
}

// nodeCertificate returns this node's certificate for a handshake.
func (n *Node) nodeCertificate() (*tls.Certificate, error) {
	st := n.ident.current()
	if st == nil || st.cert == nil {
		return nil, ErrNoIdentity
	}
	return st.cert, nil
}

// raftServerTLS is the TLS configuration of the Raft listener: this
// node's certificate, and a client certificate required from every peer,
// from the cluster CA and naming a node id of the configuration.
func (n *Node) raftServerTLS() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return n.nodeCertificate()
		},
		// Verified in VerifyConnection, against the CA of the moment.
		ClientAuth: tls.RequireAnyClientCert,
		VerifyConnection: func(cs tls.ConnectionState) error {
			id, err := n.verifyPeer(n.ident.current(), rawChain(cs), x509.ExtKeyUsageClientAuth)
			if err != nil {
				n.log.Warn("refused a raft connection", "remote", "inbound", "error", err)
				return err
			}
			if !n.isRaftPeer(id) {
				n.log.Warn("refused a raft connection from a node outside the configuration", "peer", id)
				return fmt.Errorf("%w: node %q is not in the Raft configuration", errPeerRefused, id)
			}
			return nil
		},
	}
}

// raftClientTLS is the TLS configuration for dialing the Raft peer at
// address: the peer must present a certificate from the cluster CA naming
// the node id the configuration has at that address.
func (n *Node) raftClientTLS(address raft.ServerAddress) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return n.nodeCertificate()
		},
		// Peers are verified by node id against the cluster CA in
		// VerifyConnection, not by host name: node ids are what the Raft
		// configuration names.
		InsecureSkipVerify: true, // #nosec G402 -- the chain and node id are verified in VerifyConnection
		VerifyConnection: func(cs tls.ConnectionState) error {
			id, err := n.verifyPeer(n.ident.current(), rawChain(cs), x509.ExtKeyUsageServerAuth)
			if err != nil {
				return err
			}
			want, ok := n.raftServerAt(address)
			if !ok {
				return fmt.Errorf("%w: %s is not a server of the Raft configuration", errPeerRefused, address)
			}
			if id != want {
				return fmt.Errorf("%w: %s presented a certificate for node %q, the configuration has %q there",
					errPeerRefused, address, id, want)
			}
			return nil
		},
	}
}

// PeerClientTLS is the TLS configuration for node-to-node HTTP to member
// id (forwarding, probes): this node presents its certificate, and the
// server must present one from the cluster CA naming id, a member of the
// Raft configuration. Nil when the node runs insecure.
func (n *Node) PeerClientTLS(id string) *tls.Config {
	if n.cfg.Insecure {
		return nil
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return n.nodeCertificate()
		},
		InsecureSkipVerify: true, // #nosec G402 -- the chain and node id are verified in VerifyConnection
		VerifyConnection: func(cs tls.ConnectionState) error {
			got, err := n.verifyPeer(n.ident.current(), rawChain(cs), x509.ExtKeyUsageServerAuth)
			if err != nil {
				return err
			}
			if got != id {
				return fmt.Errorf("%w: expected node %q, the server is %q", errPeerRefused, id, got)
			}
			if !n.isRaftPeer(id) {
				return fmt.Errorf("%w: node %q is not in the Raft configuration", errPeerRefused, id)
			}
			return nil
		},
	}
}

// APIServerTLS is the TLS configuration the node's HTTP API serves with
// its cluster certificate; client certificates are asked for and checked
// by PeerNodeID (tokens authenticate clients). Nil without an automatic
// identity (insecure, or an operator's PKI: the API then uses the
// operator's certificate).
func (n *Node) APIServerTLS() *tls.Config {
	if n.cfg.Insecure || n.cfg.RaftTLS != nil {
		return nil
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			cert, err := n.nodeCertificate()
			if errors.Is(err, ErrNoIdentity) {
				// Not joined yet: the self-signed certificate of the
				// key it will ask the cluster to certify (enrollment).
				if c := n.ident.enrollingCertificate(); c != nil {
					return c, nil
				}
			}
			return cert, err
		},
		ClientAuth: tls.RequestClientCert,
		NextProtos: []string{"http/1.1"},
	}
}

// PeerNodeID returns the id of the cluster member that made a request, as
// its TLS client certificate proves (from the cluster CA, naming a node of
// the Raft configuration); ok is false for anyone else.
func (n *Node) PeerNodeID(cs *tls.ConnectionState) (string, bool) {
	if cs == nil || len(cs.PeerCertificates) == 0 {
		return "", false
	}
	id, err := n.verifyPeer(n.ident.current(), rawChain(*cs), x509.ExtKeyUsageClientAuth)
	if err != nil || !n.isRaftPeer(id) {
		return "", false
	}
	return id, true
}

func rawChain(cs tls.ConnectionState) [][]byte {
	out := make([][]byte, len(cs.PeerCertificates))
	for i, c := range cs.PeerCertificates {
		out[i] = c.Raw
	}
	return out
}

// tlsStreamLayer is a raft.StreamLayer over mutual TLS with node
// identities (raftServerTLS, raftClientTLS).
type tlsStreamLayer struct {
	net.Listener // the TCP listener
	conf         *tls.Config
	timeout      time.Duration // of an inbound handshake
	advertise    net.Addr
	node         *Node
}

// newTLSStreamLayer listens on bind. advertise, when not nil, is the
// address other nodes dial; it must not be a wildcard.
func newTLSStreamLayer(bind string, advertise net.Addr, n *Node) (*tlsStreamLayer, error) {
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, err
	}
	if advertise == nil {
		advertise = ln.Addr()
	}
	addr, ok := advertise.(*net.TCPAddr)
	if !ok || addr.IP == nil || addr.IP.IsUnspecified() {
		_ = ln.Close()
		return nil, errNotAdvertisable
	}
	timeout := raftHandshakeTimeout
	if n.cfg.handshakeTimeout > 0 {
		timeout = n.cfg.handshakeTimeout
	}
	return &tlsStreamLayer{Listener: ln, conf: n.raftServerTLS(), advertise: advertise, node: n, timeout: timeout}, nil
}

// raftHandshakeTimeout bounds a Raft peer's TLS handshake, so that a
// connection that never completes one does not hold its goroutine
// (Config.handshakeTimeout overrides it in tests).
const raftHandshakeTimeout = 10 * time.Second

// Accept returns the next inbound connection; its TLS handshake runs, with
// a deadline, on its first read or write (in the goroutine Raft gives the
// connection, not in the accept loop).
func (s *tlsStreamLayer) Accept() (net.Conn, error) {
	c, err := s.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &handshakeConn{Conn: tls.Server(c, s.conf), timeout: s.timeout}, nil
}

// handshakeConn completes its TLS handshake within raftHandshakeTimeout
// before the first byte is read or written.
type handshakeConn struct {
	*tls.Conn
	timeout time.Duration
	once    sync.Once
	err     error
}

func (c *handshakeConn) handshake() error {
	c.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
		defer cancel()
		c.err = c.Conn.HandshakeContext(ctx)
	})
	return c.err
}

func (c *handshakeConn) Read(b []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

func (c *handshakeConn) Write(b []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

// errNotAdvertisable matches raft's TCP transport error text, which
// newTransport turns into advice.
var errNotAdvertisable = errors.New("local bind address is not advertisable")

// Addr is the advertised address.
func (s *tlsStreamLayer) Addr() net.Addr { return s.advertise }

// Dial connects to a peer and completes the TLS handshake within timeout.
func (s *tlsStreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout}, Config: s.node.raftClientTLS(address)}
	return d.Dial("tcp", string(address))
}

// Secure tells whether the node's channels to other nodes authenticate
// their peer: false only when it runs insecure.
func (n *Node) Secure() bool { return !n.cfg.Insecure }
