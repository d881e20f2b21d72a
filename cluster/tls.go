package cluster

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/raft"
)

// checkRaftTLS checks the TLS configuration of the Raft transport: the
// node's certificate, and the CAs that peers' certificates (as servers and
// as clients) are verified against.
func checkRaftTLS(c *tls.Config) error {
	var errs []error
	if len(c.Certificates) == 0 && c.GetCertificate == nil {
		errs = append(errs, errors.New("RaftTLS: no certificate"))
	}
	if c.RootCAs == nil || c.ClientCAs == nil {
		errs = append(errs, errors.New("RaftTLS: RootCAs and ClientCAs are required (the CA of the nodes' certificates)"))
	}
	if c.InsecureSkipVerify {
		errs = append(errs, errors.New("RaftTLS: InsecureSkipVerify is not allowed"))
	}
	return errors.Join(errs...)
}

// raftTLSConfig returns the configuration the Raft stream layer uses:
// conf with mutual authentication enforced and TLS 1.2 at least.
func raftTLSConfig(conf *tls.Config) *tls.Config {
	c := conf.Clone()
	c.ClientAuth = tls.RequireAndVerifyClientCert
	if c.MinVersion < tls.VersionTLS12 {
		c.MinVersion = tls.VersionTLS12
	}
	return c
}

// tlsStreamLayer is a raft.StreamLayer over mutual TLS: it accepts only
// peers whose client certificate chains to the configured CA, and dials
// peers checking that their certificate chains to the CA and names the
// host of the address dialed.
type tlsStreamLayer struct {
	net.Listener
	advertise net.Addr
	conf      *tls.Config
}

// newTLSStreamLayer listens on bind. advertise, when not nil, is the
// address other nodes dial; it must not be a wildcard.
func newTLSStreamLayer(bind string, advertise net.Addr, conf *tls.Config) (*tlsStreamLayer, error) {
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
	conf = raftTLSConfig(conf)
	return &tlsStreamLayer{Listener: tls.NewListener(ln, conf), advertise: advertise, conf: conf}, nil
}

// errNotAdvertisable matches raft's TCP transport error text, which
// newTransport turns into advice.
var errNotAdvertisable = errors.New("local bind address is not advertisable")

// Addr is the advertised address.
func (s *tlsStreamLayer) Addr() net.Addr { return s.advertise }

// Dial connects to a peer and completes the TLS handshake within timeout.
func (s *tlsStreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	conf := s.conf.Clone()
	if conf.ServerName == "" {
		host, _, err := net.SplitHostPort(string(address))
		if err != nil {
			return nil, fmt.Errorf("raft address %q: %w", address, err)
		}
		conf.ServerName = host
	}
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout}, Config: conf}
	return d.Dial("tcp", string(address))
}
