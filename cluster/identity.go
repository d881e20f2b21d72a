package cluster

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/trustledger/trustledger/internal/pki"
)

// Cluster identity (docs/operations.md, "Cluster identity"). Unless the
// operator brings a PKI of their own (Config.RaftTLS) or runs insecure
// (Config.Insecure), every node holds:
//
//   - the cluster CA certificate, and on voters its key, which a
//     bootstrapping node creates;
//   - a node certificate from that CA that names the node id;
//   - the gossip keyring, created at bootstrap.
//
// Raft runs over mutual TLS with these certificates, on loopback too; a
// peer is accepted only with a certificate from the cluster CA whose node
// id is in the Raft configuration (or was named by the cluster this node
// is joining). A joining node receives its certificate, the CA and the
// keyring through the authenticated join (IssueIdentity on the leader,
// InstallIdentity on the joiner) and pins the CA.
//
// The files live in <data-dir>/identity; the keys are sealed with the
// encryption key at rest when there is one.

// Identity errors.
var (
	// ErrNoIdentity: the node has no certificate yet (it has not joined).
	ErrNoIdentity = errors.New("this node has no cluster identity yet: join it to a cluster")
	// ErrNoClusterCA: this node cannot sign node certificates (the cluster
	// uses the operator's PKI, or the node is a read replica).
	ErrNoClusterCA = errors.New("this node holds no cluster CA key to sign node certificates with")
	// ErrIdentityExists: an identity was offered to a node that has one.
	ErrIdentityExists = errors.New("this node already has a cluster identity")
	// ErrIdentityMismatch: an offered identity does not fit this node (its
	// key, node id, or the pinned CA).
	ErrIdentityMismatch = errors.New("the offered cluster identity does not fit this node")
)

const (
	identityDir   = "identity"
	caCertFile    = "ca.crt"
	caKeyFile     = "ca.key"
	nodeCertFile  = "node.crt"
	nodeKeyFile   = "node.key"
	gossipKeyFile = "gossip.keys"
	// GossipKeySize is the size of the gossip keys a cluster creates
	// (AES-256).
	GossipKeySize = 32
	// maxGossipKeys bounds the keyring (a primary and keys being rotated).
	maxGossipKeys = 8
)

// identityState is one immutable version of the node's identity.
type identityState struct {
	// roots verifies peers; caPEM is the cluster CA as published.
	roots       *x509.CertPool
	caPEM       []byte
	fingerprint string
	// ca signs node certificates; nil on nodes without the CA key.
	ca *pki.CA
	// cert is this node's certificate, its CA chain included.
	cert    *tls.Certificate
	certPEM []byte
	// gossipKeys is the keyring, the primary key first.
	gossipKeys [][]byte
	// byo marks an operator's own PKI: node ids may come from the common
	// name, and no certificates are issued here.
	byo bool
}

// identity holds the node's current identity and the key of a pending
// request to join.
type identity struct {
	dir  string
	seal *sealer
	id   string

	// installMu serialises InstallIdentity.
	installMu sync.Mutex

	mu      sync.RWMutex
	state   *identityState
	pending crypto.Signer
	// enrolling is the self-signed certificate for pending that the API
	// serves until the node has joined.
	enrolling *tls.Certificate
	// expected are node ids the cluster being joined named: they are
	// accepted as Raft peers before this node's configuration lists them.
	expected map[string]bool
}

func (i *identity) current() *identityState {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return i.state
}

func (i *identity) isExpected(id string) bool {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return i.expected[id]
}

// identityFromTLS wraps an operator's Raft TLS configuration.
func identityFromTLS(c *tls.Config) *identityState {
	st := &identityState{roots: c.RootCAs, byo: true}
	if len(c.Certificates) > 0 {
		cert := c.Certificates[0]
		st.cert = &cert
	}
	return st
}

// loadIdentity reads <data-dir>/identity; nil, nil when there is none.
func loadIdentity(dir string, seal *sealer) (*identityState, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, nodeCertFile)) // #nosec G304 -- a fixed name in the data directory
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read node certificate: %w", err)
	}
	read := func(name string, sealed bool) ([]byte, error) {
		if sealed {
			return seal.readFile(filepath.Join(dir, name))
		}
		return os.ReadFile(filepath.Join(dir, name)) // #nosec G304 -- a fixed name in the data directory
	}
	caPEM, err := read(caCertFile, false)
	if err != nil {
		return nil, fmt.Errorf("read cluster CA certificate: %w", err)
	}
	keyPEM, err := read(nodeKeyFile, true)
	if err != nil {
		return nil, fmt.Errorf("read node key: %w", err)
	}
	ring, err := read(gossipKeyFile, true)
	if err != nil {
		return nil, fmt.Errorf("read gossip keyring: %w", err)
	}
	keys, err := decodeKeyring(ring)
	if err != nil {
		return nil, err
	}
	var ca *pki.CA
	if caKey, err := read(caKeyFile, true); err == nil {
		if ca, err = pki.LoadCA(caPEM, caKey); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read cluster CA key: %w", err)
	}
	return newIdentityState(caPEM, certPEM, keyPEM, keys, ca)
}

func newIdentityState(caPEM, certPEM, keyPEM []byte, gossipKeys [][]byte, ca *pki.CA) (*identityState, error) {
	caCert, err := pki.ParseCert(caPEM)
	if err != nil {
		return nil, fmt.Errorf("cluster CA certificate: %w", err)
	}
	cert, err := tls.X509KeyPair(append(append([]byte{}, certPEM...), caPEM...), keyPEM)
	if err != nil {
		return nil, fmt.Errorf("node certificate and key: %w", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(caCert)
	return &identityState{roots: roots, caPEM: caPEM, fingerprint: pki.Fingerprint(caCert.Raw), ca: ca,
		cert: &cert, certPEM: certPEM, gossipKeys: gossipKeys}, nil
}

// save writes the identity to its directory: keys sealed when encryption
// at rest is on, every file 0600, each written to a temporary file and
// renamed into place.
func (i *identity) save(st *identityState, keyPEM []byte) error {
	if err := os.MkdirAll(i.dir, 0o700); err != nil {
		return fmt.Errorf("create identity directory: %w", err)
	}
	write := func(name string, data []byte, sealed bool) error {
		if sealed {
			return i.seal.writeFile(filepath.Join(i.dir, name), data)
		}
		return writeFileSync(filepath.Join(i.dir, name), data)
	}
	files := []struct {
		name   string
		data   []byte
		sealed bool
	}{{caCertFile, st.caPEM, false}, {nodeKeyFile, keyPEM, true}, {gossipKeyFile, encodeKeyring(st.gossipKeys), true}}
	if st.ca != nil {
		caKey, err := pki.EncodeKey(st.ca.Key)
		if err != nil {
			return err
		}
		files = append(files, struct {
			name   string
			data   []byte
			sealed bool
		}{caKeyFile, caKey, true})
	}
	for _, f := range files {
		if err := write(f.name, f.data, f.sealed); err != nil {
			return fmt.Errorf("write identity file %s: %w", f.name, err)
		}
	}
	// The certificate last: its presence marks a complete identity.
	if err := write(nodeCertFile, st.certPEM, false); err != nil {
		return fmt.Errorf("write identity file %s: %w", nodeCertFile, err)
	}
	return nil
}

func encodeKeyring(keys [][]byte) []byte {
	var b bytes.Buffer
	for _, k := range keys {
		b.WriteString(base64.StdEncoding.EncodeToString(k))
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func decodeKeyring(b []byte) ([][]byte, error) {
	var keys [][]byte
	for _, line := range strings.Fields(string(b)) {
		k, err := base64.StdEncoding.DecodeString(line)
		if err != nil || (len(k) != 16 && len(k) != 24 && len(k) != 32) {
			return nil, errors.New("gossip keyring: a key is not base64 of 16, 24 or 32 bytes")
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 || len(keys) > maxGossipKeys {
		return nil, fmt.Errorf("gossip keyring: %d keys; want 1 to %d", len(keys), maxGossipKeys)
	}
	return keys, nil
}

// createIdentity makes a new cluster's identity: its CA, this node's
// certificate naming hosts, and a gossip key.
func (i *identity) create(hosts []string) (*identityState, error) {
	now := time.Now()
	ca, err := pki.NewCA("trustledger cluster CA ("+i.id+", "+now.UTC().Format("2006-01-02")+")", now)
	if err != nil {
		return nil, fmt.Errorf("create the cluster CA: %w", err)
	}
	certPEM, key, err := ca.IssueNode(i.id, hosts, now)
	if err != nil {
		return nil, fmt.Errorf("issue this node's certificate: %w", err)
	}
	keyPEM, err := pki.EncodeKey(key)
	if err != nil {
		return nil, err
	}
	gk := make([]byte, GossipKeySize)
	if _, err := rand.Read(gk); err != nil {
		return nil, err
	}
	st, err := newIdentityState(pki.EncodeCert(ca.Cert.Raw), certPEM, keyPEM, [][]byte{gk}, ca)
	if err != nil {
		return nil, err
	}
	if err := i.save(st, keyPEM); err != nil {
		return nil, err
	}
	return st, nil
}

// identityHosts are the hosts this node is reached at, for its
// certificate: the hosts of its advertised Raft, gossip and API addresses.
func identityHosts(cfg Config) []string {
	var hosts []string
	for _, a := range []string{cfg.RaftAdvertise, cfg.RaftAddr, cfg.GossipAdvertise, cfg.GossipAddr} {
		if h, _, err := net.SplitHostPort(a); err == nil && h != "" {
			hosts = append(hosts, h)
		}
	}
	if u, err := url.Parse(cfg.APIAddr); err == nil && u.Hostname() != "" {
		hosts = append(hosts, u.Hostname())
	}
	hosts = append(hosts, cfg.APIHosts...)
	return hosts
}

// openIdentity loads the node's identity, or creates a new cluster's when
// the node bootstraps. A node that is to join waits without one until
// InstallIdentity.
func (n *Node) openIdentity(existing bool) error {
	switch {
	case n.cfg.Insecure:
		return nil
	case n.cfg.RaftTLS != nil:
		n.ident.state = identityFromTLS(n.cfg.RaftTLS)
		return nil
	}
	st, err := loadIdentity(n.ident.dir, n.ident.seal)
	if err != nil {
		return fmt.Errorf("cluster identity in %s: %w", n.ident.dir, err)
	}
	if st == nil && n.cfg.Bootstrap {
		if existing {
			// A data directory written before clusters had identities:
			// a node that bootstrapped its cluster creates it now.
			n.log.Warn("the data directory has raft state but no cluster identity: creating one; other members must join again")
		}
		if st, err = n.ident.create(identityHosts(n.cfg)); err != nil {
			return err
		}
		n.log.Info("created the cluster identity", "ca_fingerprint", st.fingerprint, "dir", n.ident.dir)
	}
	if st != nil {
		if id, err := pki.NodeID(st.cert.Leaf); err != nil || id != n.cfg.NodeID {
			return fmt.Errorf("cluster identity in %s is for node %q, not %q", n.ident.dir, id, n.cfg.NodeID)
		}
	}
	n.ident.state = st
	return nil
}

// transportKind names how Raft is protected, for logs.
func (n *Node) transportKind() string {
	switch {
	case n.cfg.Insecure:
		return "plain-tcp-insecure"
	case n.cfg.RaftTLS != nil:
		return "mutual-tls-operator-pki"
	}
	return "mutual-tls-cluster-identity"
}

// gossipKeys is the keyring gossip runs with: the operator's key when one
// is configured, else the cluster's; nil means unencrypted gossip.
func (n *Node) gossipKeys() [][]byte {
	if len(n.cfg.GossipKey) > 0 {
		return [][]byte{n.cfg.GossipKey}
	}
	if st := n.ident.current(); st != nil {
		return st.gossipKeys
	}
	return nil
}

// gossipNow returns the node's gossip, nil while it is off.
func (n *Node) gossipNow() *gossip { return n.gossip.Load() }

// startGossip starts memberlist, encrypted with the node's gossip keys
// (unencrypted only when insecure or, with the operator's PKI, without a
// gossip key); a second call does nothing.
func (n *Node) startGossip() error {
	if n.cfg.GossipAddr == "" {
		return nil
	}
	n.gossipMu.Lock()
	defer n.gossipMu.Unlock()
	if n.gossip.Load() != nil || n.isClosed() {
		return nil
	}
	keys := n.gossipKeys()
	if keys == nil && !n.cfg.Insecure && n.cfg.RaftTLS == nil {
		// A node waiting to join: its gossip port is bound now, with a
		// random key nobody else holds, until the cluster's keys arrive.
		placeholder := make([]byte, GossipKeySize)
		if _, err := rand.Read(placeholder); err != nil {
			return err
		}
		keys = [][]byte{placeholder}
	}
	g, err := startGossip(n.cfg, n.self(), keys, n.kickReconcile, n.log.With("component", "gossip"))
	if err != nil {
		return err
	}
	n.gossip.Store(g)
	n.goLoop(n.reconnectLoop)
	n.kickReconcile()
	return nil
}

// pendingKey returns the key of this node's certificate request, making
// it (and the self-signed certificate the API serves until the node has
// joined) the first time.
func (i *identity) pendingKey() (crypto.Signer, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.pending != nil {
		return i.pending, nil
	}
	key, err := pki.NewKey()
	if err != nil {
		return nil, err
	}
	der, err := pki.SelfSigned(key, i.id, time.Now())
	if err != nil {
		return nil, err
	}
	i.pending, i.enrolling = key, &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	return key, nil
}

// enrollingCertificate is the self-signed certificate of the pending key.
func (i *identity) enrollingCertificate() *tls.Certificate {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return i.enrolling
}
